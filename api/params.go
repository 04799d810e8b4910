package api

import (
	"github.com/phalanx-bft/phalanx/types"
)

// DefaultParams are the parameters of a chain whose genesis names none.
// The failure detection defaults suit a control plane with ~1 s blocks and
// up to a few hundred nodes (docs/failure-detection.md gives the reasons
// and the comparison with Kubernetes and Akka):
//
//   - heartbeat every 2 s; phi accrual as Akka's (threshold 8.0, acceptable
//     pause 3 s) with a 500 ms minimum deviation, because block times
//     quantise arrivals to ~1 s: a steady node is Suspect after 7.6 s of
//     silence (the first block after), a jittery one at suspect_after 10 s
//     at the latest;
//   - Down after 15 s of silence: 7 heartbeats in a row lost;
//   - observers vote per 5 s window; > 2/3 of active observers decide.
//
// Eviction pacing (ADR 0012) takes Kubernetes' node lifecycle controller
// defaults: each zone lets one failed node's tasks go at once and then
// one node per 10 s (--node-eviction-rate 0.1), one per 100 s
// (--secondary-node-eviction-rate 0.01) in a zone of more than 50 nodes
// (--large-cluster-size-threshold) of which at least 55 % (and more than
// 2) are not Ready (--unhealthy-zone-threshold 0.55), none in such a zone
// of at most 50 nodes, and none while no zone has a Ready node; at most
// 100 task evictions per block, as many as placements.
//
// Admission (ADR 0014): under open_registration at most 10 nodes register
// themselves per block; an operator's registrations are not counted.
func DefaultParams() types.Params {
	return types.Params{
		HeartbeatIntervalMs:   2_000,
		SuspectAfterMs:        10_000,
		DownAfterMs:           15_000,
		PhiThresholdMilli:     8_000,
		PhiWindow:             100,
		PhiMinStdDevMs:        500,
		PhiAcceptablePauseMs:  3_000,
		ObserverQuorumNum:     2,
		ObserverQuorumDen:     3,
		ReportWindowMs:        5_000,
		PartitionPolicy:       PartitionKeep,
		MaxPlacementsPerBlock: 100,
		OpenRegistration:      false,
		BackoffBaseMs:         1_000,
		BackoffMaxMs:          60_000,
		QuarantineStrikes:     3,
		ReputationFloor:       -10,
		MaxClockStepMs:        5_000,
		ReputationMax:         10,
		ReputationPenalty:     2,

		MaxEvictionsPerBlock:           100,
		NodeEvictionRateMilli:          100,
		SecondaryNodeEvictionRateMilli: 10,
		UnhealthyZoneThresholdMilli:    550,
		LargeZoneSizeThreshold:         50,

		MaxSelfRegistrationsPerBlock: 10,

		AttestedLiveness: true,

		FenceTimeoutMs: 30_000,
	}
}

// Partition policies (Params.partition_policy).
const (
	PartitionKeep  = "keep"
	PartitionEvict = "evict"
)

// ValidateParams checks a parameter set as a whole. The error wraps
// ErrInvalidParams and names the first offending field.
func ValidateParams(p types.Params) error {
	bad := func(format string, args ...any) error {
		return Errorf(ErrInvalidParams, "invalid params: "+format, args...)
	}
	durs := []struct {
		name string
		v    int64
	}{
		{"heartbeat_interval_ms", p.HeartbeatIntervalMs},
		{"suspect_after_ms", p.SuspectAfterMs},
		{"down_after_ms", p.DownAfterMs},
		{"phi_min_std_dev_ms", p.PhiMinStdDevMs},
		{"report_window_ms", p.ReportWindowMs},
		{"backoff_base_ms", p.BackoffBaseMs},
		{"backoff_max_ms", p.BackoffMaxMs},
	}
	for _, d := range durs {
		if d.v <= 0 || d.v > MaxParamDurationMs {
			return bad("%s is %d; want 1..%d", d.name, d.v, MaxParamDurationMs)
		}
	}
	if p.MaxClockStepMs < MinClockStepMs || p.MaxClockStepMs > MaxParamDurationMs {
		return bad("max_clock_step_ms is %d; want %d..%d (well above the block interval)", p.MaxClockStepMs, MinClockStepMs, MaxParamDurationMs)
	}
	if p.PhiAcceptablePauseMs < 0 || p.PhiAcceptablePauseMs > MaxParamDurationMs {
		return bad("phi_acceptable_pause_ms is %d; want 0..%d", p.PhiAcceptablePauseMs, MaxParamDurationMs)
	}
	if p.SuspectAfterMs <= p.HeartbeatIntervalMs {
		return bad("suspect_after_ms %d must be above heartbeat_interval_ms %d", p.SuspectAfterMs, p.HeartbeatIntervalMs)
	}
	if p.DownAfterMs <= p.SuspectAfterMs {
		return bad("down_after_ms %d must be above suspect_after_ms %d", p.DownAfterMs, p.SuspectAfterMs)
	}
	if p.PhiThresholdMilli < MinPhiThresholdMilli || p.PhiThresholdMilli > MaxPhiThresholdMilli {
		return bad("phi_threshold_milli is %d; want %d..%d (phi 1.0 to 100.0)", p.PhiThresholdMilli, MinPhiThresholdMilli, MaxPhiThresholdMilli)
	}
	if p.PhiWindow == 0 || p.PhiWindow > MaxPhiWindow {
		return bad("phi_window is %d; want 1..%d", p.PhiWindow, MaxPhiWindow)
	}
	if p.ObserverQuorumDen == 0 || p.ObserverQuorumNum == 0 || p.ObserverQuorumNum >= p.ObserverQuorumDen {
		return bad("observer_quorum %d/%d must be a fraction strictly between 0 and 1", p.ObserverQuorumNum, p.ObserverQuorumDen)
	}
	if uint64(p.ObserverQuorumNum)*2 < uint64(p.ObserverQuorumDen) {
		return bad("observer_quorum %d/%d is below 1/2: two disjoint quorums could decide opposite outcomes", p.ObserverQuorumNum, p.ObserverQuorumDen)
	}
	if p.PartitionPolicy != PartitionKeep && p.PartitionPolicy != PartitionEvict {
		return bad("partition_policy is %q; want %q or %q", p.PartitionPolicy, PartitionKeep, PartitionEvict)
	}
	if p.MaxPlacementsPerBlock == 0 || p.MaxPlacementsPerBlock > MaxPlacementsPerBlockLimit {
		return bad("max_placements_per_block is %d; want 1..%d", p.MaxPlacementsPerBlock, MaxPlacementsPerBlockLimit)
	}
	if p.BackoffMaxMs < p.BackoffBaseMs {
		return bad("backoff_max_ms %d is below backoff_base_ms %d", p.BackoffMaxMs, p.BackoffBaseMs)
	}
	if p.QuarantineStrikes == 0 {
		return bad("quarantine_strikes is 0; want at least 1")
	}
	if p.ReputationFloor > 0 || p.ReputationFloor < -MaxReputation {
		return bad("reputation_floor is %d; want %d..0", p.ReputationFloor, -MaxReputation)
	}
	if p.ReputationMax < 1 || p.ReputationMax > MaxReputation {
		return bad("reputation_max is %d; want 1..%d", p.ReputationMax, MaxReputation)
	}
	if p.ReputationPenalty < 1 || p.ReputationPenalty > MaxReputation {
		return bad("reputation_penalty is %d; want 1..%d", p.ReputationPenalty, MaxReputation)
	}
	if p.MaxEvictionsPerBlock == 0 || p.MaxEvictionsPerBlock > MaxEvictionsPerBlockLimit {
		return bad("max_evictions_per_block is %d; want 1..%d", p.MaxEvictionsPerBlock, MaxEvictionsPerBlockLimit)
	}
	if p.NodeEvictionRateMilli == 0 || p.NodeEvictionRateMilli > MaxNodeEvictionRateMilli {
		return bad("node_eviction_rate_milli is %d; want 1..%d (thousandths of a node per second: 100 = one node every 10 s)",
			p.NodeEvictionRateMilli, MaxNodeEvictionRateMilli)
	}
	if p.SecondaryNodeEvictionRateMilli > p.NodeEvictionRateMilli {
		return bad("secondary_node_eviction_rate_milli %d is above node_eviction_rate_milli %d; want 0..%d (a zone in partial disruption evicts no faster than a healthy one)",
			p.SecondaryNodeEvictionRateMilli, p.NodeEvictionRateMilli, p.NodeEvictionRateMilli)
	}
	if p.UnhealthyZoneThresholdMilli == 0 || p.UnhealthyZoneThresholdMilli > MaxUnhealthyZoneThresholdMilli {
		return bad("unhealthy_zone_threshold_milli is %d; want 1..%d (thousandths of a zone's nodes: 550 = 55 %%)",
			p.UnhealthyZoneThresholdMilli, MaxUnhealthyZoneThresholdMilli)
	}
	if p.LargeZoneSizeThreshold > MaxNodes {
		return bad("large_zone_size_threshold is %d; want 0..%d nodes", p.LargeZoneSizeThreshold, MaxNodes)
	}
	if p.MaxSelfRegistrationsPerBlock == 0 || p.MaxSelfRegistrationsPerBlock > MaxSelfRegistrationsPerBlockLimit {
		return bad("max_self_registrations_per_block is %d; want 1..%d (nodes registering themselves under open_registration per block)",
			p.MaxSelfRegistrationsPerBlock, MaxSelfRegistrationsPerBlockLimit)
	}
	if p.FenceTimeoutMs < 0 || p.FenceTimeoutMs > MaxFenceTimeoutMs {
		return bad("fence_timeout_ms is %d; want 0 (no wait: start before stop) to %d ms", p.FenceTimeoutMs, MaxFenceTimeoutMs)
	}
	return nil
}

// MaxFenceTimeoutMs bounds Params.fence_timeout_ms: an hour.
const MaxFenceTimeoutMs = 3_600_000

// ParamsView is the JSON form of the parameters, in genesis app_state and
// in the /params query: the proto field names, every field present.
type ParamsView struct {
	HeartbeatIntervalMs   int64  `json:"heartbeat_interval_ms"`
	SuspectAfterMs        int64  `json:"suspect_after_ms"`
	DownAfterMs           int64  `json:"down_after_ms"`
	PhiThresholdMilli     uint32 `json:"phi_threshold_milli"`
	PhiWindow             uint32 `json:"phi_window"`
	PhiMinStdDevMs        int64  `json:"phi_min_std_dev_ms"`
	PhiAcceptablePauseMs  int64  `json:"phi_acceptable_pause_ms"`
	ObserverQuorumNum     uint32 `json:"observer_quorum_num"`
	ObserverQuorumDen     uint32 `json:"observer_quorum_den"`
	ReportWindowMs        int64  `json:"report_window_ms"`
	PartitionPolicy       string `json:"partition_policy"`
	MaxPlacementsPerBlock uint32 `json:"max_placements_per_block"`
	OpenRegistration      bool   `json:"open_registration"`
	BackoffBaseMs         int64  `json:"backoff_base_ms"`
	BackoffMaxMs          int64  `json:"backoff_max_ms"`
	QuarantineStrikes     uint32 `json:"quarantine_strikes"`
	ReputationFloor       int64  `json:"reputation_floor"`
	MaxClockStepMs        int64  `json:"max_clock_step_ms"`
	ReputationMax         int64  `json:"reputation_max"`
	ReputationPenalty     int64  `json:"reputation_penalty"`

	MaxEvictionsPerBlock           uint32 `json:"max_evictions_per_block"`
	NodeEvictionRateMilli          uint32 `json:"node_eviction_rate_milli"`
	SecondaryNodeEvictionRateMilli uint32 `json:"secondary_node_eviction_rate_milli"`
	UnhealthyZoneThresholdMilli    uint32 `json:"unhealthy_zone_threshold_milli"`
	LargeZoneSizeThreshold         uint32 `json:"large_zone_size_threshold"`

	MaxSelfRegistrationsPerBlock uint32 `json:"max_self_registrations_per_block"`

	AttestedLiveness bool `json:"attested_liveness"`

	FenceTimeoutMs int64 `json:"fence_timeout_ms"`
}

// NewParamsView converts parameters to their JSON form.
func NewParamsView(p types.Params) ParamsView {
	return ParamsView{
		HeartbeatIntervalMs:   p.HeartbeatIntervalMs,
		SuspectAfterMs:        p.SuspectAfterMs,
		DownAfterMs:           p.DownAfterMs,
		PhiThresholdMilli:     p.PhiThresholdMilli,
		PhiWindow:             p.PhiWindow,
		PhiMinStdDevMs:        p.PhiMinStdDevMs,
		PhiAcceptablePauseMs:  p.PhiAcceptablePauseMs,
		ObserverQuorumNum:     p.ObserverQuorumNum,
		ObserverQuorumDen:     p.ObserverQuorumDen,
		ReportWindowMs:        p.ReportWindowMs,
		PartitionPolicy:       p.PartitionPolicy,
		MaxPlacementsPerBlock: p.MaxPlacementsPerBlock,
		OpenRegistration:      p.OpenRegistration,
		BackoffBaseMs:         p.BackoffBaseMs,
		BackoffMaxMs:          p.BackoffMaxMs,
		QuarantineStrikes:     p.QuarantineStrikes,
		ReputationFloor:       p.ReputationFloor,
		MaxClockStepMs:        p.MaxClockStepMs,
		ReputationMax:         p.ReputationMax,
		ReputationPenalty:     p.ReputationPenalty,

		MaxEvictionsPerBlock:           p.MaxEvictionsPerBlock,
		NodeEvictionRateMilli:          p.NodeEvictionRateMilli,
		SecondaryNodeEvictionRateMilli: p.SecondaryNodeEvictionRateMilli,
		UnhealthyZoneThresholdMilli:    p.UnhealthyZoneThresholdMilli,
		LargeZoneSizeThreshold:         p.LargeZoneSizeThreshold,

		MaxSelfRegistrationsPerBlock: p.MaxSelfRegistrationsPerBlock,

		AttestedLiveness: p.AttestedLiveness,

		FenceTimeoutMs: p.FenceTimeoutMs,
	}
}

// Params converts the JSON form back.
func (v ParamsView) Params() types.Params {
	return types.Params{
		HeartbeatIntervalMs:   v.HeartbeatIntervalMs,
		SuspectAfterMs:        v.SuspectAfterMs,
		DownAfterMs:           v.DownAfterMs,
		PhiThresholdMilli:     v.PhiThresholdMilli,
		PhiWindow:             v.PhiWindow,
		PhiMinStdDevMs:        v.PhiMinStdDevMs,
		PhiAcceptablePauseMs:  v.PhiAcceptablePauseMs,
		ObserverQuorumNum:     v.ObserverQuorumNum,
		ObserverQuorumDen:     v.ObserverQuorumDen,
		ReportWindowMs:        v.ReportWindowMs,
		PartitionPolicy:       v.PartitionPolicy,
		MaxPlacementsPerBlock: v.MaxPlacementsPerBlock,
		OpenRegistration:      v.OpenRegistration,
		BackoffBaseMs:         v.BackoffBaseMs,
		BackoffMaxMs:          v.BackoffMaxMs,
		QuarantineStrikes:     v.QuarantineStrikes,
		ReputationFloor:       v.ReputationFloor,
		MaxClockStepMs:        v.MaxClockStepMs,
		ReputationMax:         v.ReputationMax,
		ReputationPenalty:     v.ReputationPenalty,

		MaxEvictionsPerBlock:           v.MaxEvictionsPerBlock,
		NodeEvictionRateMilli:          v.NodeEvictionRateMilli,
		SecondaryNodeEvictionRateMilli: v.SecondaryNodeEvictionRateMilli,
		UnhealthyZoneThresholdMilli:    v.UnhealthyZoneThresholdMilli,
		LargeZoneSizeThreshold:         v.LargeZoneSizeThreshold,

		MaxSelfRegistrationsPerBlock: v.MaxSelfRegistrationsPerBlock,

		AttestedLiveness: v.AttestedLiveness,

		FenceTimeoutMs: v.FenceTimeoutMs,
	}
}
