package app

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/phalanx-bft/phalanx/app/scheduler"
	"github.com/phalanx-bft/phalanx/types"
)

// Event types and the reasons the state machine writes into events and
// records (DESIGN §8, plus task_stop).
const (
	EventNodeStatus    = "node_status"    // node, from, to, reason
	EventTaskPlaced    = "task_placed"    // task, node, generation
	EventTaskEvicted   = "task_evicted"   // task, node, reason
	EventTaskStop      = "task_stop"      // task, node, generation: the agent must stop it
	EventAccountJailed = "account_jailed" // addr, reason
	EventNodeStrike    = "node_strike"    // node, task, window, strikes
	EventWorkload      = "workload"       // name, action

	ReasonRegistered      = "registered"
	ReasonHeartbeat       = "heartbeat"
	ReasonDrain           = "drain"
	ReasonScaledDown      = "scaled_down"
	ReasonSpecChanged     = "spec_changed"
	ReasonWorkloadDeleted = "workload_deleted"
	ReasonUncordoned      = "uncordoned"

	ActionCreated = "created"
	ActionUpdated = "updated"
	ActionDeleted = "deleted"
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
	var events []Event
	for _, m := range evidence {
		events = append(events, s.punishValidator(m)...)
	}
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
	return event(EventAccountJailed, "addr", addrHex(acc.Address), "reason", reason)
}

// DeliverTx applies one transaction of the open block. It runs CheckTx at
// the block's height with the signer's NextSequence; if that fails nothing
// changes. Otherwise the signer's sequence is consumed (its account created
// if the message is allowed without a role) and the message runs: if the
// message fails, nothing else changes and the tx cannot be replayed.
func (s *State) DeliverTx(tx *Tx) Result {
	if !s.inBlock {
		panic("app: DeliverTx outside a block")
	}
	if err := s.CheckTx(tx, s.height, s.NextSequence(tx.Address)); err != nil {
		return Result{Code: CodeOf(err), Log: err.Error()}
	}
	key := addrHex(tx.Address)
	acc := s.accounts[key]
	if acc == nil {
		acc = &types.Account{Address: clone(tx.Address)}
		s.accounts[key] = acc
	}
	if len(acc.PubKey) == 0 {
		acc.PubKey = clone(tx.PubKey)
	}
	acc.Sequence++
	s.touchAccount(acc)

	events, log, err := s.apply(tx)
	if err != nil {
		return Result{Code: CodeOf(err), Log: err.Error()}
	}
	return Result{Log: log, Events: events}
}

// EndBlock runs the end-of-block pass: failure detection for the nodes
// whose deadline the detector clock reached (Suspect, Down: their tasks
// are evicted), placement of pending tasks (at most
// params.max_placements_per_block), then the validator updates queued in
// this block. The restart policy joins in a later version (DESIGN §6
// step 3).
func (s *State) EndBlock() EndBlockResult {
	if !s.inBlock {
		panic("app: EndBlock outside a block")
	}
	res := EndBlockResult{Events: s.expireDeadlines()}
	res.Events = append(res.Events, s.placePending()...)
	for _, key := range sortedKeys(s.valUpdates) {
		res.ValidatorUpdates = append(res.ValidatorUpdates, s.valUpdates[key])
	}
	s.valUpdates = map[string]ValidatorUpdate{}
	s.touch(keyBlockInfo)
	s.inBlock = false
	return res
}

// pendingOrder is the queue order: priority desc, created_height, workload
// name, index.
func (s *State) pendingOrder() []*types.Task {
	out := make([]*types.Task, 0, len(s.pending))
	for _, id := range sortedKeys(s.pending) {
		t := s.tasks[id]
		if t.NextAttemptAtMs > s.blockTimeMs {
			continue
		}
		out = append(out, t)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		pa, pb := s.workloads[a.Workload].Spec.Priority, s.workloads[b.Workload].Spec.Priority
		if pa != pb {
			return pa > pb
		}
		if a.CreatedHeight != b.CreatedHeight {
			return a.CreatedHeight < b.CreatedHeight
		}
		if a.Workload != b.Workload {
			return a.Workload < b.Workload
		}
		return a.Index < b.Index
	})
	return out
}

// placePending places pending tasks first-fit over the nodes in id order.
// A task that fits nowhere keeps Pending with the reason in task.reason.
func (s *State) placePending() []Event {
	if len(s.pending) == 0 {
		return nil
	}
	maxPlaced := int(s.params.MaxPlacementsPerBlock)
	maxAttempts := maxPlaced * PlacementAttemptsPerPlacement
	nodes := make([]*types.Node, len(s.nodeIDs))
	for i, id := range s.nodeIDs {
		nodes[i] = s.nodes[id]
	}
	requests := map[string]*scheduler.Request{}
	unplaceable := map[string]string{}
	var events []Event
	placed, attempts := 0, 0
	for _, t := range s.pendingOrder() {
		if placed >= maxPlaced || attempts >= maxAttempts {
			break
		}
		if reason, ok := unplaceable[t.Workload]; ok {
			s.setTaskReason(t, reason)
			continue
		}
		attempts++
		req := requests[t.Workload]
		if req == nil {
			req = s.newRequest(t.Workload)
			requests[t.Workload] = req
		}
		n, filtered := scheduler.FirstFit(nodes, req)
		if n == nil {
			reason := "no feasible node: " + filtered.String()
			unplaceable[t.Workload] = reason
			s.setTaskReason(t, reason)
			continue
		}
		s.placeTask(t, n)
		req.Count(n)
		placed++
		events = append(events, event(EventTaskPlaced, "task", t.Id, "node", n.Id, "generation", u64(t.Generation)))
	}
	return events
}

// newRequest counts the workload's active tasks per node and domain.
func (s *State) newRequest(workload string) *scheduler.Request {
	w := s.workloads[workload]
	req := scheduler.NewRequest(&w.Spec)
	for _, id := range sortedKeys(s.tasksByWorkload[workload]) {
		if t := s.tasks[id]; taskActive(t) {
			req.Count(s.nodes[t.Node])
		}
	}
	return req
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

// release frees the resources an active task holds on its node.
func (s *State) release(t *types.Task) {
	if taskActive(t) {
		s.allocate(s.nodes[t.Node], s.workloads[t.Workload].Spec.Resources, -1)
	}
}

// placeTask assigns a pending task to n with a new generation.
func (s *State) placeTask(t *types.Task, n *types.Node) {
	w := s.workloads[t.Workload]
	delete(s.pending, t.Id)
	t.Node = n.Id
	t.State = types.TASK_ASSIGNED
	t.Generation++
	t.SpecVersion = w.Version
	t.Reason = ""
	t.NextAttemptAtMs = 0
	addToSet(s.tasksByNode, n.Id, t.Id)
	s.allocate(n, w.Spec.Resources, +1)
	s.touchTask(t)
}

// evictTask sends a task back to Pending with a new generation, fencing
// off its old placement. It returns the task_evicted event if the task was
// placed.
func (s *State) evictTask(t *types.Task, reason string) []Event {
	var events []Event
	if t.Node != "" {
		events = append(events, event(EventTaskEvicted, "task", t.Id, "node", t.Node, "reason", reason))
		s.release(t)
		removeFromSet(s.tasksByNode, t.Node, t.Id)
	}
	t.Node = ""
	t.State = types.TASK_PENDING
	t.Generation++
	t.Reason = reason
	s.pending[t.Id] = struct{}{}
	s.touchTask(t)
	return events
}

// addTask creates task {workload}/{index} in Pending.
func (s *State) addTask(w *types.Workload, index uint32) {
	t := &types.Task{
		Id:            fmt.Sprintf("%s/%d", w.Spec.Name, index),
		Workload:      w.Spec.Name,
		Index:         index,
		State:         types.TASK_PENDING,
		CreatedHeight: s.height,
		SpecVersion:   w.Version,
	}
	s.tasks[t.Id] = t
	s.indexTask(t)
	s.touchTask(t)
}

// removeTask deletes a task, freeing what it holds.
func (s *State) removeTask(t *types.Task, reason string) Event {
	ev := event(EventTaskEvicted, "task", t.Id, "node", t.Node, "reason", reason)
	s.release(t)
	if t.Node != "" {
		removeFromSet(s.tasksByNode, t.Node, t.Id)
	}
	removeFromSet(s.tasksByWorkload, t.Workload, t.Id)
	delete(s.pending, t.Id)
	delete(s.tasks, t.Id)
	s.touchTask(t)
	return ev
}

// tasksOf returns a workload's tasks in index order.
func (s *State) tasksOf(workload string) []*types.Task {
	ids := s.tasksByWorkload[workload]
	out := make([]*types.Task, 0, len(ids))
	for _, id := range sortedKeys(ids) {
		out = append(out, s.tasks[id])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
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
