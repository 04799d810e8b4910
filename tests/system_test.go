package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
)

// testSystemWorkloadFollowsNodes (issue 14 §1; TestWorkloadsOnLocalnet): a system workload
// (examples/system.json) runs one task on every agent's node. When an
// agent is killed its node goes Down: its task is taken off (evicted) and
// waits for that node, never placed on another; back, the agent runs it
// again. When a node leaves (removed) its task goes with it, and when it
// joins again (the agent registers it anew) it gets a task at once.
func testSystemWorkloadFollowsNodes(t *testing.T, h *healNet) {
	n := h.run
	ctx := context.Background()
	mustRun(t, append([]string{"tx", "workload", "create", "-f", "../examples/system.json"}, n.txArgs("admin")...)...)

	// onNodes waits until the workload runs exactly on want (node ->
	// Running), each task pinned to its node, and returns the tasks by node.
	onNodes := func(what string, within time.Duration, want ...string) map[string]api.TaskView {
		t.Helper()
		var byNode map[string]api.TaskView
		waitUntil(t, within, what, func() (bool, string) {
			tasks, err := h.tasksOf(ctx, "node-exporter")
			if err != nil {
				return false, err.Error()
			}
			byNode = map[string]api.TaskView{}
			for _, tk := range tasks {
				if tk.State == "Running" && tk.Node == tk.PinNode {
					byNode[tk.Node] = tk
				}
			}
			if len(byNode) != len(want) || len(tasks) != len(want) {
				return false, tasksText(tasks)
			}
			for _, a := range want {
				if _, ok := byNode[a]; !ok {
					return false, tasksText(tasks)
				}
			}
			return true, ""
		})
		return byNode
	}
	var all []string
	for _, a := range h.m.Agents {
		all = append(all, a.Name)
	}
	before := onNodes("one node-exporter task Running on every agent's node", 60*time.Second, all...)
	t.Logf("node-exporter runs on %v", all)
	// Its view, proven against a verified header: replicas is the task
	// count (derived), the rest is the record.
	out := mustRun(t, "query", "workload", "node-exporter", "--prove", "--home", h.m.Validators[0].Home, "--node", h.m.Validators[0].RPC)
	if !strings.Contains(out, "verified") || !strings.Contains(out, "system") {
		t.Fatalf("query workload --prove:\n%s", out)
	}

	// Killed: the node goes Down, its task is taken off and waits for it.
	victim := all[0]
	lost := before[victim]
	mustRun(t, "testnet", "kill", n.dir, victim)
	waitUntil(t, 60*time.Second, fmt.Sprintf("%s's task taken off the Down node and left Pending for it", victim), func() (bool, string) {
		tasks, err := h.tasksOf(ctx, "node-exporter")
		if err != nil {
			return false, err.Error()
		}
		tk := tasks[lost.ID]
		if tk.Node != "" && tk.Node != victim {
			t.Fatalf("%s placed on %s: a system task runs on its own node only", lost.ID, tk.Node)
		}
		return tk.State == "Pending" && tk.PinNode == victim && tk.Generation > lost.Generation, tasksText(tasks)
	})
	mustRun(t, "testnet", "start", n.dir, "--detach", "--only", victim)
	back := onNodes(fmt.Sprintf("%s's task Running again once it is back", victim), 60*time.Second, all...)
	if back[victim].ID != lost.ID || back[victim].Generation <= lost.Generation {
		t.Errorf("on %s after its return: %+v; want %s at a generation above %d", victim, back[victim], lost.ID, lost.Generation)
	}

	// Removed: its task goes. Registered again: a task comes back.
	leaver := all[1]
	mustRun(t, "testnet", "kill", n.dir, leaver)
	mustRun(t, append([]string{"tx", "node", "remove", leaver, "--force"}, n.txArgs("admin")...)...)
	onNodes(fmt.Sprintf("no task for the removed %s", leaver), 30*time.Second, all[0], all[2])
	mustRun(t, "testnet", "start", n.dir, "--detach", "--only", leaver)
	final := onNodes(fmt.Sprintf("a task for %s once it joined again", leaver), 60*time.Second, all...)
	t.Logf("node-exporter after a kill and a rejoin: %s on %s, %s on %s", final[victim].ID, victim, final[leaver].ID, leaver)
}
