package app

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// Message handlers. Each checks everything that can fail before it changes
// anything, so a failed message leaves the state as it was (DeliverTx has
// already consumed the sequence). They return the events, a log line for
// the result, and an error.

func (s *State) apply(tx *api.Tx) ([]Event, string, error) {
	switch m := tx.Body.Msg.(type) {
	case *types.TxBody_RegisterNode:
		return s.registerNode(m.RegisterNode)
	case *types.TxBody_Heartbeat:
		return s.heartbeat(m.Heartbeat)
	case *types.TxBody_HealthReport:
		return s.healthReport(tx, m.HealthReport)
	case *types.TxBody_Attest:
		return s.attest(tx, m.Attest)
	case *types.TxBody_ReportEquivocation:
		return s.reportEquivocation(m.ReportEquivocation)
	case *types.TxBody_CreateWorkload:
		return s.createWorkload(m.CreateWorkload.Spec)
	case *types.TxBody_UpdateWorkload:
		return s.updateWorkload(m.UpdateWorkload.Spec)
	case *types.TxBody_DeleteWorkload:
		return s.deleteWorkload(m.DeleteWorkload.Name)
	case *types.TxBody_CordonNode:
		return s.cordon(m.CordonNode)
	case *types.TxBody_UncordonNode:
		return s.uncordon(m.UncordonNode)
	case *types.TxBody_DrainNode:
		return s.drain(m.DrainNode)
	case *types.TxBody_GrantRole:
		return s.grantRole(m.GrantRole)
	case *types.TxBody_RevokeRole:
		return s.revokeRole(m.RevokeRole)
	case *types.TxBody_UpdateParams:
		old := s.params
		s.params = m.UpdateParams.Params
		s.touch(keyParams)
		return s.paramsChanged(old), "params updated", nil
	case *types.TxBody_SetValidatorPower:
		return s.setValidatorPower(m.SetValidatorPower)
	case *types.TxBody_RemoveNode:
		return s.removeNode(m.RemoveNode)
	case *types.TxBody_UnjailObserver:
		return s.unjailObserver(m.UnjailObserver)
	}
	return nil, "", api.Errorf(api.ErrBodyUndecodable, "tx body carries no known message")
}

func (s *State) registerNode(m *types.RegisterNode) ([]Event, string, error) {
	if n := s.nodes[m.NodeId]; n != nil {
		diff := nodeSpecDiff(n, m)
		if len(diff) == 0 {
			return nil, fmt.Sprintf("node %s unchanged", n.Id), nil
		}
		return nil, "", api.Errorf(api.ErrNodeExists, "node %s is registered with a different spec (registered != requested): %s",
			n.Id, strings.Join(diff, "; "))
	}
	if other, ok := s.nodeByKey[string(m.PubKey)]; ok {
		return nil, "", api.Errorf(api.ErrNodeExists, "pub_key of account %s is already registered for node %s", addrHex(addressOf(m.PubKey)), other)
	}
	if len(s.nodes) >= api.MaxNodes {
		return nil, "", api.Errorf(api.ErrLimitExceeded, "the cluster has %d nodes, the limit", api.MaxNodes)
	}
	keyAddr := addrHex(addressOf(m.PubKey))
	acc := s.accounts[keyAddr]
	if acc == nil && len(s.accounts) >= api.MaxAccounts {
		return nil, "", api.Errorf(api.ErrLimitExceeded, "the state holds %d accounts, the limit; no account for node key %s", api.MaxAccounts, keyAddr)
	}
	if acc != nil && acc.Jailed {
		return nil, "", api.Errorf(api.ErrUnauthorized, "node key account %s is jailed (%s)", keyAddr, acc.JailReason)
	}

	n := &types.Node{
		Id:               m.NodeId,
		PubKey:           clone(m.PubKey),
		Zone:             m.Zone,
		Labels:           append([]types.Label(nil), m.Labels...),
		Capacity:         m.Capacity,
		Endpoint:         m.Endpoint,
		State:            types.NODE_READY,
		Reason:           api.ReasonRegistered,
		RegisteredHeight: s.height,
		StateSinceMs:     s.blockTimeMs,
		LastHeartbeatMs:  s.blockTimeMs,
		// Registration counts as the first sign of life: the deadlines
		// start from it, with the bootstrap estimate.
		LastHeartbeatClockMs: s.clockMs,
	}
	s.nodes[n.Id] = n
	i := sort.SearchStrings(s.nodeIDs, n.Id)
	s.nodeIDs = insertSorted(s.nodeIDs, n.Id)
	s.nodeList = append(s.nodeList, nil)
	s.nodePos = nil // positions shift
	copy(s.nodeList[i+1:], s.nodeList[i:])
	s.nodeList[i] = n
	s.nodeByKey[string(n.PubKey)] = n.Id
	s.zoneNodeAdded(n)
	s.markSystemNode(n.Id)
	s.bumpEpoch() // a new Ready node
	s.setDeadlines(n)
	s.touchNode(n)
	if acc == nil {
		acc = &types.Account{Address: addressOf(m.PubKey)}
		s.accounts[keyAddr] = acc
	}
	if len(acc.PubKey) == 0 {
		acc.PubKey = clone(m.PubKey)
	}
	acc.Roles = api.AddRole(acc.Roles, types.ROLE_NODE)
	s.touchAccount(acc)
	ev := event(api.EventNodeStatus, "node", n.Id, "from", "", "to", api.NodeStateName(n.State), "reason", api.ReasonRegistered)
	return []Event{ev}, fmt.Sprintf("node %s registered", n.Id), nil
}

func (s *State) heartbeat(m *types.Heartbeat) ([]Event, string, error) {
	n := s.nodes[m.NodeId] // CheckTx made sure it exists
	if m.Seq <= n.LastHeartbeatSeq {
		return nil, "", api.Errorf(api.ErrStaleHeartbeat, "heartbeat seq %d of node %s is not above the last accepted seq %d",
			m.Seq, n.Id, n.LastHeartbeatSeq)
	}
	events := s.recordHeartbeat(n)
	n.LastHeartbeatSeq = m.Seq
	n.Usage = m.Usage
	stops := 0
	for i := range m.Tasks {
		r := &m.Tasks[i]
		t := s.tasks[r.TaskId]
		// A placement is fenced by (task, node, generation); Failed and
		// Completed end a generation: a report that it runs again is
		// answered with task_stop too.
		ended := t != nil && (t.State == types.TASK_COMPLETED || t.State == types.TASK_FAILED)
		if t != nil && t.FenceNode == n.Id && t.FenceGeneration == r.Generation && r.State != types.TASK_RUNNING && r.State != types.TASK_ASSIGNED {
			s.liftFence(t, "reported ended ("+api.TaskStateName(r.State)+")") // its process is gone
		}
		if t == nil || t.Node != n.Id || t.Generation != r.Generation || ended && s.reportedState(t, r.State) != t.State {
			events = append(events, event(api.EventTaskStop, "task", r.TaskId, "node", n.Id, "generation", u64(r.Generation)))
			stops++
			continue
		}
		events = append(events, s.applyTaskReport(t, r)...)
	}
	log := fmt.Sprintf("heartbeat %d of node %s", m.Seq, n.Id)
	if stops > 0 {
		log += fmt.Sprintf("; %d tasks to stop", stops)
	}
	if lifted := s.stoppedReported(n, m.Stopped); lifted > 0 {
		log += fmt.Sprintf("; %d replacements may start (stopped)", lifted)
	}
	return events, log, nil
}

// reportedState is the state a report of t's current generation puts it
// in. A service runs until it is stopped (issue 14): its process ending
// with exit code 0, which the agent reports Completed, is an exit like any
// other, and the restart policy restarts it; the task is Failed with exit
// code 0. A batch task that exits with code 0 is Completed.
func (s *State) reportedState(t *types.Task, reported types.TaskState) types.TaskState {
	if reported == types.TASK_COMPLETED && s.runsForever(t.Workload) {
		return types.TASK_FAILED
	}
	return reported
}

// runsForever reports whether the tasks of the named workload are
// restarted whatever their exit: a service's, not a batch's.
func (s *State) runsForever(workload string) bool {
	w := s.workloads[workload]
	return w == nil || w.Spec.Type != api.TypeBatch
}

// applyTaskReport records a node's report on a task placed on it with the
// current generation, not Completed or Failed. A Failed report hands the
// task to the restart policy (reconcile.go), and so does a service's exit
// with code 0 (reportedState); the restart count is the chain's, the
// report's is not read.
func (s *State) applyTaskReport(t *types.Task, r *types.TaskReport) []Event {
	var events []Event
	changed := false
	batchDone := false
	if state := s.reportedState(t, r.State); state != t.State {
		switch state {
		case types.TASK_COMPLETED:
			s.release(t) // a completed task holds nothing
		case types.TASK_FAILED:
			var ev Event
			ev, batchDone = s.taskFailed(t, r.ExitCode, r.State == types.TASK_COMPLETED)
			events = append(events, ev)
		}
		t.State = state
		changed = true
		s.taskChanged(t)
		if state == types.TASK_COMPLETED {
			events = append(events, s.batchTaskCompleted(t)...)
		}
	}
	if len(r.Checkpoint) > 0 && !bytes.Equal(r.Checkpoint, t.LastCheckpoint) {
		t.LastCheckpoint = clone(r.Checkpoint)
		changed = true
	}
	if r.ExitCode != t.ExitCode {
		t.ExitCode = r.ExitCode
		changed = true
	}
	if t.Reason != "" && r.State == types.TASK_RUNNING {
		t.Reason = ""
		changed = true
	}
	// Ready (issue 14 §2): Running, and passing its readiness checks if
	// the workload has any (the agent's word, as for the state).
	w := s.workloads[t.Workload]
	ready := t.State == types.TASK_RUNNING && (r.Ready || w == nil || !api.HasReadiness(&w.Spec))
	if ready != t.Ready {
		t.Ready, t.ReadySinceMs = ready, 0
		if ready {
			t.ReadySinceMs = s.blockTimeMs
		}
		changed = true
		s.taskChanged(t) // a rolling update may take its next step
	}
	if changed {
		s.touchTask(t)
	}
	if batchDone {
		events = append(events, s.failBatch(s.workloads[t.Workload], t)...)
	}
	return events
}

func (s *State) setNodeState(n *types.Node, to types.NodeState, reason string) Event {
	from := n.State
	n.State = to
	n.Reason = reason
	n.StateSinceMs = s.blockTimeMs
	s.touchNode(n)
	s.zoneNodeMoved(n, from, to)
	if to == types.NODE_READY && from != types.NODE_READY && len(s.fenced) > 0 {
		s.restoreNodes[n.Id] = struct{}{} // disconnect.reconcile keep_original
	}
	// Any node state change may let a pending task fit: a Ready node
	// takes tasks; a domain without Ready nodes no longer holds max_skew.
	s.bumpEpoch()
	return event(api.EventNodeStatus, "node", n.Id, "from", api.NodeStateName(from), "to", api.NodeStateName(to), "reason", reason)
}

func (s *State) createWorkload(spec types.WorkloadSpec) ([]Event, string, error) {
	if w := s.workloads[spec.Name]; w != nil {
		diff := specDiff(&w.Spec, &spec)
		if len(diff) == 0 {
			return nil, fmt.Sprintf("workload %s unchanged", spec.Name), nil
		}
		return nil, "", api.Errorf(api.ErrWorkloadExists, "workload %s exists with a different spec (existing != requested): %s; send UpdateWorkload to change it",
			spec.Name, strings.Join(diff, "; "))
	}
	if len(s.workloads) >= api.MaxWorkloads {
		return nil, "", api.Errorf(api.ErrLimitExceeded, "the cluster has %d workloads, the limit", api.MaxWorkloads)
	}
	if len(s.tasks)+int(spec.Replicas) > api.MaxTasksTotal {
		return nil, "", api.Errorf(api.ErrLimitExceeded, "%d more tasks would make %d; the limit is %d", spec.Replicas, len(s.tasks)+int(spec.Replicas), api.MaxTasksTotal)
	}
	w := &types.Workload{Spec: spec, CreatedHeight: s.height, Version: 1, TemplateVersion: 1}
	s.workloads[spec.Name] = w
	s.touchWorkload(w)
	if spec.Type == api.TypeSystem {
		s.systemCount++
		s.systemWorkloads[spec.Name] = struct{}{} // its tasks come in the system pass
	}
	for i := uint32(0); i < spec.Replicas; i++ {
		s.addTask(w, i, "")
	}
	ev := event(api.EventWorkload, "name", spec.Name, "action", api.ActionCreated)
	return []Event{ev}, fmt.Sprintf("workload %s created with %d tasks", spec.Name, spec.Replicas), nil
}

func (s *State) updateWorkload(spec types.WorkloadSpec) ([]Event, string, error) {
	w := s.workloads[spec.Name]
	if w == nil {
		return nil, "", api.Errorf(api.ErrWorkloadNotFound, "workload %s does not exist; send CreateWorkload first", spec.Name)
	}
	diff := specDiff(&w.Spec, &spec)
	if len(diff) == 0 {
		return nil, fmt.Sprintf("workload %s unchanged", spec.Name), nil
	}
	if spec.Type != w.Spec.Type {
		return nil, "", api.Errorf(api.ErrWorkloadTypeChange, "workload %s is a %s; the update makes it a %s: delete it and create it again",
			spec.Name, typeName(w.Spec.Type), typeName(spec.Type))
	}
	oldReplicas, newReplicas := w.Spec.Replicas, spec.Replicas
	if newReplicas > oldReplicas && len(s.tasks)+int(newReplicas-oldReplicas) > api.MaxTasksTotal {
		return nil, "", api.Errorf(api.ErrLimitExceeded, "%d more tasks would make %d; the limit is %d",
			newReplicas-oldReplicas, len(s.tasks)+int(newReplicas-oldReplicas), api.MaxTasksTotal)
	}
	newTemplate := templateChanged(&w.Spec, &spec)

	var events []Event
	// Scale down: remove the highest indexes first. (A system workload
	// has no replicas: the system pass matches its tasks to the nodes its
	// new constraints admit.)
	if spec.Type == api.TypeSystem {
		s.systemWorkloads[spec.Name] = struct{}{}
	} else {
		tasks := append([]*types.Task(nil), s.tasksOf(spec.Name)...)
		for i := len(tasks) - 1; i >= 0 && tasks[i].Index >= newReplicas; i-- {
			events = append(events, s.removeTask(tasks[i], api.ReasonScaledDown))
		}
	}
	if api.HasDisconnect(&w.Spec) != api.HasDisconnect(&spec) {
		s.markPartitioned() // its tasks leave, or stay on, Partitioned nodes
	}
	w.Spec = spec
	w.Version++
	s.touchWorkload(w)
	// The spec may fit where the old one did not.
	s.unpark(w)
	// A change of what a task runs or holds is a new template: the end of
	// the block's reconcile pass replaces the tasks placed with an older
	// one in a rolling way (reconcile.go, step 4). They keep running, and
	// holding their resources, until then. Other changes (placement rules,
	// restart policy, priority, max_unavailable) apply from now on to
	// what they govern, and move no running task.
	if newTemplate {
		w.TemplateVersion = w.Version
		s.startRollout(w)
	} else if _, ok := s.rollouts[spec.Name]; ok {
		s.rollDirty[spec.Name] = struct{}{} // replicas and so min_available changed
	}
	for i := oldReplicas; i < newReplicas; i++ {
		s.addTask(w, i, "")
	}
	events = append(events, event(api.EventWorkload, "name", spec.Name, "action", api.ActionUpdated))
	events = append(events, s.batchUpdated(w)...)
	return events, fmt.Sprintf("workload %s updated to version %d: %s", spec.Name, w.Version, strings.Join(diff, "; ")), nil
}

func (s *State) deleteWorkload(name string) ([]Event, string, error) {
	w := s.workloads[name]
	if w == nil {
		return nil, "", api.Errorf(api.ErrWorkloadNotFound, "workload %s does not exist", name)
	}
	var events []Event
	tasks := append([]*types.Task(nil), s.tasksOf(name)...)
	for _, t := range tasks {
		events = append(events, s.removeTask(t, api.ReasonWorkloadDeleted))
	}
	delete(s.rollouts, name)
	delete(s.rollDirty, name)
	if w.Spec.Type == api.TypeSystem {
		s.systemCount--
		delete(s.systemWorkloads, name)
	}
	delete(s.workloads, name)
	s.touchWorkload(w)
	events = append(events, event(api.EventWorkload, "name", name, "action", api.ActionDeleted))
	return events, fmt.Sprintf("workload %s deleted with %d tasks", name, len(tasks)), nil
}

func (s *State) node(id string) (*types.Node, error) {
	n := s.nodes[id]
	if n == nil {
		return nil, api.Errorf(api.ErrNodeNotFound, "node %s is not registered", id)
	}
	return n, nil
}

func (s *State) cordon(m *types.CordonNode) ([]Event, string, error) {
	n, err := s.node(m.NodeId)
	if err != nil {
		return nil, "", err
	}
	if n.Cordoned {
		return nil, fmt.Sprintf("node %s already cordoned", n.Id), nil
	}
	n.Cordoned = true
	n.Reason = cordonReason("cordoned", m.Reason)
	s.markSystemNode(n.Id)
	s.touchNode(n)
	s.bumpEpoch() // its domain may stop holding max_skew
	return nil, fmt.Sprintf("node %s cordoned", n.Id), nil
}

func cordonReason(what, reason string) string {
	if reason == "" {
		return what
	}
	return what + ": " + reason
}

func (s *State) uncordon(m *types.UncordonNode) ([]Event, string, error) {
	n, err := s.node(m.NodeId)
	if err != nil {
		return nil, "", err
	}
	var events []Event
	if !n.Cordoned && !n.Draining && n.State != types.NODE_QUARANTINED {
		return nil, fmt.Sprintf("node %s already schedulable", n.Id), nil
	}
	n.Cordoned, n.Draining, n.DrainDeadlineMs = false, false, 0
	n.Reason = api.ReasonUncordoned
	s.markSystemNode(n.Id)
	s.bumpEpoch()
	s.markEvict(n) // a draining node's remaining tasks stay
	log := fmt.Sprintf("node %s uncordoned", n.Id)
	if n.State == types.NODE_QUARANTINED {
		// Leaving quarantine clears the strikes; the node takes the state
		// its heartbeats and observers call for (Ready if it is alive).
		log += fmt.Sprintf("; quarantine lifted, %d strikes cleared", n.Strikes)
		n.Strikes = 0
		to, reason := s.desiredState(n, triggerUncordon, true)
		events = append(events, s.moveNode(n, to, reason)...)
		s.queueDeadline(n)
	}
	s.touchNode(n)
	return events, log, nil
}

func (s *State) drain(m *types.DrainNode) ([]Event, string, error) {
	n, err := s.node(m.NodeId)
	if err != nil {
		return nil, "", err
	}
	deadline := int64(0)
	if m.DeadlineMs > 0 {
		deadline = s.blockTimeMs + m.DeadlineMs
	}
	if n.Draining {
		if m.DeadlineMs == 0 && n.DrainDeadlineMs != 0 {
			// Forced now: the rest go at once.
			n.DrainDeadlineMs = 0
			s.touchNode(n)
			s.markEvict(n)
			return nil, fmt.Sprintf("node %s already draining; its remaining tasks are evicted now", n.Id), nil
		}
		return nil, fmt.Sprintf("node %s already draining", n.Id), nil
	}
	active := 0
	for _, t := range s.tasksOn(n.Id) {
		if taskActive(t) {
			active++
		}
	}
	n.Cordoned, n.Draining = true, true
	n.DrainDeadlineMs = deadline
	n.Reason = cordonReason("draining", m.Reason)
	s.markSystemNode(n.Id)
	s.touchNode(n)
	s.bumpEpoch()
	s.markEvict(n)
	if deadline > 0 {
		return nil, fmt.Sprintf("node %s draining; its %d tasks move as their workloads' max_unavailable allows, the rest at t=%d", n.Id, active, deadline), nil
	}
	return nil, fmt.Sprintf("node %s draining; its %d tasks move at the end of the block", n.Id, active), nil
}

func (s *State) grantRole(m *types.GrantRole) ([]Event, string, error) {
	key := addrHex(m.Address)
	acc := s.accounts[key]
	if acc == nil && len(s.accounts) >= api.MaxAccounts {
		return nil, "", api.Errorf(api.ErrLimitExceeded, "the state holds %d accounts, the limit", api.MaxAccounts)
	}
	if acc != nil && api.HasRole(acc.Roles, m.Role) {
		return nil, fmt.Sprintf("account %s already has role %s", key, api.RoleName(m.Role)), nil
	}
	if m.Role == types.ROLE_OBSERVER && len(s.observerIDs) >= api.MaxObservers {
		return nil, "", api.Errorf(api.ErrLimitExceeded, "%d accounts have role observer, the limit", api.MaxObservers)
	}
	if acc == nil {
		acc = &types.Account{Address: clone(m.Address)}
		s.accounts[key] = acc
	}
	acc.Roles = api.AddRole(acc.Roles, m.Role)
	s.touchAccount(acc)
	if m.Role == types.ROLE_OBSERVER {
		s.observerIDs = insertSorted(s.observerIDs, key)
		s.activeObsSet = false
	}
	return nil, fmt.Sprintf("account %s granted role %s", key, api.RoleName(m.Role)), nil
}

func (s *State) revokeRole(m *types.RevokeRole) ([]Event, string, error) {
	key := addrHex(m.Address)
	acc := s.accounts[key]
	if acc == nil {
		return nil, "", api.Errorf(api.ErrUnknownAccount, "account %s does not exist", key)
	}
	if !api.HasRole(acc.Roles, m.Role) {
		return nil, fmt.Sprintf("account %s does not have role %s", key, api.RoleName(m.Role)), nil
	}
	if m.Role == types.ROLE_ADMIN && !acc.Jailed {
		others := 0
		for _, k := range sortedKeys(s.accounts) {
			a := s.accounts[k]
			if k != key && !a.Jailed && api.HasRole(a.Roles, types.ROLE_ADMIN) {
				others++
			}
		}
		if others == 0 {
			return nil, "", api.Errorf(api.ErrLastAdmin, "revoking admin from %s would leave no active admin; grant admin to another account first", key)
		}
	}
	acc.Roles = api.RemoveRole(acc.Roles, m.Role)
	s.touchAccount(acc)
	if m.Role == types.ROLE_OBSERVER {
		s.observerIDs = removeSorted(s.observerIDs, key)
		s.activeObsSet = false
		s.dropAttestations(acc.Address)
	}
	return nil, fmt.Sprintf("account %s lost role %s", key, api.RoleName(m.Role)), nil
}

func (s *State) setValidatorPower(m *types.SetValidatorPower) ([]Event, string, error) {
	key := addrHex(addressOf(m.PubKey))
	v := s.validators[key]
	switch {
	case m.Power == 0 && v == nil:
		return nil, "", api.Errorf(api.ErrInvalidMessage, "validator %s is not in the validator set", key)
	case m.Power == 0 && len(s.validators) == 1:
		return nil, "", api.Errorf(api.ErrInvalidMessage, "removing validator %s would leave the validator set empty", key)
	case v == nil && len(s.validators) >= api.MaxValidators:
		return nil, "", api.Errorf(api.ErrLimitExceeded, "the validator set has %d validators, the limit", api.MaxValidators)
	case v != nil && v.Power == m.Power:
		return nil, fmt.Sprintf("validator %s already has power %d", key, m.Power), nil
	}
	if m.Power == 0 {
		delete(s.validators, key)
	} else {
		s.validators[key] = &types.Validator{PubKey: clone(m.PubKey), Power: m.Power}
	}
	s.touch(prefixValidators + key)
	s.valUpdates[key] = ValidatorUpdate{PubKey: clone(m.PubKey), Power: m.Power}
	return nil, fmt.Sprintf("validator %s power set to %d (from the end of this block)", key, m.Power), nil
}

// reportEquivocation jails the signer of two transactions that make
// conflicting statements: two Heartbeats for the same node and seq, or two
// HealthReports for the same window, with different content.
func (s *State) reportEquivocation(m *types.ReportEquivocation) ([]Event, string, error) {
	// DecodeTx verified the evidence in full (api.validateEquivocation):
	// EquivocationOf does not verify the signatures again.
	e, err := api.EquivocationOf(m, s.chainID)
	if err != nil {
		return nil, "", err
	}
	key := addrHex(e.Address)
	acc := s.accounts[key]
	if acc == nil { // CheckTx refused it; kept so that apply stands alone
		return nil, "", api.Errorf(api.ErrInvalidEvidence, "signer %s has no account", key)
	}
	if acc.Jailed {
		return nil, fmt.Sprintf("account %s already jailed", key), nil
	}
	ev := s.jail(acc, "equivocation: "+e.What)
	return []Event{ev}, fmt.Sprintf("account %s jailed: %s", key, e.What), nil
}

// removeNode deletes a node (RemoveNode, operator). Refused while active
// tasks (Assigned, Running, Failed: they hold resources there) are placed
// on it, unless force: then they are evicted here, as from a drained node
// (back to Pending with generation + 1, reason node_removed; step 5 of
// this block's pass places them elsewhere). An operator's decision, like
// a drain: not paced by zone, nor held to max_evictions_per_block. A
// Completed task on the node keeps its outcome and loses its node. The
// node leaves every record and index: its slot under MaxNodes, its key
// (free to register again), its zone's counts, the eviction backlog, the
// deadline index and its reports record. Its key's account stays (its
// sequence must never be reused, and it may hold other roles) but loses
// role node. The id can be registered again, as a new node.
func (s *State) removeNode(m *types.RemoveNode) ([]Event, string, error) {
	n, err := s.node(m.NodeId)
	if err != nil {
		return nil, "", err
	}
	tasks := s.tasksOn(n.Id)
	var active []string
	for _, t := range tasks {
		if taskActive(t) {
			active = append(active, t.Id)
		}
	}
	if len(active) > 0 && !m.Force {
		shown := active
		if len(shown) > 5 {
			shown = append(shown[:5:5], "...")
		}
		return nil, "", api.Errorf(api.ErrNodeHasTasks, "node %s holds %d active tasks (%s); drain it and wait for them to move, or remove it with force to evict them now",
			n.Id, len(active), strings.Join(shown, ", "))
	}
	reason := cordonReason("removed", m.Reason)
	var events []Event
	for _, t := range tasks {
		if taskActive(t) {
			events = append(events, s.evictTask(t, api.ReasonNodeRemoved)...)
			continue
		}
		// Completed: its outcome stays, its placement goes.
		s.noteTask(t)
		removeFromSet(s.tasksByNode, n.Id, t.Id)
		t.Node = ""
		t.Reason = truncateReason(fmt.Sprintf("completed on node %s, removed at height %d", n.Id, s.height))
		s.touchTask(t)
	}
	if n.EvictSinceMs != 0 {
		delete(s.pacing.backlog, n.Id)
	}
	delete(s.evictNodes, n.Id)
	delete(s.restoreNodes, n.Id)
	s.markSystemNode(n.Id)
	s.zoneNodeRemoved(n)
	delete(s.nodes, n.Id)
	i := sort.SearchStrings(s.nodeIDs, n.Id)
	s.nodeIDs = append(s.nodeIDs[:i], s.nodeIDs[i+1:]...)
	copy(s.nodeList[i:], s.nodeList[i+1:])
	s.nodeList[len(s.nodeList)-1] = nil
	s.nodeList = s.nodeList[:len(s.nodeList)-1]
	s.nodePos = nil // positions shift
	delete(s.nodeByKey, string(n.PubKey))
	delete(s.tasksByNode, n.Id)
	s.touchNode(n) // deleted: TakeChanges writes a nil value
	if s.reports[n.Id] != nil {
		delete(s.reports, n.Id)
		s.touch(prefixReports + n.Id)
	}
	s.rebuildDeadlines() // drop its entries: O(nodes), once per removal
	s.bumpEpoch()        // its domain may stop counting for max_skew
	if blockChecks {
		if s.removedNodes == nil {
			s.removedNodes = map[string][]byte{}
		}
		s.removedNodes[n.Id] = n.PubKey
	}
	if acc := s.accounts[addrHex(addressOf(n.PubKey))]; acc != nil && api.HasRole(acc.Roles, types.ROLE_NODE) {
		acc.Roles = api.RemoveRole(acc.Roles, types.ROLE_NODE)
		s.touchAccount(acc)
	}
	events = append(events, event(api.EventNodeRemoved, "node", n.Id, "zone", n.Zone, "state", api.NodeStateName(n.State),
		"evicted", fmt.Sprint(len(active)), "reason", reason))
	log := fmt.Sprintf("node %s removed", n.Id)
	if len(active) > 0 {
		log += fmt.Sprintf("; its %d active tasks evicted, to be placed at the end of the block", len(active))
	}
	return events, log, nil
}

// unjailObserver restores a jailed observer after review (UnjailObserver,
// admin): jailed and jail_reason are cleared and its reputation starts
// over at 0, where a new observer starts (at or above reputation_floor,
// which is never positive), so that its votes count again from its next
// report; its agreement counts stay. Refused (ErrNotJailedObserver) for
// an account that is not jailed or has no role observer: a jailed node
// key or validator is not unjailed this way. A validator removed for
// misbehaviour stays removed (SetValidatorPower adds it back).
func (s *State) unjailObserver(m *types.UnjailObserver) ([]Event, string, error) {
	key := addrHex(m.Address)
	acc := s.accounts[key]
	switch {
	case acc == nil:
		return nil, "", api.Errorf(api.ErrUnknownAccount, "account %s does not exist", key)
	case !api.HasRole(acc.Roles, types.ROLE_OBSERVER):
		return nil, "", api.Errorf(api.ErrNotJailedObserver, "account %s has %s, not role observer: UnjailObserver restores observers only", key, rolesString(acc.Roles))
	case !acc.Jailed:
		return nil, "", api.Errorf(api.ErrNotJailedObserver, "observer %s is not jailed", key)
	}
	was := acc.JailReason
	acc.Jailed, acc.JailReason = false, ""
	acc.Reputation = 0
	s.touchAccount(acc)
	s.activeObsSet = false
	ev := event(api.EventAccountUnjailed, "addr", key, "reason", was, "reputation", "0")
	return []Event{ev}, fmt.Sprintf("observer %s unjailed (was: %s); reputation 0", key, was), nil
}
