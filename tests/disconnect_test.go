package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
)

// TestDisconnectPolicyOnReconnect (issue 14 §5, ADR 0023): two stop-first
// workloads on one node, one with disconnect.reconcile keep_original and
// one with keep_replacement (lost_after 60 s each). The node's agent is
// paused (SIGSTOP: it neither heartbeats nor answers the observers, while
// its tasks run on) until the chain has found the node Down and evicted
// both; then it continues. On reconnect the policy holds:
//
//   - keep_original: the agent holds the original process (it does not
//     report it stopped), the chain puts the task back on the node, Ready
//     again, at a new generation adopting the original's, and the agent
//     runs on with the same process (the same pid throughout);
//   - keep_replacement: the agent stops the original on hearing of the
//     eviction and says so; the replacement starts only after that
//     (sampling /proc every 50 ms: no two generations at once).
func TestDisconnectPolicyOnReconnect(t *testing.T) {
	needE2E(t)
	needProc(t)
	h := startHealNet(t, "e2e-disconnect", 500*time.Millisecond,
		"--heartbeat-interval", "1s", "--suspect-after", "3s", "--down-after", "6s", "--report-window", "2s")
	n := h.run
	ctx := context.Background()
	node := h.m.Agents[0].Name // zone-a

	dir := t.TempDir()
	spec := func(name, reconcile string, pinned bool) string {
		constraints := `[]`
		if pinned {
			constraints = `[{"label":"zone","op":"=","value":"zone-a"}]`
		}
		f := filepath.Join(dir, fmt.Sprintf("%s-%v.json", name, pinned))
		body := fmt.Sprintf(`{"name":%q,"command":"sh","args":["-c","while :; do sleep 0.2; done"],"replicas":1,`+
			`"resources":{"cpu_millis":100,"memory_mb":32},"constraints":%s,"disconnect":{"lost_after_ms":60000,"reconcile":%q}}`,
			name, constraints, reconcile)
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	// Both start on the node in zone-a; the constraint is then lifted (a
	// change of placement rules moves nothing), so a replacement may go
	// anywhere.
	for _, w := range []struct{ name, reconcile string }{{"orig", api.KeepOriginal}, {"repl", api.KeepReplacement}} {
		mustRun(t, append([]string{"tx", "workload", "create", "-f", spec(w.name, w.reconcile, true)}, n.txArgs("admin")...)...)
	}
	before := map[string]api.TaskView{}
	waitUntil(t, 60*time.Second, "orig/0 and repl/0 Running on "+node, func() (bool, string) {
		var text []string
		for _, w := range []string{"orig", "repl"} {
			now, err := h.tasksOf(ctx, w)
			if err != nil {
				return false, err.Error()
			}
			before[w] = now[w+"/0"]
			text = append(text, tasksText(now))
		}
		return before["orig"].State == "Running" && before["orig"].Node == node && before["repl"].State == "Running" && before["repl"].Node == node, strings.Join(text, " ")
	})
	for _, w := range []struct{ name, reconcile string }{{"orig", api.KeepOriginal}, {"repl", api.KeepReplacement}} {
		mustRun(t, append([]string{"tx", "workload", "update", "-f", spec(w.name, w.reconcile, false)}, n.txArgs("admin")...)...)
	}
	sampler := startSampler(n.dir)
	origID, origGen := before["orig"].ID, before["orig"].Generation
	var origPIDs []int
	waitUntil(t, 10*time.Second, "the sampler sees both tasks", func() (bool, string) {
		_, _, ok1 := sampler.seenRunning(origID, origGen)
		_, _, ok2 := sampler.seenRunning(before["repl"].ID, before["repl"].Generation)
		origPIDs = pgidsOf(scanTaskProcs(n.dir), origID, origGen)
		return ok1 && ok2 && len(origPIDs) > 0, "not yet"
	})

	// Pause the agent until the chain finds its node Down and evicts both.
	p := nemProcess(t, h.m, node)
	pid, err := nemPID(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("kill -STOP %s: %v", node, err)
	}
	pausedAt := time.Now()
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	evicted := map[string]api.TaskView{}
	waitUntil(t, 60*time.Second, fmt.Sprintf("%s Down and both tasks evicted (fenced on it)", node), func() (bool, string) {
		states, err := h.nodeStates(ctx)
		if err != nil {
			return false, err.Error()
		}
		var text []string
		for _, w := range []string{"orig", "repl"} {
			now, err := h.tasksOf(ctx, w)
			if err != nil {
				return false, err.Error()
			}
			evicted[w] = now[w+"/0"]
			text = append(text, tasksText(now))
		}
		fenced := func(v api.TaskView) bool { return v.Fence != nil && v.Fence.Node == node }
		return states[node] == "Down" && fenced(evicted["orig"]) && fenced(evicted["repl"]), fmt.Sprint(states[node], " ", text)
	})
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatalf("kill -CONT %s: %v", node, err)
	}
	resumedAt := time.Now()
	t.Logf("%s paused for %s: Down, both tasks evicted and fenced until t=%d", node, resumedAt.Sub(pausedAt).Round(time.Millisecond), evicted["orig"].Fence.Until)

	// keep_original: back on the node, adopting the original generation.
	var restored api.TaskView
	waitUntil(t, 45*time.Second, "orig/0 restored to "+node+" and Running", func() (bool, string) {
		now, err := h.tasksOf(ctx, "orig")
		if err != nil {
			return false, err.Error()
		}
		restored = now["orig/0"]
		return restored.Node == node && restored.State == "Running" && restored.AdoptGeneration == origGen, tasksText(now)
	})
	restoredAt := time.Now()
	if now := pgidsOf(scanTaskProcs(n.dir), origID, origGen); !slices.Equal(now, origPIDs) {
		t.Errorf("orig/0 runs in process groups %v after the restore; want the original's %v, never stopped", now, origPIDs)
	}
	if first, last, ok := sampler.seenRunning(origID, origGen); !ok || last.Before(restoredAt.Add(-time.Second)) {
		t.Errorf("the original process of orig/0 was last seen %s (first %s); want it running on through the restore at %s",
			last.Format("15:04:05.000"), first.Format("15:04:05.000"), restoredAt.Format("15:04:05.000"))
	}
	if b, _ := os.ReadFile(p.LogFile); !strings.Contains(string(b), fmt.Sprintf("generation %d adopted as generation %d", origGen, restored.Generation)) {
		t.Errorf("%s's log does not say it adopted orig/0:\n%s", node, tailFile(p.LogFile, 3000))
	}
	t.Logf("keep_original: orig/0 generation %d restored to %s as generation %d %s after the agent continued; the same process group (%v) ran throughout",
		origGen, node, restored.Generation, restoredAt.Sub(resumedAt).Round(time.Millisecond), origPIDs)

	// keep_replacement: the original stopped before the replacement started.
	var moved api.TaskView
	waitUntil(t, 45*time.Second, "repl/0 replaced and Running", func() (bool, string) {
		now, err := h.tasksOf(ctx, "repl")
		if err != nil {
			return false, err.Error()
		}
		moved = now["repl/0"]
		return moved.Generation > before["repl"].Generation && moved.State == "Running", tasksText(now)
	})
	waitUntil(t, 10*time.Second, "the sampler sees the replacement", func() (bool, string) {
		_, _, ok := sampler.seenRunning(moved.ID, moved.Generation)
		return ok, fmt.Sprintf("%s@g%d not seen yet", moved.ID, moved.Generation)
	})
	_, oldLast, _ := sampler.seenRunning(before["repl"].ID, before["repl"].Generation)
	newFirst, _, _ := sampler.seenRunning(moved.ID, moved.Generation)
	if !newFirst.After(oldLast) {
		t.Errorf("repl/0 generation %d last seen %s, generation %d first seen %s: they overlap", before["repl"].Generation,
			oldLast.Format("15:04:05.000"), moved.Generation, newFirst.Format("15:04:05.000"))
	}
	if pids := pidsOf(scanTaskProcs(n.dir), before["repl"].ID, before["repl"].Generation); len(pids) > 0 {
		t.Errorf("pids %v still run repl/0 generation %d", pids, before["repl"].Generation)
	}
	t.Logf("keep_replacement: repl/0 generation %d stopped %s after the agent continued; generation %d started on %s %s later",
		before["repl"].Generation, oldLast.Sub(resumedAt).Round(time.Millisecond), moved.Generation, moved.Node, newFirst.Sub(oldLast).Round(time.Millisecond))
	for _, o := range sampler.generationOverlaps() {
		t.Errorf("two generations at once: %s", o)
	}
	sampler.finish(t)
}

// pgidsOf are the process groups (one per started process: the agent
// starts each in its own) of task id at generation gen, sorted.
func pgidsOf(procs []taskProc, id string, gen uint64) []int {
	var out []int
	for _, p := range procs {
		if p.Task == id && p.Generation == gen && !slices.Contains(out, p.PGID) {
			out = append(out, p.PGID)
		}
	}
	slices.Sort(out)
	return out
}
