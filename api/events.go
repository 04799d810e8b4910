package api

// Event types and the reasons the state machine writes into events and
// records (DESIGN §8, plus task_stop).
const (
	EventNodeStatus  = "node_status"  // node, from, to, reason
	EventTaskPlaced  = "task_placed"  // task, node, generation
	EventTaskEvicted = "task_evicted" // task, node, reason
	EventTaskStop    = "task_stop"    // task, node, generation: the agent must stop it
	// EventTaskPreempted: a lower-priority task evicted to make room for a
	// higher-priority one (task, node, priority, by, by_priority).
	EventTaskPreempted = "task_preempted"
	EventTaskFailed    = "task_failed"    // task, node, generation, exit_code, then (restart|move), at: when
	EventAccountJailed = "account_jailed" // addr, reason
	EventNodeStrike    = "node_strike"    // node, task, window, strikes
	EventWorkload      = "workload"       // name, action

	ReasonRegistered      = "registered"
	ReasonHeartbeat       = "heartbeat"
	ReasonDrain           = "drain"
	ReasonScaledDown      = "scaled_down"
	ReasonRollingUpdate   = "rolling_update"
	ReasonMaxRestarts     = "max_restarts"
	ReasonWorkloadDeleted = "workload_deleted"
	ReasonUncordoned      = "uncordoned"
	// ReasonPreempted: a task evicted to make room for a higher-priority
	// one (issue 14 §3).
	ReasonPreempted = "preempted"
	// ReasonNodeIneligible: a system workload's task removed because its
	// node is cordoned, draining or no longer matches the constraints.
	ReasonNodeIneligible = "node_ineligible"
	// ReasonRestored: a task evicted from a lost node went back to it
	// when it came back (disconnect.reconcile keep_original).
	ReasonRestored = "restored"

	ActionCreated = "created"
	ActionUpdated = "updated"
	ActionDeleted = "deleted"
	// ActionRolledOut: no task of the workload runs an older template.
	ActionRolledOut = "rolled_out"
	// ActionUnschedulable: the workload's pending tasks fit on no node
	// (attributes reason: the explanation, pending: how many wait).
	ActionUnschedulable = "unschedulable"
	// ActionCompleted: every task of a batch workload completed.
	ActionCompleted = "completed"
	// ActionFailed: a task of a batch workload failed with its restarts
	// used up (attribute reason); the workload's other tasks are stopped.
	ActionFailed = "failed"
	// ReasonBatchFailed: a task evicted because its batch workload failed.
	ReasonBatchFailed = "batch_failed"
)

// Batch workload outcomes (Workload.status; "" while it runs).
const (
	BatchRunning  = "Running"
	BatchComplete = "Complete"
	BatchFailed   = "Failed"
)

// Eviction pacing (ADR 0012): zone states, as Kubernetes names them, and
// its events.
const (
	ZoneNormal            = "Normal"
	ZonePartialDisruption = "PartialDisruption"
	ZoneFullDisruption    = "FullDisruption"

	// EventZoneStatus: a zone's state changed (zone, from, to, not_ready,
	// nodes).
	EventZoneStatus = "zone_status"
	// EventEvictionDeferred: a node's tasks are held back, or held back by
	// another rule than before (node, zone, tasks: active tasks left,
	// reason).
	EventEvictionDeferred = "eviction_deferred"
)

// Node and observer lifecycle (RemoveNode, UnjailObserver).
const (
	// EventNodeRemoved: a node was removed by an operator (node, zone,
	// state: the state it had, evicted: active tasks evicted with it,
	// reason).
	EventNodeRemoved = "node_removed"
	// EventAccountUnjailed: an admin restored a jailed observer (addr,
	// reason: the jail reason cleared, reputation: where it starts
	// over).
	EventAccountUnjailed = "account_unjailed"

	// ReasonNodeRemoved: the reason of the task_evicted events of a
	// forced RemoveNode, and of a Completed task that lost its node.
	ReasonNodeRemoved = "node_removed"
)
