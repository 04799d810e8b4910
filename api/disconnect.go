package api

import "github.com/phalanx-bft/phalanx/types"

// A workload's disconnect policy (issue 14 §5, ADR 0023): what happens to
// its tasks when their node is lost (Down, Quarantined, or Partitioned),
// and when the node comes back.

// Reconcile policies (DisconnectView.reconcile; the state writes
// keep_replacement as "").
const (
	// KeepReplacement: the evicted task moves; when its node comes back,
	// the agent there stops the original (the default).
	KeepReplacement = "keep_replacement"
	// KeepOriginal: a task evicted from a lost node goes back to it when
	// the node is Ready again before the replacement is placed (while the
	// task waits out lost_after), at a new generation that the agent
	// there runs on with the original process (adopt_generation).
	KeepOriginal = "keep_original"
)

// Limits of a disconnect policy.
const (
	// MinLostAfterMs bounds lost_after_ms from below: the agent stops its
	// tasks after lost_after - 2 x its max clock drift, and must be able
	// to verify a block in between.
	MinLostAfterMs = 2_000
	// MaxLostAfterMs bounds it from above (a day).
	MaxLostAfterMs = 86_400_000
)

// DisconnectView is the JSON form of types.Disconnect. LostAfterMs 0 is
// params.fence_timeout_ms.
type DisconnectView struct {
	LostAfterMs int64  `json:"lost_after_ms"`
	Reconcile   string `json:"reconcile"`
}

func disconnectView(d types.Disconnect) DisconnectView {
	v := DisconnectView{LostAfterMs: d.LostAfterMs, Reconcile: KeepReplacement}
	if d.Reconcile != "" {
		v.Reconcile = d.Reconcile
	}
	return v
}

func (v DisconnectView) disconnect() types.Disconnect {
	d := types.Disconnect{LostAfterMs: v.LostAfterMs, Reconcile: v.Reconcile}
	if d.Reconcile == KeepReplacement {
		d.Reconcile = ""
	}
	return d
}

// HasDisconnect reports whether a spec sets a disconnect policy.
func HasDisconnect(s *types.WorkloadSpec) bool {
	return s.Disconnect.LostAfterMs != 0 || s.Disconnect.Reconcile != ""
}

// validateDisconnect checks a spec's disconnect policy.
func validateDisconnect(s *types.WorkloadSpec) error {
	d := s.Disconnect
	if d.LostAfterMs != 0 && (d.LostAfterMs < MinLostAfterMs || d.LostAfterMs > MaxLostAfterMs) {
		return invalid("workload %s: disconnect.lost_after_ms is %d; want 0 (params.fence_timeout_ms) or %d to %d", s.Name, d.LostAfterMs, MinLostAfterMs, MaxLostAfterMs)
	}
	switch d.Reconcile {
	case "", KeepOriginal:
	default:
		return invalid("workload %s: disconnect.reconcile %q; want %q (the default, written \"\" in a transaction) or %q", s.Name, d.Reconcile, KeepReplacement, KeepOriginal)
	}
	if !HasDisconnect(s) {
		return nil
	}
	switch {
	case s.ReplaceOrder == StartFirst:
		return invalid("workload %s: a disconnect policy applies to replace_order %s; a %s replacement is placed at once, without waiting for the original", s.Name, StopFirst, StartFirst)
	case s.Type == TypeSystem:
		return invalid("system workload %s: a disconnect policy does not apply: a system task belongs to its node and is never replaced elsewhere", s.Name)
	}
	return nil
}
