package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/phalanx-bft/phalanx/networks"
)

// testnet is a 4-validator network run through the CLI.
type testnet struct {
	t   *testing.T
	dir string
	m   *networks.Manifest
}

func startTestnet(t *testing.T, chainID string, blockTime time.Duration) *testnet {
	t.Helper()
	base, err := networks.FindFreeBasePort(4, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, "testnet", "init", "--validators", "4", "--output", dir, "--chain-id", chainID,
		"--base-port", fmt.Sprint(base), "--block-time", blockTime.String(), "--no-metrics")
	started := time.Now()
	mustRun(t, "testnet", "start", dir, "--detach")
	t.Logf("testnet start --detach returned after %s (4 validators, height >= 2)", time.Since(started).Round(10*time.Millisecond))
	t.Cleanup(func() { _, _ = run(t, "testnet", "stop", dir) })
	m, err := networks.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &testnet{t: t, dir: dir, m: m}
}

func (n *testnet) rpc(i int) *rpchttp.HTTP {
	c, err := rpchttp.New(n.m.Validators[i].RPC)
	if err != nil {
		n.t.Fatal(err)
	}
	return c
}

func (n *testnet) height(i int) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := n.rpc(i).Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

// waitHeight polls validator i until it has committed h.
func (n *testnet) waitHeight(i int, h int64, within time.Duration) int64 {
	n.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := n.height(i)
		if err == nil && got >= h {
			return got
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("val%d: height %d not reached within %s (have %d, err %v)", i, h, within, got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkAgreement compares block hashes and app hashes of every height in
// [from, to] across the given validators: no height has two blocks.
func (n *testnet) checkAgreement(vals []int, from, to int64) {
	n.t.Helper()
	ctx := context.Background()
	for h := from; h <= to; h++ {
		var blockHash, appHash []byte
		for _, i := range vals {
			hh := h
			b, err := n.rpc(i).Block(ctx, &hh)
			if err != nil {
				n.t.Fatalf("val%d block %d: %v", i, h, err)
			}
			if blockHash == nil {
				blockHash, appHash = b.BlockID.Hash, b.Block.AppHash
				continue
			}
			if !bytes.Equal(blockHash, b.BlockID.Hash) || !bytes.Equal(appHash, b.Block.AppHash) {
				n.t.Fatalf("height %d: val%d has block %X app hash %X; val%d has %X %X",
					h, i, b.BlockID.Hash, b.Block.AppHash, vals[0], blockHash, appHash)
			}
		}
	}
}

func (n *testnet) txArgs(from string) []string {
	return []string{"--from", from, "--home", n.dir, "--keyring-backend", "test", "--node", n.m.Validators[0].RPC, "--yes"}
}

// watcher runs `phalanxd watch` and collects its JSON events.
type watcher struct {
	mu     sync.Mutex
	events []map[string]any
	seen   []time.Time // when each event was read
	cmd    *exec.Cmd
}

func startWatch(t *testing.T, nodes ...string) *watcher {
	t.Helper()
	args := []string{"watch", "-o", "json", "-q", "--from-height", "1"}
	for _, n := range nodes {
		args = append(args, "--node", n)
	}
	cmd := exec.Command(binary, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watcher{cmd: cmd}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e map[string]any
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				w.mu.Lock()
				w.events = append(w.events, e)
				w.seen = append(w.seen, time.Now())
				w.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return w
}

// waitFor polls until an event of type typ carries every key=value of kv
// (pairs); it returns when that event was first seen.
func (w *watcher) waitFor(t *testing.T, typ string, within time.Duration, kv ...string) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		w.mu.Lock()
		for i, e := range w.events {
			if e["type"] == typ && hasAttrs(e, kv) {
				at := w.seen[i]
				w.mu.Unlock()
				return at
			}
		}
		n := len(w.events)
		w.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("watch did not show %s%v within %s (%d events seen)", typ, kv, within, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// count returns how many events of type typ carry every key=value of kv.
func (w *watcher) count(typ string, kv ...string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, e := range w.events {
		if e["type"] == typ && hasAttrs(e, kv) {
			n++
		}
	}
	return n
}

func hasAttrs(e map[string]any, kv []string) bool {
	attrs, _ := e["attributes"].([]any)
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, a := range attrs {
			m, _ := a.(map[string]any)
			if m["key"] == kv[i] && m["value"] == kv[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestTestnetFourValidators runs a 4-validator network (f = 1) as real
// processes: CLI transactions to one validator, equal answers from the
// others, equal app hashes at every height, liveness with one validator
// killed, no commits with two stopped, and the events through watch.
func TestTestnetFourValidators(t *testing.T) {
	needE2E(t)
	n := startTestnet(t, "e2e-net", 200*time.Millisecond)
	// The watch's first node is val3, which the test kills: it must move to
	// val1 and go on without a gap.
	w := startWatch(t, n.m.Validators[3].RPC, n.m.Validators[1].RPC)

	// CLI transactions through validator 0.
	mustRun(t, "keys", "add", "n1", "--home", n.dir, "--keyring-backend", "test")
	mustRun(t, append([]string{"tx", "node", "register", "n1", "--cpu", "4000", "--memory", "8192", "--zone", "a",
		"--node-key", "n1"}, n.txArgs("admin")...)...)
	mustRun(t, append([]string{"tx", "node", "heartbeat", "n1"}, n.txArgs("n1")...)...)
	mustRun(t, append([]string{"tx", "workload", "create", "-f", "../examples/web.json"}, n.txArgs("admin")...)...)
	w.waitFor(t, "node_status", 20*time.Second, "node", "n1")
	w.waitFor(t, "workload", 20*time.Second, "name", "web")
	w.waitFor(t, "task_placed", 20*time.Second, "node", "n1")

	// Validators 1-3 answer the same: the stored records at one height are
	// byte-identical, and the CLI's JSON views agree on every stable field.
	h := n.waitHeight(0, 0, time.Second)
	for i := 1; i < 4; i++ {
		n.waitHeight(i, h, 20*time.Second)
	}
	ctx := context.Background()
	for _, path := range []string{"/nodes/n1", "/workloads/web", "/tasks/web/0", "/params"} {
		var first []byte
		for i := 0; i < 4; i++ {
			q, err := n.rpc(i).ABCIQueryWithOptions(ctx, path, nil, rpcQueryAt(h))
			if err != nil || q.Response.Code != 0 {
				t.Fatalf("val%d %s at %d: %v %s", i, path, h, err, q.Response.Log)
			}
			if i == 0 {
				first = q.Response.Value
			} else if !bytes.Equal(first, q.Response.Value) {
				t.Fatalf("%s at height %d differs between val0 and val%d", path, h, i)
			}
		}
	}
	for i := 1; i < 4; i++ {
		out := mustRun(t, "query", "workload", "web", "--node", n.m.Validators[i].RPC, "-o", "json")
		var wl struct {
			Name     string `json:"name"`
			Replicas int    `json:"replicas"`
			Version  int    `json:"version"`
		}
		if err := json.Unmarshal([]byte(out), &wl); err != nil || wl.Name != "web" || wl.Replicas != 3 {
			t.Fatalf("val%d query workload web: %v\n%s", i, err, out)
		}
	}
	n.checkAgreement([]int{0, 1, 2, 3}, 1, h)

	// One validator killed with SIGKILL: 3 of 4 hold more than 2/3 of the
	// power, so the chain keeps committing.
	mustRun(t, "testnet", "kill", n.dir, "val3")
	h = n.waitHeight(0, 0, time.Second)
	n.waitHeight(0, h+5, 30*time.Second)
	api := filepath.Join(t.TempDir(), "api.json")
	if err := os.WriteFile(api, []byte(`{"name":"api","command":"sleep","args":["60"],"replicas":1,"resources":{"cpu_millis":100,"memory_mb":64}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, append([]string{"tx", "workload", "create", "-f", api}, n.txArgs("admin")...)...)
	w.waitFor(t, "workload", 30*time.Second, "name", "api")
	// Restarted, it catches up and agrees.
	mustRun(t, "testnet", "start", n.dir, "--only", "val3", "--detach")
	h = n.waitHeight(0, 0, time.Second)
	n.waitHeight(3, h, 60*time.Second)
	n.checkAgreement([]int{0, 1, 2, 3}, 1, h)

	// Two validators stopped: 2 of 4 is not more than 2/3: nothing commits
	// (safety over liveness).
	// A block whose votes were already cast may still commit right after
	// the kill; from then on the height must not move. Asserting that
	// nothing happens needs an observation window: 15 block times.
	mustRun(t, "testnet", "kill", n.dir, "val2", "val3")
	before := n.waitHeight(0, 0, time.Second)
	stallFor := 15 * 200 * time.Millisecond
	time.Sleep(stallFor)
	stalled := n.waitHeight(0, 0, time.Second)
	if stalled > before+1 {
		t.Fatalf("val0 went from %d to %d with 2 of 4 validators down", before, stalled)
	}
	time.Sleep(stallFor)
	for _, i := range []int{0, 1} {
		if got, _ := n.height(i); got > stalled {
			t.Fatalf("val%d committed height %d with 2 of 4 validators down (stalled at %d)", i, got, stalled)
		}
	}
	t.Logf("with 2 of 4 validators down no block committed for %s (height %d)", stallFor, stalled)
	mustRun(t, "testnet", "start", n.dir, "--only", "val2,val3", "--detach")
	n.waitHeight(0, stalled+3, 60*time.Second)
	final := n.waitHeight(0, 0, time.Second)
	for i := 1; i < 4; i++ {
		n.waitHeight(i, final, 60*time.Second)
	}
	n.checkAgreement([]int{0, 1, 2, 3}, 1, final)

	out := mustRun(t, "testnet", "status", n.dir)
	if strings.Count(out, "up") < 4 {
		t.Fatalf("testnet status after restarts:\n%s", out)
	}
}

func rpcQueryAt(h int64) rpcclient.ABCIQueryOptions {
	return rpcclient.ABCIQueryOptions{Height: h, Prove: true}
}
