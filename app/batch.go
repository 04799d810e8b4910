package app

import (
	"fmt"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// Batch workloads (issue 14, docs/scheduling.md "Workload types"). A batch
// runs each of its tasks once to completion: replicas is the number of
// completions, and at most parallelism of them (0: all) are placed at
// once. A task that exits with code 0 is Completed and keeps its outcome;
// one that fails is restarted in place by the restart policy, and when its
// restarts are used up the workload fails: its other tasks are stopped
// (evicted, reason batch_failed) and none is placed until an update
// changes the spec. Workload.succeeded counts the Completed tasks, so the
// outcome is known in O(1) at every report.

// typeName is the user's name of a spec's type ("" is a service).
func typeName(t string) string {
	if t == "" {
		return api.TypeService
	}
	return t
}

// batchTaskCompleted counts a batch task that completed; the last one
// completes the workload (event workload{action=completed}).
func (s *State) batchTaskCompleted(t *types.Task) []Event {
	w := s.workloads[t.Workload]
	w.Succeeded++
	s.touchWorkload(w)
	return s.batchOutcome(w)
}

// batchOutcome sets a batch's Complete outcome when every task completed,
// and clears it when a scale-up added tasks to run.
func (s *State) batchOutcome(w *types.Workload) []Event {
	if w.Spec.Type != api.TypeBatch || w.Status == api.BatchFailed {
		return nil
	}
	done := w.Succeeded >= w.Spec.Replicas
	switch {
	case done && w.Status != api.BatchComplete:
		w.Status, w.StatusReason, w.FinishedHeight = api.BatchComplete, fmt.Sprintf("%d of %d tasks completed", w.Succeeded, w.Spec.Replicas), s.height
		s.touchWorkload(w)
		return []Event{event(api.EventWorkload, "name", w.Spec.Name, "action", api.ActionCompleted,
			"succeeded", fmt.Sprint(w.Succeeded))}
	case !done && w.Status == api.BatchComplete:
		w.Status, w.StatusReason, w.FinishedHeight = "", "", 0
		s.touchWorkload(w)
	}
	return nil
}

// failBatch fails w because its task t failed with its restarts used up:
// every active task of w is evicted (back to Pending, generation + 1: the
// agents stop them), and placement skips w until an update.
func (s *State) failBatch(w *types.Workload, t *types.Task) []Event {
	w.Status = api.BatchFailed
	w.StatusReason = truncateReason(fmt.Sprintf("task %s on %s: %s", t.Id, t.Node, t.Reason))
	w.FinishedHeight = s.height
	s.touchWorkload(w)
	events := []Event{event(api.EventWorkload, "name", w.Spec.Name, "action", api.ActionFailed, "reason", w.StatusReason)}
	for _, task := range append([]*types.Task(nil), s.tasksOf(w.Spec.Name)...) {
		if taskActive(task) {
			events = append(events, s.evictTask(task, api.ReasonBatchFailed)...)
		}
	}
	for _, task := range s.pending[w.Spec.Name] {
		s.setTaskReason(task, "not placed: the batch workload failed; update its spec to run it again")
	}
	return events
}

// batchUpdated applies an update to a batch's outcome: an update of a
// failed batch runs it again (its pending tasks are placed); a scale-up
// of a complete one runs the new tasks; a scale-down to what completed
// completes it.
func (s *State) batchUpdated(w *types.Workload) []Event {
	if w.Spec.Type != api.TypeBatch {
		return nil
	}
	if w.Status == api.BatchFailed {
		w.Status, w.StatusReason, w.FinishedHeight = "", "", 0
		s.touchWorkload(w)
	}
	return s.batchOutcome(w)
}

// batchRoom is how many of w's placeable pending tasks step 5 may place
// now: all of a service's; none of a failed batch's; for a batch with
// parallelism p, p minus its active tasks: replicas - pending - succeeded,
// plus its fenced pending tasks, whose old generation may still run.
func (s *State) batchRoom(w *types.Workload, placeable int) int {
	if w.Spec.Type != api.TypeBatch {
		return placeable
	}
	if w.Status == api.BatchFailed {
		return 0
	}
	p := int(w.Spec.Parallelism)
	if p == 0 {
		return placeable
	}
	name := w.Spec.Name
	active := int(w.Spec.Replicas) - len(s.pending[name]) + s.fenced[name] - int(w.Succeeded)
	return max(0, min(placeable, p-active))
}
