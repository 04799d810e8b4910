package app

import (
	"container/heap"
	"fmt"
	"sort"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app/health"
	"github.com/phalanx-bft/phalanx/app/scheduler"
	"github.com/phalanx-bft/phalanx/types"
)

// The reconcile pass's steps 2 to 5 (EndBlock in block.go gives the
// order; docs/scheduling.md the rules and the costs), and the indexes that
// keep each step's cost proportional to what changed:
//
//   - evictNodes: the nodes whose state changed this block in a way that
//     may call for evicting their tasks, or for no longer evicting them;
//     step 2 (evict.go) looks at these and at the eviction backlog only;
//   - backoff: a min-heap of (next_attempt_at_ms, task id) of Failed
//     tasks, popped when due (step 3), lazily invalidated like the
//     detector's deadline index;
//   - rollouts and rollDirty: the workloads with tasks of an older
//     template, and those of them whose tasks changed this block (step 4
//     looks at these only);
//   - pending: each workload's Pending tasks in (created_height, index)
//     order; step 5 merges them across workloads by priority;
//   - the scheduling epoch (persisted): it moves whenever something that
//     could make a pending task fit changes. A workload whose pending
//     tasks fitted nowhere is parked at the current epoch
//     (Workload.unplaceable_epoch) and skipped until the epoch moves, so a
//     never-placeable workload costs nothing per block. The epoch and the
//     parking are records, not memory: a validator restarted from its
//     records skips exactly what a live one skips, which the scan budget
//     of scheduler.Place makes a matter of consensus.

// PassStats counts what one reconcile pass did (tests and benchmarks read
// it; it is not state).
type PassStats struct {
	Evicted   int  // tasks evicted from Down, Quarantined, Partitioned or draining nodes
	Restarted int  // Failed tasks restarted in place
	Moved     int  // Failed tasks sent to another node after max_restarts
	Replaced  int  // tasks replaced by a rolling update
	Preempted int  // tasks evicted to make room for higher-priority ones (preempt.go)
	PlaceRan  bool // scheduler.Place was called
	Requests  int  // tasks handed to scheduler.Place
	QueueCut  bool // more workloads were pending than one call can examine
	Examined  int  // of which it examined
	Placed    int
	Unplaced  int // examined tasks that fit nowhere
	// EvictBacklog: nodes whose tasks still wait for eviction after the
	// pass (their zone's rate, or max_evictions_per_block; evict.go).
	EvictBacklog int
}

// LastPass returns what the last EndBlock's reconcile pass did.
func (s *State) LastPass() PassStats { return s.lastPass }

// bumpEpoch moves the scheduling epoch: resources were freed, or a node's
// state, cordon or registration changed. Every parked workload becomes a
// candidate again.
func (s *State) bumpEpoch() {
	s.schedEpoch++
	s.parkedCount = 0
}

// parked reports whether the workload's pending tasks fitted nowhere at
// the current epoch.
func (s *State) parked(w *types.Workload) bool {
	return w.UnplaceableEpoch == s.schedEpoch
}

// taskChanged notes that a task changed state or placement: a rolling
// update of its workload may now proceed.
func (s *State) taskChanged(t *types.Task) {
	if _, ok := s.rollouts[t.Workload]; ok {
		s.rollDirty[t.Workload] = struct{}{}
	}
}

// ---- step 2: evictions -------------------------------------------------

// evictionReason is why n's active tasks must leave it, if they must:
// it is Down or Quarantined, Partitioned under partition_policy evict, or
// draining.
func (s *State) evictionReason(n *types.Node) (string, bool) {
	switch {
	case n.State == types.NODE_DOWN:
		return ReasonNodeDown, true
	case n.State == types.NODE_QUARANTINED:
		return ReasonNodeQuarantined, true
	case n.State == types.NODE_PARTITIONED && s.params.PartitionPolicy == api.PartitionEvict:
		return ReasonNodePartitioned, true
	case n.Draining:
		return api.ReasonDrain, true
	case s.partitionKeeps(n) && s.disconnectTasksOn(n):
		return ReasonNodePartitioned, true // the tasks of workloads with a disconnect policy (disconnect.go)
	}
	return "", false
}

// markEvict asks the end of the block to look at n's tasks: to evict
// them, if its state calls for it then (as its zone's pacing allows,
// evict.go), or to stop evicting them, if it no longer does.
func (s *State) markEvict(n *types.Node) {
	if _, ok := s.evictionReason(n); ok || n.EvictSinceMs != 0 {
		s.evictNodes[n.Id] = struct{}{}
	}
}

// ---- step 3: restarts ----------------------------------------------------

// backoffMs is the wait before restart number restarts+1 of a task of w:
// backoff_base_ms · 2^restarts, at most backoff_max_ms (the workload's
// restart_policy, or params where the policy leaves them 0).
func (s *State) backoffMs(w *types.Workload, restarts uint32) int64 {
	base, ceil := w.Spec.RestartPolicy.BackoffBaseMs, w.Spec.RestartPolicy.BackoffMaxMs
	if base == 0 {
		base = s.params.BackoffBaseMs
	}
	if ceil == 0 {
		ceil = s.params.BackoffMaxMs
	}
	ceil = max(ceil, base)
	d := base
	for i := uint32(0); i < restarts && d < ceil; i++ {
		d *= 2 // base and ceil are at most a day: no overflow before d ≥ ceil
	}
	return min(d, ceil)
}

// taskFailed applies a report that a placed task failed: the restart
// policy acts at the end of the block in which its backoff runs out
// (step 3). The task keeps its place and resources until then. It returns
// the task_failed event.
func (s *State) taskFailed(t *types.Task, exitCode int32, completed bool) (ev Event, batchFailed bool) {
	w := s.workloads[t.Workload]
	max := w.Spec.RestartPolicy.MaxRestarts
	what := fmt.Sprintf("failed (exit code %d)", exitCode)
	if completed {
		what = "exited (exit code 0, reported Completed; a service runs until it is stopped)"
	}
	if w.Spec.Type == api.TypeBatch && t.Restarts >= max {
		// A batch task does not move: with its restarts used up, the
		// workload has failed (failBatch, once the report is applied).
		t.Reason = truncateReason(fmt.Sprintf("%s after %d restarts (max_restarts %d): the batch workload failed", what, t.Restarts, max))
		return event(api.EventTaskFailed, "task", t.Id, "node", t.Node, "generation", u64(t.Generation),
			"exit_code", fmt.Sprint(exitCode), "then", "fail", "at", fmt.Sprint(s.blockTimeMs)), true
	}
	wait := s.backoffMs(w, t.Restarts)
	t.NextAttemptAtMs = s.blockTimeMs + wait
	s.backoff.Push(health.Deadline{AtMs: t.NextAttemptAtMs, ID: t.Id})
	then := "restart"
	if t.Restarts < max {
		t.Reason = fmt.Sprintf("%s; restart %d of max_restarts %d in place at t=%d (backoff %d ms)",
			what, t.Restarts+1, max, t.NextAttemptAtMs, wait)
	} else {
		then = "move"
		t.Reason = fmt.Sprintf("%s; max_restarts %d used up on %s: moves to another node at t=%d (backoff %d ms)",
			what, max, t.Node, t.NextAttemptAtMs, wait)
	}
	return event(api.EventTaskFailed, "task", t.Id, "node", t.Node, "generation", u64(t.Generation),
		"exit_code", fmt.Sprint(exitCode), "then", then, "at", fmt.Sprint(t.NextAttemptAtMs)), false
}

// restartDue is step 3: every Failed task whose backoff ran out restarts
// in place, or moves once max_restarts restarts are used up: back to
// Pending (generation + 1) with its node recorded as the one to avoid, so
// that the scheduler places it elsewhere unless nothing else fits. A task
// of an older template is left to the rolling update (step 4), which
// replaces it instead: a restart would run the workload's current spec
// with the old one's resources.
func (s *State) restartDue() []Event {
	var events []Event
	for {
		d, ok := s.backoff.PopDue(s.blockTimeMs)
		if !ok {
			break
		}
		t := s.tasks[d.ID]
		if t == nil || t.State != types.TASK_FAILED || t.NextAttemptAtMs != d.AtMs {
			continue // stale: the task changed since
		}
		w := s.workloads[t.Workload]
		switch {
		case t.SpecVersion < w.TemplateVersion:
			t.NextAttemptAtMs = 0
			s.touchTask(t)
			s.rollDirty[w.Spec.Name] = struct{}{}
		case t.Restarts < w.Spec.RestartPolicy.MaxRestarts:
			events = append(events, s.restartInPlace(t))
			s.lastPass.Restarted++
		default:
			node, restarts := t.Node, t.Restarts
			events = append(events, s.evictTask(t, api.ReasonMaxRestarts)...)
			t.AvoidNode = node
			t.Reason = fmt.Sprintf("max_restarts %d used up on %s (%d restarts): to be placed on another node", w.Spec.RestartPolicy.MaxRestarts, node, restarts)
			s.lastPass.Moved++
		}
	}
	if s.backoff.Len() > DeadlineQueueSlack*len(s.tasks)+1024 {
		s.rebuildBackoff()
	}
	return events
}

func (s *State) rebuildBackoff() {
	s.backoff.Reset()
	for _, id := range s.taskIDs() {
		if t := s.tasks[id]; t.State == types.TASK_FAILED && t.NextAttemptAtMs > 0 {
			s.backoff.Push(health.Deadline{AtMs: t.NextAttemptAtMs, ID: t.Id})
		}
	}
}

// ---- step 4: rolling updates ---------------------------------------------

// outdated reports whether t runs an older template of w than the current
// one: placed (Assigned, Running or Failed) with a spec_version below
// w.template_version. Completed tasks are done and are not replaced.
func outdated(w *types.Workload, t *types.Task) bool {
	return taskActive(t) && t.SpecVersion < w.TemplateVersion
}

// minAvailable is how many tasks of w a rolling update keeps Running:
// replicas - max_unavailable, where max_unavailable 0 counts as 1 (there
// is no surge: without taking one task down a rollout could not start).
func (s *State) minAvailable(w *types.Workload) int {
	replicas := w.Spec.Replicas
	if w.Spec.Type == api.TypeSystem {
		replicas = uint32(len(s.tasksOf(w.Spec.Name))) // one per eligible node
	}
	return int(replicas) - int(min(max(w.Spec.MaxUnavailable, 1), replicas))
}

// rollOut is step 4: for each rolling workload whose tasks changed in this
// block (or whose spec did), one step of its rolling update.
func (s *State) rollOut() []Event {
	// A rollout that waits for a new task to be ready min_healthy_ms
	// looks again every block: time, not a report, lets it go on. (The
	// set is derived from the records: rolling workloads with
	// min_healthy_ms.)
	for _, name := range sortedKeys(s.rollouts) {
		if w := s.workloads[name]; w != nil && w.Spec.MinHealthyMs > 0 {
			s.rollDirty[name] = struct{}{}
		}
	}
	if len(s.rollDirty) == 0 {
		return nil
	}
	var events []Event
	for _, name := range sortedKeys(s.rollDirty) {
		if w := s.workloads[name]; w != nil {
			events = append(events, s.rollStep(w)...)
		}
	}
	clear(s.rollDirty)
	return events
}

// healthy reports whether task t of w counts as available to a rolling
// update or a drain: Running, ready (its readiness checks pass, if w has
// any; ADR 0022), and ready for at least w's min_healthy_ms.
func (s *State) healthy(w *types.Workload, t *types.Task) bool {
	return t.State == types.TASK_RUNNING && t.Ready && s.blockTimeMs-t.ReadySinceMs >= w.Spec.MinHealthyMs
}

// rollStep replaces tasks of older templates, in index order: first
// every one that is not Running (it is unavailable anyway: replacing it
// costs nothing), then Running ones while more than replicas -
// max_unavailable tasks are Running (new template or old). A replaced
// task goes back to Pending with generation + 1 (the agent stops the old
// process: fencing) and step 5 places it with the current template. When
// no task of an older template is left, the rollout is over (event
// workload{action=rolled_out}). It costs O(replicas).
func (s *State) rollStep(w *types.Workload) []Event {
	name := w.Spec.Name
	var up, down []*types.Task
	available := 0
	for _, t := range s.tasksOf(name) {
		if s.healthy(w, t) {
			available++
		}
		if outdated(w, t) {
			if t.State == types.TASK_RUNNING {
				up = append(up, t)
			} else {
				down = append(down, t)
			}
		}
	}
	var events []Event
	for _, t := range down {
		events = append(events, s.evictTask(t, api.ReasonRollingUpdate)...)
		s.lastPass.Replaced++
	}
	budget := available - s.minAvailable(w)
	for i := 0; i < budget && i < len(up); i++ {
		events = append(events, s.evictTask(up[i], api.ReasonRollingUpdate)...)
		s.lastPass.Replaced++
	}
	if max(budget, 0) >= len(up) {
		delete(s.rollouts, name)
		events = append(events, event(api.EventWorkload, "name", name, "action", api.ActionRolledOut, "version", u64(w.TemplateVersion)))
	}
	return events
}

// endFinishedRollouts ends the rollouts marked since step 4 that have no
// task of an older template left, and clears the marks.
func (s *State) endFinishedRollouts() []Event {
	var events []Event
	for _, name := range sortedKeys(s.rollDirty) {
		w := s.workloads[name]
		if w == nil {
			continue
		}
		left := false
		for _, t := range s.tasksOf(name) {
			if outdated(w, t) {
				left = true
				break
			}
		}
		if !left {
			delete(s.rollouts, name)
			events = append(events, event(api.EventWorkload, "name", name, "action", api.ActionRolledOut, "version", u64(w.TemplateVersion)))
		}
	}
	clear(s.rollDirty)
	return events
}

// startRollout makes w's tasks of older templates subject to step 4.
func (s *State) startRollout(w *types.Workload) {
	s.rollouts[w.Spec.Name] = struct{}{}
	s.rollDirty[w.Spec.Name] = struct{}{}
}

// ---- step 5: placement ---------------------------------------------------

// clusterView is scheduler.Cluster (and NodeIndexer) over the state.
type clusterView struct{ s *State }

// Nodes returns the nodes sorted by id (kept sorted on registration).
func (c clusterView) Nodes() []*types.Node { return c.s.nodeList }

// NodeIndex returns a node's position in Nodes(). The positions shift when
// a node registers; they are recomputed, O(nodes), on the first use after.
func (c clusterView) NodeIndex(id string) (int, bool) {
	s := c.s
	if len(s.nodePos) != len(s.nodeList) {
		s.nodePos = make(map[string]int32, len(s.nodeList))
		for i, n := range s.nodeList {
			s.nodePos[n.Id] = int32(i)
		}
	}
	i, ok := s.nodePos[id]
	return int(i), ok
}

func (c clusterView) Workload(name string) *types.WorkloadSpec {
	if w := c.s.workloads[name]; w != nil {
		return &w.Spec
	}
	return nil
}

// TaskNodes returns the node of each of the workload's tasks that holds
// resources, old templates included (they count toward max_per_node and
// max_per_domain until they stop). O(replicas).
func (c clusterView) TaskNodes(workload string) []string {
	var out []string
	for _, t := range c.s.workloadTasks[workload] {
		if t != nil && taskActive(t) {
			out = append(out, t.Node)
		}
	}
	return out
}

// placePending is step 5. It hands scheduler.Place the pending tasks of
// the workloads that are not parked, highest priority first, then oldest
// (created height), then by workload name and index; Place places at most
// max_placements_per_block of them, scanning the nodes for at most
// max_placements_per_block × scheduler.ScansPerPlacement tasks, and the
// rest wait for the next block. A workload whose tasks fit nowhere is
// parked at the current epoch, and all its pending tasks get the
// scheduler's explanation as their reason. With nothing but parked
// workloads pending, it costs O(1).
func (s *State) placePending() []Event {
	if len(s.pending) <= s.parkedCount {
		return nil
	}
	limit := int(s.params.MaxPlacementsPerBlock)
	reqs, cut := s.placementQueue(limit)
	if len(reqs) == 0 {
		return nil // only batches at their parallelism, or failed, wait
	}
	res := scheduler.Place(clusterView{s}, s.blockHash, reqs, limit)
	s.lastPass.PlaceRan, s.lastPass.QueueCut = true, cut
	s.lastPass.Requests, s.lastPass.Examined = len(reqs), res.Examined
	s.lastPass.Placed, s.lastPass.Unplaced = len(res.Placed), len(res.Unplaced)

	var events []Event
	placed := map[string]bool{}
	for _, p := range res.Placed {
		t := s.tasks[p.Task]
		s.placeTask(t, s.nodes[p.Node])
		placed[t.Workload] = true
		events = append(events, event(api.EventTaskPlaced, "task", t.Id, "node", p.Node, "generation", u64(t.Generation)))
	}
	// Preemption (preempt.go): an unplaced task may take the room of
	// lower-priority ones.
	epoch := s.schedEpoch // what Place saw
	if len(res.Unplaced) > 0 {
		var pe []Event
		pe, res.Unplaced = s.preempt(res.Unplaced, limit-len(res.Placed), placed)
		events = append(events, pe...)
		// A victim's eviction marked its rolling workload. An eviction
		// only takes availability away, so step 4 has nothing more to
		// replace; but the victim may have been its last task of an older
		// template: that rollout is over.
		events = append(events, s.endFinishedRollouts()...)
	}
	// Tasks of one workload that fit nowhere share one explanation, and
	// so do its tasks beyond those examined: park the workload.
	var unplaced []string
	why := map[string]string{}
	for _, u := range res.Unplaced {
		t := s.tasks[u.Task]
		if t.PinNode != "" {
			// Pinned (system.go): its own node's explanation; the
			// workload's other tasks have other nodes, so it is not parked.
			s.setTaskReason(t, truncateReason(u.Why.String()))
			continue
		}
		name := t.Workload
		if _, ok := why[name]; !ok {
			why[name] = truncateReason(u.Why.String())
			unplaced = append(unplaced, name)
		}
	}
	for _, name := range unplaced {
		w := s.workloads[name]
		if s.schedEpoch == epoch {
			s.park(w)
		} // else a preemption freed room since Place: it tries again next block
		if w.Unschedulable == "" {
			w.UnschedulableHeight = s.height
			events = append(events, event(api.EventWorkload, "name", name, "action", api.ActionUnschedulable,
				"reason", why[name], "pending", fmt.Sprint(len(s.pending[name]))))
		}
		if w.Unschedulable != why[name] {
			w.Unschedulable = why[name]
			s.touchWorkload(w)
		}
		for _, t := range s.pending[name] {
			s.setTaskReason(t, why[name])
		}
	}
	for _, name := range sortedKeys(placed) {
		if _, ok := why[name]; !ok {
			s.clearUnschedulable(s.workloads[name])
		}
	}
	return events
}

// park records that w's pending tasks fit nowhere at the current epoch.
func (s *State) park(w *types.Workload) {
	if s.parked(w) {
		return
	}
	w.UnplaceableEpoch = s.schedEpoch
	s.touchWorkload(w)
	if len(s.pending[w.Spec.Name]) > 0 {
		s.parkedCount++
	}
}

// unpark makes w a candidate for placement again (its spec changed).
func (s *State) unpark(w *types.Workload) {
	if !s.parked(w) {
		return
	}
	if len(s.pending[w.Spec.Name]) > 0 {
		s.parkedCount--
	}
	w.UnplaceableEpoch = 0
	s.touchWorkload(w)
}

func (s *State) clearUnschedulable(w *types.Workload) {
	if w.Unschedulable != "" || w.UnschedulableHeight != 0 {
		w.Unschedulable, w.UnschedulableHeight = "", 0
		s.touchWorkload(w)
	}
}

// truncateReason bounds a task's reason to MaxTaskReasonLen bytes (the
// reasons are ASCII); a cut one ends in "...".
func truncateReason(r string) string {
	if len(r) <= api.MaxTaskReasonLen {
		return r
	}
	return r[:api.MaxTaskReasonLen-3] + "..."
}

// placementQueue merges the pending tasks of the workloads that are not
// parked into queue order: priority descending, created height, workload
// name, index. It stops where scheduler.Place would stop anyway: after
// limit tasks of a workload (a call places at most limit; the rest of an
// unplaceable workload's tasks get its explanation when it is parked) and
// before the first task of the (limit × ScansPerPlacement + 1)-th
// workload (each workload's first task costs Place a scan, and it stops
// after that many). Cost O(W log W + R log W) for W candidate workloads
// and R requests. cut reports whether workloads were left out.
func (s *State) placementQueue(limit int) (reqs []scheduler.TaskRequest, cut bool) {
	q := &mergeHeap{}
	for _, name := range sortedKeys(s.pending) {
		w := s.workloads[name]
		if s.parked(w) {
			continue
		}
		// Fenced tasks wait for their old generation to stop (fence.go);
		// a batch places at most its parallelism, a failed one nothing.
		list := s.unfenced(name, s.pending[name])
		if w.Spec.Type == api.TypeSystem {
			list = s.pinnedMayFit(list)
		}
		if room := s.batchRoom(w, len(list)); room > 0 {
			q.heads = append(q.heads, mergeHead{prio: w.Spec.Priority, list: list[:room]})
		}
	}
	heap.Init(q)
	workloads, maxWorkloads := 0, limit*scheduler.ScansPerPlacement
	for q.Len() > 0 {
		h := &q.heads[0]
		if h.next == 0 {
			workloads++
			if workloads > maxWorkloads {
				return reqs, true
			}
		}
		t := h.list[h.next]
		reqs = append(reqs, scheduler.TaskRequest{Task: t.Id, Workload: t.Workload, Avoid: t.AvoidNode, Pin: t.PinNode})
		h.next++
		if h.next == len(h.list) || h.next == limit {
			heap.Pop(q)
		} else {
			heap.Fix(q, 0)
		}
	}
	return reqs, false
}

// mergeHeap orders the workloads' next pending tasks (container/heap).
type mergeHeap struct{ heads []mergeHead }

type mergeHead struct {
	prio int32
	list []*types.Task // the workload's pending tasks
	next int           // the next one to hand out
}

func (q *mergeHeap) Len() int { return len(q.heads) }
func (q *mergeHeap) Less(i, j int) bool {
	a, b := &q.heads[i], &q.heads[j]
	if a.prio != b.prio {
		return a.prio > b.prio
	}
	ta, tb := a.list[a.next], b.list[b.next]
	if ta.CreatedHeight != tb.CreatedHeight {
		return ta.CreatedHeight < tb.CreatedHeight
	}
	if ta.Workload != tb.Workload {
		return ta.Workload < tb.Workload
	}
	return ta.Index < tb.Index
}
func (q *mergeHeap) Swap(i, j int) { q.heads[i], q.heads[j] = q.heads[j], q.heads[i] }
func (q *mergeHeap) Push(x any)    { q.heads = append(q.heads, x.(mergeHead)) }
func (q *mergeHeap) Pop() any {
	h := q.heads[len(q.heads)-1]
	q.heads = q.heads[:len(q.heads)-1]
	return h
}

// ---- the pending index ---------------------------------------------------

// pendingBefore is the order of a workload's pending tasks.
func pendingBefore(a, b *types.Task) bool {
	if a.CreatedHeight != b.CreatedHeight {
		return a.CreatedHeight < b.CreatedHeight
	}
	return a.Index < b.Index
}

func pendingPos(list []*types.Task, t *types.Task) int {
	return sort.Search(len(list), func(i int) bool { return !pendingBefore(list[i], t) })
}

// addPending adds a task that became Pending to its workload's queue.
func (s *State) addPending(t *types.Task) {
	list := s.pending[t.Workload]
	if len(list) == 0 && s.parked(s.workloads[t.Workload]) {
		s.parkedCount++
	}
	i := pendingPos(list, t)
	list = append(list, nil)
	copy(list[i+1:], list[i:])
	list[i] = t
	s.pending[t.Workload] = list
	s.pendingCount++
}

// removePending removes a task that leaves Pending from its queue.
func (s *State) removePending(t *types.Task) {
	list := s.pending[t.Workload]
	i := pendingPos(list, t)
	if i == len(list) || list[i] != t {
		panic(fmt.Sprintf("app: task %s is not in the pending index", t.Id))
	}
	list = append(list[:i], list[i+1:]...)
	s.pendingCount--
	if len(list) > 0 {
		s.pending[t.Workload] = list
		return
	}
	delete(s.pending, t.Workload)
	if w := s.workloads[t.Workload]; w != nil {
		if s.parked(w) {
			s.parkedCount--
		}
		s.clearUnschedulable(w)
	}
}

// rebuildReconcileIndexes derives the pending, backoff and rollout
// indexes from the task records (LoadState).
func (s *State) rebuildReconcileIndexes() {
	for _, id := range s.taskIDs() {
		t := s.tasks[id]
		w := s.workloads[t.Workload]
		if w == nil {
			continue // verify reports it
		}
		if t.State == types.TASK_PENDING {
			s.addPending(t)
		}
		if outdated(w, t) {
			s.rollouts[t.Workload] = struct{}{}
		}
	}
	s.rebuildBackoff()
	s.rebuildFences()
	s.rebuildEvictionIndexes()
}

// verifyReconcile checks the reconcile indexes against the records, and,
// between blocks, what the pass guarantees: no active task on a node that
// calls for eviction, and every workload with tasks of an older template
// in a rollout.
func (s *State) verifyReconcile() error {
	count, parked := 0, 0
	for _, name := range sortedKeys(s.pending) {
		w := s.workloads[name]
		list := s.pending[name]
		if w == nil || len(list) == 0 {
			return fmt.Errorf("pending index: workload %q with %d tasks", name, len(list))
		}
		if s.parked(w) {
			parked++
		}
		for i, t := range list {
			if t.State != types.TASK_PENDING || s.tasks[t.Id] != t || i > 0 && !pendingBefore(list[i-1], t) {
				return fmt.Errorf("pending index of %s: entry %d (%s) is out of place", name, i, t.Id)
			}
		}
		count += len(list)
	}
	pendingTasks := 0
	fenced := map[string]int{}
	for _, id := range s.taskIDs() {
		t := s.tasks[id]
		if t.State == types.TASK_PENDING {
			pendingTasks++
		}
		if t.FenceNode != "" {
			fenced[t.Workload]++
		}
		w := s.workloads[t.Workload]
		if w != nil && outdated(w, t) {
			if _, ok := s.rollouts[t.Workload]; !ok {
				return fmt.Errorf("task %s runs template %d of %d; its workload is not rolling", id, t.SpecVersion, w.TemplateVersion)
			}
		}
		if !s.inBlock && taskActive(t) {
			if reason, ok := s.evictionReason(s.nodes[t.Node]); ok && s.nodes[t.Node].EvictSinceMs == 0 {
				return fmt.Errorf("task %s is %s on node %s, whose tasks must be evicted (%s), and the node is not in the eviction backlog",
					id, api.TaskStateName(t.State), t.Node, reason)
			}
		}
	}
	same := len(fenced) == len(s.fenced)
	for _, name := range sortedKeys(fenced) {
		same = same && s.fenced[name] == fenced[name]
	}
	if !same {
		return fmt.Errorf("fenced tasks by workload %v; the index counts %v", fenced, s.fenced)
	}
	if count != pendingTasks || count != s.pendingCount || parked != s.parkedCount {
		return fmt.Errorf("pending index holds %d tasks (count %d, parked workloads %d); %d tasks are Pending, %d workloads parked",
			count, s.pendingCount, s.parkedCount, pendingTasks, parked)
	}
	for _, name := range sortedKeys(s.workloads) {
		w := s.workloads[name]
		if w.UnplaceableEpoch > s.schedEpoch || w.TemplateVersion > w.Version {
			return fmt.Errorf("workload %s: unplaceable_epoch %d (epoch %d), template_version %d (version %d)",
				name, w.UnplaceableEpoch, s.schedEpoch, w.TemplateVersion, w.Version)
		}
	}
	if err := s.verifyEviction(); err != nil {
		return err
	}
	if !s.inBlock {
		if len(s.evictNodes) != 0 || len(s.rollDirty) != 0 || len(s.pacing.dirty) != 0 {
			return fmt.Errorf("reconcile marks left between blocks: %d nodes, %d workloads, %d zones", len(s.evictNodes), len(s.rollDirty), len(s.pacing.dirty))
		}
		for _, name := range sortedKeys(s.rollouts) {
			w := s.workloads[name]
			old := 0
			for _, t := range s.tasksOf(name) {
				if w != nil && outdated(w, t) {
					old++
				}
			}
			if old == 0 {
				return fmt.Errorf("workload %s is rolling with no task of an older template", name)
			}
		}
	}
	return nil
}
