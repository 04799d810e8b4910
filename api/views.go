package api

import (
	"strings"

	"github.com/phalanx-bft/phalanx/types"
)

// Query answers. Every answer is a JSON object with snake_case fields;
// states are the capitalised names of DESIGN §5 and roles lower-case words.
// The views are exported so that clients decode into the same types.

// NodeView is a node in /nodes and /nodes/{id}.
type NodeView struct {
	ID                 string            `json:"id"`
	State              string            `json:"state"`
	Reason             string            `json:"reason"`
	Zone               string            `json:"zone"`
	Labels             map[string]string `json:"labels"`
	Capacity           ResourcesView     `json:"capacity"`
	Allocated          ResourcesView     `json:"allocated"`
	Usage              ResourcesView     `json:"usage"`
	Endpoint           string            `json:"endpoint"`
	Address            string            `json:"address"`
	Cordoned           bool              `json:"cordoned"`
	Draining           bool              `json:"draining"`
	RegisteredHeight   int64             `json:"registered_height"`
	StateSince         int64             `json:"state_since"`
	LastHeartbeat      int64             `json:"last_heartbeat"`
	LastHeartbeatAgeMs int64             `json:"last_heartbeat_age_ms"`
	LastHeartbeatSeq   uint64            `json:"last_heartbeat_seq"`
	Strikes            uint32            `json:"strikes"`
	// Attested: an observer quorum holds the node alive (ADR 0018), so it
	// needs no heartbeat transactions while nothing changes; AttestedBy:
	// how many observers' standing attestations name it (fresh or not).
	Attested   bool     `json:"attested"`
	AttestedBy int      `json:"attested_by"`
	Tasks      []string `json:"tasks"`
	// Eviction is set while the node's tasks are in the eviction backlog
	// (ADR 0012): since when, whether its zone let it go, and if not, why.
	Eviction *NodeEvictionView `json:"eviction,omitempty"`
	// Drain is a draining node's progress (in /nodes/{id} and lists).
	Drain *NodeDrainView `json:"drain,omitempty"`
	// Health is the failure detector's view, in /nodes/{id} only (derived:
	// not part of the node's proven record).
	Health *NodeHealthView `json:"health,omitempty"`
}

// NodeDrainView is a drain's progress: its deadline (block time unix ms;
// 0: forced at once), the active tasks still on the node, and what they
// wait for (a service's max_unavailable, max_evictions_per_block; "" when
// nothing holds them).
type NodeDrainView struct {
	Deadline  int64  `json:"deadline"`
	Remaining int    `json:"remaining"`
	Waiting   string `json:"waiting"`
}

// NodeEvictionView is a node's place in the eviction backlog.
type NodeEvictionView struct {
	// Since: the block time (unix ms) at which it began to call for the
	// eviction of its tasks.
	Since int64 `json:"since"`
	// Admitted: its zone's rate let its evictions begin (or it drains);
	// its tasks go as max_evictions_per_block allows.
	Admitted bool `json:"admitted"`
	// Deferred: why its tasks wait ("" while they are being evicted).
	Deferred string `json:"deferred,omitempty"`
}

// ZoneView is a zone in /zones: its nodes, its state as eviction pacing
// reads it (Normal, PartialDisruption, FullDisruption), the rate at which
// it admits failed nodes, and its backlog.
type ZoneView struct {
	Zone     string `json:"zone"`
	State    string `json:"state"`
	Nodes    int    `json:"nodes"`
	NotReady int    `json:"not_ready"`
	// RateMilli: node evictions per 1000 s the zone's state allows now (0:
	// stopped).
	RateMilli int64 `json:"rate_milli"`
	// TokensMicro: millionths of a node in the zone's bucket (1,000,000:
	// full, the next failed node goes at once).
	TokensMicro int64 `json:"tokens_micro"`
	// Evicting and Waiting: backlog nodes of the zone whose evictions have
	// begun, and those held back.
	Evicting []string `json:"evicting"`
	Waiting  []string `json:"waiting"`
}

// ZonesAnswer is /zones.
type ZonesAnswer struct {
	Height int64 `json:"height"`
	// EvictionsStopped: every zone is FullDisruption, so no zone evicts.
	EvictionsStopped bool `json:"evictions_stopped"`
	// EvictionsResumeAt: after every zone was dark, failed nodes' tasks
	// wait until this block time (unix ms); 0: no such wait.
	EvictionsResumeAt int64      `json:"evictions_resume_at"`
	Zones             []ZoneView `json:"zones"`
}

// NodeHealthView is the failure detector's view of a node
// (docs/failure-detection.md). Times are block times (unix ms); the
// deadlines are estimates, exact while no block gap exceeds
// max_clock_step_ms.
type NodeHealthView struct {
	// Phi for display (floating point; decisions use SuspectAt).
	Phi            float64 `json:"phi"`
	PhiThreshold   float64 `json:"phi_threshold"`
	Samples        int     `json:"samples"`
	MeanIntervalMs float64 `json:"mean_interval_ms"`
	StdDevMs       float64 `json:"std_dev_ms"`
	// SuspectAt: the phi deadline or suspect_after, whichever is first
	// (SuspectBy says which: "phi" or "suspect_after").
	SuspectAt int64  `json:"suspect_at"`
	SuspectBy string `json:"suspect_by"`
	DownAt    int64  `json:"down_at"`
	// The observers' standing verdict and the window that set it.
	Verdict       string `json:"verdict"`
	VerdictWindow uint64 `json:"verdict_window"`
	// Window is the current report window; ActiveObservers and Quorum the
	// count a decision needs.
	Window          uint64 `json:"window"`
	ActiveObservers int    `json:"active_observers"`
	Quorum          int    `json:"quorum"`
	// AttestedFresh: the active observers whose fresh attestation holds
	// the node alive (attested needs Quorum of them).
	AttestedFresh int `json:"attested_fresh"`
	// The current window's votes of active observers: for (reachable) and
	// against (unreachable); then every open window in detail.
	ReportsFor     int               `json:"reports_for"`
	ReportsAgainst int               `json:"reports_against"`
	Windows        []WindowTallyView `json:"windows"`
}

// WindowTallyView is one open report window's votes about a node.
type WindowTallyView struct {
	Window      uint64     `json:"window"`
	Reachable   int        `json:"reachable"`   // counted votes
	Unreachable int        `json:"unreachable"` // counted votes
	Outcome     string     `json:"outcome"`
	Struck      bool       `json:"struck"`
	Votes       []VoteView `json:"votes"`
}

// VoteView is one observer's vote; Counted is false for an observer that is
// jailed or below reputation_floor.
type VoteView struct {
	Observer       string   `json:"observer"`
	Reachable      bool     `json:"reachable"`
	FailingTaskIDs []string `json:"failing_task_ids"`
	Counted        bool     `json:"counted"`
}

// TaskView is a task in /tasks.
type TaskView struct {
	ID             string `json:"id"`
	Workload       string `json:"workload"`
	Index          uint32 `json:"index"`
	Node           string `json:"node"`
	Generation     uint64 `json:"generation"`
	State          string `json:"state"`
	Restarts       uint32 `json:"restarts"`
	LastCheckpoint []byte `json:"last_checkpoint"` // base64
	ExitCode       int32  `json:"exit_code"`
	Reason         string `json:"reason"`
	// NextAttemptAt: while Failed, when the restart policy acts (block
	// time, unix ms); 0 otherwise.
	NextAttemptAt int64  `json:"next_attempt_at"`
	CreatedHeight int64  `json:"created_height"`
	SpecVersion   uint64 `json:"spec_version"`
	// AvoidNode: the node the task used up its restarts on; the next
	// placement goes there only if no other node fits.
	AvoidNode string `json:"avoid_node"`
	// Ready: Running and passing its readiness checks (issue 14 §2);
	// ReadySince: the block time it became so (0: not ready).
	Ready      bool  `json:"ready"`
	ReadySince int64 `json:"ready_since"`
	// PinNode: the only node the task runs on (a system workload's task).
	PinNode string `json:"pin_node,omitempty"`
	// Resources the task holds while placed (those of its spec_version).
	Resources ResourcesView `json:"resources"`
	// Fence: while Pending after an eviction, the placement that must stop
	// before the task is placed again (stop before start, ADR 0020).
	Fence *FenceView `json:"fence,omitempty"`
	// AdoptGeneration: restored to its node under disconnect.reconcile
	// keep_original, the generation whose process the agent there runs on
	// as this one.
	AdoptGeneration uint64 `json:"adopt_generation,omitempty"`
	// LostAfter: the workload's disconnect.lost_after_ms when the task was
	// placed, its fence timeout (0: params.fence_timeout_ms).
	LostAfter int64 `json:"lost_after_ms,omitempty"`
}

// FenceView is an evicted placement a Pending task waits on: its node
// reports the generation stopped, or the wait ends at Until (block time,
// unix ms).
type FenceView struct {
	Node       string `json:"node"`
	Generation uint64 `json:"generation"`
	Until      int64  `json:"until"`
}

// WorkloadView is a workload in /workloads and /workloads/{name}.
type WorkloadView struct {
	Name          string   `json:"name"`
	Spec          SpecView `json:"spec"`
	Version       uint64   `json:"version"`
	CreatedHeight int64    `json:"created_height"`
	Replicas      uint32   `json:"replicas"`
	Pending       int      `json:"pending"`
	Assigned      int      `json:"assigned"`
	Running       int      `json:"running"`
	Failed        int      `json:"failed"`
	Completed     int      `json:"completed"`
	Tasks         []string `json:"tasks"`
	// TemplateVersion is the version of the last change other than
	// replicas; tasks placed with an older version are replaced by the
	// rolling update.
	TemplateVersion uint64 `json:"template_version"`
	// Unschedulable is set while the workload's pending tasks fit on no
	// node: the scheduler's explanation, as kubectl describe shows a
	// FailedScheduling event.
	Unschedulable *UnschedulableView `json:"unschedulable,omitempty"`
	// Rollout is set while tasks run an older template.
	Rollout *RolloutView `json:"rollout,omitempty"`
	// Batch is a batch workload's progress and outcome.
	Batch *BatchView `json:"batch,omitempty"`
}

// BatchView is a batch workload's progress (docs/scheduling.md): Status
// is Running, Complete (every task completed) or Failed (Reason says
// which task, how, after how many restarts), FinishedHeight the height
// of the outcome.
type BatchView struct {
	Status         string `json:"status"`
	Reason         string `json:"reason,omitempty"`
	Completions    uint32 `json:"completions"`
	Succeeded      uint32 `json:"succeeded"`
	Active         int    `json:"active"`
	Parallelism    uint32 `json:"parallelism"`
	FinishedHeight int64  `json:"finished_height,omitempty"`
}

// UnschedulableView says why a workload's pending tasks wait.
type UnschedulableView struct {
	// Reason: "0/12 nodes fit: 7 insufficient cpu, 5 node cordoned".
	Reason string `json:"reason"`
	// Pending is how many of its tasks wait, Tasks which (each has the
	// reason too, in /tasks); SinceHeight when it began.
	Pending     int      `json:"pending"`
	Tasks       []string `json:"tasks"`
	SinceHeight int64    `json:"since_height"`
}

// RolloutView is the progress of a rolling update (docs/scheduling.md):
// Outdated tasks (placed with an older template) are replaced while at
// least MinAvailable tasks are Running.
type RolloutView struct {
	TemplateVersion uint64 `json:"template_version"`
	Updated         int    `json:"updated"`  // placed with the current template
	Outdated        int    `json:"outdated"` // placed with an older one
	Available       int    `json:"available"`
	MinAvailable    int    `json:"min_available"`
}

// AccountView is an account in /accounts/{addr} and /observers.
type AccountView struct {
	Address       string   `json:"address"`
	PubKey        []byte   `json:"pub_key"` // base64
	Roles         []string `json:"roles"`
	Sequence      uint64   `json:"sequence"`
	Jailed        bool     `json:"jailed"`
	JailReason    string   `json:"jail_reason"`
	Reputation    int64    `json:"reputation"`
	Agreements    uint64   `json:"agreements"`
	Disagreements uint64   `json:"disagreements"`
	// ValidatorAddress is the validator this account observes for ("" if
	// none): its misbehaviour jails the account.
	ValidatorAddress string `json:"validator_address,omitempty"`
}

// ObserverView is an observer in /observers: the account and whether its
// votes count now (role observer, not jailed, reputation ≥ floor).
type ObserverView struct {
	AccountView
	Active bool `json:"active"`
}

// ValidatorView is a validator in /validators.
type ValidatorView struct {
	Address string `json:"address"`
	PubKey  []byte `json:"pub_key"` // base64
	Power   int64  `json:"power"`
}

// SummaryView is /summary.
type SummaryView struct {
	Height       int64          `json:"height"`
	Time         int64          `json:"time"` // block time, unix ms
	Nodes        int            `json:"nodes"`
	NodesByState map[string]int `json:"nodes_by_state"`
	Workloads    int            `json:"workloads"`
	Tasks        int            `json:"tasks"`
	TasksByState map[string]int `json:"tasks_by_state"`
	Pending      int            `json:"pending"`
	Accounts     int            `json:"accounts"`
	Validators   int            `json:"validators"`
	// EvictionBacklog: nodes whose tasks wait for eviction (ADR 0012);
	// ZonesDisrupted: zones not Normal (/zones has the detail).
	EvictionBacklog int `json:"eviction_backlog"`
	ZonesDisrupted  int `json:"zones_disrupted"`
}

// The list answers. A list is one page (docs/architecture.md "Queries"):
// at most limit items (default DefaultQueryLimit, at most MaxQueryLimit) in
// the list's order, after the cursor given as after=; Next is the cursor of
// the next page, "" on the last one.
type (
	NodesAnswer struct {
		Height int64      `json:"height"`
		Nodes  []NodeView `json:"nodes"`
		Next   string     `json:"next,omitempty"`
	}
	TasksAnswer struct {
		Height int64      `json:"height"`
		Tasks  []TaskView `json:"tasks"`
		Next   string     `json:"next,omitempty"`
	}
	WorkloadsAnswer struct {
		Height    int64          `json:"height"`
		Workloads []WorkloadView `json:"workloads"`
		Next      string         `json:"next,omitempty"`
	}
	AccountsAnswer struct {
		Height   int64         `json:"height"`
		Accounts []AccountView `json:"accounts"`
		Next     string        `json:"next,omitempty"`
	}
	ObserversAnswer struct {
		Height int64 `json:"height"`
		// Active is the number of active observers; Quorum the votes a
		// decision needs (over all observers, not this page).
		Active    int            `json:"active"`
		Quorum    int            `json:"quorum"`
		Observers []ObserverView `json:"observers"`
		Next      string         `json:"next,omitempty"`
	}
	ValidatorsAnswer struct {
		Height     int64           `json:"height"`
		Validators []ValidatorView `json:"validators"`
	}
)

// NextCursor is the cursor of the page after this one ("" on the last).
func (a *NodesAnswer) NextCursor() string { return a.Next }

// NextCursor is the cursor of the page after this one ("" on the last).
func (a *TasksAnswer) NextCursor() string { return a.Next }

// NextCursor is the cursor of the page after this one ("" on the last).
func (a *WorkloadsAnswer) NextCursor() string { return a.Next }

// NextCursor is the cursor of the page after this one ("" on the last).
func (a *AccountsAnswer) NextCursor() string { return a.Next }

// NextCursor is the cursor of the page after this one ("" on the last).
func (a *ObserversAnswer) NextCursor() string { return a.Next }

// ParseNodeState reads a node state name, in any case ("down", "Down").
func ParseNodeState(s string) (types.NodeState, bool) {
	for st := types.NODE_READY; st <= types.NODE_QUARANTINED; st++ {
		if strings.EqualFold(nodeStateNames[st], s) {
			return st, true
		}
	}
	return types.NODE_STATE_UNSPECIFIED, false
}

var verdictNames = map[types.Verdict]string{
	types.VERDICT_NONE:        "none",
	types.VERDICT_REACHABLE:   "reachable",
	types.VERDICT_UNREACHABLE: "unreachable",
	types.VERDICT_PARTITIONED: "partitioned",
}

// VerdictName is the lower-case name of an observer verdict.
func VerdictName(v types.Verdict) string {
	if n, ok := verdictNames[v]; ok {
		return n
	}
	return "unknown"
}

var nodeStateNames = map[types.NodeState]string{
	types.NODE_READY:       "Ready",
	types.NODE_SUSPECT:     "Suspect",
	types.NODE_DOWN:        "Down",
	types.NODE_PARTITIONED: "Partitioned",
	types.NODE_QUARANTINED: "Quarantined",
}

var taskStateNames = map[types.TaskState]string{
	types.TASK_PENDING:   "Pending",
	types.TASK_ASSIGNED:  "Assigned",
	types.TASK_RUNNING:   "Running",
	types.TASK_FAILED:    "Failed",
	types.TASK_COMPLETED: "Completed",
}

// NodeStateName is the capitalised name of a node state ("Ready", …).
func NodeStateName(st types.NodeState) string {
	if n, ok := nodeStateNames[st]; ok {
		return n
	}
	return "Unspecified"
}

// TaskStateName is the capitalised name of a task state ("Pending", …).
func TaskStateName(st types.TaskState) string {
	if n, ok := taskStateNames[st]; ok {
		return n
	}
	return "Unspecified"
}

// ParseTaskState reads a capitalised (or any-case) task state name.
func ParseTaskState(s string) (types.TaskState, bool) {
	for st := types.TASK_PENDING; st <= types.TASK_COMPLETED; st++ {
		if strings.EqualFold(taskStateNames[st], s) {
			return st, true
		}
	}
	return types.TASK_STATE_UNSPECIFIED, false
}

// NodeRecordView is the part of a node's view that its stored record
// alone determines (no task list, heartbeat age or health): what a client
// checks against a proven record.
func NodeRecordView(n *types.Node) NodeView {
	v := NodeView{
		ID:               n.Id,
		State:            NodeStateName(n.State),
		Reason:           n.Reason,
		Zone:             n.Zone,
		Labels:           map[string]string{},
		Capacity:         resourcesView(n.Capacity),
		Allocated:        resourcesView(n.Allocated),
		Usage:            resourcesView(n.Usage),
		Endpoint:         n.Endpoint,
		Address:          AddrHex(addressOf(n.PubKey)),
		Cordoned:         n.Cordoned,
		Draining:         n.Draining,
		RegisteredHeight: n.RegisteredHeight,
		StateSince:       n.StateSinceMs,
		LastHeartbeat:    n.LastHeartbeatMs,
		LastHeartbeatSeq: n.LastHeartbeatSeq,
		Strikes:          n.Strikes,
		Attested:         n.Attested,
		AttestedBy:       len(n.AttestedBy),
		Tasks:            []string{},
	}
	if n.Draining {
		// Remaining is derived from the node's tasks (the full view).
		v.Drain = &NodeDrainView{Deadline: n.DrainDeadlineMs, Waiting: n.EvictDeferred}
	}
	if n.EvictSinceMs != 0 {
		v.Eviction = &NodeEvictionView{Since: n.EvictSinceMs, Admitted: n.EvictAdmitted, Deferred: n.EvictDeferred}
	}
	for _, l := range n.Labels {
		v.Labels[l.Key] = l.Value
	}
	return v
}

// TaskRecordView is a task's view; its stored record determines all of it.
func TaskRecordView(t *types.Task) TaskView {
	var fence *FenceView
	if t.FenceNode != "" {
		fence = &FenceView{Node: t.FenceNode, Generation: t.FenceGeneration, Until: t.FenceUntilMs}
	}
	return TaskView{
		Fence:           fence,
		ID:              t.Id,
		Workload:        t.Workload,
		Index:           t.Index,
		Node:            t.Node,
		Generation:      t.Generation,
		State:           TaskStateName(t.State),
		Restarts:        t.Restarts,
		LastCheckpoint:  t.LastCheckpoint,
		ExitCode:        t.ExitCode,
		Reason:          t.Reason,
		NextAttemptAt:   t.NextAttemptAtMs,
		CreatedHeight:   t.CreatedHeight,
		SpecVersion:     t.SpecVersion,
		AvoidNode:       t.AvoidNode,
		PinNode:         t.PinNode,
		Ready:           t.Ready,
		ReadySince:      t.ReadySinceMs,
		Resources:       resourcesView(t.Resources),
		AdoptGeneration: t.AdoptGeneration,
		LostAfter:       t.LostAfterMs,
	}
}

// AccountRecordView is an account's view; its stored record determines
// all of it.
func AccountRecordView(a *types.Account) AccountView {
	v := AccountView{
		Address:       AddrHex(a.Address),
		PubKey:        a.PubKey,
		Roles:         []string{},
		Sequence:      a.Sequence,
		Jailed:        a.Jailed,
		JailReason:    a.JailReason,
		Reputation:    a.Reputation,
		Agreements:    a.Agreements,
		Disagreements: a.Disagreements,
	}
	if len(a.ValidatorAddress) != 0 {
		v.ValidatorAddress = AddrHex(a.ValidatorAddress)
	}
	for _, r := range a.Roles {
		v.Roles = append(v.Roles, RoleName(r))
	}
	return v
}
