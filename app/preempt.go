package app

import (
	"fmt"
	"sort"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app/scheduler"
	"github.com/phalanx-bft/phalanx/types"
)

// Priority and preemption (issue 14 §3, docs/scheduling.md "Preemption").
// When step 5 leaves a task unplaced, a task of a higher priority may take
// the room of lower-priority ones: on each node its workload's node checks
// admit (Ready, schedulable, constraints, max_per_node, its pinned node),
// the victims are the node's active tasks of a strictly lower priority,
// lowest priority first, then largest first (then task id), taken until
// the task fits, then thinned: a victim without which it still fits is
// spared. The node with the fewest victims wins, then the lowest highest
// victim priority, then the lowest sum of victim priorities, then the node
// id: deterministic. The victims are evicted (reason preempted, fenced as
// any eviction: stop before start) with task_preempted{task, node,
// priority, by, by_priority}, and the task is placed there in the same
// block. Never a task of equal or higher priority, nor one of the same
// workload; a workload with a spread_key is not a preemptor (the spread
// rules would need the whole placement pass).
//
// Bounds: MaxPreemptionAttemptsPerBlock tasks are tried per block, and a
// preemption is a placement: the block's max_placements_per_block counts
// it. An attempt costs O(nodes + their tasks).

// MaxPreemptionAttemptsPerBlock bounds the unplaced tasks tried for
// preemption in one block.
const MaxPreemptionAttemptsPerBlock = 16

// preempt tries the unplaced tasks, in order, for preemption, at most room
// placements; it returns the events and the tasks that stay unplaced.
func (s *State) preempt(unplaced []scheduler.Unplaced, room int, placed map[string]bool) ([]Event, []scheduler.Unplaced) {
	var events []Event
	rest := unplaced[:0:0]
	attempts := 0
	lowest := s.lowestPriority()
	pp := &preemptPass{scans: map[string]*preemptScan{}, changed: map[string]uint64{}}
	for _, u := range unplaced {
		t := s.tasks[u.Task]
		w := s.workloads[t.Workload]
		if room <= 0 || attempts >= MaxPreemptionAttemptsPerBlock || w.Spec.SpreadKey != "" || w.Spec.Priority <= lowest {
			rest = append(rest, u)
			continue
		}
		attempts++
		n, victims := s.preemptionTarget(pp, t, w, lowest)
		if n == nil {
			rest = append(rest, u)
			continue
		}
		for _, v := range victims {
			vw := s.workloads[v.Workload]
			events = append(events, event(api.EventTaskPreempted, "task", v.Id, "node", n.Id,
				"priority", fmt.Sprint(vw.Spec.Priority), "by", t.Id, "by_priority", fmt.Sprint(w.Spec.Priority)))
			events = append(events, s.evictTask(v, api.ReasonPreempted)...)
			why := fmt.Sprintf("preempted on %s by %s (priority %d > %d)", n.Id, t.Id, w.Spec.Priority, vw.Spec.Priority)
			if v.FenceNode != "" {
				why = fenceReason(v, why)
			}
			s.setTaskReason(v, truncateReason(why))
			s.lastPass.Preempted++
		}
		s.placeTask(t, n)
		pp.count++
		pp.changed[n.Id] = pp.count
		placed[t.Workload] = true
		s.lastPass.Placed++
		room--
		events = append(events, event(api.EventTaskPlaced, "task", t.Id, "node", n.Id, "generation", u64(t.Generation)))
	}
	return events, rest
}

// lowestPriority is the lowest priority of the workloads that have tasks
// (O(workloads), once per block with unplaced tasks): a task of that
// priority has nothing to preempt.
func (s *State) lowestPriority() int32 {
	lowest, any := int32(0), false
	for _, name := range sortedKeys(s.workloadTasks) {
		if p := s.workloads[name].Spec.Priority; !any || p < lowest {
			lowest, any = p, true
		}
	}
	return lowest
}

// preemptScan is one workload's victims on every node, computed once per
// block's preemption pass: its tasks share their needs and priority, so
// the scan of the first serves the next, but for the nodes a preemption
// changed since (recomputed).
type preemptScan struct {
	entries []preemptEntry // by index in nodeList
	at      []uint64       // the pass's change count when computed
}

type preemptEntry struct {
	victims []*types.Task
	key     [3]int64 // victims, highest victim priority, their sum
	ok      bool
}

// preemptPass is the state of one block's preemption pass.
type preemptPass struct {
	scans   map[string]*preemptScan // by workload
	changed map[string]uint64       // node id -> the change count of its last preemption
	count   uint64
}

// preemptionTarget finds the node and the victims for task t (nil if none).
// Nodes are tried in id order, so the first node whose one victim has the
// lowest priority of the cluster wins at once: none can beat it.
func (s *State) preemptionTarget(pp *preemptPass, t *types.Task, w *types.Workload, lowest int32) (*types.Node, []*types.Task) {
	if t.PinNode != "" {
		n := s.nodes[t.PinNode]
		if n == nil {
			return nil, nil
		}
		e := s.preemptEntry(n, w)
		if !e.ok {
			return nil, nil
		}
		return n, e.victims
	}
	sc := pp.scans[w.Spec.Name]
	if sc == nil || len(sc.entries) != len(s.nodeList) {
		sc = &preemptScan{entries: make([]preemptEntry, len(s.nodeList)), at: make([]uint64, len(s.nodeList))}
		for i := range sc.at {
			sc.at[i] = ^uint64(0) // not computed
		}
		pp.scans[w.Spec.Name] = sc
	}
	best := -1
	for i, n := range s.nodeList {
		if c, ok := pp.changed[n.Id]; sc.at[i] == ^uint64(0) || ok && c >= sc.at[i] {
			sc.entries[i] = s.preemptEntry(n, w)
			sc.at[i] = pp.count
		}
		e := &sc.entries[i]
		if !e.ok {
			continue
		}
		if k, b := e.key, sc.entries; best < 0 || k[0] < b[best].key[0] || k[0] == b[best].key[0] && (k[1] < b[best].key[1] || k[1] == b[best].key[1] && k[2] < b[best].key[2]) {
			best = i
			if k == [3]int64{1, int64(lowest), int64(lowest)} {
				break
			}
		}
	}
	if best < 0 {
		return nil, nil
	}
	return s.nodeList[best], sc.entries[best].victims
}

// preemptEntry is w's victims on node n.
func (s *State) preemptEntry(n *types.Node, w *types.Workload) preemptEntry {
	need := w.Spec.Resources
	if !s.preemptorAdmits(w, n) || n.Capacity.CpuMillis < need.CpuMillis || n.Capacity.MemoryMb < need.MemoryMb {
		return preemptEntry{}
	}
	victims := s.victimsOn(n, w, need)
	if victims == nil {
		return preemptEntry{}
	}
	top, sum := int64(0), int64(0)
	for _, v := range victims {
		p := int64(s.workloads[v.Workload].Spec.Priority)
		top = max(top, p)
		sum += p
	}
	return preemptEntry{victims: victims, key: [3]int64{int64(len(victims)), top, sum}, ok: true}
}

// preemptorAdmits runs w's node checks on n, but for resources: ready and
// schedulable, constraints, max_per_node.
func (s *State) preemptorAdmits(w *types.Workload, n *types.Node) bool {
	if n.State != types.NODE_READY || n.Cordoned || n.Draining {
		return false
	}
	for _, k := range w.Spec.Constraints {
		v, ok := scheduler.LabelValue(n, k.Label)
		if (k.Op == "=") != (ok && v == k.Value) {
			return false
		}
	}
	if w.Spec.MaxPerNode > 0 {
		on := uint32(0)
		for _, o := range s.tasksOn(n.Id) {
			if o.Workload == w.Spec.Name && taskActive(o) {
				on++
			}
		}
		if on >= w.Spec.MaxPerNode {
			return false
		}
	}
	return true
}

// victimsOn is the smallest set of n's active tasks of a priority below
// w's whose resources make room for need, by the rule of preempt.go's
// comment; nil if they cannot.
func (s *State) victimsOn(n *types.Node, w *types.Workload, need types.Resources) []*types.Task {
	freeCPU, freeMem := n.Capacity.CpuMillis-n.Allocated.CpuMillis, n.Capacity.MemoryMb-n.Allocated.MemoryMb
	var cands []*types.Task
	cpu, mem := freeCPU, freeMem
	// In any order: the candidates are sorted by a total order below (no
	// per-node sort of ids, an attempt looks at every node).
	for id := range s.tasksByNode[n.Id] {
		t := s.tasks[id]
		if taskActive(t) && t.Workload != w.Spec.Name && s.workloads[t.Workload].Spec.Priority < w.Spec.Priority {
			cands = append(cands, t)
			cpu += t.Resources.CpuMillis
			mem += t.Resources.MemoryMb
		}
	}
	if cpu < need.CpuMillis || mem < need.MemoryMb {
		return nil // not even all of them make room
	}
	prio := func(t *types.Task) int32 { return s.workloads[t.Workload].Spec.Priority }
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if pa, pb := prio(a), prio(b); pa != pb {
			return pa < pb
		}
		if ra, rb := a.Resources.CpuMillis+a.Resources.MemoryMb, b.Resources.CpuMillis+b.Resources.MemoryMb; ra != rb {
			return ra > rb
		}
		return a.Id < b.Id
	})
	fits := func() bool { return freeCPU >= need.CpuMillis && freeMem >= need.MemoryMb }
	var victims []*types.Task
	for _, c := range cands {
		if fits() {
			break
		}
		victims = append(victims, c)
		freeCPU += c.Resources.CpuMillis
		freeMem += c.Resources.MemoryMb
	}
	if !fits() {
		return nil
	}
	// Thin: spare, last taken first, a victim the task fits without.
	for i := len(victims) - 1; i >= 0; i-- {
		v := victims[i]
		if freeCPU-v.Resources.CpuMillis >= need.CpuMillis && freeMem-v.Resources.MemoryMb >= need.MemoryMb {
			freeCPU -= v.Resources.CpuMillis
			freeMem -= v.Resources.MemoryMb
			victims = append(victims[:i], victims[i+1:]...)
		}
	}
	return victims
}
