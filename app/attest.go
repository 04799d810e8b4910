package app

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// Attested liveness (ADR 0018): the chain carries a node's changes, not
// its beats.
//
// An observer's Attest changes its standing attestations: the nodes it
// holds alive (its probes reach them). A standing attestation lasts until
// the observer withdraws it, so an observer whose view did not change
// sends an empty Attest once per report window, which keeps all of its
// attestations fresh: an observer's attestations count while it attested
// in the current report window or the previous one.
//
// A node is attested when more than observer_quorum of the active
// observers (the same n as for reports) hold it alive with fresh
// attestations. An attested node is alive without heartbeat transactions:
// its heartbeat deadlines are set aside (heartbeatStatus is alive). When
// the quorum is lost (an observer withdraws, goes stale, is jailed or
// leaves), the node's detector clock restarts at that block, as if its
// last heartbeat had arrived then: Suspect follows after the phi deadline
// or suspect_after, Down after down_after, unless heartbeats or a new
// quorum come first. Fewer than a quorum can never hold a node alive, and
// a missing attestation only withdraws its observer's vote.
//
// Down still comes from a quorum of HealthReports naming the node
// unreachable (reports.go), or from down_after without heartbeats or
// attestation.
//
// Cost: an Attest costs O(its changes × log observers); the end-of-block
// pass re-counts the nodes an Attest touched, and all attested nodes
// only when the set of fresh active observers (or the quorum's size)
// changed since the previous block: an idle cluster whose observers
// attest every window costs O(observers) per block, whatever its size.

// attest applies an observer's Attest.
func (s *State) attest(tx *api.Tx, m *types.Attest) ([]Event, string, error) {
	if !s.params.AttestedLiveness {
		return nil, "", api.Errorf(api.ErrInvalidMessage, "attest: params.attested_liveness is off, so nodes are judged by their heartbeats alone; an admin turns it on with tx params update --attested-liveness")
	}
	cur := s.reportWindow()
	if m.Window != cur && m.Window+1 != cur {
		return nil, "", s.windowClosed("attest", m.Window, cur)
	}
	key := addrHex(tx.Address)
	acc := s.accounts[key]
	if !acc.Attesting || m.Window > acc.AttestWindow {
		acc.Attesting, acc.AttestWindow = true, m.Window
		s.touchAccount(acc)
	}
	up, withdrawn, unchanged, unknown := 0, 0, 0, 0
	for _, id := range m.Up {
		n := s.nodes[id]
		if n == nil {
			unknown++
			continue
		}
		i, found := slices.BinarySearchFunc(n.AttestedBy, tx.Address, bytes.Compare)
		if found {
			unchanged++
			continue
		}
		n.AttestedBy = slices.Insert(n.AttestedBy, i, clone(tx.Address))
		s.attestTouched(n)
		up++
	}
	for _, id := range m.Withdraw {
		n := s.nodes[id]
		if n == nil {
			unknown++
			continue
		}
		i, found := slices.BinarySearchFunc(n.AttestedBy, tx.Address, bytes.Compare)
		if !found {
			unchanged++
			continue
		}
		n.AttestedBy = slices.Delete(n.AttestedBy, i, i+1)
		s.attestTouched(n)
		withdrawn++
	}
	log := fmt.Sprintf("attest for window %d: %d up, %d withdrawn", m.Window, up, withdrawn)
	if unchanged > 0 {
		log += fmt.Sprintf(", %d already so (ignored)", unchanged)
	}
	if unknown > 0 {
		log += fmt.Sprintf(", %d about unknown nodes (ignored)", unknown)
	}
	if !s.activeObserver(acc) {
		log += fmt.Sprintf("; observer %s is not active (jailed or below reputation_floor %d): its attestations do not count", key, s.params.ReputationFloor)
	}
	return nil, log, nil
}

// windowClosed is the refusal of a message for a report window that is
// neither the current one nor the previous one.
func (s *State) windowClosed(what string, w, cur uint64) error {
	open := fmt.Sprintf("the open windows are %d and %d", cur-1, cur)
	if cur == 0 {
		open = "the open window is 0"
	}
	return api.Errorf(api.ErrWindowClosed, "%s for window %d; %s (block time %d ms / report_window_ms %d)",
		what, w, open, s.blockTimeMs, s.params.ReportWindowMs)
}

func (s *State) attestTouched(n *types.Node) {
	s.attestDirty[n.Id] = struct{}{}
	s.touchNode(n)
}

// attestFresh reports whether acc's attestations count in the current
// window.
func (s *State) attestFresh(acc *types.Account) bool {
	return acc.Attesting && acc.AttestWindow+1 >= s.reportWindow()
}

// attestCount is the number of active observers whose fresh attestation
// holds n alive.
func (s *State) attestCount(n *types.Node) int {
	count := 0
	for _, addr := range n.AttestedBy {
		if info, ok := s.observer(addr); ok && info.active && s.attestFresh(info.acc) {
			count++
		}
	}
	return count
}

// isAttested reports whether more than observer_quorum of the active
// observers hold n alive with fresh attestations.
func (s *State) isAttested(n *types.Node) bool {
	return s.params.AttestedLiveness && len(n.AttestedBy) > 0 && s.quorum(s.attestCount(n), s.activeObservers())
}

// attesters describes what every node's attestation count depends on
// besides its own record: the quorum's terms and the fresh active
// observers, in address order.
func (s *State) attesters() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%t %d/%d of %d:", s.params.AttestedLiveness, s.params.ObserverQuorumNum, s.params.ObserverQuorumDen, s.activeObservers())
	for _, key := range s.observerIDs {
		if info := s.obsCache[string(s.accounts[key].Address)]; info.active && s.attestFresh(info.acc) {
			b.WriteString(key)
			b.WriteByte(',')
		}
	}
	return b.String()
}

// attestPass is the first step of the end-of-block pass: every node whose
// attestation may have changed is re-counted, in id order, and moved if
// its attested flag changes. Those are the nodes an Attest touched this
// block, or every node with attestations when the fresh active observers
// or the quorum's size changed (an observer went stale, came back, was
// jailed or left; parameters changed).
func (s *State) attestPass() []Event {
	key := s.attesters()
	var ids []string
	if key != s.attestKey {
		s.attestKey = key
		for _, id := range s.nodeIDs {
			if n := s.nodes[id]; n.Attested || len(n.AttestedBy) > 0 {
				ids = append(ids, id)
			}
		}
	} else {
		ids = sortedKeys(s.attestDirty)
	}
	clear(s.attestDirty)
	var events []Event
	for _, id := range ids {
		if n := s.nodes[id]; n != nil {
			events = append(events, s.setAttested(n, s.isAttested(n))...)
		}
	}
	return events
}

// setAttested records whether n is attested. A node that loses its
// quorum starts its heartbeat deadlines at this block: the quorum vouched
// for it until now.
func (s *State) setAttested(n *types.Node, attested bool) []Event {
	if n.Attested == attested {
		return nil
	}
	n.Attested = attested
	if !attested {
		n.LastHeartbeatClockMs = s.clockMs
		s.setDeadlines(n)
		// The node learns that it must heartbeat again only when it next
		// reads its record, and its intervals are from before it was
		// attested: it gets suspect_after, not phi's threshold over them.
		if at := s.clockMs + s.params.SuspectAfterMs; n.SuspectAtMs < at && at <= n.DownAtMs {
			n.SuspectAtMs, n.SuspectByPhi = at, false
			s.queueDeadline(n)
		}
	}
	s.touchNode(n)
	return s.evaluate(n, triggerAttest)
}

// dropAttestations removes addr's attestations from every node (its
// account lost the observer role): O(nodes), once per revocation.
func (s *State) dropAttestations(addr []byte) {
	for _, id := range s.nodeIDs {
		n := s.nodes[id]
		if i, found := slices.BinarySearchFunc(n.AttestedBy, addr, bytes.Compare); found {
			n.AttestedBy = slices.Delete(n.AttestedBy, i, i+1)
			s.attestTouched(n)
		}
	}
}

// attestWindowsRenumbered keeps attesting observers fresh when
// report_window_ms changes, so window numbers mean other times: each one's
// attestation window becomes the current window's new number.
func (s *State) attestWindowsRenumbered() {
	cur := s.reportWindow()
	for _, key := range s.observerIDs {
		if acc := s.accounts[key]; acc.Attesting && acc.AttestWindow != cur {
			acc.AttestWindow = cur
			s.touchAccount(acc)
		}
	}
}

// verifyAttestations checks the attestation records: sorted, unique
// observer addresses, and, between blocks, every node's flag equal to its
// count (inside a block, Attests wait for the end-of-block pass).
func (s *State) verifyAttestations() error {
	for _, id := range s.nodeIDs {
		n := s.nodes[id]
		if err := checkAttestedBy(n); err != nil {
			return err
		}
		if want := s.isAttested(n); !s.inBlock && n.Attested != want {
			return fmt.Errorf("node %s: attested is %t; %d of %d active observers attest it fresh, which makes it %t",
				id, n.Attested, s.attestCount(n), s.activeObservers(), want)
		}
	}
	return nil
}

func checkAttestedBy(n *types.Node) error {
	for i := 1; i < len(n.AttestedBy); i++ {
		if bytes.Compare(n.AttestedBy[i-1], n.AttestedBy[i]) >= 0 {
			return fmt.Errorf("node %s: attested_by not sorted and unique", n.Id)
		}
	}
	return nil
}
