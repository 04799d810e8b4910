package app

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// Cross-validation of observer reports (DESIGN §5,
// docs/failure-detection.md).
//
// An observer's HealthReport carries a report window (block time /
// report_window_ms): the current one or the previous one. Each observation
// is one vote about one node in that window; one vote per (observer, node,
// window) counts. A repeated identical vote is ignored; a vote whose
// reachable differs from the observer's earlier vote is equivocation, and
// the chain, having seen both signed statements, jails the observer at once
// (ReportEquivocation serves the same proof from outside).
//
// Votes are counted among active observers (role observer, not jailed,
// reputation ≥ reputation_floor), n of them:
//
//   - unreachable by more than q·n (q = observer_quorum, 2/3): the node's
//     verdict is unreachable: Down, even if it heartbeats;
//   - reachable by more than q·n: verdict reachable, which ends an
//     unreachable or partitioned verdict (the node is then Ready, or
//     Suspect / Down if its heartbeats say so: a quorum "reachable" never
//     overrides missing heartbeats);
//   - reachable and unreachable each by more than (1-q)·n, neither a
//     quorum: partitioned.
//
// A reachable vote may name failing tasks, but only tasks placed on the
// node when the report is applied: the others are refused (dropped, the
// vote itself still counts) and the observer loses reputation_penalty once
// per report that names any, as for a contradicted vote; a stored vote
// keeps at most api.MaxStoredFailingTasksPerVote of them, so a node's
// record stays within api.MaxReportRecordBytes. Strikes are counted for
// the tasks the new vote names only, so what other observers named does
// not make a report dearer.
//
// A quorum outcome is final for its window; the verdict applies unless a
// later window already decided. Missing votes are not votes: lost reports
// never move a node. Once a window is decided, every vote in it is scored:
// agreeing +1 (at most once per observer per window, up to reputation_max),
// disagreeing -reputation_penalty (down to reputation_floor -
// reputation_max).

// reportWindow is the current report window.
func (s *State) reportWindow() uint64 {
	if s.blockTimeMs <= 0 {
		return 0
	}
	return uint64(s.blockTimeMs / s.params.ReportWindowMs)
}

// quorum reports whether count is more than observer_quorum of n.
func (s *State) quorum(count, n int) bool {
	return uint64(count)*uint64(s.params.ObserverQuorumDen) > uint64(n)*uint64(s.params.ObserverQuorumNum)
}

// minority reports whether count is more than (1 - observer_quorum) of n.
func (s *State) minority(count, n int) bool {
	d := uint64(s.params.ObserverQuorumDen)
	return uint64(count)*d > uint64(n)*(d-uint64(s.params.ObserverQuorumNum))
}

// quorumSize is the smallest count that is a quorum of n.
func (s *State) quorumSize(n int) int {
	return int(uint64(n)*uint64(s.params.ObserverQuorumNum)/uint64(s.params.ObserverQuorumDen)) + 1
}

// activeObserver reports whether acc's votes count.
func (s *State) activeObserver(acc *types.Account) bool {
	return acc != nil && !acc.Jailed && acc.Reputation >= s.params.ReputationFloor && api.HasRole(acc.Roles, types.ROLE_OBSERVER)
}

// observerInfo is what counting a vote needs to know of its observer.
type observerInfo struct {
	acc    *types.Account
	key    string // store key of the account
	active bool
}

// refreshObservers recomputes the active count and the observer cache if
// anything that can change an account's activity cleared activeObsSet.
func (s *State) refreshObservers() {
	if s.activeObsSet {
		return
	}
	s.activeObs = 0
	s.obsCache = make(map[string]observerInfo, len(s.observerIDs))
	for _, key := range s.observerIDs {
		acc := s.accounts[key]
		info := observerInfo{acc: acc, key: prefixAccounts + key, active: s.activeObserver(acc)}
		if info.active {
			s.activeObs++
		}
		s.obsCache[string(acc.Address)] = info
	}
	s.activeObsSet = true
}

// activeObservers is the number of active observers.
func (s *State) activeObservers() int {
	s.refreshObservers()
	return s.activeObs
}

// observer returns the account with role observer at address addr.
func (s *State) observer(addr []byte) (observerInfo, bool) {
	s.refreshObservers()
	info, ok := s.obsCache[string(addr)]
	return info, ok
}

// findTally returns the tally of window w in r, or nil.
func findTally(r *types.NodeReports, w uint64) *types.WindowTally {
	if r == nil {
		return nil
	}
	for i := range r.Windows {
		if r.Windows[i].Window == w {
			return &r.Windows[i]
		}
	}
	return nil
}

// findVote returns the observer's vote in t, or nil.
func findVote(t *types.WindowTally, observer []byte) *types.Vote {
	if t == nil {
		return nil
	}
	i := sort.Search(len(t.Votes), func(i int) bool { return bytes.Compare(t.Votes[i].Observer, observer) >= 0 })
	if i < len(t.Votes) && bytes.Equal(t.Votes[i].Observer, observer) {
		return &t.Votes[i]
	}
	return nil
}

// openTally returns the tally of window w for node id, creating it (and
// the node's record) if needed, after dropping windows that are closed.
func (s *State) openTally(id string, w uint64) (*types.NodeReports, *types.WindowTally) {
	r := s.reports[id]
	if r == nil {
		r = &types.NodeReports{NodeId: id}
		s.reports[id] = r
	}
	cur := s.reportWindow()
	kept := r.Windows[:0]
	for _, t := range r.Windows {
		if t.Window+1 >= cur {
			kept = append(kept, t)
		}
	}
	r.Windows = kept
	if t := findTally(r, w); t != nil {
		return r, t
	}
	r.Windows = append(r.Windows, types.WindowTally{Window: w})
	sort.Slice(r.Windows, func(i, j int) bool { return r.Windows[i].Window < r.Windows[j].Window })
	return r, findTally(r, w)
}

func reachableText(up bool) string {
	if up {
		return "reachable"
	}
	return "unreachable"
}

// healthReport applies an observer's report.
func (s *State) healthReport(tx *api.Tx, m *types.HealthReport) ([]Event, string, error) {
	cur := s.reportWindow()
	if m.Window != cur && m.Window+1 != cur {
		return nil, "", s.windowClosed("health report", m.Window, cur)
	}
	key := addrHex(tx.Address)
	acc := s.accounts[key]
	// Equivocation first: a vote that contradicts the observer's earlier
	// vote in this window jails it, and nothing of the report counts.
	for _, o := range m.Observations {
		if v := findVote(findTally(s.reports[o.NodeId], m.Window), tx.Address); v != nil && v.Reachable != o.Reachable {
			reason := fmt.Sprintf("equivocation: conflicting health reports for node %s in window %d (%s, then %s)",
				o.NodeId, m.Window, reachableText(v.Reachable), reachableText(o.Reachable))
			return []Event{s.jail(acc, reason)}, fmt.Sprintf("account %s jailed: %s", key, reason), nil
		}
	}
	var events []Event
	counted, repeated, unknown := 0, 0, 0
	refusedIDs, refusedObs, firstRefused := 0, 0, ""
	for _, o := range m.Observations {
		n := s.nodes[o.NodeId]
		if n == nil {
			unknown++
			continue
		}
		r, t := s.openTally(n.Id, m.Window)
		if findVote(t, tx.Address) != nil {
			repeated++
			continue
		}
		vote := types.Vote{Observer: clone(tx.Address), Reachable: o.Reachable}
		if o.Reachable && len(o.FailingTaskIds) > 0 {
			var refused int
			vote.FailingTaskIds, refused = s.placedFailing(n.Id, o.FailingTaskIds)
			if refused > 0 {
				if refusedObs == 0 {
					firstRefused = n.Id
				}
				refusedIDs += refused
				refusedObs++
			}
		}
		i := sort.Search(len(t.Votes), func(i int) bool { return bytes.Compare(t.Votes[i].Observer, tx.Address) >= 0 })
		t.Votes = append(t.Votes, types.Vote{})
		copy(t.Votes[i+1:], t.Votes[i:])
		t.Votes[i] = vote
		counted++
		s.touch(prefixReports + n.Id)
		events = append(events, s.tallyChanged(n, r, t, vote.FailingTaskIds)...)
		if !decided(t) {
			s.undecided[n.Id] = struct{}{}
		}
	}
	log := fmt.Sprintf("health report for window %d: %d votes recorded", m.Window, counted)
	if repeated > 0 {
		log += fmt.Sprintf(", %d repeated (ignored)", repeated)
	}
	if unknown > 0 {
		log += fmt.Sprintf(", %d about unknown nodes (ignored)", unknown)
	}
	if refusedObs > 0 {
		before := acc.Reputation
		s.penalise(acc)
		log += fmt.Sprintf("; %d failing task ids in %d observations (first: node %s) name tasks not placed on the observed node: refused, reputation %d -> %d",
			refusedIDs, refusedObs, firstRefused, before, acc.Reputation)
	}
	if !s.activeObserver(acc) {
		log += fmt.Sprintf("; observer %s is below reputation_floor %d (reputation %d): its votes are scored but not counted", key, s.params.ReputationFloor, acc.Reputation)
	}
	return events, log, nil
}

// placedFailing returns the failing task ids a vote about node keeps: the
// ids of tasks placed on node, sorted, without duplicates, at most
// api.MaxStoredFailingTasksPerVote (the first in id order); and the number
// of ids refused because they name no task placed on node. It costs
// O(len(ids) log len(ids)), whatever the state holds.
func (s *State) placedFailing(node string, ids []string) (kept []string, refused int) {
	placed := s.tasksByNode[node]
	for _, id := range sortedUnique(ids) {
		if _, ok := placed[id]; !ok {
			refused++
			continue
		}
		if len(kept) < api.MaxStoredFailingTasksPerVote {
			kept = append(kept, id)
		}
	}
	return kept, refused
}

// penalise takes reputation_penalty from an observer whose report was
// (partly) refused, as a vote contradicted by a decided outcome does.
func (s *State) penalise(acc *types.Account) {
	if acc == nil || acc.Jailed {
		return
	}
	was := s.activeObserver(acc)
	acc.Disagreements++
	acc.Reputation = max(acc.Reputation-s.params.ReputationPenalty, s.params.ReputationFloor-s.params.ReputationMax)
	if s.activeObserver(acc) != was {
		s.activeObsSet = false
	}
	s.touchAccount(acc)
}

func sortedUnique(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	j := 0
	for i, x := range out {
		if i == 0 || x != out[j-1] {
			out[j] = x
			j++
		}
	}
	return out[:j]
}

// count returns the votes of active observers in t: reachable, unreachable.
func (s *State) count(t *types.WindowTally) (up, down int) {
	for i := range t.Votes {
		if info, ok := s.observer(t.Votes[i].Observer); ok && info.active {
			if t.Votes[i].Reachable {
				up++
			} else {
				down++
			}
		}
	}
	return up, down
}

// decided reports whether t's outcome is final.
func decided(t *types.WindowTally) bool {
	return t.Outcome == types.VERDICT_REACHABLE || t.Outcome == types.VERDICT_UNREACHABLE
}

// outcomeOf is the outcome up reachable and down unreachable votes of
// active observers call for, or was if they call for none.
func (s *State) outcomeOf(up, down int, was types.Verdict) types.Verdict {
	active := s.activeObservers()
	switch {
	case s.quorum(down, active):
		return types.VERDICT_UNREACHABLE
	case s.quorum(up, active):
		return types.VERDICT_REACHABLE
	case s.minority(up, active) && s.minority(down, active):
		return types.VERDICT_PARTITIONED
	}
	return was
}

// closeWindows decides, once a report window has closed (no report can
// name it any more), each of its tallies still undecided, counting the
// standing fresh attestations (attest.go) of the active observers that
// did not vote in it as reachable votes: with attested liveness, honest
// observers report only what attestations do not say, so a lone
// observer's unreachable vote about a node the others attest is decided
// reachable at the close, and scored as a contradicted vote. Attestations
// count only at the close: while a window is open, an observer that has
// not probed since a crash still attests, and counting it would decide
// the window before the others' unreachable votes arrive. It runs in
// BeginBlock, before any report of the block can drop a closed window,
// and costs O(nodes with undecided tallies).
func (s *State) closeWindows() []Event {
	if len(s.undecided) == 0 {
		return nil
	}
	cur := s.reportWindow()
	var events []Event
	for _, id := range sortedKeys(s.undecided) {
		n, r := s.nodes[id], s.reports[id]
		if n == nil || r == nil {
			delete(s.undecided, id)
			continue
		}
		open := false
		for i := range r.Windows {
			t := &r.Windows[i]
			if decided(t) {
				continue
			}
			if t.Window+1 >= cur {
				open = true
				continue
			}
			up, down := s.count(t)
			if s.params.AttestedLiveness {
				for _, addr := range n.AttestedBy {
					if info, ok := s.observer(addr); ok && info.active && s.attestFresh(info.acc) && findVote(t, addr) == nil {
						up++
					}
				}
			}
			outcome := s.outcomeOf(up, down, t.Outcome)
			if outcome == t.Outcome {
				continue
			}
			t.Outcome = outcome
			s.touch(prefixReports + id)
			events = append(events, s.applyVerdict(n, t.Window, outcome)...)
			if decided(t) {
				s.scoreVotes(t)
			}
		}
		if !open {
			delete(s.undecided, id)
		}
	}
	return events
}

// tallyChanged decides window t of node n after a new vote, which names
// the failing tasks named: the outcome (and the node's verdict), the
// scoring, and strikes.
func (s *State) tallyChanged(n *types.Node, r *types.NodeReports, t *types.WindowTally, named []string) []Event {
	var events []Event
	if !decided(t) {
		up, down := s.count(t)
		outcome := s.outcomeOf(up, down, t.Outcome)
		if outcome != t.Outcome {
			t.Outcome = outcome
			events = append(events, s.applyVerdict(n, t.Window, outcome)...)
		}
	}
	if decided(t) {
		s.scoreVotes(t)
	}
	if !t.Struck && len(named) > 0 {
		events = append(events, s.checkStrike(n, t, named)...)
	}
	return events
}

// applyVerdict records a window's outcome as n's verdict, unless a later
// window already decided, and re-evaluates n.
func (s *State) applyVerdict(n *types.Node, w uint64, v types.Verdict) []Event {
	if n.Verdict != types.VERDICT_NONE && w < n.VerdictWindow {
		return nil
	}
	n.Verdict, n.VerdictWindow = v, w
	s.touchNode(n)
	return s.evaluate(n, triggerVerdict)
}

// scoreVotes compares every unscored vote of a decided window with the
// outcome and adjusts the observers' reputations. Votes of jailed accounts
// and of accounts that lost the observer role are marked without effect;
// observers below the floor are scored (that is how they come back).
func (s *State) scoreVotes(t *types.WindowTally) {
	want := t.Outcome == types.VERDICT_REACHABLE
	for i := range t.Votes {
		v := &t.Votes[i]
		if v.Scored {
			continue
		}
		v.Scored = true
		info, ok := s.observer(v.Observer)
		if !ok || info.acc.Jailed {
			continue
		}
		acc := info.acc
		if v.Reachable == want {
			acc.Agreements++
			if t.Window+1 > acc.CreditWindow {
				acc.CreditWindow = t.Window + 1
				acc.Reputation = min(acc.Reputation+1, s.params.ReputationMax)
			}
		} else {
			acc.Disagreements++
			acc.Reputation = max(acc.Reputation-s.params.ReputationPenalty, s.params.ReputationFloor-s.params.ReputationMax)
		}
		if s.activeObserver(acc) != info.active {
			s.activeObsSet = false
		}
		s.touch(info.key)
	}
}

// checkStrike gives n a strike when a quorum of active observers, reaching
// it, report a task failing that n's latest heartbeat claims Running (at
// most one strike per window); quarantine_strikes strikes quarantine it.
// It runs when a vote names failing tasks (named: that vote's, sorted, at
// most api.MaxStoredFailingTasksPerVote, all placed on n), and counts the
// votes naming each of those tasks only: O(len(named) × votes × log
// api.MaxStoredFailingTasksPerVote), whatever the other votes name. A
// strike can only appear when a vote naming its task arrives (a quorum
// needs that vote), so checking the named tasks alone finds it.
func (s *State) checkStrike(n *types.Node, t *types.WindowTally, named []string) []Event {
	active := s.activeObservers()
	for _, id := range named {
		task := s.tasks[id]
		if task == nil || task.Node != n.Id || task.State != types.TASK_RUNNING {
			continue
		}
		count := 0
		for i := range t.Votes {
			v := &t.Votes[i]
			if !v.Reachable || len(v.FailingTaskIds) == 0 {
				continue
			}
			k := sort.SearchStrings(v.FailingTaskIds, id)
			if k == len(v.FailingTaskIds) || v.FailingTaskIds[k] != id {
				continue
			}
			if info, ok := s.observer(v.Observer); ok && info.active {
				count++
			}
		}
		if !s.quorum(count, active) {
			continue
		}
		t.Struck = true
		n.Strikes++
		s.touchNode(n)
		events := []Event{event(api.EventNodeStrike, "node", n.Id, "task", id, "window", u64(t.Window), "strikes", u64(uint64(n.Strikes)))}
		if n.Strikes >= s.params.QuarantineStrikes && n.State != types.NODE_QUARANTINED {
			reason := fmt.Sprintf("self-report contradicted by an observer quorum %d times (last: task %s Running, reported failing in window %d)", n.Strikes, id, t.Window)
			events = append(events, s.moveNode(n, types.NODE_QUARANTINED, reason)...)
		}
		return events
	}
	return nil
}
