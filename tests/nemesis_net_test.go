package tests

import (
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
			t.Logf("nemesis: %s; disk-full faults will be skipped", d.why)
			return d
		}
		home := a.Home
		t.Cleanup(func() {
			if out, err := exec.Command("umount", home).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v: %s", home, err, out)
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
