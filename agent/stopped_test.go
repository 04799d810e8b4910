package agent

import (
	"context"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// stepSync is step with sync's bookkeeping: the placements a new chain
// view no longer shows are checked by neverStarted, as sync does.
func stepSync(a *Agent, tasks ...api.TaskView) {
	chain := map[string]api.TaskView{}
	for _, t := range tasks {
		chain[t.ID] = t
	}
	a.mu.Lock()
	prev := a.chain
	a.chain = chain
	a.mu.Unlock()
	a.neverStarted(prev, chain)
	a.reconcile(context.Background(), chain)
	a.ops.Wait()
}

func stoppedOf(a *Agent) map[string]uint64 {
	out := map[string]uint64{}
	for _, st := range a.stoppedReports(nil) {
		out[st.TaskId] = st.Generation
	}
	return out
}

// TestStoppedReports: stop before start (ADR 0020). A placement taken off
// the node is reported stopped once its process is gone, and so is one
// the agent never started; the report is sent until a committed heartbeat
// carried it, and never for a generation reported running.
func TestStoppedReports(t *testing.T) {
	a := testAgent(t, t.TempDir())
	stepSync(a, placed("job/0", 1, "Assigned"))
	st, ok := a.runner.Task("job/0")
	if !ok || st.State != StateRunning {
		t.Fatalf("job/0 not started: %+v", st)
	}
	if got := stoppedOf(a); len(got) != 0 {
		t.Fatalf("stopped reported while running: %v", got)
	}
	// Evicted: the process is stopped, then reported.
	stepSync(a)
	if ProcessAlive(st.PID) {
		t.Fatalf("pid %d still alive after the eviction", st.PID)
	}
	if got := stoppedOf(a); got["job/0"] != 1 {
		t.Fatalf("stopped after the eviction: %v; want job/0 generation 1", got)
	}
	// Not dropped by a commit that did not carry it; dropped by one that did.
	a.stoppedCommitted([]types.StoppedTask{{TaskId: "job/0", Generation: 9}})
	if got := stoppedOf(a); got["job/0"] != 1 {
		t.Fatalf("dropped by another generation's commit: %v", got)
	}
	a.stoppedCommitted(a.stoppedReports(nil))
	if got := stoppedOf(a); len(got) != 0 {
		t.Fatalf("still reported after its commit: %v", got)
	}

	// Placed and taken off before it could start (a start in flight is
	// left to its op): reported as never started.
	a.mu.Lock()
	a.busy["job/1"] = true // hold the start off
	a.mu.Unlock()
	stepSync(a, placed("job/1", 4, "Assigned"))
	a.mu.Lock()
	delete(a.busy, "job/1")
	a.mu.Unlock()
	stepSync(a)
	if _, ok := a.runner.Task("job/1"); ok {
		t.Fatal("job/1 was started")
	}
	if got := stoppedOf(a); got["job/1"] != 4 {
		t.Fatalf("stopped after a placement that never ran: %v; want job/1 generation 4", got)
	}
	// A generation reported running in the same heartbeat is left out.
	if got := a.stoppedReports([]types.TaskReport{{TaskId: "job/1", Generation: 4, State: types.TASK_RUNNING}}); len(got) != 0 {
		t.Fatalf("stopped and running in one heartbeat: %v", got)
	}
}
