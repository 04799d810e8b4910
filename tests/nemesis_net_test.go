package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	cmtbytes "github.com/cometbft/cometbft/libs/bytes"

	"github.com/phalanx-bft/phalanx/internal/linkproxy"
	"github.com/phalanx-bft/phalanx/networks"
)

// nemLinks puts every link of the nemesis's network through a
// linkproxy.Proxy in the test process, so the nemesis can partition and
// slow them while every process runs unchanged (docs/nemesis.md):
//
//   - validator i reaches validator j's p2p port only through p2p[i][j]
//     (persistent_peers rewritten, pex off, so no other address is
//     learnt). CometBFT keeps one connection per pair, made by whichever
//     side dialled first: cutting the pair cuts p2p[i][j] and p2p[j][i];
//   - agent a reaches validator j's RPC only through rpc[a][j] (the
//     manifest's Nodes, which testnet start passes as --node and
//     --rpc-fallback).
//
// Observers and the test's own clients talk to the validators directly:
// an observer runs beside its validator, and a client is on its
// validator's side of any partition.
type nemLinks struct {
	n      int
	p2p    [][]*linkproxy.Proxy
	rpc    map[string][]*linkproxy.Proxy
	byAddr map[string]string // proxy host:port -> the validator behind it
}

var (
	persistentPeersRE = regexp.MustCompile(`(?m)^persistent_peers = ".*"$`)
	pexRE             = regexp.MustCompile(`(?m)^pex = (true|false)$`)
)

// wireNemLinks makes the proxies and rewrites the network's files to use
// them; it runs after testnet init and before anything starts. The
// proxies close when the test ends.
func wireNemLinks(t *testing.T, m *networks.Manifest, seed uint64) *nemLinks {
	t.Helper()
	l := &nemLinks{n: len(m.Validators), rpc: map[string][]*linkproxy.Proxy{}, byAddr: map[string]string{}}
	proxy := func(target string) *linkproxy.Proxy {
		seed++
		p, err := linkproxy.New("127.0.0.1:0", target, seed)
		if err != nil {
			t.Fatalf("link proxy to %s: %v", target, err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	l.p2p = make([][]*linkproxy.Proxy, l.n)
	for i, v := range m.Validators {
		l.p2p[i] = make([]*linkproxy.Proxy, l.n)
		var peers []string
		for j, w := range m.Validators {
			if i == j {
				continue
			}
			id, addr, ok := strings.Cut(w.P2P, "@")
			if !ok {
				t.Fatalf("%s: p2p address %q is not ID@HOST:PORT", w.Name, w.P2P)
			}
			l.p2p[i][j] = proxy(addr)
			peers = append(peers, id+"@"+l.p2p[i][j].Addr())
		}
		path := filepath.Join(v.Home, "config", "config.toml")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !persistentPeersRE.Match(b) || !pexRE.Match(b) {
			t.Fatalf("%s: no persistent_peers or pex line to rewrite", path)
		}
		b = persistentPeersRE.ReplaceAll(b, []byte(fmt.Sprintf("persistent_peers = %q", strings.Join(peers, ","))))
		b = pexRE.ReplaceAll(b, []byte("pex = false"))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rpcOf := map[string]string{}
	for _, v := range m.Validators {
		rpcOf[v.RPC] = v.Name
	}
	for ai := range m.Agents {
		a := &m.Agents[ai]
		l.rpc[a.Name] = make([]*linkproxy.Proxy, l.n)
		for k, node := range a.Nodes {
			name, ok := rpcOf[node]
			if !ok {
				t.Fatalf("%s: node %s is no validator's RPC", a.Name, node)
			}
			p := proxy(strings.TrimPrefix(node, "tcp://"))
			l.rpc[a.Name][validatorIndex(m, name)] = p
			l.byAddr[p.Addr()] = name
			a.Nodes[k] = "tcp://" + p.Addr()
		}
	}
	if err := m.Save(); err != nil {
		t.Fatal(err)
	}
	return l
}

func validatorIndex(m *networks.Manifest, name string) int {
	for i, v := range m.Validators {
		if v.Name == name {
			return i
		}
	}
	return -1
}

// cutPair cuts validators i and j apart in mode.
func (l *nemLinks) cutPair(i, j int, mode linkproxy.Mode) {
	l.p2p[i][j].Cut(mode)
	l.p2p[j][i].Cut(mode)
}

// partition cuts every link between side and the other validators.
func (l *nemLinks) partition(side []int, mode linkproxy.Mode) {
	in := map[int]bool{}
	for _, i := range side {
		in[i] = true
	}
	for i := range l.n {
		for j := i + 1; j < l.n; j++ {
			if in[i] != in[j] {
				l.cutPair(i, j, mode)
			}
		}
	}
}

// cutAgent cuts agent a off from validator j, or from all of them (j < 0).
func (l *nemLinks) cutAgent(a string, j int, mode linkproxy.Mode) {
	for k, p := range l.rpc[a] {
		if j < 0 || k == j {
			p.Cut(mode)
		}
	}
}

// slow delays every validator link.
func (l *nemLinks) slow(latency, jitter time.Duration) {
	for i := range l.n {
		for j := range l.n {
			if i != j {
				l.p2p[i][j].Slow(latency, jitter)
			}
		}
	}
}

// healAll heals and un-slows every link.
func (l *nemLinks) healAll() {
	for i := range l.n {
		for j := range l.n {
			if i != j {
				l.p2p[i][j].Heal()
				l.p2p[i][j].Slow(0, 0)
			}
		}
	}
	for _, ps := range l.rpc {
		for _, p := range ps {
			p.Heal()
		}
	}
}

// validatorAt names the validator behind address addr (an agent's
// control-plane node, "tcp://HOST:PORT"), "" when it is none of the
// proxies.
func (l *nemLinks) validatorAt(addr string) string {
	if _, rest, ok := strings.Cut(addr, "://"); ok {
		addr = rest
	}
	addr, _, _ = strings.Cut(addr, "/")
	return l.byAddr[addr]
}

// nemMaxHeight is the highest block any validator reports (0 when none
// answers).
func nemMaxHeight(m *networks.Manifest) int64 {
	var top int64
	for _, v := range m.Validators {
		if h, err := rpcHeight(v.RPC); err == nil {
			top = max(top, h)
		}
	}
	return top
}

// nemDiskSize is the size of each agent's tmpfs home.
const nemDiskSize = "16m"

// nemDisks are the agents' homes, each a small tmpfs so the nemesis can
// fill it (disk-full). Mounting needs root (CAP_SYS_ADMIN); without it the
// homes stay on the test's disk and disk-full faults are skipped, with
// why.
type nemDisks struct {
	homes map[string]string // agent -> its tmpfs home
	why   string            // why there are none
}

// mountNemDisks moves every agent's home onto its own tmpfs, before the
// agents start; they are unmounted when the test ends, after the
// network stops.
func mountNemDisks(t *testing.T, m *networks.Manifest) *nemDisks {
	t.Helper()
	d := &nemDisks{homes: map[string]string{}}
	// umount, again while task processes that outlived their agent by a
	// moment hold the mount (EBUSY), and lazily at last.
	umount := func(home string) error {
		var out []byte
		var err error
		for range 20 {
			if out, err = exec.Command("umount", home).CombinedOutput(); err == nil {
				return nil
			}
			time.Sleep(250 * time.Millisecond) // a retry with a bound
		}
		if lout, lerr := exec.Command("umount", "-l", home).CombinedOutput(); lerr != nil {
			return fmt.Errorf("%v: %s; umount -l: %v: %s", err, out, lerr, lout)
		}
		return nil
	}
	for _, a := range m.Agents {
		saved := a.Home + ".init"
		if err := os.Rename(a.Home, saved); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(a.Home, 0o700); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+nemDiskSize+",mode=0700", "tmpfs", a.Home).CombinedOutput()
		if err != nil {
			d.why = fmt.Sprintf("no tmpfs for the agents' homes (mount -t tmpfs needs root: %v: %s)", err, strings.TrimSpace(string(out)))
			_ = os.Remove(a.Home)
			if err := os.Rename(saved, a.Home); err != nil {
				t.Fatal(err)
			}
			// All or none: undo the mounts made, their homes back on disk.
			for _, b := range m.Agents {
				if home, ok := d.homes[b.Name]; ok {
					if err := umount(home); err != nil {
						t.Fatalf("umount %s: %v", home, err)
					}
					if err := os.Remove(home); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(home+".init", home); err != nil {
						t.Fatal(err)
					}
				}
			}
			d.homes = map[string]string{}
			t.Logf("nemesis: %s; disk-full faults will be skipped", d.why)
			return d
		}
		home, name := a.Home, a.Name
		t.Cleanup(func() {
			if _, ok := d.homes[name]; !ok {
				return // undone above
			}
			if err := umount(home); err != nil {
				t.Errorf("umount %s: %v", home, err)
			}
		})
		if out, err := exec.Command("cp", "-a", saved+"/.", home).CombinedOutput(); err != nil {
			t.Fatalf("copy %s onto its tmpfs: %v: %s", a.Name, err, out)
		}
		d.homes[a.Name] = home
	}
	return d
}

// fill writes to agent's home until the disk is full and returns the
// repair that frees it; ok is false when the agent has no tmpfs.
func (d *nemDisks) fill(t *testing.T, agent string) (free func(), ok bool) {
	home, ok := d.homes[agent]
	if !ok {
		return nil, false
	}
	path := filepath.Join(home, "nemesis-fill")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatalf("disk-full %s: %v", agent, err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("disk-full %s: %v; want ENOSPC", agent, err)
			}
			break
		}
	}
	_ = f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Errorf("disk-full %s: free: %v", agent, err)
		}
	}, true
}

// nemAppHashes checks, after a cycle's repair, that every validator
// computed the app hash the others signed: the app hash its application
// computed after its last block H (/abci_info) must be the one in block
// H+1's header where another validator has that block. A validator whose
// application diverged stops at H (it refuses block H+1) while the others
// go on, and the end's chain checker would see only equal headers; this
// names the height and the results that differ.
func nemAppHashes(ctx context.Context, t *testing.T, m *networks.Manifest) []string {
	var out []string
	for _, v := range m.Validators {
		// Each validator also replays every block into a second state for
		// its queries and compares the records changed (abci/view.go):
		// two states fed the same blocks that differ are a
		// nondeterminism, even where consensus has not seen it yet.
		if b, err := os.ReadFile(networks.LogPath(v)); err == nil {
			if i := bytes.Index(b, []byte("query view stopped")); i >= 0 {
				line, _, _ := bytes.Cut(b[i:], []byte("\n"))
				out = append(out, fmt.Sprintf("%s: %s", v.Name, line))
			}
		}
	}
	for _, v := range m.Validators {
		rc := rpcClient(t, v.RPC)
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := rc.ABCIInfo(sctx)
		cancel()
		if err != nil {
			continue // down: the repair's wait said so already
		}
		// The application's own word: its last block and the app hash it
		// computed (/status gives the header's, the hash before the block).
		h, mine := info.Response.LastBlockHeight, cmtbytes.HexBytes(info.Response.LastBlockAppHash).String()
		for _, o := range m.Validators {
			if o.Name == v.Name {
				continue
			}
			next := h + 1
			oc := rpcClient(t, o.RPC)
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			blk, err := oc.Block(sctx, &next)
			cancel()
			if err != nil || blk.Block == nil {
				continue // o has no block H+1 yet
			}
			if signed := blk.Block.AppHash.String(); signed != mine {
				out = append(out, fmt.Sprintf("%s computed app hash %s after height %d; block %d (from %s) carries %s: its application diverged at height %d%s",
					v.Name, mine, h, next, o.Name, signed, h, nemResultsDiff(ctx, t, v, o, h)))
			}
			break
		}
	}
	return out
}

// nemResultsDiff lists what differs in block h's results between a and b.
func nemResultsDiff(ctx context.Context, t *testing.T, a, b networks.Validator, h int64) string {
	ra, err := rpcClient(t, a.RPC).BlockResults(ctx, &h)
	if err != nil {
		return fmt.Sprintf(" (block_results %d from %s: %v)", h, a.Name, err)
	}
	rb, err := rpcClient(t, b.RPC).BlockResults(ctx, &h)
	if err != nil {
		return fmt.Sprintf(" (block_results %d from %s: %v)", h, b.Name, err)
	}
	var diffs []string
	js := func(x any) string { j, _ := json.Marshal(x); return string(j) }
	for i := range max(len(ra.TxResults), len(rb.TxResults)) {
		if i >= len(ra.TxResults) || i >= len(rb.TxResults) {
			diffs = append(diffs, fmt.Sprintf("tx %d: %d results vs %d", i, len(ra.TxResults), len(rb.TxResults)))
			break
		}
		if x, y := js(ra.TxResults[i]), js(rb.TxResults[i]); x != y {
			diffs = append(diffs, fmt.Sprintf("tx %d: %s: %s; %s: %s", i, a.Name, x, b.Name, y))
		}
	}
	if x, y := js(ra.FinalizeBlockEvents), js(rb.FinalizeBlockEvents); x != y {
		diffs = append(diffs, fmt.Sprintf("block events: %s: %s; %s: %s", a.Name, x, b.Name, y))
	}
	if x, y := js(ra.ValidatorUpdates), js(rb.ValidatorUpdates); x != y {
		diffs = append(diffs, fmt.Sprintf("validator updates: %s: %s; %s: %s", a.Name, x, b.Name, y))
	}
	if len(diffs) == 0 {
		return fmt.Sprintf("; block %d's results are equal on both (the difference is in state the results do not show)", h)
	}
	return fmt.Sprintf("; block %d's results differ: %s", h, strings.Join(diffs, " | "))
}

// nemKeep copies the network's directory to *nemesisKeep (when set), so a
// violation's data outlives the test's temporary directory.
func nemKeep(t *testing.T, m *networks.Manifest) {
	if *nemesisKeep == "" {
		return
	}
	dst := filepath.Join(*nemesisKeep, filepath.Base(filepath.Dir(m.Dir))+"-"+time.Now().Format("150405"))
	if out, err := exec.Command("cp", "-a", m.Dir, dst).CombinedOutput(); err != nil {
		t.Logf("nemesis: keep %s: %v: %s", dst, err, out)
		return
	}
	t.Logf("nemesis: the network's directory is kept in %s", dst)
}
