package app

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

func event(typ string, kv ...string) Event {
	e := Event{Type: typ}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Attributes = append(e.Attributes, Attribute{Key: kv[i], Value: kv[i+1]})
	}
	return e
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// BeginBlock starts block b and advances the failure detector's clock.
// Evidence of validator misbehaviour sets the validator's power to 0 (a
// ValidatorUpdate from this block's EndBlock) and jails its observer
// account: the account whose validator_address is the validator's
// address, and the account whose own address is (an observer that signs
// with its consensus key). It panics if a block is already open or
// b.Height does not advance.
func (s *State) BeginBlock(b Block, evidence []Misbehavior) []Event {
	if s.inBlock {
		panic(fmt.Sprintf("app: BeginBlock(%d) while block %d is open", b.Height, s.height))
	}
	if b.Height <= s.height {
		panic(fmt.Sprintf("app: BeginBlock(%d) after height %d", b.Height, s.height))
	}
	s.advanceClock(b.TimeMs)
	s.height, s.blockTimeMs, s.blockHash, s.inBlock = b.Height, b.TimeMs, clone(b.Hash), true
	s.selfRegs = 0
	var events []Event
	for _, m := range evidence {
		events = append(events, s.punishValidator(m)...)
	}
	events = append(events, s.closeWindows()...)
	s.beginEvents = events
	return events
}

// punishValidator removes a misbehaving validator from the set (unless it
// is the last one: an empty set halts the chain) and jails its observer
// accounts.
func (s *State) punishValidator(m Misbehavior) []Event {
	key := addrHex(m.ValidatorAddress)
	if v := s.validators[key]; v != nil && len(s.validators) > 1 {
		delete(s.validators, key)
		s.touch(prefixValidators + key)
		s.valUpdates[key] = ValidatorUpdate{PubKey: clone(v.PubKey), Power: 0}
	}
	reason := fmt.Sprintf("validator misbehaviour %s at height %d", m.Type, m.Height)
	var events []Event
	for _, accKey := range []string{s.accountByVal[key], key} {
		if acc := s.accounts[accKey]; acc != nil && !acc.Jailed {
			events = append(events, s.jail(acc, reason+" by validator "+key))
		}
	}
	return events
}

func (s *State) jail(acc *types.Account, reason string) Event {
	acc.Jailed = true
	acc.JailReason = reason
	s.touchAccount(acc)
	s.activeObsSet = false
	return event(api.EventAccountJailed, "addr", addrHex(acc.Address), "reason", reason)
}

// DeliverTx applies one transaction of the open block. It runs CheckTx at
// the block's height with the signer's NextSequence, then admitInBlock
// (the self-registration rate); if either fails nothing changes. Otherwise
// the message runs, and then the signer's sequence is consumed: if the
// message failed, that is all that changed (the handlers check everything
// that can fail before they change anything, msgs.go) and the tx cannot be
// replayed. A signer without an account is admitted only to register its
// own node, which creates its account: if that fails, nothing at all
// changes and no account is created (ADR 0014).
func (s *State) DeliverTx(tx *api.Tx) Result {
	if !s.inBlock {
		panic("app: DeliverTx outside a block")
	}
	if err := s.CheckTx(tx, s.height, s.NextSequence(tx.Address)); err != nil {
		return Result{Code: api.CodeOf(err), Log: err.Error()}
	}
	if err := s.admitInBlock(tx); err != nil {
		return Result{Code: api.CodeOf(err), Log: err.Error()}
	}
	self := s.selfRegistration(tx)

	events, log, err := s.apply(tx)
	if acc := s.accounts[addrHex(tx.Address)]; acc != nil {
		acc.Sequence++
		if err == nil && len(acc.PubKey) == 0 {
			acc.PubKey = clone(tx.PubKey)
		}
		s.touchAccount(acc)
	}
	if err != nil {
		return Result{Code: api.CodeOf(err), Log: err.Error()}
	}
	if self {
		s.selfRegs++
	}
	return Result{Log: log, Events: events}
}

// EndBlock runs the reconcile pass that brings the cluster toward its
// desired state (DESIGN §6, docs/scheduling.md), in this order:
//
//  1. failure detection: the nodes whose deadline the detector clock
//     reached are re-evaluated (Suspect, Down; detector.go);
//  2. evictions: the active tasks of the nodes that are Down,
//     Quarantined, Partitioned (under partition_policy evict) or draining
//     go back to Pending with generation + 1, which fences off their old
//     placement (a heartbeat reporting it gets task_stop); paced
//     (evict.go, ADR 0012): at most max_evictions_per_block, and a failed
//     node's only when its zone's rate lets it go (one node at once per
//     zone, then node_eviction_rate_milli; slower or none in a zone in
//     partial disruption; none while every zone is dark);
//  3. restarts: Failed tasks whose backoff ran out restart in place with
//     generation + 1, or, with max_restarts used up, go back to Pending
//     to be placed on another node;
//  4. rolling updates: tasks of an older template are replaced, keeping at
//     least replicas - max_unavailable tasks Running;
//  5. placement: pending tasks, highest priority and oldest first, at most
//     max_placements_per_block (scheduler.Place); a task that fits nowhere
//     stays Pending with the scheduler's explanation;
//  6. the validator updates queued in this block.
//
// Transactions change the desired state and mark what the pass must look
// at; the pass does all the moving. Events come out in step order. Each
// step's cost follows what changed in the block (due deadlines, marked
// nodes, due restarts, rolling workloads whose tasks changed, workloads
// with pending tasks that could fit): nothing scans every task.
func (s *State) EndBlock() EndBlockResult {
	if !s.inBlock {
		panic("app: EndBlock outside a block")
	}
	s.lastPass = PassStats{}
	var events []Event
	events = append(events, s.attestPass()...)      // 1 (attest.go, then the deadlines)
	events = append(events, s.expireDeadlines()...) // 1
	events = append(events, s.systemPass()...)      // 2 (system.go: before a drain's evictions)
	events = append(events, s.evictFromNodes()...)  // 2
	events = append(events, s.restartDue()...)      // 3
	events = append(events, s.rollOut()...)         // 4
	events = append(events, s.restorePass()...)     // 5 (disconnect.go)
	s.fencesDue()                                   // 5 (fence.go)
	events = append(events, s.placePending()...)    // 5
	res := EndBlockResult{Events: events}
	s.eventsDigest = EventsDigest(append(slices.Clip(s.beginEvents), events...))
	s.beginEvents = nil
	for _, key := range sortedKeys(s.valUpdates) { // 6
		res.ValidatorUpdates = append(res.ValidatorUpdates, s.valUpdates[key])
	}
	s.valUpdates = map[string]ValidatorUpdate{}
	s.selfRegs = 0
	s.touch(keyBlockInfo)
	s.inBlock = false
	s.checkBlock() // the invariants of what the block touched; panics if one is broken
	return res
}

func (s *State) setTaskReason(t *types.Task, reason string) {
	if t.Reason != reason {
		t.Reason = reason
		s.touchTask(t)
	}
}

// taskActive reports whether a task holds resources on its node: placed
// and not Completed. A Failed task keeps its place (restart in place).
func taskActive(t *types.Task) bool {
	if t.Node == "" {
		return false
	}
	switch t.State {
	case types.TASK_ASSIGNED, types.TASK_RUNNING, types.TASK_FAILED:
		return true
	}
	return false
}

func (s *State) allocate(n *types.Node, r types.Resources, sign int64) {
	n.Allocated.CpuMillis += sign * r.CpuMillis
	n.Allocated.MemoryMb += sign * r.MemoryMb
	if n.Allocated.CpuMillis < 0 || n.Allocated.MemoryMb < 0 {
		panic(fmt.Sprintf("app: node %s allocation went negative: %+v", n.Id, n.Allocated))
	}
	s.touchNode(n)
}

// release frees the resources an active task holds on its node (those it
// was placed with). Freed resources may let a pending task fit: the
// scheduling epoch moves.
func (s *State) release(t *types.Task) {
	if taskActive(t) {
		s.allocate(s.nodes[t.Node], t.Resources, -1)
		s.bumpEpoch()
	}
}

// placeTask assigns a pending task to n: a scheduler placement, with a new
// generation, the workload's current version and resources; the restart
// count and the avoided node start over.
func (s *State) placeTask(t *types.Task, n *types.Node) {
	w := s.workloads[t.Workload]
	s.noteTask(t)
	s.removePending(t)
	t.Node = n.Id
	t.State = types.TASK_ASSIGNED
	t.Ready, t.ReadySinceMs = false, 0
	t.Generation++
	t.SpecVersion = w.Version
	t.Resources = w.Spec.Resources
	t.Restarts = 0
	t.AvoidNode = ""
	t.Reason = ""
	t.NextAttemptAtMs = 0
	t.AdoptGeneration = 0
	t.LostAfterMs = w.Spec.Disconnect.LostAfterMs
	addToSet(s.tasksByNode, n.Id, t.Id)
	s.allocate(n, t.Resources, +1)
	s.touchTask(t)
	// Not s.taskChanged: a placement makes no task available, so it never
	// lets a rolling update go on (and step 5 comes after step 4).
}

// restartInPlace starts a Failed task again on its node with a new
// generation: the agent fences the old one and starts the new one with the
// task's last checkpoint. The task keeps its resources.
func (s *State) restartInPlace(t *types.Task) Event {
	max := s.workloads[t.Workload].Spec.RestartPolicy.MaxRestarts
	t.Generation++
	t.State = types.TASK_ASSIGNED
	t.Ready, t.ReadySinceMs = false, 0
	t.AdoptGeneration = 0
	t.Restarts++
	t.NextAttemptAtMs = 0
	t.Reason = fmt.Sprintf("restarted in place (%d of max_restarts %d)", t.Restarts, max)
	s.touchTask(t)
	s.taskChanged(t)
	return event(api.EventTaskPlaced, "task", t.Id, "node", t.Node, "generation", u64(t.Generation))
}

// evictTask sends a task back to Pending with a new generation, fencing
// off its old placement. It returns the task_evicted event if the task was
// placed. The task keeps its checkpoint.
func (s *State) evictTask(t *types.Task, reason string) []Event {
	s.noteTask(t)
	var events []Event
	fenced := s.fenceOnEvict(t)
	if t.Node != "" {
		events = append(events, event(api.EventTaskEvicted, "task", t.Id, "node", t.Node, "reason", reason))
		s.release(t)
		removeFromSet(s.tasksByNode, t.Node, t.Id)
	}
	t.Node = ""
	t.State = types.TASK_PENDING
	t.Ready, t.ReadySinceMs = false, 0
	t.AdoptGeneration = 0
	t.Generation++
	t.Reason = reason
	if fenced {
		t.Reason = fenceReason(t, reason)
	}
	t.NextAttemptAtMs = 0
	s.addPending(t)
	s.touchTask(t)
	s.taskChanged(t)
	return events
}

// addTask creates task {workload}/{index} in Pending, pinned to node pin
// if it is not "" (a system workload's task).
func (s *State) addTask(w *types.Workload, index uint32, pin string) {
	t := &types.Task{
		Id:            fmt.Sprintf("%s/%d", w.Spec.Name, index),
		Workload:      w.Spec.Name,
		Index:         index,
		State:         types.TASK_PENDING,
		CreatedHeight: s.height,
		SpecVersion:   w.Version,
		Generation:    s.genFloor,
		PinNode:       pin,
	}
	s.noteNewTask(t.Id)
	s.inheritRemovedFence(t)
	s.tasks[t.Id] = t
	s.indexTask(t)
	s.addPending(t)
	s.touchTask(t)
}

// removeTask deletes a task, freeing what it holds. Tasks are removed from
// the highest index down (scale down) or all of them (delete).
func (s *State) removeTask(t *types.Task, reason string) Event {
	s.noteTask(t)
	if t.State == types.TASK_COMPLETED {
		if w := s.workloads[t.Workload]; w != nil && w.Succeeded > 0 {
			w.Succeeded-- // a batch's completion removed by a scale-down
			s.touchWorkload(w)
		}
	}
	ev := event(api.EventTaskEvicted, "task", t.Id, "node", t.Node, "reason", reason)
	s.fenceOnRemove(t)
	s.release(t)
	if t.Node != "" {
		removeFromSet(s.tasksByNode, t.Node, t.Id)
	}
	if t.State == types.TASK_PENDING {
		s.removePending(t)
	}
	if t.FenceNode != "" {
		s.uncountFence(t.Workload)
	}
	list := s.workloadTasks[t.Workload]
	list[t.Index] = nil
	for len(list) > 0 && list[len(list)-1] == nil {
		list = list[:len(list)-1]
	}
	if len(list) == 0 {
		delete(s.workloadTasks, t.Workload)
	} else {
		s.workloadTasks[t.Workload] = list
	}
	delete(s.tasks, t.Id)
	s.touchTask(t)
	s.genFloor = max(s.genFloor, t.Generation)
	return ev
}

// tasksOf returns a workload's tasks in index order. The slice is the
// index itself (a copy without the holes of a system workload's list):
// callers must not modify it, and must copy it to remove tasks while
// iterating.
func (s *State) tasksOf(workload string) []*types.Task {
	list := s.workloadTasks[workload]
	for i, t := range list {
		if t == nil { // a system workload's list has holes: skip them
			out := append(make([]*types.Task, 0, len(list)), list[:i]...)
			for _, t := range list[i+1:] {
				if t != nil {
					out = append(out, t)
				}
			}
			return out
		}
	}
	return list
}

// tasksOn returns the tasks placed on a node in id order.
func (s *State) tasksOn(node string) []*types.Task {
	ids := sortedKeys(s.tasksByNode[node])
	out := make([]*types.Task, len(ids))
	for i, id := range ids {
		out[i] = s.tasks[id]
	}
	return out
}
