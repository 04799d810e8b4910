package app

import (
	"net/url"
	"sort"
	"strings"

	"github.com/phalanx-bft/phalanx/app/health"
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
	Tasks              []string          `json:"tasks"`
	// Health is the failure detector's view, in /nodes/{id} only (derived:
	// not part of the node's proven record).
	Health *NodeHealthView `json:"health,omitempty"`
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
	// Resources the task holds while placed (those of its spec_version).
	Resources ResourcesView `json:"resources"`
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
}

// The list answers.
type (
	NodesAnswer struct {
		Height int64      `json:"height"`
		Nodes  []NodeView `json:"nodes"`
	}
	TasksAnswer struct {
		Height int64      `json:"height"`
		Tasks  []TaskView `json:"tasks"`
	}
	WorkloadsAnswer struct {
		Height    int64          `json:"height"`
		Workloads []WorkloadView `json:"workloads"`
	}
	AccountsAnswer struct {
		Height   int64         `json:"height"`
		Accounts []AccountView `json:"accounts"`
	}
	ObserversAnswer struct {
		Height int64 `json:"height"`
		// Active is the number of active observers; Quorum the votes a
		// decision needs.
		Active    int            `json:"active"`
		Quorum    int            `json:"quorum"`
		Observers []ObserverView `json:"observers"`
	}
	ValidatorsAnswer struct {
		Height     int64           `json:"height"`
		Validators []ValidatorView `json:"validators"`
	}
)

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

func (s *State) nodeView(n *types.Node) NodeView {
	v := NodeRecordView(n)
	if age := s.blockTimeMs - n.LastHeartbeatMs; age > 0 {
		v.LastHeartbeatAgeMs = age
	}
	for _, t := range s.tasksOn(n.Id) {
		v.Tasks = append(v.Tasks, t.Id)
	}
	return v
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
		Address:          addrHex(addressOf(n.PubKey)),
		Cordoned:         n.Cordoned,
		Draining:         n.Draining,
		RegisteredHeight: n.RegisteredHeight,
		StateSince:       n.StateSinceMs,
		LastHeartbeat:    n.LastHeartbeatMs,
		LastHeartbeatSeq: n.LastHeartbeatSeq,
		Strikes:          n.Strikes,
		Tasks:            []string{},
	}
	for _, l := range n.Labels {
		v.Labels[l.Key] = l.Value
	}
	return v
}

func (s *State) nodeHealthView(n *types.Node) *NodeHealthView {
	det := s.detector()
	st := det.Estimate(n)
	elapsed := s.clockMs - n.LastHeartbeatClockMs
	active := s.activeObservers()
	v := &NodeHealthView{
		Phi:             det.Phi(elapsed, st),
		PhiThreshold:    float64(s.params.PhiThresholdMilli) / 1000,
		Samples:         health.ComputeStats(n, s.params.PhiWindow).Samples,
		MeanIntervalMs:  float64(st.MeanUs) / 1000,
		StdDevMs:        float64(st.StdDevUs) / 1000,
		SuspectAt:       s.blockTimeMs + n.SuspectAtMs - s.clockMs,
		SuspectBy:       "suspect_after",
		DownAt:          s.blockTimeMs + n.DownAtMs - s.clockMs,
		Verdict:         VerdictName(n.Verdict),
		VerdictWindow:   n.VerdictWindow,
		Window:          s.reportWindow(),
		ActiveObservers: active,
		Quorum:          s.quorumSize(active),
		Windows:         []WindowTallyView{},
	}
	if n.SuspectByPhi {
		v.SuspectBy = "phi"
	}
	if r := s.reports[n.Id]; r != nil {
		for i := range r.Windows {
			t := &r.Windows[i]
			if t.Window+1 < v.Window {
				continue // closed
			}
			tv := WindowTallyView{Window: t.Window, Outcome: VerdictName(t.Outcome), Struck: t.Struck, Votes: []VoteView{}}
			tv.Reachable, tv.Unreachable = s.count(t)
			for _, vote := range t.Votes {
				tv.Votes = append(tv.Votes, VoteView{
					Observer:       addrHex(vote.Observer),
					Reachable:      vote.Reachable,
					FailingTaskIDs: append([]string{}, vote.FailingTaskIds...),
					Counted:        s.activeObserver(s.accounts[addrHex(vote.Observer)]),
				})
			}
			if t.Window == v.Window {
				v.ReportsFor, v.ReportsAgainst = tv.Reachable, tv.Unreachable
			}
			v.Windows = append(v.Windows, tv)
		}
	}
	return v
}

func taskView(t *types.Task) TaskView {
	return TaskView{
		ID:             t.Id,
		Workload:       t.Workload,
		Index:          t.Index,
		Node:           t.Node,
		Generation:     t.Generation,
		State:          TaskStateName(t.State),
		Restarts:       t.Restarts,
		LastCheckpoint: t.LastCheckpoint,
		ExitCode:       t.ExitCode,
		Reason:         t.Reason,
		NextAttemptAt:  t.NextAttemptAtMs,
		CreatedHeight:  t.CreatedHeight,
		SpecVersion:    t.SpecVersion,
		AvoidNode:      t.AvoidNode,
		Resources:      resourcesView(t.Resources),
	}
}

func (s *State) workloadView(w *types.Workload) WorkloadView {
	v := WorkloadView{
		Name:          w.Spec.Name,
		Spec:          NewSpecView(w.Spec),
		Version:       w.Version,
		CreatedHeight: w.CreatedHeight,
		Replicas:      w.Spec.Replicas,
		Tasks:         []string{},

		TemplateVersion: w.TemplateVersion,
	}
	if w.Unschedulable != "" {
		u := &UnschedulableView{Reason: w.Unschedulable, Pending: len(s.pending[w.Spec.Name]), Tasks: []string{}, SinceHeight: w.UnschedulableHeight}
		for _, t := range s.pending[w.Spec.Name] {
			u.Tasks = append(u.Tasks, t.Id)
		}
		v.Unschedulable = u
	}
	if _, ok := s.rollouts[w.Spec.Name]; ok {
		v.Rollout = &RolloutView{TemplateVersion: w.TemplateVersion, MinAvailable: minAvailable(w)}
	}
	for _, t := range s.tasksOf(w.Spec.Name) {
		if r := v.Rollout; r != nil {
			switch {
			case outdated(w, t):
				r.Outdated++
			case taskActive(t):
				r.Updated++
			}
			if t.State == types.TASK_RUNNING {
				r.Available++
			}
		}
		v.Tasks = append(v.Tasks, t.Id)
		switch t.State {
		case types.TASK_PENDING:
			v.Pending++
		case types.TASK_ASSIGNED:
			v.Assigned++
		case types.TASK_RUNNING:
			v.Running++
		case types.TASK_FAILED:
			v.Failed++
		case types.TASK_COMPLETED:
			v.Completed++
		}
	}
	return v
}

// AccountRecordView is an account's view; its stored record determines
// all of it.
func AccountRecordView(a *types.Account) AccountView { return accountView(a) }

func accountView(a *types.Account) AccountView {
	v := AccountView{
		Address:       addrHex(a.Address),
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
		v.ValidatorAddress = addrHex(a.ValidatorAddress)
	}
	for _, r := range a.Roles {
		v.Roles = append(v.Roles, RoleName(r))
	}
	return v
}

// Query answers a DESIGN §8 path with JSON:
//
//	/nodes  /nodes/{id}  /workloads  /workloads/{name}
//	/tasks?workload=W&node=N  /tasks/{workload}/{index}
//	/accounts  /accounts/{ADDR}  /observers  /validators  /params  /summary
//
// An unknown path or a missing object is an ErrNotFound error.
func (s *State) Query(path string) ([]byte, error) {
	p, rawQuery, _ := strings.Cut(path, "?")
	p = "/" + strings.Trim(p, "/")
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	switch {
	case p == "/nodes":
		ans := NodesAnswer{Height: s.height, Nodes: []NodeView{}}
		for _, id := range s.nodeIDs {
			ans.Nodes = append(ans.Nodes, s.nodeView(s.nodes[id]))
		}
		return mustJSON(ans), nil
	case parts[0] == "nodes" && len(parts) == 2:
		n := s.nodes[parts[1]]
		if n == nil {
			return nil, errorf(ErrNotFound, "node %s is not registered", parts[1])
		}
		v := s.nodeView(n)
		v.Health = s.nodeHealthView(n)
		return mustJSON(v), nil
	case p == "/workloads":
		ans := WorkloadsAnswer{Height: s.height, Workloads: []WorkloadView{}}
		for _, name := range sortedKeys(s.workloads) {
			ans.Workloads = append(ans.Workloads, s.workloadView(s.workloads[name]))
		}
		return mustJSON(ans), nil
	case parts[0] == "workloads" && len(parts) == 2:
		w := s.workloads[parts[1]]
		if w == nil {
			return nil, errorf(ErrNotFound, "workload %s does not exist", parts[1])
		}
		return mustJSON(s.workloadView(w)), nil
	case p == "/tasks":
		return s.queryTasks(rawQuery)
	case parts[0] == "tasks" && len(parts) == 3:
		t := s.tasks[parts[1]+"/"+parts[2]]
		if t == nil {
			return nil, errorf(ErrNotFound, "task %s/%s does not exist", parts[1], parts[2])
		}
		return mustJSON(taskView(t)), nil
	case p == "/accounts":
		list := []AccountView{}
		for _, k := range sortedKeys(s.accounts) {
			list = append(list, accountView(s.accounts[k]))
		}
		return mustJSON(AccountsAnswer{Height: s.height, Accounts: list}), nil
	case p == "/observers":
		active := s.activeObservers()
		ans := ObserversAnswer{Height: s.height, Active: active, Quorum: s.quorumSize(active), Observers: []ObserverView{}}
		for _, k := range s.observerIDs {
			a := s.accounts[k]
			ans.Observers = append(ans.Observers, ObserverView{AccountView: accountView(a), Active: s.activeObserver(a)})
		}
		return mustJSON(ans), nil
	case parts[0] == "accounts" && len(parts) == 2:
		addr, ok := parseAddrHex(parts[1])
		if !ok {
			return nil, errorf(ErrNotFound, "%q is not an address (%d bytes of hex)", parts[1], AddressLen)
		}
		a := s.accounts[addrHex(addr)]
		if a == nil {
			return nil, errorf(ErrNotFound, "account %s does not exist", addrHex(addr))
		}
		return mustJSON(accountView(a)), nil
	case p == "/validators":
		ans := ValidatorsAnswer{Height: s.height, Validators: []ValidatorView{}}
		for _, k := range sortedKeys(s.validators) {
			v := s.validators[k]
			ans.Validators = append(ans.Validators, ValidatorView{Address: k, PubKey: v.PubKey, Power: v.Power})
		}
		return mustJSON(ans), nil
	case p == "/params":
		return mustJSON(NewParamsView(s.params)), nil
	case p == "/summary":
		return mustJSON(s.summary()), nil
	}
	return nil, errorf(ErrNotFound, "unknown query path %q; try /nodes, /workloads, /tasks, /accounts/{addr}, /observers, /validators, /params or /summary", path)
}

func (s *State) queryTasks(rawQuery string) ([]byte, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, errorf(ErrNotFound, "bad /tasks query %q: %v", rawQuery, err)
	}
	for k := range q {
		if k != "workload" && k != "node" && k != "state" {
			return nil, errorf(ErrNotFound, "unknown /tasks filter %q; want workload, node or state", k)
		}
	}
	workload, node, state := q.Get("workload"), q.Get("node"), q.Get("state")
	var ids []string
	switch {
	case workload != "":
		for _, t := range s.tasksOf(workload) {
			ids = append(ids, t.Id)
		}
	case node != "":
		ids = sortedKeys(s.tasksByNode[node])
	default:
		ids = sortedKeys(s.tasks)
	}
	var tasks []*types.Task
	for _, id := range ids {
		t := s.tasks[id]
		if node != "" && t.Node != node || state != "" && !strings.EqualFold(TaskStateName(t.State), state) {
			continue
		}
		tasks = append(tasks, t)
	}
	sort.Slice(tasks, func(i, j int) bool {
		if tasks[i].Workload != tasks[j].Workload {
			return tasks[i].Workload < tasks[j].Workload
		}
		return tasks[i].Index < tasks[j].Index
	})
	ans := TasksAnswer{Height: s.height, Tasks: []TaskView{}}
	for _, t := range tasks {
		ans.Tasks = append(ans.Tasks, taskView(t))
	}
	return mustJSON(ans), nil
}

func (s *State) summary() SummaryView {
	v := SummaryView{
		Height:       s.height,
		Time:         s.blockTimeMs,
		Nodes:        len(s.nodes),
		NodesByState: map[string]int{},
		Workloads:    len(s.workloads),
		Tasks:        len(s.tasks),
		TasksByState: map[string]int{},
		Pending:      s.pendingCount,
		Accounts:     len(s.accounts),
		Validators:   len(s.validators),
	}
	for _, id := range s.nodeIDs {
		v.NodesByState[NodeStateName(s.nodes[id].State)]++
	}
	for _, id := range sortedKeys(s.tasks) {
		v.TasksByState[TaskStateName(s.tasks[id].State)]++
	}
	return v
}

// StoreKeyForPath maps a query path for one record to its store key, so
// that the caller can answer with a Merkle proof of the raw record:
// /nodes/{id} -> nodes/{id}, /workloads/{name} -> workloads/{name},
// /accounts/{ADDR} -> accounts/{ADDRHEX}, /validators/{ADDR} ->
// validators/{ADDRHEX}, /tasks/{workload}/{index} -> tasks/{workload}/{index},
// /params -> params.
func StoreKeyForPath(path string) ([]byte, bool) {
	p, _, _ := strings.Cut(path, "?")
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i := range recordTypes {
		rt := &recordTypes[i]
		if rt.path == "" || parts[0] != rt.path || len(parts) != 1+rt.segments {
			continue
		}
		if rt.segments == 0 {
			return []byte(rt.key), true
		}
		id, ok := rt.pathID(parts[1:])
		if !ok {
			return nil, false
		}
		return []byte(rt.key + id), true
	}
	return nil, false
}
