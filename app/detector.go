package app

import (
	"fmt"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app/health"
	"github.com/phalanx-bft/phalanx/types"
)

// Failure detection: the heartbeat/deadline path (DESIGN §5,
// docs/failure-detection.md).
//
// A node's state is a function of four inputs, recomputed whenever one of
// them changes (desiredState):
//
//   - its heartbeat deadlines against the detector clock: alive before
//     suspect_at, late from suspect_at, dead from down_at;
//   - the observers' standing verdict (reports.go): none, reachable,
//     unreachable or partitioned;
//   - quarantine, which only UncordonNode ends.
//
// Dead beats every verdict (observers cannot keep a silent node alive); an
// unreachable verdict beats heartbeats (a node that heartbeats but a quorum
// cannot reach is Down until a later quorum reaches it); partitioned beats
// late; late is Suspect; otherwise Ready. Inputs change in DeliverTx
// (heartbeats, reports, parameters, uncordon) and, for deadlines, when the
// clock passes them: EndBlock pops every due entry of the deadline index,
// so the per-block cost follows the nodes whose deadline passed, not the
// cluster's size.

// What caused an evaluation; it chooses the reason of a move to Ready.
type trigger int

const (
	triggerHeartbeat trigger = iota
	triggerDeadline
	triggerAttest
	triggerVerdict
	triggerUncordon
	triggerParams
)

// Reasons the failure detector writes into node_status and task_evicted
// events.
const (
	ReasonNodeDown        = "node_down"
	ReasonNodePartitioned = "node_partitioned"
	ReasonNodeQuarantined = "node_quarantined"
	ReasonParamsChanged   = "params changed"
)

// advanceClock moves the detector clock to block time timeMs: by the time
// since the previous block, at most params.max_clock_step_ms (ADR 0005).
// The first block starts the clock at its block time.
func (s *State) advanceClock(timeMs int64) {
	if s.clockMs == 0 {
		s.clockMs = timeMs
		return
	}
	step := min(max(timeMs-s.blockTimeMs, 0), s.params.MaxClockStepMs)
	s.clockMs += step
}

// detector returns the phi accrual parameters, computing y*(Φ) when the
// threshold changed.
func (s *State) detector() health.Detector {
	if s.yStarFor != s.params.PhiThresholdMilli {
		s.yStar = health.YStarMicro(s.params.PhiThresholdMilli)
		s.yStarFor = s.params.PhiThresholdMilli
	}
	return health.Detector{
		Window:              s.params.PhiWindow,
		MinStdDevMs:         s.params.PhiMinStdDevMs,
		AcceptablePauseMs:   s.params.PhiAcceptablePauseMs,
		BootstrapIntervalMs: s.params.HeartbeatIntervalMs,
		YStarMicro:          s.yStar,
	}
}

// setDeadlines recomputes n's deadlines from its last heartbeat and its
// ring, and queues the next one. It reports whether they changed.
func (s *State) setDeadlines(n *types.Node) bool {
	det := s.detector()
	thr := det.ThresholdMs(det.Estimate(n))
	suspectAt, byPhi := n.LastHeartbeatClockMs+s.params.SuspectAfterMs, false
	if thr < s.params.SuspectAfterMs {
		suspectAt, byPhi = n.LastHeartbeatClockMs+thr, true
	}
	downAt := n.LastHeartbeatClockMs + s.params.DownAfterMs
	changed := n.SuspectAtMs != suspectAt || n.SuspectByPhi != byPhi || n.DownAtMs != downAt
	n.SuspectAtMs, n.SuspectByPhi, n.DownAtMs = suspectAt, byPhi, downAt
	s.queueDeadline(n)
	return changed
}

// nextDeadline is the next clock time at which n's heartbeat status
// changes (alive → late → dead), if any. A quarantined node has none.
func (s *State) nextDeadline(n *types.Node) (int64, bool) {
	switch {
	case n.State == types.NODE_QUARANTINED, n.Attested:
		return 0, false
	case s.clockMs < n.SuspectAtMs:
		return n.SuspectAtMs, true
	case s.clockMs < n.DownAtMs:
		return n.DownAtMs, true
	}
	return 0, false
}

func (s *State) queueDeadline(n *types.Node) {
	if at, ok := s.nextDeadline(n); ok {
		s.deadlines.Push(health.Deadline{AtMs: at, ID: n.Id})
	}
}

// rebuildDeadlines refills the deadline index from the nodes, dropping
// stale entries.
func (s *State) rebuildDeadlines() {
	s.deadlines.Reset()
	for _, id := range s.nodeIDs {
		s.queueDeadline(s.nodes[id])
	}
}

// expireDeadlines is the end-of-block pass of the heartbeat path: every
// node whose deadline the clock has reached is re-evaluated, in (deadline,
// id) order. An entry that matches neither of the node's deadlines is stale
// (a later heartbeat moved them) and is dropped.
func (s *State) expireDeadlines() []Event {
	var events []Event
	for {
		d, ok := s.deadlines.PopDue(s.clockMs)
		if !ok {
			break
		}
		n := s.nodes[d.ID]
		if n == nil || n.State == types.NODE_QUARANTINED || n.Attested || d.AtMs != n.SuspectAtMs && d.AtMs != n.DownAtMs {
			continue
		}
		events = append(events, s.evaluate(n, triggerDeadline)...)
		s.queueDeadline(n)
	}
	if s.deadlines.Len() > DeadlineQueueSlack*len(s.nodes)+1024 {
		s.rebuildDeadlines()
	}
	return events
}

// heartbeatStatus classifies n's silence on the detector clock.
type hbStatus int

const (
	hbAlive hbStatus = iota
	hbLate
	hbDead
)

func (s *State) heartbeatStatus(n *types.Node) hbStatus {
	switch {
	case n.Attested: // an observer quorum vouches for it (attest.go)
		return hbAlive
	case s.clockMs >= n.DownAtMs:
		return hbDead
	case s.clockMs >= n.SuspectAtMs:
		return hbLate
	}
	return hbAlive
}

// desiredState is the state n's inputs call for, with its reason. With
// leaveQuarantine, quarantine is ignored (UncordonNode).
func (s *State) desiredState(n *types.Node, why trigger, leaveQuarantine bool) (types.NodeState, string) {
	if n.State == types.NODE_QUARANTINED && !leaveQuarantine {
		return types.NODE_QUARANTINED, n.Reason
	}
	hb := s.heartbeatStatus(n)
	switch {
	case hb == hbDead:
		return types.NODE_DOWN, fmt.Sprintf("no heartbeat for %d ms (down_after)", n.DownAtMs-n.LastHeartbeatClockMs)
	case n.Verdict == types.VERDICT_UNREACHABLE:
		return types.NODE_DOWN, fmt.Sprintf("observer quorum: unreachable in window %d", n.VerdictWindow)
	case n.Verdict == types.VERDICT_PARTITIONED:
		return types.NODE_PARTITIONED, fmt.Sprintf("observers split in window %d: reachable for more than %s, unreachable for more than %s, no quorum (policy %s)",
			n.VerdictWindow, s.minorityText(), s.minorityText(), s.params.PartitionPolicy)
	case hb == hbLate && n.SuspectByPhi:
		return types.NODE_SUSPECT, fmt.Sprintf("phi >= %s: no heartbeat for %d ms", milliText(s.params.PhiThresholdMilli), n.SuspectAtMs-n.LastHeartbeatClockMs)
	case hb == hbLate:
		return types.NODE_SUSPECT, fmt.Sprintf("no heartbeat for %d ms (suspect_after)", n.SuspectAtMs-n.LastHeartbeatClockMs)
	}
	switch why {
	case triggerAttest:
		return types.NODE_READY, "observer quorum: attested alive"
	case triggerVerdict:
		return types.NODE_READY, fmt.Sprintf("observer quorum: reachable in window %d", n.VerdictWindow)
	case triggerUncordon:
		return types.NODE_READY, api.ReasonUncordoned
	case triggerParams:
		return types.NODE_READY, ReasonParamsChanged
	}
	return types.NODE_READY, api.ReasonHeartbeat
}

// minorityText is the fraction 1 - quorum ("1/3" by default).
func (s *State) minorityText() string {
	return fmt.Sprintf("%d/%d", s.params.ObserverQuorumDen-s.params.ObserverQuorumNum, s.params.ObserverQuorumDen)
}

// milliText writes thousandths as a decimal: 8000 -> "8.0", 8250 -> "8.25".
func milliText(v uint32) string {
	out := fmt.Sprintf("%d.%03d", v/1000, v%1000)
	for len(out) > 0 && out[len(out)-1] == '0' && out[len(out)-2] != '.' {
		out = out[:len(out)-1]
	}
	return out
}

// evaluate moves n to the state its inputs call for, if that differs, and
// applies the move's consequences.
func (s *State) evaluate(n *types.Node, why trigger) []Event {
	to, reason := s.desiredState(n, why, false)
	if to == n.State {
		return nil
	}
	return s.moveNode(n, to, reason)
}

// moveNode changes n's state and marks the consequences for the end of
// the block's reconcile pass (reconcile.go, step 2): a Down or Quarantined
// node's tasks are evicted, a Partitioned one's under partition_policy
// evict (keep leaves them: the node takes no new placements, as every
// state but Ready). Quarantine also cordons the node.
func (s *State) moveNode(n *types.Node, to types.NodeState, reason string) []Event {
	ev := s.setNodeState(n, to, reason)
	if to == types.NODE_QUARANTINED {
		n.Cordoned = true
	}
	s.markEvict(n)
	return []Event{ev}
}

// recordHeartbeat updates n's liveness for a heartbeat at the current
// block: the inter-arrival ring (intervals of suspect_after or more are
// failures, not samples of the arrival distribution, and are left out, as
// Cassandra does), the last heartbeat, the deadlines; then re-evaluates.
func (s *State) recordHeartbeat(n *types.Node) []Event {
	interval := s.clockMs - n.LastHeartbeatClockMs
	if n.LastHeartbeatSeq > 0 && interval > 0 && interval < s.params.SuspectAfterMs {
		health.PushInterval(n, interval, s.params.PhiWindow)
	}
	n.LastHeartbeatMs = s.blockTimeMs
	n.LastHeartbeatClockMs = s.clockMs
	s.setDeadlines(n)
	s.touchNode(n)
	return s.evaluate(n, triggerHeartbeat)
}

// paramsChanged applies a parameter change: new deadlines for every node
// (and a re-evaluation) when a detection parameter changed, and, when
// partition_policy becomes evict, the eviction of Partitioned nodes'
// tasks (at the end of the block); the report
// tallies are dropped when the report window changed (window numbers
// would mean other times); the active observer count is recomputed.
// It costs O(nodes), once per governance transaction.
func (s *State) paramsChanged(old types.Params) []Event {
	s.activeObsSet = false
	s.pacingParamsChanged()
	p := s.params
	var events []Event
	if old.ReportWindowMs != p.ReportWindowMs {
		s.attestWindowsRenumbered()
		for _, id := range sortedKeys(s.reports) {
			delete(s.reports, id)
			s.touch(prefixReports + id)
		}
		for _, id := range s.nodeIDs {
			if n := s.nodes[id]; n.VerdictWindow != 0 {
				n.VerdictWindow = 0
				s.touchNode(n)
			}
		}
	}
	if old.HeartbeatIntervalMs == p.HeartbeatIntervalMs && old.SuspectAfterMs == p.SuspectAfterMs &&
		old.DownAfterMs == p.DownAfterMs && old.PhiThresholdMilli == p.PhiThresholdMilli &&
		old.PhiWindow == p.PhiWindow && old.PhiMinStdDevMs == p.PhiMinStdDevMs &&
		old.PhiAcceptablePauseMs == p.PhiAcceptablePauseMs && old.PartitionPolicy == p.PartitionPolicy {
		return events
	}
	toEvict := old.PartitionPolicy != api.PartitionEvict && p.PartitionPolicy == api.PartitionEvict
	for _, id := range s.nodeIDs {
		n := s.nodes[id]
		if s.setDeadlines(n) {
			s.touchNode(n)
		}
		events = append(events, s.evaluate(n, triggerParams)...)
		if toEvict && n.State == types.NODE_PARTITIONED {
			s.markEvict(n)
		}
	}
	return events
}

// verifyHealth checks the failure detector's records against each other.
func (s *State) verifyHealth() error {
	for _, id := range s.nodeIDs {
		n := s.nodes[id]
		if n.SuspectAtMs > n.DownAtMs {
			return fmt.Errorf("node %s: suspect deadline %d after down deadline %d", id, n.SuspectAtMs, n.DownAtMs)
		}
	}
	for _, id := range sortedKeys(s.reports) {
		r := s.reports[id]
		if s.nodes[id] == nil {
			return fmt.Errorf("reports of node %s, which does not exist", id)
		}
		if len(r.Windows) > 2 {
			return fmt.Errorf("reports of node %s hold %d windows; at most 2 are open", id, len(r.Windows))
		}
		for i, w := range r.Windows {
			if i > 0 && r.Windows[i-1].Window >= w.Window {
				return fmt.Errorf("reports of node %s: windows out of order", id)
			}
			for j := 1; j < len(w.Votes); j++ {
				if string(w.Votes[j-1].Observer) >= string(w.Votes[j].Observer) {
					return fmt.Errorf("reports of node %s, window %d: votes not sorted by observer", id, w.Window)
				}
			}
			for _, v := range w.Votes {
				// checkStrike finds a task in a vote by binary search.
				for k := 1; k < len(v.FailingTaskIds); k++ {
					if v.FailingTaskIds[k-1] >= v.FailingTaskIds[k] {
						return fmt.Errorf("reports of node %s, window %d: a vote's failing tasks are not sorted and unique", id, w.Window)
					}
				}
			}
		}
	}
	if err := s.verifyAttestations(); err != nil {
		return err
	}
	observers := 0
	for _, k := range s.accountKeys() {
		if api.HasRole(s.accounts[k].Roles, types.ROLE_OBSERVER) {
			observers++
		}
	}
	if observers != len(s.observerIDs) {
		return fmt.Errorf("%d accounts have role observer; the index holds %d", observers, len(s.observerIDs))
	}
	return nil
}
