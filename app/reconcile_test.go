package app

import (
	"fmt"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

func TestBackoff(t *testing.T) {
	s, _ := NewState(testChainID, nil) // params: 1 s, 60 s
	w := &types.Workload{Spec: types.WorkloadSpec{RestartPolicy: types.RestartPolicy{BackoffBaseMs: 1000, BackoffMaxMs: 4000}}}
	for restarts, want := range []int64{1000, 2000, 4000, 4000, 4000} {
		if got := s.backoffMs(w, uint32(restarts)); got != want {
			t.Errorf("restarts %d: %d ms; want %d", restarts, got, want)
		}
	}
	if got := s.backoffMs(w, api.MaxRestarts); got != 4000 {
		t.Errorf("restarts %d: %d ms; want the cap", api.MaxRestarts, got)
	}
	// 0 falls back to params; a base above params' max is not cut below
	// itself.
	w.Spec.RestartPolicy = types.RestartPolicy{}
	if got := s.backoffMs(w, 3); got != 8000 {
		t.Errorf("params backoff after 3 restarts: %d; want 8000", got)
	}
	w.Spec.RestartPolicy.BackoffBaseMs = api.MaxBackoffMs
	if got := s.backoffMs(w, 40); got != api.MaxBackoffMs {
		t.Errorf("base %d: %d", int64(api.MaxBackoffMs), got)
	}
}

func TestTruncateReason(t *testing.T) {
	long := strings.Repeat("x", api.MaxTaskReasonLen+10)
	if got := truncateReason(long); len(got) != api.MaxTaskReasonLen || !strings.HasSuffix(got, "...") {
		t.Errorf("truncated to %d bytes: %q…", len(got), got[:10])
	}
	if got := truncateReason("short"); got != "short" {
		t.Errorf("%q", got)
	}
}

// TestPlacementQueue checks the merge order across workloads (priority,
// created height, name, index), the per-workload cap and the cut after
// limit × ScansPerPlacement workloads, and that parked workloads are
// skipped.
func TestPlacementQueue(t *testing.T) {
	s, _ := NewState(testChainID, nil)
	s.BeginBlock(Block{Height: 1, TimeMs: 1000}, nil)
	add := func(name string, prio int32, replicas uint32) {
		w := &types.Workload{Spec: types.WorkloadSpec{Name: name, Replicas: replicas, Priority: prio}, Version: 1, TemplateVersion: 1}
		s.workloads[name] = w
		for i := uint32(0); i < replicas; i++ {
			s.addTask(w, i, "")
		}
	}
	add("b", 0, 2)
	add("a", 0, 1)
	s.height = 2
	add("c", 0, 2) // newer
	add("z", 5, 1) // higher priority
	order := func(limit int) string {
		reqs, cut := s.placementQueue(limit)
		var ids []string
		for _, r := range reqs {
			ids = append(ids, r.Task)
		}
		return fmt.Sprintf("%s cut=%v", strings.Join(ids, " "), cut)
	}
	if got, want := order(10), "z/0 a/0 b/0 b/1 c/0 c/1 cut=false"; got != want {
		t.Errorf("order: %s; want %s", got, want)
	}
	// limit 1: one task per workload; at most 4 workloads.
	if got, want := order(1), "z/0 a/0 b/0 c/0 cut=false"; got != want {
		t.Errorf("limit 1: %s; want %s", got, want)
	}
	add("d", 0, 1)
	if got, want := order(1), "z/0 a/0 b/0 c/0 cut=true"; got != want {
		t.Errorf("limit 1, 5 workloads: %s; want %s", got, want)
	}
	s.park(s.workloads["a"])
	if got, want := order(10), "z/0 b/0 b/1 c/0 c/1 d/0 cut=false"; got != want {
		t.Errorf("a parked: %s; want %s", got, want)
	}
	if s.parkedCount != 1 {
		t.Errorf("parked %d; want 1", s.parkedCount)
	}
	s.bumpEpoch()
	if got, want := order(10), "z/0 a/0 b/0 b/1 c/0 c/1 d/0 cut=false"; got != want || s.parkedCount != 0 {
		t.Errorf("after the epoch moved: %s (parked %d); want %s", got, s.parkedCount, want)
	}
}
