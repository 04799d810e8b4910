package api

// Every bound the state machine enforces: part of the wire contract, since
// clients check them before they sign (DecodeTx). A transaction that would cross one
// is rejected with ErrLimitExceeded (or ErrInvalidMessage / ErrTxTooLarge
// where the bound is a property of the message alone). Changing a value is a
// consensus change: all validators must run the same limits.
const (
	// MaxTxBytes bounds an encoded Tx (body, key and signature).
	MaxTxBytes = 128 << 10
	// MaxMemoBytes bounds TxBody.memo.
	MaxMemoBytes = 256
	// MaxChainIDLen bounds the chain id (CometBFT allows 50).
	MaxChainIDLen = 50

	// MaxNodeIDLen bounds a node id ([a-z0-9][a-z0-9.-]{0,62}).
	MaxNodeIDLen = 63
	// MaxWorkloadNameLen bounds a workload name (same alphabet as node ids).
	MaxWorkloadNameLen = 63
	// MaxZoneLen bounds a node's zone.
	MaxZoneLen = 63
	// MaxEndpointLen bounds a node's host:port endpoint.
	MaxEndpointLen = 255
	// MaxLabelsPerNode bounds RegisterNode.labels.
	MaxLabelsPerNode = 32
	// MaxLabelKeyLen and MaxLabelValueLen bound one label (and a constraint).
	MaxLabelKeyLen   = 63
	MaxLabelValueLen = 128
	// MaxReasonLen bounds the free-text reason of cordon/drain.
	MaxReasonLen = 256
	// MaxTaskReasonLen bounds a task's reason and a workload's
	// unschedulable explanation (truncated to it). The longest
	// explanation, every reason with a 5-digit count, is about 320 bytes.
	MaxTaskReasonLen = 512

	// MaxCPUMillis and MaxMemoryMB bound one resource amount (node capacity,
	// task request, reported usage); sums over MaxTasksTotal stay far below
	// the int64 range.
	MaxCPUMillis = 1 << 32
	MaxMemoryMB  = 1 << 32

	// MaxTasksPerHeartbeat bounds Heartbeat.tasks.
	MaxTasksPerHeartbeat = 512
	// MaxCheckpointBytes bounds one task checkpoint.
	MaxCheckpointBytes = 4 << 10
	// MaxObservationsPerReport bounds HealthReport.observations.
	MaxObservationsPerReport = 2048
	// MaxAttestChanges bounds len(Attest.up) + len(Attest.withdraw): an
	// observer whose view changed more sends several Attest transactions.
	// The largest Attest (this many ids of MaxNodeIDLen) fits
	// MaxAttestTxBytes (TestLargestAttestFits).
	MaxAttestChanges = 1024
	// MaxFailingTasksPerObservation bounds Observation.failing_task_ids.
	MaxFailingTasksPerObservation = 64

	// MaxReplicasPerWorkload bounds WorkloadSpec.replicas (and the
	// max_per_node, max_per_domain, max_unavailable and max_skew bounds).
	MaxReplicasPerWorkload = 1000
	// MaxTaskIndex bounds a task's index: a system workload has one task
	// per eligible node, so its indexes go up to MaxNodes.
	MaxTaskIndex = MaxNodes
	// MaxDrainDeadlineMs bounds DrainNode.deadline_ms: a week.
	MaxDrainDeadlineMs = 7 * 24 * 3_600_000
	// MaxCommandLen bounds WorkloadSpec.command.
	MaxCommandLen = 1024
	// MaxArgs and MaxArgLen bound WorkloadSpec.args.
	MaxArgs   = 64
	MaxArgLen = 1024
	// MaxEnvVars, MaxEnvNameLen and MaxEnvValueLen bound WorkloadSpec.env.
	MaxEnvVars     = 64
	MaxEnvNameLen  = 128
	MaxEnvValueLen = 1024
	// MaxConstraints bounds WorkloadSpec.constraints.
	MaxConstraints = 16
	// MaxRestarts bounds RestartPolicy.max_restarts.
	MaxRestarts = 1_000_000
	// MaxBackoffMs bounds every backoff duration (24 h).
	MaxBackoffMs = 24 * 60 * 60 * 1000

	// MaxWorkloads, MaxNodes, MaxTasksTotal, MaxAccounts and MaxValidators
	// bound the state as a whole. MaxAccounts holds every node's account
	// besides the observers' and operators' (MaxNodes + 100,000). The state
	// machine's cost at MaxNodes and MaxTasksTotal (per block, restart,
	// memory) is measured by BenchmarkScale (docs/benchmarks.md).
	MaxWorkloads  = 10_000
	MaxNodes      = 100_000
	MaxTasksTotal = 1_000_000
	MaxAccounts   = 200_000
	MaxValidators = 300

	// MaxObservers bounds the accounts holding the observer role: a report
	// tally holds at most one vote per observer per node and window, and a
	// quorum decision counts them.
	MaxObservers = 1000
	// MaxReputation bounds reputation_max, reputation_penalty and
	// -reputation_floor.
	MaxReputation = 1_000_000
	// DefaultQueryLimit is a list query's page size when it names none;
	// MaxQueryLimit bounds limit= (a page of 1,000 tasks is about 0.5 MB
	// of JSON).
	DefaultQueryLimit = 100
	MaxQueryLimit     = 1000

	// MaxValidatorPower bounds one validator's power (CometBFT caps the
	// total at MaxInt64/8).
	MaxValidatorPower = 1 << 40

	// Parameter bounds (ValidateParams).
	MaxParamDurationMs = 24 * 60 * 60 * 1000
	MaxPhiWindow       = 1000
	// MaxPlacementsPerBlockLimit bounds max_placements_per_block: each
	// placement scans the nodes, about 0.25 ms at 10,000 nodes, so 1,000
	// placements (and up to 4,000 scans) keep one block's placement work
	// near a second at 10,000 nodes; at MaxNodes a scan costs ten times
	// more, and the default (100) is what keeps a block near a second
	// (docs/scheduling.md, docs/benchmarks.md).
	MaxPlacementsPerBlockLimit = 1000
	// MaxEvictionsPerBlockLimit bounds max_evictions_per_block: an
	// eviction costs no node scan (its placement does, under
	// max_placements_per_block), so the bound is on the events and records
	// one block writes.
	MaxEvictionsPerBlockLimit = 10_000
	// MaxNodeEvictionRateMilli bounds node_eviction_rate_milli and
	// secondary_node_eviction_rate_milli (thousandths of a node per second):
	// 1,000 nodes per second refills a zone's bucket (one node) in 1 ms,
	// within any block; a zone admits at most one failed node per block at
	// any rate (ADR 0012).
	MaxNodeEvictionRateMilli = 1_000_000
	// MaxUnhealthyZoneThresholdMilli is unhealthy_zone_threshold_milli's
	// upper bound: 1000 (all of the zone's nodes).
	MaxUnhealthyZoneThresholdMilli = 1000
	// MinClockStepMs bounds max_clock_step_ms from below: a smaller step
	// would slow the failure detector's clock below block time on a healthy
	// chain (blocks come about every second).
	MinClockStepMs = 1000
	// MinPhiThresholdMilli and MaxPhiThresholdMilli bound phi_threshold_milli
	// (phi 1.0 to 100.0); the failure detector's integer series is exact
	// within them (app/health).
	MinPhiThresholdMilli = 1_000
	MaxPhiThresholdMilli = 100_000

	// Bounded reports (issue 10, item 5; docs/failure-detection.md). A
	// vote about node N may name only tasks placed on N when the report
	// is applied; the others are refused (dropped, and the observer loses
	// reputation_penalty once per report). Of the rest, a stored vote keeps
	// the first MaxStoredFailingTasksPerVote in id order: one task with a
	// quorum is enough for a strike, and there is at most one per window.
	MaxStoredFailingTasksPerVote = 4
	// MaxTaskIDLen bounds a task id, "{workload}/{index}": a workload name
	// and an index below MaxReplicasPerWorkload (3 digits).
	MaxTaskIDLen = MaxWorkloadNameLen + 1 + 3
	// MaxReportRecordBytes bounds a node's stored report record
	// (reports/{node id}, types.NodeReports; checked at the end of every
	// block). Worst case: 2 open windows × MaxObservers votes, each vote
	// 22 (a 20-byte observer) + 2 (reachable) + 2 (scored) + 4 × 69 (ids of
	// MaxTaskIDLen) = 302 bytes, 305 as an element of the tally; a tally
	// 1000 × 305 + 15 (window, outcome, struck) = 305,015, 305,019 as an
	// element of the record; the record 2 × 305,019 + 65 (node id) =
	// 610,103 bytes (TestReportRecordWorstCase builds it), within 640 KiB.
	MaxReportRecordBytes = 640 << 10

	// Admission (ADR 0014).

	// MaxSelfRegistrationsPerBlockLimit bounds
	// max_self_registrations_per_block: each self-registration creates a
	// node and an account that stay, so the bound is on how fast keys that
	// nobody vouched for can fill MaxNodes and MaxAccounts (at 1,000 per
	// block, a 1 s chain would fill MaxNodes in 100 s; the default, 10, in
	// about 3 hours, while an operator can close registration).
	MaxSelfRegistrationsPerBlockLimit = 1000

	// ---- Issue 10 (items 3, 4, 6): size limits per message type, mempool
	// budgets per signer, block composition. See ADR 0015. ----

	// Size limits per message type, on the encoded Tx (body, key and
	// signature), checked by DecodeTx (ErrMsgTooLarge) after MaxTxBytes.
	// Only what needs to be large may be: a workload spec (args, env,
	// constraints), equivocation evidence (two whole transactions), a
	// heartbeat (up to MaxTasksPerHeartbeat task reports and the agent's
	// 64 KiB of checkpoints) take MaxTxBytes; a health report is bounded
	// below it (2,048 observations of 24-byte node ids are about 70 KiB);
	// a node registration at most MaxLabelsPerNode labels (about 7 KiB);
	// every command that names one object is small.
	MaxHeartbeatTxBytes          = MaxTxBytes
	MaxHealthReportTxBytes       = 96 << 10
	MaxAttestTxBytes             = 96 << 10
	MaxReportEquivocationTxBytes = MaxTxBytes
	MaxWorkloadTxBytes           = MaxTxBytes // CreateWorkload, UpdateWorkload
	MaxRegisterNodeTxBytes       = 8 << 10
	MaxUpdateParamsTxBytes       = 4 << 10
	// MaxSmallMsgTxBytes bounds the one-object commands (DeleteWorkload,
	// CordonNode, UncordonNode, DrainNode, GrantRole, RevokeRole,
	// SetValidatorPower) and any message type MaxTxBytesFor does not list:
	// a new type that needs more gets its own entry.
	MaxSmallMsgTxBytes = 1 << 10

	// DefaultSignerPendingTxs and DefaultSignerPendingBytes are a signer's
	// default mempool budget on one validator: its transactions admitted
	// by CheckTx and not yet committed (ErrSignerBudget beyond). A
	// validator may change them in app.toml (signer_pending_txs,
	// signer_pending_bytes); they decide no block.
	DefaultSignerPendingTxs   = 256
	DefaultSignerPendingBytes = 1 << 20
	// DefaultNonHealthPendingTxs and DefaultNonHealthPendingBytes bound the
	// transactions other than health ones (IsHealthMsg) that one
	// validator's mempool holds, from all signers together
	// (ErrNonHealthShare beyond): half of the mempool's size and bytes
	// (node.DefaultCometConfig), so that many keys of one role cannot fill
	// it and heartbeats and reports always find room. app.toml
	// nonhealth_pending_txs, nonhealth_pending_bytes; they decide no block.
	DefaultNonHealthPendingTxs   = 10_000
	DefaultNonHealthPendingBytes = 32 << 20

	// Block composition (consensus rules: ProcessProposal rejects a block
	// that breaks them). Health transactions (IsHealthMsg: Heartbeat,
	// HealthReport, ReportEquivocation) come first; the other
	// transactions take at most NonHealthBlockSharePercent of the
	// proposal's MaxTxBytes (PrepareProposal) and never more than
	// MaxNonHealthBlockBytes (PrepareProposal and ProcessProposal:
	// ProcessProposal is not told MaxTxBytes), half of CometBFT's default
	// block max_bytes (4 MiB, the genesis node.WriteGenesis writes).
	NonHealthBlockSharePercent = 50
	MaxNonHealthBlockBytes     = 2 << 20
)
