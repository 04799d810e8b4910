package app

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app/health"
	"github.com/phalanx-bft/phalanx/types"
)

func (s *State) nodeView(n *types.Node) api.NodeView {
	v := api.NodeRecordView(n)
	if age := s.blockTimeMs - n.LastHeartbeatMs; age > 0 {
		v.LastHeartbeatAgeMs = age
	}
	remaining := 0
	for _, t := range s.tasksOn(n.Id) {
		v.Tasks = append(v.Tasks, t.Id)
		if taskActive(t) {
			remaining++
		}
	}
	if v.Drain != nil {
		v.Drain.Remaining = remaining
	}
	return v
}

func (s *State) nodeHealthView(n *types.Node) *api.NodeHealthView {
	det := s.detector()
	st := det.Estimate(n)
	elapsed := s.clockMs - n.LastHeartbeatClockMs
	active := s.activeObservers()
	v := &api.NodeHealthView{
		Phi:             det.Phi(elapsed, st),
		PhiThreshold:    float64(s.params.PhiThresholdMilli) / 1000,
		Samples:         health.ComputeStats(n, s.params.PhiWindow).Samples,
		MeanIntervalMs:  float64(st.MeanUs) / 1000,
		StdDevMs:        float64(st.StdDevUs) / 1000,
		SuspectAt:       s.blockTimeMs + n.SuspectAtMs - s.clockMs,
		SuspectBy:       "suspect_after",
		DownAt:          s.blockTimeMs + n.DownAtMs - s.clockMs,
		Verdict:         api.VerdictName(n.Verdict),
		VerdictWindow:   n.VerdictWindow,
		Window:          s.reportWindow(),
		ActiveObservers: active,
		Quorum:          s.quorumSize(active),
		AttestedFresh:   s.attestCount(n),
		Windows:         []api.WindowTallyView{},
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
			tv := api.WindowTallyView{Window: t.Window, Outcome: api.VerdictName(t.Outcome), Struck: t.Struck, Votes: []api.VoteView{}}
			tv.Reachable, tv.Unreachable = s.count(t)
			for _, vote := range t.Votes {
				tv.Votes = append(tv.Votes, api.VoteView{
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

func (s *State) workloadView(w *types.Workload) api.WorkloadView {
	v := api.WorkloadView{
		Name:          w.Spec.Name,
		Spec:          api.NewSpecView(w.Spec),
		Version:       w.Version,
		CreatedHeight: w.CreatedHeight,
		Replicas:      w.Spec.Replicas,
		Tasks:         []string{},

		TemplateVersion: w.TemplateVersion,
	}
	if w.Unschedulable != "" {
		u := &api.UnschedulableView{Reason: w.Unschedulable, Pending: len(s.pending[w.Spec.Name]), Tasks: []string{}, SinceHeight: w.UnschedulableHeight}
		for _, t := range s.pending[w.Spec.Name] {
			u.Tasks = append(u.Tasks, t.Id)
		}
		v.Unschedulable = u
	}
	if _, ok := s.rollouts[w.Spec.Name]; ok {
		v.Rollout = &api.RolloutView{TemplateVersion: w.TemplateVersion, MinAvailable: s.minAvailable(w)}
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
	if w.Spec.Type == api.TypeSystem {
		v.Replicas = uint32(len(v.Tasks)) // one per eligible node
	}
	if w.Spec.Type == api.TypeBatch {
		status := w.Status
		if status == "" {
			status = api.BatchRunning
		}
		v.Batch = &api.BatchView{Status: status, Reason: w.StatusReason, Completions: w.Spec.Replicas, Succeeded: w.Succeeded,
			Active: v.Assigned + v.Running + v.Failed, Parallelism: w.Spec.Parallelism, FinishedHeight: w.FinishedHeight}
	}
	return v
}

// Query answers a DESIGN §8 path with JSON:
//
//	/nodes?state=S&zone=Z  /nodes/{id}  /workloads  /workloads/{name}
//	/tasks?workload=W&node=N&state=S  /tasks/{workload}/{index}
//	/accounts?role=R  /accounts/{ADDR}  /observers  /validators  /params
//	/summary  /zones
//
// Lists take limit= and after= and answer one page (query_list.go). An
// unknown path or a missing object is an ErrNotFound error; a malformed
// parameter an ErrBadRequest.
func (s *State) Query(path string) ([]byte, error) {
	p, rawQuery, _ := strings.Cut(path, "?")
	p = "/" + strings.Trim(p, "/")
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	switch p {
	case "/nodes":
		return s.queryNodes(rawQuery)
	case "/workloads":
		return s.queryWorkloads(rawQuery)
	case "/tasks":
		return s.queryTasks(rawQuery)
	case "/accounts":
		return s.queryAccounts(rawQuery)
	case "/observers":
		return s.queryObservers(rawQuery)
	}
	if err := noParams(p, rawQuery); err != nil {
		return nil, err
	}
	switch {
	case parts[0] == "nodes" && len(parts) == 2:
		n := s.nodes[parts[1]]
		if n == nil {
			return nil, api.Errorf(api.ErrNotFound, "node %s is not registered", parts[1])
		}
		v := s.nodeView(n)
		v.Health = s.nodeHealthView(n)
		return mustJSON(v), nil
	case parts[0] == "workloads" && len(parts) == 2:
		w := s.workloads[parts[1]]
		if w == nil {
			return nil, api.Errorf(api.ErrNotFound, "workload %s does not exist", parts[1])
		}
		return mustJSON(s.workloadView(w)), nil
	case parts[0] == "tasks" && len(parts) == 3:
		t := s.tasks[parts[1]+"/"+parts[2]]
		if t == nil {
			return nil, api.Errorf(api.ErrNotFound, "task %s/%s does not exist", parts[1], parts[2])
		}
		return mustJSON(api.TaskRecordView(t)), nil
	case parts[0] == "accounts" && len(parts) == 2:
		addr, ok := api.ParseAddrHex(parts[1])
		if !ok {
			return nil, api.Errorf(api.ErrBadRequest, "%q is not an address (%d bytes of hex)", parts[1], api.AddressLen)
		}
		a := s.accounts[addrHex(addr)]
		if a == nil {
			return nil, api.Errorf(api.ErrNotFound, "account %s does not exist", addrHex(addr))
		}
		return mustJSON(api.AccountRecordView(a)), nil
	case p == "/validators":
		ans := api.ValidatorsAnswer{Height: s.height, Validators: []api.ValidatorView{}}
		for _, k := range sortedKeys(s.validators) {
			v := s.validators[k]
			ans.Validators = append(ans.Validators, api.ValidatorView{Address: k, PubKey: v.PubKey, Power: v.Power})
		}
		return mustJSON(ans), nil
	case p == "/params":
		return mustJSON(api.NewParamsView(s.params)), nil
	case p == "/summary":
		return mustJSON(s.summary()), nil
	case p == "/zones":
		return mustJSON(s.zonesAnswer()), nil
	}
	return nil, api.Errorf(api.ErrNotFound, "unknown query path %q; try /nodes, /workloads, /tasks, /accounts, /observers, /validators, /params, /zones or /summary", path)
}

func (s *State) summary() api.SummaryView {
	v := api.SummaryView{
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

		EvictionBacklog: len(s.pacing.backlog),
	}
	for _, zone := range sortedKeys(s.pacing.zones) {
		if s.pacing.zones[zone].state != api.ZoneNormal {
			v.ZonesDisrupted++
		}
	}
	for _, id := range s.nodeIDs {
		v.NodesByState[api.NodeStateName(s.nodes[id].State)]++
	}
	for _, id := range sortedKeys(s.tasks) {
		v.TasksByState[api.TaskStateName(s.tasks[id].State)]++
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

// mustJSON encodes a query answer; the views always encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("app: marshal %T: %v", v, err))
	}
	return b
}
