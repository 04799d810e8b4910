package app

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// newQueryState builds a state with 23 nodes in 3 zones (two Down) and
// workloads of 1, 12 and 30 replicas, placed.
func newQueryState(t *testing.T) *State {
	t.Helper()
	s, _ := newQueryStateWith(t)
	return s
}

// newQueryStateWith is newQueryState and a function that delivers a
// message from the operator (in an open block).
func newQueryStateWith(t *testing.T) (*State, func(msg *types.TxBody)) {
	t.Helper()
	ops := testPub("ops")
	g := &api.Genesis{Params: api.DefaultParams(), Accounts: []types.GenesisAccount{
		{Address: crypto.Address(ops), Roles: []types.Role{types.ROLE_OPERATOR}},
		{Address: testAddr("obs1"), Roles: []types.Role{types.ROLE_OBSERVER}},
		{Address: testAddr("obs2"), Roles: []types.Role{types.ROLE_OBSERVER}},
	}}
	s, err := NewState(testChainID, g)
	if err != nil {
		t.Fatal(err)
	}
	s.BeginBlock(Block{Height: 1, TimeMs: 1000, Hash: []byte("h1")}, nil)
	deliver := func(msg *types.TxBody) {
		msg.ChainId, msg.Sequence = testChainID, s.NextSequence(crypto.Address(ops))
		if r := s.DeliverTx(&api.Tx{PubKey: ops, Address: crypto.Address(ops), Body: *msg}); r.Code != 0 {
			t.Fatalf("%s: code %d: %s", api.MsgName(msg), r.Code, r.Log)
		}
	}
	for i := 0; i < 23; i++ {
		deliver(&types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
			NodeId: fmt.Sprintf("n%02d", i), PubKey: testPub(fmt.Sprintf("n%d", i)), Zone: fmt.Sprintf("z%d", i%3),
			Capacity: types.Resources{CpuMillis: 16_000, MemoryMb: 65_536}}}})
	}
	for _, w := range []struct {
		name     string
		replicas uint32
	}{{"a", 1}, {"db", 12}, {"web", 30}} {
		deliver(&types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: types.WorkloadSpec{
			Name: w.name, Command: "run", Replicas: w.replicas, Resources: types.Resources{CpuMillis: 100, MemoryMb: 64}}}}})
	}
	s.EndBlock()
	s.TakeChanges()
	for _, id := range []string{"n04", "n07"} {
		s.nodes[id].State = types.NODE_DOWN
	}
	return s, deliver
}

func query[T any](t *testing.T, s *State, path string) T {
	t.Helper()
	out, err := s.Query(path)
	if err != nil {
		t.Fatalf("query %s: %v", path, err)
	}
	var v T
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("query %s: %v", path, err)
	}
	return v
}

type pageOf interface {
	NextCursor() string
}

// pageThrough queries path page by page with limit n and returns the
// pages.
func pageThrough[T any, P interface {
	*T
	pageOf
}](t *testing.T, s *State, path string, n int) []*T {
	t.Helper()
	var pages []*T
	after := ""
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatalf("%s: more than 1000 pages", path)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		q := fmt.Sprintf("%s%slimit=%d", path, sep, n)
		if after != "" {
			q += "&after=" + url.QueryEscape(after)
		}
		p := query[T](t, s, q)
		pages = append(pages, &p)
		after = P(&p).NextCursor()
		if after == "" {
			return pages
		}
	}
}

func TestListQueriesPage(t *testing.T) {
	s := newQueryState(t)
	// Tasks: every page size gives the whole list, in order, once.
	all := query[api.TasksAnswer](t, s, "/tasks?limit=1000")
	if len(all.Tasks) != 43 || all.Next != "" {
		t.Fatalf("/tasks?limit=1000: %d tasks, next %q; want 43 and no next", len(all.Tasks), all.Next)
	}
	if def := query[api.TasksAnswer](t, s, "/tasks"); len(def.Tasks) != 43 {
		t.Fatalf("/tasks: %d tasks", len(def.Tasks))
	}
	var want []string
	for _, v := range all.Tasks {
		want = append(want, v.ID)
	}
	if want[0] != "a/0" || want[1] != "db/0" || want[10] != "db/9" || want[11] != "db/10" || want[13] != "web/0" {
		t.Fatalf("task order: %v", want)
	}
	for _, n := range []int{1, 2, 7, 12, 42, 43, 44} {
		var got []string
		pages := pageThrough[api.TasksAnswer](t, s, "/tasks", n)
		for _, p := range pages {
			if len(p.Tasks) > n {
				t.Fatalf("limit %d: a page of %d", n, len(p.Tasks))
			}
			for _, v := range p.Tasks {
				got = append(got, v.ID)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("limit %d: pages give %v\nwant %v", n, got, want)
		}
		if wantPages := (43 + n - 1) / n; len(pages) != wantPages {
			t.Errorf("limit %d: %d pages; want %d", n, len(pages), wantPages)
		}
	}
	// Filters page too.
	var got []string
	for _, p := range pageThrough[api.TasksAnswer](t, s, "/tasks?workload=db", 5) {
		for _, v := range p.Tasks {
			got = append(got, v.ID)
		}
	}
	if len(got) != 12 || got[0] != "db/0" || got[11] != "db/11" {
		t.Errorf("/tasks?workload=db pages: %v", got)
	}
	node := all.Tasks[0].Node
	onNode := 0
	for _, v := range all.Tasks {
		if v.Node == node {
			onNode++
		}
	}
	got = nil
	for _, p := range pageThrough[api.TasksAnswer](t, s, "/tasks?node="+node, 1) {
		for _, v := range p.Tasks {
			if v.Node != node {
				t.Errorf("node filter: task %s on %s", v.ID, v.Node)
			}
			got = append(got, v.ID)
		}
	}
	if len(got) != onNode {
		t.Errorf("/tasks?node=%s: %d tasks; want %d", node, len(got), onNode)
	}

	// Nodes: state and zone filters, pages.
	down := query[api.NodesAnswer](t, s, "/nodes?state=down")
	if len(down.Nodes) != 2 || down.Nodes[0].ID != "n04" || down.Nodes[1].ID != "n07" {
		t.Errorf("/nodes?state=down: %+v", down.Nodes)
	}
	var zone []string
	for _, p := range pageThrough[api.NodesAnswer](t, s, "/nodes?zone=z1", 3) {
		for _, n := range p.Nodes {
			zone = append(zone, n.ID)
		}
	}
	if want := []string{"n01", "n04", "n07", "n10", "n13", "n16", "n19", "n22"}; !reflect.DeepEqual(zone, want) {
		t.Errorf("/nodes?zone=z1 pages: %v; want %v", zone, want)
	}
	if both := query[api.NodesAnswer](t, s, "/nodes?zone=z1&state=Ready"); len(both.Nodes) != 6 {
		t.Errorf("/nodes?zone=z1&state=Ready: %d nodes; want 6", len(both.Nodes))
	}
	if p := query[api.NodesAnswer](t, s, "/nodes?limit=5&after=n20"); len(p.Nodes) != 2 || p.Next != "" {
		t.Errorf("/nodes after n20: %d nodes, next %q", len(p.Nodes), p.Next)
	}
	// A cursor that names no node still places the page.
	if p := query[api.NodesAnswer](t, s, "/nodes?limit=2&after=n055"); p.Nodes[0].ID != "n06" || p.Next != "n07" {
		t.Errorf("/nodes after n055: first %s, next %q", p.Nodes[0].ID, p.Next)
	}

	// Workloads, accounts, observers.
	var names []string
	for _, p := range pageThrough[api.WorkloadsAnswer](t, s, "/workloads", 2) {
		for _, w := range p.Workloads {
			names = append(names, w.Name)
		}
	}
	if !reflect.DeepEqual(names, []string{"a", "db", "web"}) {
		t.Errorf("/workloads pages: %v", names)
	}
	accs := 0
	for _, p := range pageThrough[api.AccountsAnswer](t, s, "/accounts", 1) {
		accs += len(p.Accounts)
	}
	if accs != len(s.accounts) {
		t.Errorf("/accounts pages: %d accounts; want %d", accs, len(s.accounts))
	}
	if obs := query[api.AccountsAnswer](t, s, "/accounts?role=observer"); len(obs.Accounts) != 2 {
		t.Errorf("/accounts?role=observer: %d", len(obs.Accounts))
	}
	obsPages := pageThrough[api.ObserversAnswer](t, s, "/observers", 1)
	if len(obsPages) != 2 || obsPages[0].Active != 2 || obsPages[1].Observers[0].Address <= obsPages[0].Observers[0].Address {
		t.Errorf("/observers pages: %+v", obsPages)
	}
}

func TestListQueriesRejectBadParameters(t *testing.T) {
	s := newQueryState(t)
	for path, want := range map[string]string{
		"/tasks?limit=0":                              "/tasks: limit \"0\"; expected a number in 1..1000",
		"/tasks?limit=1001":                           "/tasks: limit \"1001\"; expected a number in 1..1000",
		"/tasks?limit=x":                              "/tasks: limit \"x\"; expected a number in 1..1000",
		"/tasks?state=Sleeping":                       "/tasks: state \"Sleeping\": not a task state; expected Pending, Assigned, Running, Failed or Completed",
		"/tasks?after=web":                            "/tasks: after \"web\": ",
		"/tasks?node=N1":                              "/tasks: node \"N1\": ",
		"/tasks?zone=a&bogus=1&color=2":               "/tasks: unknown parameter \"bogus\"; expected limit, after, node, state, workload",
		"/tasks?workload=a&workload=b":                "/tasks: parameter workload given 2 times; expected once",
		"/tasks?%zz":                                  "/tasks: query \"%zz\" does not parse",
		"/nodes?state=Gone":                           "/nodes: state \"Gone\": not a node state",
		"/nodes?after=UPPER":                          "/nodes: after \"UPPER\": ",
		"/accounts?after=xyz":                         "/accounts: after \"xyz\": not an address",
		"/accounts?role=king":                         "/accounts: role \"king\": not a role",
		"/observers?state=Ready":                      "/observers: unknown parameter \"state\"; expected limit, after",
		"/workloads?limit=-1":                         "/workloads: limit \"-1\"",
		"/summary?limit=1":                            "/summary takes no parameters",
		"/nodes/n01?x=1":                              "/nodes/n01 takes no parameters",
		"/accounts/nothex":                            "\"nothex\" is not an address",
		"/validators?after=" + addrHex(testAddr("x")): "/validators takes no parameters",
	} {
		for i := 0; i < 5; i++ { // the same message every time (no map order)
			_, err := s.Query(path)
			if api.CodeOf(err) != api.ErrBadRequest.Code {
				t.Fatalf("%s: %v (code %d); want code %d", path, err, api.CodeOf(err), api.ErrBadRequest.Code)
			}
			if !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("%s: %q; want it to begin %q", path, err, want)
			}
		}
	}
	if _, err := s.Query("/nodes/n99"); api.CodeOf(err) != api.ErrNotFound.Code {
		t.Errorf("/nodes/n99: %v; want not found", err)
	}
}

// BenchmarkListQuery measures one page of each list at the size of the
// reconcile benchmark's cluster (10,000 nodes, 100,000 tasks, 100
// workloads): the time to answer and the answer's size ("answer-bytes").
// Before pages, /tasks answered all 100,000 tasks at once.
func BenchmarkListQuery(b *testing.B) {
	e := newReconcileBench(b)
	for _, path := range []string{
		"/tasks?limit=1000", "/tasks?limit=1000&after=w050/499", "/tasks?limit=100&node=n05000",
		"/nodes?limit=1000", "/nodes?limit=1000&state=Down", "/workloads?limit=100",
	} {
		b.Run(path, func(b *testing.B) {
			var size int
			for i := 0; i < b.N; i++ {
				out, err := e.s.Query(path)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "answer-bytes")
		})
	}
}

// The sorted keys that list queries cache between blocks follow every
// change: a workload deleted and another created at the same height, an
// account added.
func TestListQueriesFollowChanges(t *testing.T) {
	s, deliver := newQueryStateWith(t)
	names := func() string {
		var out []string
		for _, w := range query[api.WorkloadsAnswer](t, s, "/workloads").Workloads {
			out = append(out, w.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(); got != "a,db,web" {
		t.Fatalf("workloads %s", got)
	}
	accounts := len(query[api.AccountsAnswer](t, s, "/accounts?limit=1000").Accounts)
	s.BeginBlock(Block{Height: 2, TimeMs: 2000, Hash: []byte("h2")}, nil)
	deliver(&types.TxBody{Msg: &types.TxBody_DeleteWorkload{DeleteWorkload: &types.DeleteWorkload{Name: "db"}}})
	deliver(&types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: types.WorkloadSpec{
		Name: "cache", Command: "run", Replicas: 1, Resources: types.Resources{CpuMillis: 100, MemoryMb: 64}}}}})
	if got := names(); got != "a,cache,web" {
		t.Fatalf("after delete db and create cache in one block: workloads %s; want a,cache,web", got)
	}
	deliver(&types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
		NodeId: "extra", PubKey: testPub("extra"), Zone: "z0", Capacity: types.Resources{CpuMillis: 1000, MemoryMb: 1000}}}})
	if got := len(query[api.AccountsAnswer](t, s, "/accounts?limit=1000").Accounts); got != accounts+1 {
		t.Fatalf("after a registration: %d accounts; want %d", got, accounts+1)
	}
}
