package app

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

var noBlockChecks = flag.Bool("no-block-checks", false, "skip the end-of-block invariant check (the benchmarks' baseline; invariants.go)")

func TestMain(m *testing.M) {
	flag.Parse()
	blockChecks = !*noBlockChecks
	os.Exit(m.Run())
}

// checkedState is a committed state at height 1: nodes n1 and n2 (4000
// mCPU, 8192 MB), an observer account, and workload web's 3 tasks (100
// mCPU, 64 MB each) placed by the scheduler; block 2 is open.
func checkedState(t *testing.T, store *recordStore) *State {
	t.Helper()
	params := api.DefaultParams()
	params.FenceTimeoutMs = 0 // replacements placed at once: the drain parks web (fence.go has its own tests)
	g := &api.Genesis{Params: params, Accounts: []types.GenesisAccount{
		{Address: testAddr("ops"), Roles: []types.Role{types.ROLE_OPERATOR}},
		{Address: testAddr("obs"), Roles: []types.Role{types.ROLE_OBSERVER}},
	}}
	s, err := NewState(testChainID, g)
	if err != nil {
		t.Fatal(err)
	}
	store.persist(s.TakeChanges())
	s.BeginBlock(Block{Height: 1, TimeMs: 1000, Hash: []byte("h1")}, nil)
	for _, id := range []string{"n1", "n2"} {
		res := deliver(t, s, "ops", &types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
			NodeId: id, PubKey: testPub(id), Zone: "a", Capacity: types.Resources{CpuMillis: 4000, MemoryMb: 8192}}}})
		if res.Code != 0 {
			t.Fatalf("register %s: %s", id, res.Log)
		}
	}
	body := createWorkload("web", 3)
	body.GetCreateWorkload().Spec.Resources = types.Resources{CpuMillis: 100, MemoryMb: 64}
	body.GetCreateWorkload().Spec.MaxPerNode = 2
	if res := deliver(t, s, "ops", body); res.Code != 0 {
		t.Fatalf("create web: %s", res.Log)
	}
	s.EndBlock()
	store.persist(s.TakeChanges())
	for _, id := range []string{"web/0", "web/1", "web/2"} {
		if s.tasks[id].Node == "" {
			t.Fatalf("%s not placed", id)
		}
	}
	s.BeginBlock(Block{Height: 2, TimeMs: 2000, Hash: []byte("h2")}, nil)
	return s
}

// endBlockPanic runs EndBlock and returns what it panicked with ("" if it
// did not).
func endBlockPanic(s *State) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	s.EndBlock()
	return ""
}

// TestBlockCheckCatches corrupts a state in one way per case, as a bug in
// a transition would, and checks that the end of the block halts with the
// precise message.
func TestBlockCheckCatches(t *testing.T) {
	if !blockChecks {
		t.Skip("-no-block-checks")
	}
	// The fixture's placement: n1 holds web/0 and web/1, n2 holds web/2
	// (checked below, so that the messages can name them).
	res := func(cpu, mem int64) types.Resources { return types.Resources{CpuMillis: cpu, MemoryMb: mem} }
	cases := []struct {
		name    string
		corrupt func(tt *testing.T, s *State)
		want    string
	}{{
		name: "attested without a quorum",
		corrupt: func(tt *testing.T, s *State) {
			s.nodes["n1"].Attested = true
			s.touchNode(s.nodes["n1"])
		},
		want: "node n1: attested is true; 0 of 1 active observers attest it fresh, which makes it false",
	}, {
		name: "attestations out of order",
		corrupt: func(tt *testing.T, s *State) {
			s.nodes["n2"].AttestedBy = [][]byte{{2}, {1}}
			s.touchNode(s.nodes["n2"])
		},
		want: "node n2: attested_by not sorted and unique",
	}, {
		name: "allocated above the tasks' sum",
		corrupt: func(tt *testing.T, s *State) {
			s.nodes["n1"].Allocated.CpuMillis += 1000
			s.touchNode(s.nodes["n1"])
		},
		want: "node n1: allocated cpu_millis 1200, memory_mb 128, but its 2 active tasks hold cpu_millis 200, memory_mb 128",
	}, {
		name: "allocated above capacity",
		corrupt: func(tt *testing.T, s *State) {
			s.nodes["n2"].Allocated = res(4001, 64)
			s.touchNode(s.nodes["n2"])
		},
		want: "node n2: allocated cpu_millis 4001, memory_mb 64, outside 0..capacity cpu_millis 4000, memory_mb 8192",
	}, {
		name: "allocation not released",
		corrupt: func(tt *testing.T, s *State) {
			s.tasks["web/2"].State = types.TASK_COMPLETED // without s.release
			s.touchTask(s.tasks["web/2"])
		},
		want: "node n2: allocated cpu_millis 100, memory_mb 64, but its 0 active tasks hold cpu_millis 0, memory_mb 0",
	}, {
		name: "task missing from its node's list",
		corrupt: func(tt *testing.T, s *State) {
			removeFromSet(s.tasksByNode, "n1", "web/0")
			s.touchTask(s.tasks["web/0"])
		},
		want: "task web/0: on node n1, but missing from the node's task list",
	}, {
		name: "node's list holds a task of another node",
		corrupt: func(tt *testing.T, s *State) {
			addToSet(s.tasksByNode, "n2", "web/0")
			s.touchNode(s.nodes["n2"])
		},
		want: `node n2: its task list holds task web/0, which is on node "n1"`,
	}, {
		name: "task moved, old node still lists it",
		corrupt: func(tt *testing.T, s *State) {
			// A Completed task holds nothing: moving it touches no node.
			t := s.tasks["web/2"]
			s.nodes["n2"].Allocated = types.Resources{}
			t.State = types.TASK_COMPLETED
			s.noteTask(t) // as a move would
			t.Node = "n1"
			addToSet(s.tasksByNode, "n1", t.Id)
			s.touchTask(t)
		},
		want: "task web/2 left node n2, whose task list still holds it",
	}, {
		name: "task moved unnoticed, old node still lists it",
		corrupt: func(tt *testing.T, s *State) {
			t := s.tasks["web/2"]
			s.allocate(s.nodes["n2"], t.Resources, -1)
			t.Node = "n1"
			addToSet(s.tasksByNode, "n1", t.Id)
			s.allocate(s.nodes["n1"], t.Resources, +1)
			s.touchTask(t)
		},
		want: `node n2: its task list holds task web/2, which is on node "n1"`,
	}, {
		name: "generation lowered",
		corrupt: func(tt *testing.T, s *State) {
			s.tasks["web/2"].Generation--
			s.touchTask(s.tasks["web/2"])
		},
		want: "task web/2: generation 0, below the 1 it had at height 1 (generations never decrease)",
	}, {
		name: "task claims another index",
		corrupt: func(tt *testing.T, s *State) {
			s.tasks["web/1"].Index = 0
			s.touchTask(s.tasks["web/1"])
		},
		want: "task web/1: stored under web/1 but its workload web and index 0 say otherwise",
	}, {
		name: "two tasks of one index",
		corrupt: func(tt *testing.T, s *State) {
			s.workloadTasks["web"][1] = s.tasks["web/0"]
			s.touchTask(s.tasks["web/1"])
		},
		want: "task web/1: index 1 of workload web's task list holds another task (two tasks of one index)",
	}, {
		name: "pending count",
		corrupt: func(tt *testing.T, s *State) {
			s.pendingCount++
		},
		want: "pending count 1; the touched tasks make it 0 (0 at height 1, +0)",
	}, {
		name: "pending task missing from the queue",
		corrupt: func(tt *testing.T, s *State) {
			t := s.tasks["web/2"]
			s.allocate(s.nodes["n2"], t.Resources, -1)
			removeFromSet(s.tasksByNode, "n2", t.Id)
			t.Node, t.State = "", types.TASK_PENDING
			t.Generation++
			s.pendingCount++
			s.touchTask(t)
		},
		want: "task web/2: state Pending, but its workload's pending queue lacks it",
	}, {
		name: "parked count",
		corrupt: func(tt *testing.T, s *State) {
			s.parkedCount++
		},
		want: "parked count 1; the touched workloads make it 0 (0 workloads and 0 tasks pending)",
	}, {
		name: "node inserted out of order",
		corrupt: func(tt *testing.T, s *State) {
			res := deliver(tt, s, "ops", &types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
				NodeId: "n0", PubKey: testPub("n0"), Zone: "a", Capacity: types.Resources{CpuMillis: 4000, MemoryMb: 8192}}}})
			if res.Code != 0 {
				tt.Fatal(res.Log)
			}
			s.nodeList[0], s.nodeList[1] = s.nodeList[1], s.nodeList[0] // n1 n0 n2
		},
		want: "node n0: not at its place 0 in the sorted node list",
	}, {
		name: "node list size",
		corrupt: func(tt *testing.T, s *State) {
			s.nodeIDs = s.nodeIDs[:1]
			s.nodeList = s.nodeList[:1]
		},
		want: "2 nodes, but 1 node ids, 1 in the node list and 2 keys",
	}, {
		name: "active tasks on a Down node",
		corrupt: func(tt *testing.T, s *State) {
			s.nodes["n1"].State = types.NODE_DOWN // without markEvict
			s.touchNode(s.nodes["n1"])
		},
		want: "node n1: Down, whose tasks must be evicted (node_down), still holds 2 active tasks and is not in the eviction backlog",
	}, {
		name: "observer index",
		corrupt: func(tt *testing.T, s *State) {
			s.observerIDs = nil
			s.touchAccount(s.accounts[addrHex(testAddr("obs"))])
		},
		want: fmt.Sprintf("account %s: role observer true, but the observer index omits it", addrHex(testAddr("obs"))),
	}, {
		name: "observer cache",
		corrupt: func(tt *testing.T, s *State) {
			s.refreshObservers()
			s.activeObs++
			s.touchAccount(s.accounts[addrHex(testAddr("obs"))])
		},
		want: "active observer count 2, but the cache holds 1 observers, 1 active; the index 1",
	}, {
		name: "generation floor lowered",
		corrupt: func(tt *testing.T, s *State) {
			s.start.genFloor = 5 // as if block 1 had left it at 5
		},
		want: "block info: generation_floor went back from 5 to 0",
	}, {
		name: "workload's task list",
		corrupt: func(tt *testing.T, s *State) {
			s.workloadTasks["web"] = s.workloadTasks["web"][:2]
			s.touchWorkload(s.workloads["web"])
		},
		want: "workload web: 2 tasks indexed; replicas is 3",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := checkedState(t, newRecordStore(t))
			if got := fmt.Sprint(s.tasks["web/0"].Node, s.tasks["web/1"].Node, s.tasks["web/2"].Node); got != "n1n1n2" {
				t.Fatalf("placement %s; the messages expect n1 n1 n2", got)
			}
			tc.corrupt(t, s)
			want := "app: invariant violated at height 2: " + tc.want
			if got := endBlockPanic(s); got != want {
				t.Errorf("EndBlock panicked with\n  %q\nwant\n  %q", got, want)
			}
		})
	}
}

// TestBlockCheckPasses runs blocks that drain a node, park a workload,
// scale one down and delete another without tripping the check, across a
// state reloaded from its records.
func TestBlockCheckPasses(t *testing.T) {
	store := newRecordStore(t)
	s := checkedState(t, store)
	obs := addrHex(testAddr("obs"))
	deliver(t, s, "ops", &types.TxBody{Msg: &types.TxBody_DrainNode{DrainNode: &types.DrainNode{NodeId: "n2"}}})
	if msg := endBlockPanic(s); msg != "" {
		t.Fatal(msg)
	}
	store.persist(s.TakeChanges())
	// web/2 left n2 and fits nowhere (max_per_node 2): web is parked.
	if s.accounts[obs] == nil || s.tasks["web/2"].State != types.TASK_PENDING || s.parkedCount != 1 {
		t.Fatalf("web/2 %s on %q after the drain, %d parked; want Pending, 1", api.TaskStateName(s.tasks["web/2"].State), s.tasks["web/2"].Node, s.parkedCount)
	}
	s.BeginBlock(Block{Height: 3, TimeMs: 3000, Hash: []byte("h3")}, nil)
	body := createWorkload("web", 1)
	body.Msg = &types.TxBody_UpdateWorkload{UpdateWorkload: &types.UpdateWorkload{Spec: s.workloads["web"].Spec}}
	body.GetUpdateWorkload().Spec.Replicas = 1
	if res := deliver(t, s, "ops", body); res.Code != 0 {
		t.Fatal(res.Log)
	}
	if res := deliver(t, s, "ops", createWorkload("huge", 2)); res.Code != 0 {
		t.Fatal(res.Log)
	}
	if msg := endBlockPanic(s); msg != "" {
		t.Fatal(msg)
	}
	store.persist(s.TakeChanges())
	s = store.load(3)
	s.BeginBlock(Block{Height: 4, TimeMs: 4000, Hash: []byte("h4")}, nil)
	if res := deliver(t, s, "ops", &types.TxBody{Msg: &types.TxBody_DeleteWorkload{DeleteWorkload: &types.DeleteWorkload{Name: "huge"}}}); res.Code != 0 {
		t.Fatal(res.Log)
	}
	if msg := endBlockPanic(s); msg != "" {
		t.Fatal(msg)
	}
	if len(s.tasks) != 1 || s.start.genFloor != s.genFloor {
		t.Fatalf("%d tasks, floor %d/%d", len(s.tasks), s.start.genFloor, s.genFloor)
	}
}
