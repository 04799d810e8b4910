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

// TestHealthCheckRestartsService (issue 14 §2): examples/checked-service.json
// on a localnet, its port and fail file made this test's. The service
// (`phalanxd demo http`) runs and is reported ready (its readiness check,
// a TCP connect, passes). Then its HTTP liveness check starts failing (the
// fail file exists): after failure_threshold (2) failures the agent ends
// the process and reports it Failed with exit code -3, and the chain
// restarts it with a higher generation; with the file gone, that
// generation runs and is ready. The test measures the time from the check
// starting to fail to the new generation Running on chain.
func TestHealthCheckRestartsService(t *testing.T) {
	needE2E(t)
	h := startHealNet(t, "e2e-checks", 500*time.Millisecond,
		"--heartbeat-interval", "1s", "--suspect-after", "3s", "--down-after", "6s", "--report-window", "2s")
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
