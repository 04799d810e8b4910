package app

import (
	"fmt"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// A workload's disconnect policy (issue 14 §5, ADR 0023).
//
//   - lost_after_ms is the workload's own fence timeout: a task evicted
//     from a lost node (or removed while it may still run there) is placed
//     again once the node reports the old generation stopped, or
//     lost_after_ms after the eviction (params.fence_timeout_ms when 0).
//     The agent stops the task before that (self-fencing, ADR 0021, with
//     the task's window). Each placement records the value it was made
//     under (Task.lost_after_ms), which its fence and its agent both use:
//     an update of the policy applies to the placements after it.
//   - A workload with a policy is evicted from a Partitioned node under
//     partition_policy keep too (the others stay there, as before): the
//     policy says how long it may be out of reach.
//   - reconcile keep_original: when a lost node is Ready again while a
//     task evicted from it still waits out its fence (the original may
//     still run there), the task goes back to it (restorePass) at a new
//     generation with adopt_generation = the original's: the agent runs
//     on with the original process instead of starting another. Once the
//     fence is lifted (the original reported stopped, or lost_after
//     passed) the task is placed as any other: there is no original left
//     to keep. keep_replacement (the default) never restores.

// fenceTimeoutMs is how long stop-first task t, evicted or removed from
// its node, may still run there as far as the chain knows: its workload's
// disconnect.lost_after_ms when it was placed (Task.lost_after_ms: what
// its agent fences itself by), else params.fence_timeout_ms.
func (s *State) fenceTimeoutMs(t *types.Task) int64 {
	if t.LostAfterMs > 0 {
		return t.LostAfterMs
	}
	return s.params.FenceTimeoutMs
}

// fenceTimeoutText names t's fence timeout and where it comes from.
func (s *State) fenceTimeoutText(t *types.Task) string {
	if t.LostAfterMs > 0 {
		return fmt.Sprintf("disconnect.lost_after_ms %d", t.LostAfterMs)
	}
	return fmt.Sprintf("fence_timeout_ms %d", s.params.FenceTimeoutMs)
}

// partitionKeeps reports whether n is Partitioned under partition_policy
// keep (and not draining): only the tasks of workloads with a disconnect
// policy leave it.
func (s *State) partitionKeeps(n *types.Node) bool {
	return n.State == types.NODE_PARTITIONED && s.params.PartitionPolicy != api.PartitionEvict && !n.Draining
}

// evicts reports whether n's eviction takes task t.
func (s *State) evicts(n *types.Node, t *types.Task) bool {
	if !taskActive(t) {
		return false
	}
	if s.partitionKeeps(n) {
		w := s.workloads[t.Workload]
		return w != nil && api.HasDisconnect(&w.Spec)
	}
	return true
}

// disconnectTasksOn reports whether n holds an active task of a workload
// with a disconnect policy.
func (s *State) disconnectTasksOn(n *types.Node) bool {
	for id := range s.tasksByNode[n.Id] {
		if t := s.tasks[id]; taskActive(t) {
			if w := s.workloads[t.Workload]; w != nil && api.HasDisconnect(&w.Spec) {
				return true
			}
		}
	}
	return false
}

// markPartitioned asks the end of the block to look at every Partitioned
// node again (a workload's disconnect policy changed). O(nodes), once per
// such update.
func (s *State) markPartitioned() {
	for _, id := range s.nodeIDs {
		if n := s.nodes[id]; n.State == types.NODE_PARTITIONED {
			s.markEvict(n)
		}
	}
}

// restorePass puts back on each node that became Ready in this block the
// fenced tasks of keep_original workloads evicted from it (step 5, before
// the fences due are lifted and pending tasks placed). A task goes back if
// the node is schedulable, matches the workload's constraints and
// max_per_node, and has room; else it waits for its fence like any other.
func (s *State) restorePass() []Event {
	if len(s.restoreNodes) == 0 {
		return nil
	}
	var events []Event
	for _, id := range sortedKeys(s.restoreNodes) {
		n := s.nodes[id]
		if n == nil || n.State != types.NODE_READY {
			continue
		}
		for _, name := range sortedKeys(s.fenced) {
			w := s.workloads[name]
			if w == nil || w.Spec.Disconnect.Reconcile != api.KeepOriginal {
				continue
			}
			for _, t := range s.tasksOf(name) {
				if t.State == types.TASK_PENDING && t.FenceNode == n.Id {
					events = append(events, s.restore(w, t, n)...)
				}
			}
		}
	}
	clear(s.restoreNodes)
	return events
}

// restore places fenced task t back on n, its original node, if it may go
// there (restorePass).
func (s *State) restore(w *types.Workload, t *types.Task, n *types.Node) []Event {
	need := w.Spec.Resources
	if !systemEligible(w, n) || n.Allocated.CpuMillis+need.CpuMillis > n.Capacity.CpuMillis ||
		n.Allocated.MemoryMb+need.MemoryMb > n.Capacity.MemoryMb {
		return nil
	}
	if max := w.Spec.MaxPerNode; max > 0 {
		var on uint32
		for id := range s.tasksByNode[n.Id] {
			if o := s.tasks[id]; o.Workload == w.Spec.Name && taskActive(o) {
				on++
			}
		}
		if on >= max {
			return nil
		}
	}
	orig, until := t.FenceGeneration, t.FenceUntilMs
	s.liftFence(t, "restored")
	s.placeTask(t, n)
	t.AdoptGeneration = orig
	t.Reason = truncateReason(fmt.Sprintf("%s: node %s is Ready again before t=%d, while generation %d may still run there (disconnect.reconcile %s); its agent runs it on as generation %d",
		api.ReasonRestored, n.Id, until, orig, api.KeepOriginal, t.Generation))
	s.taskChanged(t)
	return []Event{event(api.EventTaskPlaced, "task", t.Id, "node", n.Id, "generation", u64(t.Generation), "adopts", u64(orig))}
}
