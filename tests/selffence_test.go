package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/internal/linkproxy"
	"github.com/phalanx-bft/phalanx/networks"
)

// TestCutOffAgentFencesItself (issue 14 §5, ADR 0021): the agent running a
// singleton is cut off from every validator (its RPC links black-holed;
// the observers still reach it, so its node stays Ready by attestation)
// and an operator drains its node meanwhile. The chain evicts the task
// and, since the cut-off agent cannot report the stop, places the
// replacement when the fence (fence_timeout_ms, 8 s here) runs out. The
// cut-off agent, unable to verify a block, stops the task before that:
// sampling /proc every 50 ms, the original's last sample comes before the
// replacement's first. Once the links heal the replacement stays where it
// is (the drain's move stands) and the agent runs nothing of the task.
func TestCutOffAgentFencesItself(t *testing.T) {
	needE2E(t)
	needProc(t)
	seed := testSeed(t)
	var links *nemLinks
	h := startHealNetWith(t, "e2e-selffence", 500*time.Millisecond, func(m *networks.Manifest) {
		links = wireNemLinks(t, m, seed)
	}, "--heartbeat-interval", "1s", "--suspect-after", "3s", "--down-after", "6s", "--report-window", "2s", "--fence-timeout", "8s")
	n := h.run
	ctx := context.Background()

	spec := filepath.Join(t.TempDir(), "solo.json")
	if err := os.WriteFile(spec, []byte(`{"name":"solo","command":"sh","args":["-c","while :; do sleep 0.2; done"],`+
		`"replicas":1,"resources":{"cpu_millis":100,"memory_mb":32}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, append([]string{"tx", "workload", "create", "-f", spec}, n.txArgs("admin")...)...)
	var orig api.TaskView
	waitUntil(t, 60*time.Second, "solo/0 Running", func() (bool, string) {
		now, err := h.tasksOf(ctx, "solo")
		if err != nil {
			return false, err.Error()
		}
		orig = now["solo/0"]
		return orig.State == "Running", tasksText(now)
	})
	sampler := startSampler(n.dir)
	waitUntil(t, 10*time.Second, "the sampler sees solo/0 running", func() (bool, string) {
		_, _, ok := sampler.seenRunning(orig.ID, orig.Generation)
		return ok, "not yet"
	})

	cutAt := time.Now()
	links.cutAgent(orig.Node, -1, linkproxy.Blackhole)
	mustRun(t, append([]string{"tx", "node", "drain", orig.Node}, n.txArgs("admin")...)...)
	drainedAt := time.Now()
	var moved api.TaskView
	waitUntil(t, 60*time.Second, fmt.Sprintf("solo/0 Running off the cut-off %s", orig.Node), func() (bool, string) {
		now, err := h.tasksOf(ctx, "solo")
		if err != nil {
			return false, err.Error()
		}
		moved = now["solo/0"]
		return moved.Node != orig.Node && moved.State == "Running", tasksText(now)
	})
	waitUntil(t, 10*time.Second, "the sampler sees the replacement", func() (bool, string) {
		_, _, ok := sampler.seenRunning(moved.ID, moved.Generation)
		return ok, fmt.Sprintf("%s@g%d not seen yet", moved.ID, moved.Generation)
	})
	_, oldLast, okOld := sampler.seenRunning(orig.ID, orig.Generation)
	newFirst, _, _ := sampler.seenRunning(moved.ID, moved.Generation)
	if !okOld || !newFirst.After(oldLast) {
		t.Errorf("%s generation %d last seen %s on the cut-off %s; generation %d first seen %s on %s: they overlap",
			orig.ID, orig.Generation, oldLast.Format("15:04:05.000"), orig.Node, moved.Generation, newFirst.Format("15:04:05.000"), moved.Node)
	}
	t.Logf("self-fencing: cut %s off at %s, drained it %s later; the original (generation %d) last seen %s after the cut, the replacement (generation %d on %s) first seen %s after it: a gap of %s",
		orig.Node, cutAt.Format("15:04:05.000"), drainedAt.Sub(cutAt).Round(time.Millisecond), orig.Generation,
		oldLast.Sub(cutAt).Round(time.Millisecond), moved.Generation, moved.Node, newFirst.Sub(cutAt).Round(time.Millisecond),
		newFirst.Sub(oldLast).Round(time.Millisecond))
	for _, p := range h.m.Processes() {
		if p.Name != orig.Node {
			continue
		}
		if b, _ := os.ReadFile(p.LogFile); !strings.Contains(string(b), "self-fencing") {
			t.Errorf("%s's log does not say it fenced itself:\n%s", orig.Node, tailFile(p.LogFile, 3000))
		}
	}

	// Reconnected, the agent learns of the eviction; the replacement stays.
	links.healAll()
	waitUntil(t, 30*time.Second, fmt.Sprintf("%s connected again", orig.Node), func() (bool, string) {
		ns, out := n.status()
		for _, a := range ns.Agents {
			if a.Name == orig.Node {
				return a.Connected, out
			}
		}
		return false, out
	})
	mustRun(t, append([]string{"tx", "node", "uncordon", orig.Node}, n.txArgs("admin")...)...)
	waitUntil(t, 30*time.Second, fmt.Sprintf("%s Ready", orig.Node), func() (bool, string) {
		states, err := h.nodeStates(ctx)
		return err == nil && states[orig.Node] == "Ready", fmt.Sprint(states, err)
	})
	final, err := h.tasksOf(ctx, "solo")
	if err != nil {
		t.Fatal(err)
	}
	if got := final[moved.ID]; got.Node != moved.Node || got.Generation != moved.Generation || got.State != "Running" {
		t.Errorf("after the links healed, %s is generation %d %s on %s; want the replacement to stay (generation %d Running on %s)", moved.ID, got.Generation, got.State, got.Node, moved.Generation, moved.Node)
	}
	if pids := pidsOf(scanTaskProcs(n.dir), orig.ID, orig.Generation); len(pids) > 0 {
		t.Errorf("after the links healed, pids %v still run %s generation %d", pids, orig.ID, orig.Generation)
	}
	for _, o := range sampler.generationOverlaps() {
		t.Errorf("two generations at once: %s", o)
	}
	sampler.finish(t)
}
