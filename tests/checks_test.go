package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
)

// TestWorkloadsOnLocalnet runs issue 14's workload features on one
// 3-agent localnet (one network start for all): health checks,
// preemption, then a system workload (last: it kills and removes agents).
func TestWorkloadsOnLocalnet(t *testing.T) {
	needE2E(t)
	needProc(t)
	h := startHealNet(t, "e2e-workloads", 500*time.Millisecond,
		"--heartbeat-interval", "1s", "--suspect-after", "3s", "--down-after", "6s", "--report-window", "2s", "--fence-timeout", "8s")
	t.Run("health-check", func(t *testing.T) { testHealthCheckRestartsService(t, h) })
	t.Run("preemption", func(t *testing.T) { testPreemptionInWatch(t, h) })
	t.Run("system", func(t *testing.T) { testSystemWorkloadFollowsNodes(t, h) })
}

// testHealthCheckRestartsService (issue 14 §2): examples/checked-service.json
// on a localnet, its port and fail file made this test's. The service
// (`phalanxd demo http`) runs and is reported ready (its readiness check,
// a TCP connect, passes). Then its HTTP liveness check starts failing (the
// fail file exists): after failure_threshold (2) failures the agent ends
// the process and reports it Failed with exit code -3, and the chain
// restarts it with a higher generation; with the file gone, that
// generation runs and is ready. The test measures the time from the check
// starting to fail to the new generation Running on chain.
func testHealthCheckRestartsService(t *testing.T, h *healNet) {
	n := h.run
	ctx := context.Background()

	var spec map[string]any
	b, err := os.ReadFile("../examples/checked-service.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	failFile := filepath.Join(t.TempDir(), "unhealthy")
	spec["args"] = []string{"demo", "http", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--fail-file", failFile}
	for _, c := range spec["checks"].([]any) {
		c.(map[string]any)["port"] = port
	}
	b, _ = json.Marshal(spec)
	file := filepath.Join(t.TempDir(), "checked.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, h.m.Validators[1].RPC)
	mustRun(t, append([]string{"tx", "workload", "create", "-f", file}, n.txArgs("admin")...)...)

	task := func() api.TaskView {
		tasks, err := h.tasksOf(ctx, "checked")
		if err != nil {
			return api.TaskView{State: err.Error()}
		}
		return tasks["checked/0"]
	}
	var first api.TaskView
	waitUntil(t, 60*time.Second, "checked/0 Running and ready", func() (bool, string) {
		first = task()
		return first.State == "Running" && first.Ready, fmt.Sprintf("%+v", first)
	})
	t.Logf("checked/0 generation %d Running and ready on %s", first.Generation, first.Node)

	failedAt := time.Now()
	if err := os.WriteFile(failFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "task_failed", 30*time.Second, "task", "checked/0", "generation", fmt.Sprint(first.Generation), "exit_code", fmt.Sprint(api.ExitCodeUnhealthy))
	detected := time.Since(failedAt)
	if err := os.Remove(failFile); err != nil {
		t.Fatal(err)
	}
	var again api.TaskView
	waitUntil(t, 30*time.Second, "checked/0 Running again at a higher generation", func() (bool, string) {
		again = task()
		return again.State == "Running" && again.Generation > first.Generation, fmt.Sprintf("%+v", again)
	})
	restarted := time.Since(failedAt)
	waitUntil(t, 30*time.Second, "the new generation ready", func() (bool, string) {
		again = task()
		return again.Ready, fmt.Sprintf("%+v", again)
	})
	t.Logf("health check: the liveness check failed from %s; task_failed (exit code %d) after %s; generation %d Running on %s after %s (failing check → restarted task Running)",
		failedAt.Format("15:04:05.000"), api.ExitCodeUnhealthy, detected.Round(time.Millisecond), again.Generation, again.Node, restarted.Round(time.Millisecond))
	for _, a := range h.m.Agents {
		if a.Name != first.Node {
			continue
		}
		if log := tailFile(filepath.Join(a.Home, "agent.log"), 20000); !strings.Contains(log, "liveness check alive failed (2 of 2)") {
			t.Errorf("%s's log does not show the liveness check failing:\n%s", a.Name, log)
		}
	}
}

// testPreemptionInWatch (issue 14 §3): a priority-0 workload fills every
// agent's node (each task half a node); a priority-10 task of the same
// size fits nowhere, so it preempts one of them in the block it is
// considered: watch shows task_preempted naming it, then its placement on
// that node; the victim waits, Pending, with a reason that says why.
func testPreemptionInWatch(t *testing.T, h *healNet) {
	n := h.run
	ctx := context.Background()
	var nodes api.NodesAnswer
	if _, err := h.c.Query(ctx, "/nodes", &nodes); err != nil {
		t.Fatal(err)
	}
	free := int64(0)
	for _, nd := range nodes.Nodes {
		if f := nd.Capacity.CPUMillis - nd.Allocated.CPUMillis; free == 0 || f < free {
			free = f
		}
	}
	half := free / 2
	if half < 10 {
		t.Fatalf("nodes have %d millicores free; want room for two tasks each", free)
	}
	w := startWatch(t, h.m.Validators[2].RPC)
	spec := func(name string, replicas int, prio int) string {
		f := filepath.Join(t.TempDir(), name+".json")
		b := fmt.Sprintf(`{"name":%q,"command":"sh","args":["-c","while :; do sleep 1; done"],"replicas":%d,"priority":%d,`+
			`"replace_order":"start-first","resources":{"cpu_millis":%d,"memory_mb":16}}`, name, replicas, prio, half)
		if err := os.WriteFile(f, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	mustRun(t, append([]string{"tx", "workload", "create", "-f", spec("filler", 2*len(h.m.Agents), 0)}, n.txArgs("admin")...)...)
	waitUntil(t, 60*time.Second, "filler placed on every node", func() (bool, string) {
		tasks, err := h.tasksOf(ctx, "filler")
		if err != nil {
			return false, err.Error()
		}
		return countState(tasks, "Running") == 2*len(h.m.Agents), tasksText(tasks)
	})
	mustRun(t, append([]string{"tx", "workload", "create", "-f", spec("urgent", 1, 10)}, n.txArgs("admin")...)...)
	w.waitFor(t, "task_preempted", 30*time.Second, "by", "urgent/0", "priority", "0", "by_priority", "10")
	placed := w.waitFor(t, "task_placed", 10*time.Second, "task", "urgent/0")
	var victim string
	for _, e := range w.all("task_preempted") {
		if e["by"] == "urgent/0" {
			victim = e["task"]
		}
	}
	tasks, err := h.tasksOf(ctx, "filler")
	if err != nil {
		t.Fatal(err)
	}
	if v := tasks[victim]; v.State != "Pending" || !strings.Contains(v.Reason, "preempted on") {
		t.Errorf("the victim %s: %+v; want Pending, its reason saying it was preempted", victim, v)
	}
	t.Logf("preemption: urgent/0 (priority 10) preempted %s (priority 0), placed at %s; %s waits: %q",
		victim, placed.Format("15:04:05.000"), victim, tasks[victim].Reason)
	for _, name := range []string{"filler", "urgent"} { // the room, for what comes next
		mustRun(t, append([]string{"tx", "workload", "delete", name}, n.txArgs("admin")...)...)
	}
}
