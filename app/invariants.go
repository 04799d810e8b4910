package app

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// The end-of-block invariant check (TigerBeetle's assertions at the point
// of change, STYLE.md 13). State.verify checks the whole state and runs on
// load; checkBlock runs at the end of every EndBlock, after the reconcile
// pass, and checks the records the block touched (s.dirty) and the
// indexes and counters that refer to them, against the state at the end
// of the previous block (blockStart: counters, clocks and each task's
// generation) and the placement each task had before the block first moved
// it (noteTask, from placeTask, evictTask, addTask and removeTask). Its
// cost is O(touched records): a touched node costs O(its tasks), a touched
// observer account O(observers) (at most MaxObservers); nothing scans the
// whole state, and an idle block costs about 25 ns. A violation
// panics with "app: invariant violated at height H: ...", which halts the
// validator before it persists or signs the block's app hash (doc.go).
//
// What is checked, per touched record (recordTypes names each type's
// check):
//
//   - task: its id is {workload}/{index}, its workload exists with
//     replicas above the index, and the workload's task list holds this
//     task at that index (so no two tasks share a workload index); Pending
//     exactly when it has no node, but for a Completed task whose node was
//     removed; on its node's list (tasksByNode), and
//     off the list of the node it left (as noteTask saw it); in its
//     workload's pending queue
//     exactly when Pending; spec_version at most its workload's version;
//     in a rollout if it runs an older template; its generation is not
//     below the one its id had at the end of the last block, however it
//     changed (a new id's not below generation_floor then; a removed
//     task's not above generation_floor now: a task created again under
//     its id cannot reuse a fencing token), and a removed task has left
//     every index;
//   - node: 0 ≤ allocated ≤ capacity (capacity is fixed at registration:
//     RegisterNode with another spec is rejected, and placement checks
//     the fit), suspect deadline not after down deadline; in a block that
//     registered nodes (the only time they move), indexed by its key and
//     at its place in nodeIDs, nodeList and nodePos; a deleted one was
//     removed in this block by RemoveNode and has left every index (ids,
//     list, key, task list, eviction backlog and marks) and its reports
//     record is gone;
//   - node, and node of a touched task (or the one it left): allocated
//     equals the sum of the resources of its active tasks, every task on
//     its list names it as its node, and no active task is left on a node
//     whose state calls for eviction;
//   - workload: its task list has replicas entries, template_version ≤
//     version, unplaceable_epoch ≤ the scheduling epoch; a deleted one has
//     left the task, pending and rollout indexes;
//   - account: the observer index lists it exactly when it has role
//     observer, and the observer cache (when current) agrees on it; its
//     validator_address maps back to it; accounts are never removed;
//   - reports: its node exists, at most 2 windows, in order, no more
//     votes per window than observers (the votes' order is checked on
//     load: checking it per block cost a tenth of a busy block), at most
//     api.MaxStoredFailingTasksPerVote failing tasks per vote, and the
//     encoded record within api.MaxReportRecordBytes;
//   - validator: stored under its key's address, power > 0;
//   - params: ValidateParams;
//   - block info (every block): the height advanced; the detector clock,
//     the scheduling epoch and generation_floor did not go back.
//
// And, every block, in O(1) (or O(touched)): pendingCount moved by what
// the touched tasks say, parkedCount equals what the touched workloads
// say (all parking ends when the epoch moves), the active observer count
// matches the cache when an observer account was touched, nodes, nodeIDs,
// nodeList and nodeByKey have one size, the reconcile marks and validator
// updates are empty, and the limits on nodes, workloads and tasks hold.
// What is not checked per block: the deadline and backoff heaps (lazily
// invalidated, they may hold stale entries; they cannot be searched in
// O(1)), rollouts that should have ended, and account sequences.

// blockChecks enables checkBlock. Only tests turn it off: the benchmarks'
// baseline (-no-block-checks, invariants_test.go).
var blockChecks = true

// taskMark is a task's placement at the start of the block: noteTask
// takes it before the first change of its node or pending state (placement,
// eviction, removal; creation notes that it did not exist).
type taskMark struct {
	t       *types.Task
	node    string // "" for Pending, and for Completed on a removed node
	pending bool   // it was Pending (a Completed task can have no node too)
	existed bool
}

// noteTask remembers t's placement before its first change in the block.
func (s *State) noteTask(t *types.Task) {
	if !blockChecks {
		return
	}
	if _, ok := s.moved[t.Id]; !ok {
		if s.moved == nil {
			s.moved = map[string]taskMark{}
		}
		s.moved[t.Id] = taskMark{t: t, node: t.Node, pending: t.State == types.TASK_PENDING, existed: true}
	}
}

// noteNewTask remembers that task id did not exist before the block
// (unless it did: removed and created again in one block).
func (s *State) noteNewTask(id string) {
	if !blockChecks {
		return
	}
	if _, ok := s.moved[id]; !ok {
		if s.moved == nil {
			s.moved = map[string]taskMark{}
		}
		s.moved[id] = taskMark{}
	}
}

// blockStart summarises the state at the end of the last block (or at
// load): what the next block's changes are checked against. LoadState
// rebuilds it; it is never persisted and decides nothing. It holds no
// pointer per task (the garbage collector would scan them all).
type blockStart struct {
	height       int64
	nodes        int // how many nodes there were
	clockMs      int64
	schedEpoch   uint64
	genFloor     uint64
	pendingCount int
	parkedCount  int
	// gens is the generation of each task id at the end of the last
	// block: workload -> by index. A removed task's stays (while its
	// workload exists): the task created again under its id must not go
	// below it.
	gens   map[string][]uint64
	parked map[string]struct{} // the workloads counted in parkedCount
}

// resetBlockStart takes the whole state as the start of the next block
// (O(tasks); NewState and LoadState).
func (s *State) resetBlockStart() {
	s.start = blockStart{
		height: s.height, nodes: len(s.nodes), clockMs: s.clockMs, schedEpoch: s.schedEpoch, genFloor: s.genFloor,
		pendingCount: s.pendingCount, parkedCount: s.parkedCount,
		gens:   make(map[string][]uint64, len(s.workloadTasks)),
		parked: map[string]struct{}{},
	}
	for _, name := range sortedKeys(s.workloadTasks) {
		list := s.workloadTasks[name]
		gens := make([]uint64, len(list))
		for i, t := range list {
			if t != nil {
				gens[i] = t.Generation
			}
		}
		s.start.gens[name] = gens
	}
	s.removedNodes = nil
	for _, name := range sortedKeys(s.pending) {
		if s.parked(s.workloads[name]) {
			s.start.parked[name] = struct{}{}
		}
	}
	s.moved = nil
}

// startGen is task workload/index's generation at the end of the last
// block, if it had one.
func (s *State) startGen(workload string, index uint32) (uint64, bool) {
	gens := s.start.gens[workload]
	if int(index) < len(gens) {
		return gens[index], true
	}
	return 0, false
}

// blockCheck is one run of the check over the block's touched records.
type blockCheck struct {
	s *State
	// nodes whose allocation is re-summed besides the touched ones (which
	// checkNode sums): the nodes touched tasks are on or left.
	nodes map[string]struct{}
	// workloads whose parking may have changed: touched workloads and
	// those of touched tasks.
	workloads map[string]struct{}
	// tasks touched (their marks move to the new values at the end).
	tasks []string
	// pendingDelta is the change of the Pending task count the touched
	// tasks say.
	pendingDelta int
	// observers: an account with role observer was touched.
	observers bool
}

func addTo(m *map[string]struct{}, key string) {
	if *m == nil {
		*m = map[string]struct{}{}
	}
	(*m)[key] = struct{}{}
}

// each calls f for every key of m in key order, and stops at the first
// error.
func each(m map[string]struct{}, f func(string) error) error {
	if len(m) == 0 {
		return nil // sortedKeys would allocate
	}
	for _, k := range sortedKeys(m) {
		if err := f(k); err != nil {
			return err
		}
	}
	return nil
}

// checkBlock checks the invariants of the records this block touched and
// takes the state as the start of the next block. It panics on a
// violation. EndBlock calls it last.
func (s *State) checkBlock() {
	if !blockChecks {
		return
	}
	// The keys in order, so that the violation reported is the first in
	// key order, the same on every validator.
	slices.Sort(s.dirtyKeys) // TakeChanges finds them sorted
	c := &s.check            // reused: a blockCheck of its own would escape (rt.check)
	tasks := c.tasks[:0]
	if cap(tasks) > 4096 {
		tasks = nil // a big block's buffer would stay for the collector to scan
	}
	*c = blockCheck{s: s, tasks: tasks}
	if err := c.run(); err != nil {
		panic(fmt.Sprintf("app: invariant violated at height %d: %v", s.height, err))
	}
	c.commit()
}

func (c *blockCheck) run() error {
	s := c.s
	for _, key := range s.dirtyKeys {
		rt, id, ok := recordTypeOf(key)
		if !ok {
			return fmt.Errorf("unknown store key %q touched", key)
		}
		if err := rt.check(c, id); err != nil {
			return err
		}
	}
	if err := each(c.nodes, c.checkNodeTasks); err != nil {
		return err
	}
	return c.checkCounters()
}

// commit moves the block start to the state now.
func (c *blockCheck) commit() {
	s := c.s
	st := &s.start
	for _, id := range c.tasks {
		if t := s.tasks[id]; t != nil {
			gens := st.gens[t.Workload]
			for len(gens) <= int(t.Index) {
				gens = append(gens, 0)
			}
			gens[t.Index] = t.Generation
			st.gens[t.Workload] = gens
		} else if name, _, err := api.ParseTaskID(id); err == nil && s.workloads[name] == nil {
			delete(st.gens, name) // generation_floor covers its tasks' generations
		}
	}
	s.moved = nil
	if s.schedEpoch != st.schedEpoch {
		clear(st.parked)
	}
	each(c.workloads, func(name string) error {
		if s.countedParked(name) {
			st.parked[name] = struct{}{}
		} else {
			delete(st.parked, name)
		}
		return nil
	})
	st.height, st.nodes, st.clockMs, st.schedEpoch, st.genFloor = s.height, len(s.nodes), s.clockMs, s.schedEpoch, s.genFloor
	st.pendingCount, st.parkedCount = s.pendingCount, s.parkedCount
}

// countedParked reports whether workload name counts in parkedCount: it
// exists, has pending tasks and is parked.
func (s *State) countedParked(name string) bool {
	w := s.workloads[name]
	return w != nil && len(s.pending[name]) > 0 && s.parked(w)
}

func resText(r types.Resources) string {
	return fmt.Sprintf("cpu_millis %d, memory_mb %d", r.CpuMillis, r.MemoryMb)
}

// isTaskID reports whether id is workload/index, without allocating.
func isTaskID(id, workload string, index uint32) bool {
	var buf [10]byte
	n := len(workload)
	return len(id) > n && id[:n] == workload && id[n] == '/' && id[n+1:] == string(strconv.AppendUint(buf[:0], uint64(index), 10))
}

// isAddrHex reports whether key is addrHex(addr), without allocating.
func isAddrHex(key string, addr []byte) bool {
	const digits = "0123456789ABCDEF"
	if len(key) != 2*len(addr) {
		return false
	}
	for i, b := range addr {
		if key[2*i] != digits[b>>4] || key[2*i+1] != digits[b&15] {
			return false
		}
	}
	return true
}

// inPending reports whether t is in its workload's pending queue.
func (s *State) inPending(t *types.Task) bool {
	list := s.pending[t.Workload]
	i := pendingPos(list, t)
	return i < len(list) && list[i] == t
}

func (c *blockCheck) checkTask(id string) error {
	s := c.s
	c.tasks = append(c.tasks, id)
	t := s.tasks[id]
	m, moved := s.moved[id]
	if !moved { // its node and pending state did not change in this block
		m = taskMark{t: t, existed: t != nil}
		if t != nil {
			m.node, m.pending = t.Node, t.State == types.TASK_PENDING
		}
	}
	if m.existed && m.node != "" && (t == nil || t.Node != m.node) {
		if _, ok := s.tasksByNode[m.node][id]; ok {
			return fmt.Errorf("task %s left node %s, whose task list still holds it", id, m.node)
		}
		addTo(&c.nodes, m.node)
	}
	if m.existed && m.pending {
		c.pendingDelta--
		if m.t != t && s.inPending(m.t) {
			return fmt.Errorf("task %s was removed, but its workload's pending queue still holds it", id)
		}
	}
	if t == nil {
		name, index, err := api.ParseTaskID(id)
		if err != nil {
			return fmt.Errorf("task %s: removed under a malformed id: %v", id, err)
		}
		addTo(&c.workloads, name)
		if list := s.workloadTasks[name]; int(index) < len(list) && list[index] != nil {
			return fmt.Errorf("task %s was removed, but index %d of workload %s's task list still holds a task", id, index, name)
		}
		if w := s.workloads[name]; w != nil && w.Spec.Type != api.TypeSystem && index < w.Spec.Replicas {
			return fmt.Errorf("task %s was removed, but workload %s still has replicas %d", id, name, w.Spec.Replicas)
		}
		if gen, ok := s.startGen(name, index); ok && gen > s.genFloor {
			return fmt.Errorf("task %s was removed at generation %d, above generation_floor %d: a new task %s could reuse its generation", id, gen, s.genFloor, id)
		}
		return nil
	}
	addTo(&c.workloads, t.Workload)
	if !isTaskID(id, t.Workload, t.Index) {
		return fmt.Errorf("task %s: stored under %s but its workload %s and index %d say otherwise", id, id, t.Workload, t.Index)
	}
	w := s.workloads[t.Workload]
	if w == nil {
		return fmt.Errorf("task %s: workload %s does not exist", id, t.Workload)
	}
	if err := taskSlotValid(w, t); err != nil {
		return err
	}
	// A fence (fence.go) is an evicted placement: only a Pending task has
	// one, of a lower generation, on a node other than its own (it has none).
	if (t.FenceNode == "") != (t.FenceGeneration == 0) || (t.FenceNode == "") != (t.FenceUntilMs == 0) ||
		t.FenceNode != "" && (t.State != types.TASK_PENDING || t.FenceGeneration >= t.Generation) {
		return fmt.Errorf("task %s (%s, generation %d): fence node %q generation %d until %d",
			id, api.TaskStateName(t.State), t.Generation, t.FenceNode, t.FenceGeneration, t.FenceUntilMs)
	}
	// A restored task (disconnect.go) adopts a lower generation on its node.
	if t.AdoptGeneration != 0 && (t.Node == "" || t.AdoptGeneration >= t.Generation) {
		return fmt.Errorf("task %s (%s, generation %d on %q): adopt_generation %d", id, api.TaskStateName(t.State), t.Generation, t.Node, t.AdoptGeneration)
	}
	if list := s.workloadTasks[t.Workload]; int(t.Index) >= len(list) || list[t.Index] != t {
		return fmt.Errorf("task %s: index %d of workload %s's task list holds another task (two tasks of one index)", id, t.Index, t.Workload)
	}
	pending := t.State == types.TASK_PENDING
	if !placementConsistent(t) {
		return fmt.Errorf("task %s: state %s with node %q", id, api.TaskStateName(t.State), t.Node)
	}
	if pending {
		c.pendingDelta++
	}
	if s.inPending(t) != pending {
		return fmt.Errorf("task %s: state %s, but its workload's pending queue %s it", id, api.TaskStateName(t.State), map[bool]string{true: "holds", false: "lacks"}[!pending])
	}
	if t.Node != "" {
		if s.nodes[t.Node] == nil {
			return fmt.Errorf("task %s: node %s does not exist", id, t.Node)
		}
		if _, ok := s.tasksByNode[t.Node][id]; !ok {
			return fmt.Errorf("task %s: on node %s, but missing from the node's task list", id, t.Node)
		}
		addTo(&c.nodes, t.Node)
	}
	if t.SpecVersion > w.Version {
		return fmt.Errorf("task %s: spec_version %d above its workload's version %d", id, t.SpecVersion, w.Version)
	}
	if outdated(w, t) {
		if _, ok := s.rollouts[t.Workload]; !ok {
			return fmt.Errorf("task %s: runs template %d of %d, but workload %s is not rolling", id, t.SpecVersion, w.TemplateVersion, t.Workload)
		}
	}
	gen, had := s.startGen(t.Workload, t.Index)
	switch {
	case had && t.Generation < gen:
		return fmt.Errorf("task %s: generation %d, below the %d it had at height %d (generations never decrease)", id, t.Generation, gen, s.start.height)
	case !had && t.Generation < s.start.genFloor:
		return fmt.Errorf("task %s: created at generation %d, below generation_floor %d", id, t.Generation, s.start.genFloor)
	}
	return nil
}

func (c *blockCheck) checkNode(id string) error {
	s := c.s
	n := s.nodes[id]
	if n == nil {
		return c.checkRemovedNode(id)
	}
	if n.Id != id {
		return fmt.Errorf("node %s: stored under %s but its id is %s", id, id, n.Id)
	}
	a, cp := n.Allocated, n.Capacity
	if a.CpuMillis < 0 || a.MemoryMb < 0 || a.CpuMillis > cp.CpuMillis || a.MemoryMb > cp.MemoryMb {
		return fmt.Errorf("node %s: allocated %s, outside 0..capacity %s", id, resText(a), resText(cp))
	}
	if n.SuspectAtMs > n.DownAtMs {
		return fmt.Errorf("node %s: suspect deadline %d after down deadline %d", id, n.SuspectAtMs, n.DownAtMs)
	}
	if err := checkAttestedBy(n); err != nil {
		return err
	}
	if want := s.isAttested(n); n.Attested != want {
		return fmt.Errorf("node %s: attested is %t; %d of %d active observers attest it fresh, which makes it %t",
			id, n.Attested, s.attestCount(n), s.activeObservers(), want)
	}
	if len(s.nodes) != s.start.nodes || len(s.removedNodes) != 0 {
		// Nodes registered or removed in this block: the only times the
		// key index and the node list change. The node position index (rebuilt from the
		// node list if stale, as the scheduler would) must place it where
		// the sorted ids have it.
		if s.nodeByKey[string(n.PubKey)] != id {
			return fmt.Errorf("node %s: its pub_key is indexed for node %q", id, s.nodeByKey[string(n.PubKey)])
		}
		i, ok := clusterView{s}.NodeIndex(id)
		if !ok || i >= len(s.nodeIDs) || s.nodeIDs[i] != id || s.nodeList[i] != n {
			return fmt.Errorf("node %s: not at its place %d in the sorted node list", id, sort.SearchStrings(s.nodeIDs, id))
		}
	}
	return c.checkNodeTasks(id)
}

// checkNodeTasks checks a node's task list against its allocation.
func (c *blockCheck) checkNodeTasks(id string) error {
	s := c.s
	n := s.nodes[id]
	if n == nil {
		if _, removed := s.removedNodes[id]; removed {
			return c.checkRemovedNode(id) // a task left it when it was removed
		}
		return fmt.Errorf("node %s: a task names it, but it does not exist", id)
	}
	var sum types.Resources
	active := 0
	var buf [16]string // a node's tasks, sorted without allocating (usually)
	for _, tid := range appendSortedKeys(buf[:0], s.tasksByNode[id]) {
		t := s.tasks[tid]
		switch {
		case t == nil:
			return fmt.Errorf("node %s: its task list holds task %s, which does not exist", id, tid)
		case t.Node != id:
			return fmt.Errorf("node %s: its task list holds task %s, which is on node %q", id, tid, t.Node)
		}
		if taskActive(t) {
			sum.CpuMillis += t.Resources.CpuMillis
			sum.MemoryMb += t.Resources.MemoryMb
			active++
		}
	}
	if sum != n.Allocated {
		return fmt.Errorf("node %s: allocated %s, but its %d active tasks hold %s", id, resText(n.Allocated), active, resText(sum))
	}
	if active > 0 {
		// A node whose tasks must go either has lost them or waits in the
		// eviction backlog for its zone's rate or max_evictions_per_block
		// (evict.go, ADR 0012).
		if reason, ok := s.evictionReason(n); ok && (n.EvictSinceMs == 0 || s.pacing.backlog[id] != n) {
			return fmt.Errorf("node %s: %s, whose tasks must be evicted (%s), still holds %d active tasks and is not in the eviction backlog", id, api.NodeStateName(n.State), reason, active)
		}
	}
	return nil
}

func (c *blockCheck) checkWorkload(name string) error {
	s := c.s
	addTo(&c.workloads, name)
	w := s.workloads[name]
	if w == nil {
		_, rolling := s.rollouts[name]
		if len(s.workloadTasks[name]) != 0 || len(s.pending[name]) != 0 || rolling {
			return fmt.Errorf("workload %s was deleted, but the indexes hold %d of its tasks, %d pending (rolling %v)",
				name, len(s.workloadTasks[name]), len(s.pending[name]), rolling)
		}
		return nil
	}
	if w.Spec.Name != name {
		return fmt.Errorf("workload %s: stored under %s but its name is %s", name, name, w.Spec.Name)
	}
	if err := s.taskListValid(w); err != nil {
		return err
	}
	if w.TemplateVersion > w.Version || w.UnplaceableEpoch > s.schedEpoch {
		return fmt.Errorf("workload %s: template_version %d (version %d), unplaceable_epoch %d (epoch %d)",
			name, w.TemplateVersion, w.Version, w.UnplaceableEpoch, s.schedEpoch)
	}
	// A batch counts its Completed tasks (O(replicas), for a changed
	// workload); a service has none (its exits are restarted).
	completed := 0
	for _, t := range s.workloadTasks[name] {
		if t != nil && t.State == types.TASK_COMPLETED {
			completed++
		}
	}
	batch := w.Spec.Type == api.TypeBatch
	if batch && uint32(completed) != w.Succeeded || !batch && (completed != 0 || w.Succeeded != 0 || w.Status != "") {
		return fmt.Errorf("workload %s (type %s): %d Completed tasks, succeeded %d, status %q", name, typeName(w.Spec.Type), completed, w.Succeeded, w.Status)
	}
	if batch && (w.Status == api.BatchComplete) != (w.Succeeded == w.Spec.Replicas) && w.Status != api.BatchFailed {
		return fmt.Errorf("batch workload %s: status %q with %d of %d completed", name, w.Status, w.Succeeded, w.Spec.Replicas)
	}
	return nil
}

func (c *blockCheck) checkAccount(key string) error {
	s := c.s
	a := s.accounts[key]
	if a == nil {
		return fmt.Errorf("account %s: its record was deleted; accounts are never removed", key)
	}
	if !isAddrHex(key, a.Address) {
		return fmt.Errorf("account %s: stored under %s but its address is %s", key, key, addrHex(a.Address))
	}
	observer := api.HasRole(a.Roles, types.ROLE_OBSERVER)
	i := sort.SearchStrings(s.observerIDs, key)
	if listed := i < len(s.observerIDs) && s.observerIDs[i] == key; listed != observer {
		return fmt.Errorf("account %s: role observer %v, but the observer index %s it", key, observer, map[bool]string{true: "lists", false: "omits"}[listed])
	}
	if observer {
		c.observers = true
	}
	if s.activeObsSet {
		info, cached := s.obsCache[string(a.Address)]
		if cached != observer || cached && (info.acc != a || info.active != s.activeObserver(a)) {
			return fmt.Errorf("account %s: the observer cache is stale (cached %v, active %v; observer %v, active %v)",
				key, cached, info.active, observer, s.activeObserver(a))
		}
	}
	if len(a.ValidatorAddress) != 0 {
		if got := s.accountByVal[addrHex(a.ValidatorAddress)]; got != key {
			return fmt.Errorf("account %s: its validator_address %s maps to account %q", key, addrHex(a.ValidatorAddress), got)
		}
	}
	return nil
}

func (c *blockCheck) checkReports(id string) error {
	s := c.s
	r := s.reports[id]
	if r == nil {
		return nil
	}
	if r.NodeId != id || s.nodes[id] == nil {
		return fmt.Errorf("reports of node %s: stored under %s for node %q, which must exist", id, id, r.NodeId)
	}
	if len(r.Windows) > 2 {
		return fmt.Errorf("reports of node %s hold %d windows; at most 2 are open", id, len(r.Windows))
	}
	if len(r.Windows) == 2 && r.Windows[0].Window >= r.Windows[1].Window {
		return fmt.Errorf("reports of node %s: windows out of order", id)
	}
	for _, w := range r.Windows {
		if len(w.Votes) > len(s.observerIDs) {
			return fmt.Errorf("reports of node %s, window %d: %d votes from %d observers", id, w.Window, len(w.Votes), len(s.observerIDs))
		}
		for i := range w.Votes {
			if n := len(w.Votes[i].FailingTaskIds); n > api.MaxStoredFailingTasksPerVote {
				return fmt.Errorf("reports of node %s, window %d: a vote names %d failing tasks; at most %d are stored", id, w.Window, n, api.MaxStoredFailingTasksPerVote)
			}
		}
	}
	if size := r.Size(); size > api.MaxReportRecordBytes {
		return fmt.Errorf("reports of node %s: the record is %d bytes; the bound is %d", id, size, api.MaxReportRecordBytes)
	}
	return nil
}

func (c *blockCheck) checkValidator(key string) error {
	v := c.s.validators[key]
	if v == nil {
		return nil
	}
	if addrHex(addressOf(v.PubKey)) != key || v.Power <= 0 {
		return fmt.Errorf("validator %s: key of address %s, power %d", key, addrHex(addressOf(v.PubKey)), v.Power)
	}
	return nil
}

func (c *blockCheck) checkBlockInfo(string) error {
	s, st := c.s, &c.s.start
	switch {
	case s.height <= st.height:
		return fmt.Errorf("block info: height %d did not advance from %d", s.height, st.height)
	case s.clockMs < st.clockMs:
		return fmt.Errorf("block info: the detector clock went back from %d to %d", st.clockMs, s.clockMs)
	case s.schedEpoch < st.schedEpoch:
		return fmt.Errorf("block info: the scheduling epoch went back from %d to %d", st.schedEpoch, s.schedEpoch)
	case s.genFloor < st.genFloor:
		return fmt.Errorf("block info: generation_floor went back from %d to %d", st.genFloor, s.genFloor)
	}
	return nil
}

// checkCounters checks the counters and index sizes, from what the
// touched records say they moved by.
func (c *blockCheck) checkCounters() error {
	s, st := c.s, &c.s.start
	if want := st.pendingCount + c.pendingDelta; s.pendingCount != want {
		return fmt.Errorf("pending count %d; the touched tasks make it %d (%d at height %d, %+d)", s.pendingCount, want, st.pendingCount, st.height, c.pendingDelta)
	}
	epochMoved := s.schedEpoch != st.schedEpoch
	want := st.parkedCount
	if epochMoved {
		want = 0 // every parking ended; parkings at the new epoch touched their workloads
	}
	if err := each(c.workloads, func(name string) error {
		if s.countedParked(name) {
			want++
		}
		if _, was := st.parked[name]; was && !epochMoved {
			want--
		}
		return nil
	}); err != nil {
		return err
	}
	if s.parkedCount != want || s.parkedCount > len(s.pending) || len(s.pending) > s.pendingCount {
		return fmt.Errorf("parked count %d; the touched workloads make it %d (%d workloads and %d tasks pending)", s.parkedCount, want, len(s.pending), s.pendingCount)
	}
	if n := len(s.nodes); len(s.nodeIDs) != n || len(s.nodeList) != n || len(s.nodeByKey) != n {
		return fmt.Errorf("%d nodes, but %d node ids, %d in the node list and %d keys", n, len(s.nodeIDs), len(s.nodeList), len(s.nodeByKey))
	}
	if c.observers && s.activeObsSet {
		active := 0
		for _, key := range s.observerIDs {
			if a := s.accounts[key]; a != nil && s.obsCache[string(a.Address)].active {
				active++
			}
		}
		if active != s.activeObs || len(s.obsCache) != len(s.observerIDs) {
			return fmt.Errorf("active observer count %d, but the cache holds %d observers, %d active; the index %d", s.activeObs, len(s.obsCache), active, len(s.observerIDs))
		}
	}
	if s.inBlock || len(s.evictNodes) != 0 || len(s.rollDirty) != 0 || len(s.valUpdates) != 0 {
		return fmt.Errorf("block left open or marks left: in block %v, %d nodes to evict, %d workloads to roll, %d validator updates",
			s.inBlock, len(s.evictNodes), len(s.rollDirty), len(s.valUpdates))
	}
	if len(s.tasks) > api.MaxTasksTotal || len(s.nodes) > api.MaxNodes || len(s.workloads) > api.MaxWorkloads || len(s.observerIDs) > api.MaxObservers {
		return fmt.Errorf("limits exceeded: %d tasks, %d nodes, %d workloads, %d observers", len(s.tasks), len(s.nodes), len(s.workloads), len(s.observerIDs))
	}
	return nil
}

// placementConsistent: a Pending task has no node; any other has one,
// but for a Completed task whose node was removed (RemoveNode keeps the
// outcome and drops the node).
func placementConsistent(t *types.Task) bool {
	if t.State == types.TASK_PENDING {
		return t.Node == ""
	}
	return t.Node != "" || t.State == types.TASK_COMPLETED
}

// checkRemovedNode checks a node deleted in this block: RemoveNode
// deleted it, and it has left every index and mark.
func (c *blockCheck) checkRemovedNode(id string) error {
	s := c.s
	pub, removed := s.removedNodes[id]
	if !removed {
		return fmt.Errorf("node %s: its record was deleted, but not by RemoveNode", id)
	}
	i := sort.SearchStrings(s.nodeIDs, id)
	_, inBacklog := s.pacing.backlog[id]
	_, marked := s.evictNodes[id]
	switch {
	case i < len(s.nodeIDs) && s.nodeIDs[i] == id:
		return fmt.Errorf("node %s was removed, but the node ids still list it", id)
	case len(s.tasksByNode[id]) != 0:
		return fmt.Errorf("node %s was removed, but its task list holds %d tasks", id, len(s.tasksByNode[id]))
	case s.nodeByKey[string(pub)] == id:
		return fmt.Errorf("node %s was removed, but its pub_key is still indexed for it", id)
	case inBacklog || marked:
		return fmt.Errorf("node %s was removed, but it is in the eviction backlog (%v) or marked (%v)", id, inBacklog, marked)
	case s.reports[id] != nil:
		return fmt.Errorf("node %s was removed, but its reports record is left", id)
	}
	return nil
}

// taskSlotValid checks a task's index and pin against its workload: a
// system workload's tasks are pinned (any index), the others' are not and
// have an index below replicas.
func taskSlotValid(w *types.Workload, t *types.Task) error {
	if w.Spec.Type == api.TypeSystem {
		if t.PinNode == "" {
			return fmt.Errorf("task %s of system workload %s is pinned to no node", t.Id, w.Spec.Name)
		}
		return nil
	}
	if t.PinNode != "" {
		return fmt.Errorf("task %s of %s workload %s is pinned to node %s", t.Id, typeName(w.Spec.Type), w.Spec.Name, t.PinNode)
	}
	if t.Index >= w.Spec.Replicas {
		return fmt.Errorf("task %s: index %d, but workload %s has replicas %d", t.Id, t.Index, w.Spec.Name, w.Spec.Replicas)
	}
	return nil
}

// taskListValid checks the shape of a workload's task list: replicas
// entries without a hole, or, for a system workload, holes allowed but
// none at the end and at most one task per node.
func (s *State) taskListValid(w *types.Workload) error {
	name := w.Spec.Name
	list := s.workloadTasks[name]
	if w.Spec.Type != api.TypeSystem {
		if len(list) != int(w.Spec.Replicas) {
			return fmt.Errorf("workload %s: %d tasks indexed; replicas is %d", name, len(list), w.Spec.Replicas)
		}
		for i, t := range list {
			if t == nil {
				return fmt.Errorf("workload %s: no task at index %d of %d", name, i, len(list))
			}
		}
		return nil
	}
	if n := len(list); n > 0 && list[n-1] == nil {
		return fmt.Errorf("system workload %s: its task list ends with a hole at index %d", name, n-1)
	}
	on := map[string]string{}
	for _, t := range list {
		if t == nil {
			continue
		}
		if other, dup := on[t.PinNode]; dup {
			return fmt.Errorf("system workload %s: tasks %s and %s are both pinned to node %s", name, other, t.Id, t.PinNode)
		}
		on[t.PinNode] = t.Id
	}
	return nil
}
