package tests

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/types"
)

// heartbeater sends heartbeats for a set of nodes straight over RPC (no
// CLI process per heartbeat), each node signing with its own key, until a
// node is stopped.
type heartbeater struct {
	t       *testing.T
	n       *testnet
	mu      sync.Mutex
	stopped map[string]bool
	keys    map[string]ed25519.PrivateKey
	done    chan struct{}
	wg      sync.WaitGroup
}

func startHeartbeats(t *testing.T, n *testnet, every time.Duration, ids ...string) *heartbeater {
	t.Helper()
	kr, err := keyring.New(n.dir, keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &heartbeater{t: t, n: n, stopped: map[string]bool{}, keys: map[string]ed25519.PrivateKey{}, done: make(chan struct{})}
	for _, id := range ids {
		if h.keys[id], err = kr.Signer(id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		h.wg.Add(1)
		go h.loop(id, every)
	}
	t.Cleanup(func() { close(h.done); h.wg.Wait() })
	return h
}

// stop ends node id's heartbeats (a crash, as far as the chain can tell).
func (h *heartbeater) stop(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped[id] = true
}

func (h *heartbeater) loop(id string, every time.Duration) {
	defer h.wg.Done()
	k := h.keys[id]
	c := h.n.rpc(0)
	ctx := context.Background()
	var accSeq, hbSeq uint64
	resync := func() {
		if seq, err := querySequence(ctx, c, k); err == nil {
			accSeq = seq
		}
		q, err := c.ABCIQuery(ctx, "/nodes/"+id, nil)
		if err == nil && q.Response.Code == 0 {
			var nv struct {
				Seq uint64 `json:"last_heartbeat_seq"`
			}
			_ = json.Unmarshal(q.Response.Value, &nv)
			hbSeq = nv.Seq
		}
	}
	resync()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-tick.C:
		}
		h.mu.Lock()
		stopped := h.stopped[id]
		h.mu.Unlock()
		if stopped {
			return
		}
		hbSeq++
		raw := signedTx(h.t, k, &types.TxBody{ChainId: h.n.m.ChainID, Sequence: accSeq,
			Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{NodeId: id, Seq: hbSeq}}})
		res, err := c.BroadcastTxSync(ctx, raw)
		if err != nil || res.Code != 0 {
			resync() // a rejected or lost submission: start again from the chain's view
			continue
		}
		accSeq++
	}
}

type placedTask struct {
	ID         string `json:"id"`
	Node       string `json:"node"`
	Generation uint64 `json:"generation"`
	State      string `json:"state"`
}

func queryTasks(t *testing.T, n *testnet, workload string) []placedTask {
	t.Helper()
	out := mustRun(t, "query", "tasks", "--workload", workload, "--node", n.m.Validators[1].RPC, "-o", "json")
	var ans struct {
		Tasks []placedTask `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(out), &ans); err != nil {
		t.Fatalf("tasks JSON: %v\n%s", err, out)
	}
	return ans.Tasks
}

// TestReschedulingOnTestnet: a 3-replica workload spread over 3 zones
// (at most one replica per zone) runs on nodes n1 (zone a), n2 (b), n3 and
// n4 (c). The zone-c node holding a replica stops heartbeating: the chain
// marks it Down, evicts its task and places it on the other zone-c node
// with a higher generation — all seen through `phalanxd watch`.
func TestReschedulingOnTestnet(t *testing.T) {
	needE2E(t)
	n := startTestnet(t, "e2e-sched", 200*time.Millisecond)
	w := startWatch(t, n.m.Validators[2].RPC)
	// A fence as short as down_after: the victim's node has no agent to
	// report its task stopped (stop before start, ADR 0020).
	n.updateParams("--heartbeat-interval", "1s", "--suspect-after", "4s", "--down-after", "8s", "--report-window", "20s", "--fence-timeout", "8s")
	zones := map[string]string{"n1": "a", "n2": "b", "n3": "c", "n4": "c"}
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		n.registerNode(id, zones[id])
	}
	hb := startHeartbeats(t, n, 400*time.Millisecond, "n1", "n2", "n3", "n4")

	spec := filepath.Join(t.TempDir(), "web3.json")
	if err := os.WriteFile(spec, []byte(`{"name": "web3", "command": "sleep", "args": ["3600"], "replicas": 3,
  "resources": {"cpu_millis": 1000, "memory_mb": 512}, "spread_key": "zone", "max_per_domain": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, append([]string{"tx", "workload", "create", "-f", spec}, n.txArgs("admin")...)...)

	var victim placedTask
	waitUntil(t, 30*time.Second, "3 replicas placed, one per zone", func() (bool, string) {
		seen := map[string]bool{}
		victim = placedTask{}
		tasks := queryTasks(t, n, "web3")
		for _, tk := range tasks {
			if tk.Node == "" {
				return false, fmt.Sprintf("%+v", tasks)
			}
			seen[zones[tk.Node]] = true
			if zones[tk.Node] == "c" {
				victim = tk
			}
		}
		return len(seen) == 3 && victim.Node != "", fmt.Sprintf("%+v", tasks)
	})
	other := map[string]string{"n3": "n4", "n4": "n3"}[victim.Node]
	t.Logf("%s generation %d runs on %s; stopping %s's heartbeats", victim.ID, victim.Generation, victim.Node, victim.Node)

	hb.stop(victim.Node)
	stoppedAt := time.Now()
	w.waitFor(t, "node_status", 30*time.Second, "node", victim.Node, "to", "Down")
	w.waitFor(t, "task_evicted", 10*time.Second, "task", victim.ID, "node", victim.Node)
	placedAt := w.waitFor(t, "task_placed", 30*time.Second, "task", victim.ID, "node", other) // after the 8 s fence
	var moved placedTask
	for _, tk := range queryTasks(t, n, "web3") {
		if tk.ID == victim.ID {
			moved = tk
		}
	}
	if moved.Node != other || moved.Generation <= victim.Generation {
		t.Fatalf("%s after the move: node %s generation %d; want node %s and a generation above %d",
			victim.ID, moved.Node, moved.Generation, other, victim.Generation)
	}
	if g := w.count("task_placed", "task", victim.ID, "node", other, "generation", strconv.FormatUint(moved.Generation, 10)); g != 1 {
		t.Fatalf("watch shows %d task_placed events for %s generation %d on %s; want 1", g, victim.ID, moved.Generation, other)
	}
	t.Logf("%s moved from %s to %s, generation %d → %d, %s after its heartbeats stopped (down_after 8s, then the 8 s fence, in block time)",
		victim.ID, victim.Node, other, victim.Generation, moved.Generation, placedAt.Sub(stoppedAt).Round(10*time.Millisecond))
}
