//go:build unix

package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/types"
)

// testAgent is an agent whose chain is a map handed to reconcile, and
// whose verified state is that same map (the proofs against a real chain
// are tested end to end in tests/trust_test.go); nothing is asked of a
// validator.
func testAgent(t *testing.T, home string) *Agent {
	t.Helper()
	genesis := filepath.Join(t.TempDir(), "genesis.json")
	if err := os.WriteFile(genesis, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{
		Home: home, NodeID: "n1", Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)),
		Nodes: []string{"tcp://127.0.0.1:1"}, Listen: "127.0.0.1:0", Endpoint: "127.0.0.1:9100",
		Capacity: types.Resources{CpuMillis: 1000, MemoryMb: 1000}, StopGrace: time.Second, Logf: t.Logf,
		Trust: client.TrustOptions{Genesis: genesis},
	})
	if err != nil {
		t.Fatal(err)
	}
	setSpec(a, "sh", "-c", `printf "$PHALANX_TASK_GENERATION" > "$PHALANX_CHECKPOINT_FILE"; exec sleep 300`)
	a.placementOf = func(_ context.Context, id, workload string) (*types.Task, *types.Workload, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		ct, ok := a.chain[id]
		if !ok {
			return nil, a.specs["job"], nil
		}
		st, _ := api.ParseTaskState(ct.State)
		return &types.Task{
			Id: ct.ID, Workload: ct.Workload, Node: ct.Node, Generation: ct.Generation, State: st,
			Restarts: ct.Restarts, LastCheckpoint: ct.LastCheckpoint, SpecVersion: ct.SpecVersion,
		}, a.specs["job"], nil
	}
	t.Cleanup(func() { _ = a.runner.Close(context.Background()) })
	return a
}

// setSpec makes the test workload "job" run command args.
func setSpec(a *Agent, command string, args ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.specs["job"] = &types.Workload{Version: 1, Spec: types.WorkloadSpec{Name: "job", Command: command, Args: args}}
}

func placed(id string, gen uint64, state string) api.TaskView {
	return api.TaskView{ID: id, Workload: "job", Node: "n1", Generation: gen, State: state, SpecVersion: 1}
}

// step runs one reconcile against chain and waits for the ops it started.
func step(a *Agent, tasks ...api.TaskView) {
	chain := map[string]api.TaskView{}
	for _, t := range tasks {
		chain[t.ID] = t
	}
	a.mu.Lock()
	a.chain = chain
	a.mu.Unlock()
	a.reconcile(context.Background(), chain)
	a.ops.Wait()
}

func reportOf(a *Agent, id string) (types.TaskReport, bool) {
	for _, r := range a.reports() {
		if r.TaskId == id {
			return r, true
		}
	}
	return types.TaskReport{}, false
}

func TestReconcileFollowsTheChain(t *testing.T) {
	a := testAgent(t, t.TempDir())

	// Placed: started, and reported Running with its checkpoint.
	step(a, placed("job/0", 1, "Assigned"))
	st, ok := a.runner.Task("job/0")
	if !ok || st.State != StateRunning || st.Generation != 1 {
		t.Fatalf("after placement: %+v %v", st, ok)
	}
	eventually(t, 5*time.Second, "checkpoint", func() bool {
		r, ok := reportOf(a, "job/0")
		return ok && r.State == types.TASK_RUNNING && string(r.Checkpoint) == "1"
	})
	// Once the chain has the checkpoint, it is not sent again.
	cur := placed("job/0", 1, "Running")
	cur.LastCheckpoint = []byte("1")
	step(a, cur)
	if r, _ := reportOf(a, "job/0"); r.Checkpoint != nil {
		t.Fatalf("a checkpoint the chain has is reported again: %q", r.Checkpoint)
	}

	// A new generation: the old process is stopped, the new one started.
	oldPID := st.PID
	step(a, placed("job/0", 3, "Assigned"))
	st, _ = a.runner.Task("job/0")
	if st.Generation != 3 || st.State != StateRunning || ProcessAlive(oldPID) {
		t.Fatalf("after a new generation: %+v, old pid %d alive %v", st, oldPID, ProcessAlive(oldPID))
	}
	// A stale report is not sent for a generation the chain moved past.
	if r, ok := reportOf(a, "job/0"); ok && r.Generation != 3 {
		t.Fatalf("report of generation %d", r.Generation)
	}

	// No longer placed here: stopped and forgotten.
	pid := st.PID
	step(a)
	if _, ok := a.runner.Task("job/0"); ok || ProcessAlive(pid) {
		t.Fatalf("an unplaced task still runs (pid %d alive %v)", pid, ProcessAlive(pid))
	}
	if _, ok := a.store.lookup("job/0", 3); ok {
		t.Fatal("the journal keeps a placement the chain dropped")
	}
}

func TestReconcileReportsExitOnce(t *testing.T) {
	a := testAgent(t, t.TempDir())
	setSpec(a, "sh", "-c", "exit 4")
	step(a, placed("job/0", 2, "Assigned"))
	eventually(t, 5*time.Second, "exit reported", func() bool {
		r, ok := reportOf(a, "job/0")
		return ok && r.State == types.TASK_FAILED && r.ExitCode == 4
	})
	// The chain still says Assigned (the report is not in yet): not started again.
	step(a, placed("job/0", 2, "Assigned"))
	if st, _ := a.runner.Task("job/0"); st.State != StateFailed {
		t.Fatalf("an exited placement was started again: %+v", st)
	}
	// The chain has the outcome: nothing more to report.
	failed := placed("job/0", 2, "Failed")
	failed.ExitCode = 4
	step(a, failed)
	if _, ok := reportOf(a, "job/0"); ok {
		t.Fatal("an outcome the chain has is reported again")
	}
}

// TestAgentRestartReportsLostPlacement: a placement started by an earlier
// run of the agent (its process gone with it) is reported, not rerun.
func TestAgentRestartReportsLostPlacement(t *testing.T) {
	home := t.TempDir()
	a := testAgent(t, home)
	step(a, placed("job/0", 5, "Assigned"))
	if err := a.runner.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := testAgent(t, home)
	step(b, placed("job/0", 5, "Running"))
	st, ok := b.runner.Task("job/0")
	if !ok || st.State != StateFailed || st.ExitCode != ExitCodeLost || st.PID != 0 {
		t.Fatalf("after a restart: %+v %v; expected Failed with exit code %d and no process", st, ok, ExitCodeLost)
	}
	r, ok := reportOf(b, "job/0")
	if !ok || r.State != types.TASK_FAILED || r.ExitCode != ExitCodeLost || r.Generation != 5 {
		t.Fatalf("report: %+v %v", r, ok)
	}
	// The chain's next generation runs.
	step(b, placed("job/0", 6, "Assigned"))
	if st, _ := b.runner.Task("job/0"); st.State != StateRunning || st.Generation != 6 {
		t.Fatalf("generation 6: %+v", st)
	}
}
