package app

import (
	"fmt"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app/health"
	"github.com/phalanx-bft/phalanx/types"
)

// Stop before start (issue 14 §6, ADR 0020). A task evicted from a node
// where its process may still run (it was Assigned or Running there) keeps
// that placement as its fence (fence_node, fence_generation) and is not
// placed again until the fence is lifted:
//
//   - the node reports the generation stopped (Heartbeat.stopped: its
//     process group is gone, or it was never started and never will be),
//     or reports it ended (Failed, Completed);
//   - or fence_until_ms passes: params.fence_timeout_ms after the
//     eviction, whatever its reason; an agent that has not reported by
//     then is presumed stopped (issue 14 §5 makes that true: the agent
//     fences itself).
//
// A workload with replace_order "start-first", or params.fence_timeout_ms
// 0, skips the fence: the replacement is placed in the same block, as
// before. The fenced tasks wait in the pending index; placement skips them
// (fenced counts them per workload, so a workload without any costs
// nothing), and the fences queue is a min-heap of (fence_until_ms, task).

// fenceOnEvict sets t's fence as it is evicted from its node; t still has
// its placement (state, node, generation). It returns whether a fence was
// set.
func (s *State) fenceOnEvict(t *types.Task) bool {
	w := s.workloads[t.Workload]
	timeout := s.fenceTimeoutMs(t) // disconnect.lost_after_ms, or the param
	if timeout <= 0 || t.Node == "" || (t.State != types.TASK_ASSIGNED && t.State != types.TASK_RUNNING) {
		return false
	}
	if w == nil || w.Spec.ReplaceOrder == api.StartFirst {
		return false
	}
	// The same wait whatever the reason. A node that failed may be only
	// paused, or cut off from the observers: its agent, which sends no
	// heartbeat while observers attest it (ADR 0018), may resume and stop
	// its tasks within the timeout, and report it.
	until := s.blockTimeMs + timeout
	t.FenceNode, t.FenceGeneration, t.FenceUntilMs = t.Node, t.Generation, until
	s.fenced[t.Workload]++
	s.fences.Push(health.Deadline{AtMs: until, ID: t.Id})
	return true
}

// fenceReason is the reason a fenced task shows while it waits.
func fenceReason(t *types.Task, why string) string {
	return truncateReason(fmt.Sprintf("%s; placed once generation %d on %s has stopped (reported by its agent), or at t=%d",
		why, t.FenceGeneration, t.FenceNode, t.FenceUntilMs))
}

// liftFence clears t's fence: the placement step may place it.
func (s *State) liftFence(t *types.Task, why string) {
	if t.FenceNode == "" {
		return
	}
	s.noteTask(t)
	t.Reason = truncateReason(fmt.Sprintf("generation %d on %s %s", t.FenceGeneration, t.FenceNode, why))
	t.FenceNode, t.FenceGeneration, t.FenceUntilMs = "", 0, 0
	s.uncountFence(t.Workload)
	s.touchTask(t)
}

// uncountFence drops one fenced task of workload from the count (its fence
// lifted, or the task removed).
func (s *State) uncountFence(workload string) {
	if s.fenced[workload]--; s.fenced[workload] <= 0 {
		delete(s.fenced, workload)
	}
}

// stoppedReported applies a heartbeat's stopped list from node n: each
// task whose fence is that (node, generation) is free to be placed.
func (s *State) stoppedReported(n *types.Node, stopped []types.StoppedTask) int {
	lifted := 0
	for _, st := range stopped {
		if t := s.tasks[st.TaskId]; t != nil && t.FenceNode == n.Id && t.FenceGeneration == st.Generation {
			s.liftFence(t, "reported stopped")
			lifted++
		}
		if rf := s.removedFences[st.TaskId]; rf != nil && rf.Node == n.Id && rf.Generation == st.Generation {
			delete(s.removedFences, st.TaskId)
			lifted++
		}
	}
	return lifted
}

// fencesDue lifts the fences whose time ran out (before step 5).
func (s *State) fencesDue() {
	for {
		d, ok := s.fences.PopDue(s.blockTimeMs)
		if !ok {
			break
		}
		if t := s.tasks[d.ID]; t != nil && t.FenceNode != "" && t.FenceUntilMs == d.AtMs {
			s.liftFence(t, fmt.Sprintf("not reported stopped by t=%d (%s): presumed stopped", d.AtMs, s.fenceTimeoutText(t)))
		}
		if rf := s.removedFences[d.ID]; rf != nil && rf.UntilMs == d.AtMs {
			delete(s.removedFences, d.ID)
		}
	}
	if s.fences.Len() > DeadlineQueueSlack*len(s.tasks)+1024 {
		s.rebuildFences()
	}
}

// rebuildFences derives the fence queue and counts from the task records.
func (s *State) rebuildFences() {
	s.fences.Reset()
	clear(s.fenced)
	for _, id := range s.taskIDs() {
		if t := s.tasks[id]; t.FenceNode != "" {
			s.fenced[t.Workload]++
			s.fences.Push(health.Deadline{AtMs: t.FenceUntilMs, ID: t.Id})
		}
	}
	for _, id := range sortedKeys(s.removedFences) {
		s.fences.Push(health.Deadline{AtMs: s.removedFences[id].UntilMs, ID: id})
	}
}

// unfenced is the part of a workload's pending list that may be placed.
func (s *State) unfenced(name string, list []*types.Task) []*types.Task {
	if s.fenced[name] == 0 {
		return list
	}
	out := make([]*types.Task, 0, len(list))
	for _, t := range list {
		if t.FenceNode == "" {
			out = append(out, t)
		}
	}
	return out
}

// Removed tasks (a workload deleted or scaled down) are fenced too: a
// stop-first task removed while its process may still run leaves its
// placement in removedFences, and a task created again under its id (the
// workload re-created, or scaled up again) waits for it like an evicted
// task's replacement: until the node reports that generation stopped, or
// until the removal's time plus fence_timeout_ms.

// fenceOnRemove records the fence task t leaves as it is removed: its own
// placement, or the fence it was waiting on.
func (s *State) fenceOnRemove(t *types.Task) {
	if t.FenceNode != "" {
		s.removedFences[t.Id] = &types.RemovedFence{TaskId: t.Id, Node: t.FenceNode, Generation: t.FenceGeneration, UntilMs: t.FenceUntilMs}
		return // its deadline is queued already
	}
	w := s.workloads[t.Workload]
	timeout := s.fenceTimeoutMs(t)
	if timeout <= 0 || t.Node == "" || (t.State != types.TASK_ASSIGNED && t.State != types.TASK_RUNNING) {
		return
	}
	if w != nil && w.Spec.ReplaceOrder == api.StartFirst {
		return
	}
	until := s.blockTimeMs + timeout
	s.removedFences[t.Id] = &types.RemovedFence{TaskId: t.Id, Node: t.Node, Generation: t.Generation, UntilMs: until}
	s.fences.Push(health.Deadline{AtMs: until, ID: t.Id})
}

// inheritRemovedFence gives a new task t the fence a removed task of its
// id left, if it is still up.
func (s *State) inheritRemovedFence(t *types.Task) {
	rf := s.removedFences[t.Id]
	if rf == nil {
		return
	}
	delete(s.removedFences, t.Id)
	t.FenceNode, t.FenceGeneration, t.FenceUntilMs = rf.Node, rf.Generation, rf.UntilMs
	t.Generation = max(t.Generation, rf.Generation+1) // above the fence, as an evicted task is
	s.fenced[t.Workload]++
	t.Reason = fenceReason(t, "created again while the removed task of this id may still run")
}

// removedFenceList is removedFences sorted by task id, as stored.
func (s *State) removedFenceList() []types.RemovedFence {
	if len(s.removedFences) == 0 {
		return nil
	}
	out := make([]types.RemovedFence, 0, len(s.removedFences))
	for _, id := range sortedKeys(s.removedFences) {
		out = append(out, *s.removedFences[id])
	}
	return out
}
