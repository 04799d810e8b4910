package app

import (
	"fmt"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app/scheduler"
	"github.com/phalanx-bft/phalanx/types"
)

// System workloads (issue 14 §1, docs/scheduling.md "Workload types"): one
// task on every eligible node, as a Nomad system job or a Kubernetes
// DaemonSet. A node is eligible when it is registered, neither cordoned
// nor draining, and matches the workload's constraints; its state does not
// matter. Each task is pinned to its node (Task.pin_node): the scheduler
// places it there or nowhere, so a Down node's task is evicted as any
// other (fenced, generation + 1) and waits, Pending, until that node is
// Ready again. A task is created when its node becomes eligible (it
// registers, is uncordoned, or the workload is created or its constraints
// change) and removed when it stops being eligible (removed, cordoned,
// drained, or no longer matching); removed while it may still run, it
// leaves its fence (fence.go). A system workload's task list may have
// holes: a new task takes the lowest free index.
//
// The pass runs in step 2 of EndBlock over what the block marked: the
// nodes whose eligibility may have changed, against every system
// workload, and the system workloads created or updated, against every
// node. Its cost follows the marks: O(system workloads × (their tasks +
// marked nodes)) plus O(nodes + tasks) per marked workload.

// markSystemNode notes that node id's eligibility may have changed.
func (s *State) markSystemNode(id string) {
	if s.systemCount > 0 {
		s.systemNodes[id] = struct{}{}
	}
}

// systemEligible reports whether node n takes a task of system workload w.
func systemEligible(w *types.Workload, n *types.Node) bool {
	if n == nil || n.Cordoned || n.Draining {
		return false
	}
	for _, k := range w.Spec.Constraints {
		v, ok := scheduler.LabelValue(n, k.Label)
		if (k.Op == "=") != (ok && v == k.Value) {
			return false
		}
	}
	return true
}

// systemPass brings the marked system workloads and nodes in line.
func (s *State) systemPass() []Event {
	if len(s.systemNodes) == 0 && len(s.systemWorkloads) == 0 {
		return nil
	}
	var events []Event
	for _, name := range sortedKeys(s.systemWorkloads) {
		w := s.workloads[name]
		if w == nil || w.Spec.Type != api.TypeSystem {
			continue
		}
		pinned := s.pinnedTasks(name)
		for _, id := range s.nodeIDs {
			events = append(events, s.systemSync(w, id, pinned[id])...)
		}
		for _, id := range sortedKeys(pinned) {
			if s.nodes[id] == nil {
				events = append(events, s.systemSync(w, id, pinned[id])...)
			}
		}
	}
	if len(s.systemNodes) > 0 {
		nodes := sortedKeys(s.systemNodes)
		for _, name := range sortedKeys(s.workloads) {
			w := s.workloads[name]
			if w.Spec.Type != api.TypeSystem {
				continue
			}
			if _, done := s.systemWorkloads[name]; done {
				continue
			}
			pinned := s.pinnedTasks(name) // a sync changes only its own node's entry
			for _, id := range nodes {
				events = append(events, s.systemSync(w, id, pinned[id])...)
			}
		}
	}
	clear(s.systemNodes)
	clear(s.systemWorkloads)
	return events
}

// pinnedTasks maps node id -> workload name's task pinned there.
func (s *State) pinnedTasks(name string) map[string]*types.Task {
	pinned := map[string]*types.Task{}
	for _, t := range s.tasksOf(name) {
		pinned[t.PinNode] = t
	}
	return pinned
}

// systemSync creates or removes w's task on node id (t: the task pinned
// there, or nil).
func (s *State) systemSync(w *types.Workload, id string, t *types.Task) []Event {
	eligible := systemEligible(w, s.nodes[id])
	switch {
	case eligible && t == nil:
		if len(s.tasks) >= api.MaxTasksTotal {
			return nil // api.MaxTasksTotal: the node gets its task when one is freed and it is marked again
		}
		s.addTask(w, s.freeIndex(w.Spec.Name), id)
		return nil // task_placed follows when the scheduler places it
	case !eligible && t != nil:
		reason := api.ReasonNodeIneligible
		if s.nodes[id] == nil {
			reason = api.ReasonNodeRemoved
		}
		s.taskChanged(t) // a rollout may have no older task left
		return []Event{s.removeTask(t, reason)}
	}
	return nil
}

// freeIndex is the lowest index of workload name's task list that holds no
// task and whose id no removed task's fence holds (a new task there would
// wait for another node's stop).
func (s *State) freeIndex(name string) uint32 {
	list := s.workloadTasks[name]
	for i := 0; ; i++ {
		if i < len(list) && list[i] != nil {
			continue
		}
		if s.removedFences[fmt.Sprintf("%s/%d", name, i)] == nil {
			return uint32(i)
		}
	}
}

// pinnedMayFit keeps the pinned tasks whose node can take them now (Ready,
// schedulable, room for the workload's resources) and gives the others
// their node's reason. A system workload is never parked (its tasks have
// different nodes), so this O(1) check per task keeps the ones that wait
// for their node from taking the scheduler's scans from the rest.
func (s *State) pinnedMayFit(list []*types.Task) []*types.Task {
	out := make([]*types.Task, 0, len(list))
	for _, t := range list {
		n := s.nodes[t.PinNode]
		need := s.workloads[t.Workload].Spec.Resources
		var why string
		switch {
		case n == nil:
			why = "its node " + t.PinNode + " is gone"
		case n.State != types.NODE_READY:
			why = scheduler.ReasonNotReady
		case n.Draining:
			why = scheduler.ReasonDraining
		case n.Cordoned:
			why = scheduler.ReasonCordoned
		case n.Allocated.CpuMillis+need.CpuMillis > n.Capacity.CpuMillis:
			why = scheduler.ReasonInsufficientCPU
		case n.Allocated.MemoryMb+need.MemoryMb > n.Capacity.MemoryMb:
			why = scheduler.ReasonInsufficientMem
		default:
			out = append(out, t)
			continue
		}
		s.setTaskReason(t, fmt.Sprintf("0/1 nodes fit: 1 %s (pinned to %s)", why, t.PinNode))
	}
	return out
}
