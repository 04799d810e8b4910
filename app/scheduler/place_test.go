package scheduler

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/types"
)

// testCluster is a Cluster over plain slices and maps.
type testCluster struct {
	nodes     []*types.Node
	specs     map[string]*types.WorkloadSpec
	taskNodes map[string][]string
}

func (c *testCluster) Nodes() []*types.Node                     { return c.nodes }
func (c *testCluster) Workload(name string) *types.WorkloadSpec { return c.specs[name] }
func (c *testCluster) TaskNodes(workload string) []string       { return c.taskNodes[workload] }

func newCluster(nodes ...*types.Node) *testCluster {
	return &testCluster{nodes: nodes, specs: map[string]*types.WorkloadSpec{}, taskNodes: map[string][]string{}}
}

func (c *testCluster) workload(spec *types.WorkloadSpec, on ...string) *testCluster {
	c.specs[spec.Name] = spec
	c.taskNodes[spec.Name] = on
	return c
}

// zoned returns a Ready node in zone z with 4000 millicores and 4096 MB.
func zoned(id, z string, mut func(n *types.Node)) *types.Node {
	n := &types.Node{Id: id, Zone: z, State: types.NODE_READY,
		Capacity: types.Resources{CpuMillis: 4000, MemoryMb: 4096}}
	if mut != nil {
		mut(n)
	}
	return n
}

func requests(workload string, from, to int) []TaskRequest {
	var out []TaskRequest
	for i := from; i < to; i++ {
		out = append(out, TaskRequest{Task: fmt.Sprintf("%s/%d", workload, i), Workload: workload})
	}
	return out
}

func placedOn(r Result) string {
	var parts []string
	for _, p := range r.Placed {
		parts = append(parts, p.Task+"@"+p.Node)
	}
	return strings.Join(parts, " ")
}

var testBlock = []byte("block-1")

func TestPlaceExplanation(t *testing.T) {
	var nodes []*types.Node
	for i := range 12 {
		nodes = append(nodes, zoned(fmt.Sprintf("n%02d", i), "a", func(n *types.Node) {
			n.Cordoned = i < 5
			n.Allocated.CpuMillis = 3500
		}))
	}
	c := newCluster(nodes...).workload(&types.WorkloadSpec{Name: "web", Resources: types.Resources{CpuMillis: 1000, MemoryMb: 1}})
	r := Place(c, testBlock, requests("web", 0, 3), 10)
	if len(r.Placed) != 0 || len(r.Unplaced) != 3 || r.Examined != 3 {
		t.Fatalf("result %+v; want 3 unplaced", r)
	}
	for _, u := range r.Unplaced {
		if got, want := u.Why.String(), "0/12 nodes fit: 7 insufficient cpu, 5 node cordoned"; got != want {
			t.Errorf("%s: %q; want %q", u.Task, got, want)
		}
	}
}

func TestPlaceRank(t *testing.T) {
	nodes := []*types.Node{
		zoned("empty", "a", nil),
		zoned("half", "a", func(n *types.Node) { n.Allocated = types.Resources{CpuMillis: 2000, MemoryMb: 2048} }),
		zoned("almost-full", "a", func(n *types.Node) { n.Allocated = types.Resources{CpuMillis: 3500, MemoryMb: 1024} }),
	}
	for _, c := range []struct{ rank, want string }{{"", "half"}, {RankBinpack, "half"}, {RankSpread, "empty"}} {
		spec := &types.WorkloadSpec{Name: "w", Rank: c.rank, Resources: types.Resources{CpuMillis: 1000, MemoryMb: 1024}}
		r := Place(newCluster(nodes...).workload(spec), testBlock, requests("w", 0, 1), 1)
		if got := placedOn(r); got != "w/0@"+c.want {
			t.Errorf("rank %q: %s; want w/0@%s", c.rank, got, c.want)
		}
	}
	// Bin-packing fills the chosen node before opening another.
	spec := &types.WorkloadSpec{Name: "w", Resources: types.Resources{CpuMillis: 1000, MemoryMb: 1024}}
	r := Place(newCluster(zoned("n1", "a", nil), zoned("n2", "a", nil)).workload(spec), testBlock, requests("w", 0, 5), 10)
	first := r.Placed[0].Node
	for _, p := range r.Placed[:4] {
		if p.Node != first {
			t.Errorf("binpack: %s; want the first four on %s", placedOn(r), first)
		}
	}
	if r.Placed[4].Node == first {
		t.Errorf("binpack: %s; the fifth fits only on the other node", placedOn(r))
	}
}

func TestPlaceAvoid(t *testing.T) {
	// Bin-packing prefers "half"; the task used up its restarts there, so
	// it goes to "empty"; with max_per_node 1 on "empty", only "half" fits
	// and the task goes back to it (a preference, not a filter).
	nodes := []*types.Node{
		zoned("empty", "a", nil),
		zoned("half", "a", func(n *types.Node) { n.Allocated = types.Resources{CpuMillis: 2000, MemoryMb: 2048} }),
	}
	spec := &types.WorkloadSpec{Name: "w", Resources: types.Resources{CpuMillis: 1000, MemoryMb: 1024}}
	task := []TaskRequest{{Task: "w/0", Workload: "w", Avoid: "half"}}
	if got := placedOn(Place(newCluster(nodes...).workload(spec), testBlock, task, 1)); got != "w/0@empty" {
		t.Errorf("avoid half: %s; want w/0@empty", got)
	}
	task[0].Avoid = "empty"
	if got := placedOn(Place(newCluster(nodes...).workload(spec), testBlock, task, 1)); got != "w/0@half" {
		t.Errorf("avoid empty: %s; want w/0@half", got)
	}
	spec.MaxPerNode = 1
	task[0].Avoid = "half"
	if got := placedOn(Place(newCluster(nodes...).workload(spec, "empty"), testBlock, task, 1)); got != "w/0@half" {
		t.Errorf("only the avoided node fits: %s; want w/0@half", got)
	}
}

func TestPlaceSpreadOverZones(t *testing.T) {
	nodes := []*types.Node{
		zoned("a1", "a", nil), zoned("a2", "a", nil), zoned("b1", "b", nil), zoned("c1", "c", nil), zoned("c2", "c", nil),
	}
	spec := &types.WorkloadSpec{Name: "db", SpreadKey: "zone", MaxSkew: 1, Resources: types.Resources{CpuMillis: 100, MemoryMb: 100}}
	r := Place(newCluster(nodes...).workload(spec), testBlock, requests("db", 0, 6), 10)
	perZone := map[string]int{}
	for _, p := range r.Placed {
		perZone[p.Node[:1]]++
	}
	if len(r.Placed) != 6 || perZone["a"] != 2 || perZone["b"] != 2 || perZone["c"] != 2 {
		t.Errorf("placed %s; want two per zone", placedOn(r))
	}
}

func TestPlaceZoneLoss(t *testing.T) {
	// Three replicas over three zones; zone c is lost: its node is Down
	// and its task was evicted. The task goes to a or b: c, with no Ready
	// node, is not an eligible domain and does not hold it back.
	down := func(n *types.Node) { n.State = types.NODE_DOWN }
	nodes := []*types.Node{zoned("a1", "a", nil), zoned("b1", "b", nil), zoned("c1", "c", down)}
	spec := &types.WorkloadSpec{Name: "db", SpreadKey: "zone", MaxSkew: 1, MaxPerNode: 2,
		Resources: types.Resources{CpuMillis: 100, MemoryMb: 100}}
	c := newCluster(nodes...).workload(spec, "a1", "b1")
	r := Place(c, testBlock, []TaskRequest{{Task: "db/2", Workload: "db"}}, 10)
	if len(r.Placed) != 1 || r.Placed[0].Node == "c1" {
		t.Fatalf("zone loss: %+v; want db/2 on a1 or b1", r)
	}
	// A healthy but full zone c does hold it back (hard constraint).
	nodes[2] = zoned("c1", "c", func(n *types.Node) { n.Allocated.CpuMillis = 4000 })
	r = Place(c, testBlock, []TaskRequest{{Task: "db/2", Workload: "db"}}, 10)
	if got, want := r.Unplaced[0].Why.String(), "0/3 nodes fit: 2 max_skew exceeded, 1 insufficient cpu"; got != want {
		t.Errorf("full zone: %q; want %q", got, want)
	}
	// When zone c comes back after the others took its share, new tasks
	// go there: it reduces the skew.
	nodes[2] = zoned("c1", "c", nil)
	c.taskNodes["db"] = []string{"a1", "a1", "b1"}
	r = Place(c, testBlock, requests("db", 3, 5), 10)
	if got := placedOn(r); got != "db/3@c1 db/4@c1" {
		t.Errorf("recovery: %s; want both on c1", got)
	}
}

func TestPlaceMaxPerDomainAndNode(t *testing.T) {
	nodes := []*types.Node{zoned("a1", "a", nil), zoned("a2", "a", nil), zoned("b1", "b", nil)}
	spec := &types.WorkloadSpec{Name: "w", SpreadKey: "zone", MaxPerDomain: 2, MaxPerNode: 1,
		Resources: types.Resources{CpuMillis: 100, MemoryMb: 100}}
	r := Place(newCluster(nodes...).workload(spec, "a1"), testBlock, requests("w", 1, 5), 10)
	if got, want := placedOn(r), "w/1@b1 w/2@a2"; got != want {
		t.Errorf("placed %s; want %s", got, want)
	}
	if len(r.Unplaced) != 2 {
		t.Fatalf("unplaced %+v; want w/3, w/4", r.Unplaced)
	}
	if got, want := r.Unplaced[0].Why.String(), "0/3 nodes fit: 3 max_per_node reached"; got != want {
		t.Errorf("%q; want %q", got, want)
	}
	spec.MaxPerNode, spec.MaxPerDomain = 0, 1
	r = Place(newCluster(nodes...).workload(spec, "a1"), testBlock, requests("w", 1, 3), 10)
	if got, want := placedOn(r), "w/1@b1"; got != want {
		t.Errorf("placed %s; want %s", got, want)
	}
	if got, want := r.Unplaced[0].Why.String(), "0/3 nodes fit: 3 max_per_domain reached"; got != want {
		t.Errorf("%q; want %q", got, want)
	}
}

func TestPlaceSpreadLabel(t *testing.T) {
	rack := func(v string) func(n *types.Node) {
		return func(n *types.Node) { n.Labels = []types.Label{{Key: "rack", Value: v}} }
	}
	nodes := []*types.Node{zoned("n1", "a", rack("r1")), zoned("n2", "a", rack("r2")), zoned("n3", "a", nil)}
	spec := &types.WorkloadSpec{Name: "w", SpreadKey: "rack", Resources: types.Resources{CpuMillis: 100, MemoryMb: 100}}
	r := Place(newCluster(nodes...).workload(spec), testBlock, requests("w", 0, 4), 10)
	perRack := map[string]int{}
	for _, p := range r.Placed {
		if p.Node == "n3" {
			t.Errorf("placed on n3, which has no rack label")
		}
		perRack[p.Node]++
	}
	// The soft spread alternates the racks.
	if perRack["n1"] != 2 || perRack["n2"] != 2 {
		t.Errorf("placed %s; want two per rack", placedOn(r))
	}
}

func TestPlaceLimits(t *testing.T) {
	nodes := []*types.Node{zoned("n1", "a", nil)}
	c := newCluster(nodes...).
		workload(&types.WorkloadSpec{Name: "big", Resources: types.Resources{CpuMillis: 8000, MemoryMb: 1}}).
		workload(&types.WorkloadSpec{Name: "huge", Resources: types.Resources{CpuMillis: 9000, MemoryMb: 1}}).
		workload(&types.WorkloadSpec{Name: "small", Resources: types.Resources{CpuMillis: 100, MemoryMb: 1}})

	// limit placements: the rest are not examined.
	r := Place(c, testBlock, requests("small", 0, 5), 2)
	if len(r.Placed) != 2 || r.Examined != 2 || len(r.Unplaced) != 0 {
		t.Errorf("limit 2: %+v", r)
	}
	// A workload that fitted nowhere costs no further scan: 10 tasks of
	// it, then small ones, with limit 1 (budget of 4 scans).
	tasks := append(requests("big", 0, 10), requests("small", 0, 1)...)
	r = Place(c, testBlock, tasks, 1)
	if len(r.Placed) != 1 || r.Examined != 11 || len(r.Unplaced) != 10 {
		t.Errorf("memo: placed %d, examined %d, unplaced %d; want 1, 11, 10", len(r.Placed), r.Examined, len(r.Unplaced))
	}
	// Distinct unplaceable workloads do each cost a scan: with limit 1
	// only 4 scans (big, huge, and 2 more) happen.
	c.workload(&types.WorkloadSpec{Name: "huger", Resources: types.Resources{CpuMillis: 10000, MemoryMb: 1}})
	c.workload(&types.WorkloadSpec{Name: "hugest", Resources: types.Resources{CpuMillis: 11000, MemoryMb: 1}})
	tasks = []TaskRequest{{Task: "big/0", Workload: "big"}, {Task: "huge/0", Workload: "huge"}, {Task: "huger/0", Workload: "huger"}, {Task: "hugest/0", Workload: "hugest"}, {Task: "small/0", Workload: "small"}}
	r = Place(c, testBlock, tasks, 1)
	if len(r.Placed) != 0 || r.Examined != 4 {
		t.Errorf("scan budget: placed %d, examined %d; want 0, 4", len(r.Placed), r.Examined)
	}
	if r := Place(c, testBlock, tasks, 0); r.Examined != 0 || r.Placed != nil {
		t.Errorf("limit 0: %+v", r)
	}

	for name, f := range map[string]func(){
		"negative limit": func() { Place(c, testBlock, nil, -1) },
		"limit too high": func() { Place(c, testBlock, nil, MaxPlacementsPerCall+1) },
		"too many tasks": func() { Place(c, testBlock, make([]TaskRequest, MaxTasksPerCall+1), 1) },
		"too many nodes": func() { Place(newCluster(make([]*types.Node, MaxNodes+1)...), testBlock, nil, 1) },
		"duplicate ids": func() {
			Place(newCluster(zoned("b", "a", nil), zoned("a", "a", nil), zoned("b", "a", nil)), testBlock, nil, 1)
		},
		"no workload": func() { Place(c, testBlock, []TaskRequest{{Task: "x/0", Workload: "x"}}, 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestPlaceTieBreak(t *testing.T) {
	var nodes []*types.Node
	for i := range 10 {
		nodes = append(nodes, zoned(fmt.Sprintf("n%d", i), "a", nil))
	}
	c := newCluster(nodes...).workload(&types.WorkloadSpec{Name: "w", Resources: types.Resources{CpuMillis: 100, MemoryMb: 100}})
	wins := map[string]int{}
	for b := range 200 {
		block := []byte(fmt.Sprintf("block-%d", b))
		r := Place(c, block, requests("w", 0, 1), 1)
		// The winner has the smallest hash of all (equally empty) nodes.
		want := ""
		var min uint64
		for _, n := range nodes {
			if h := TieBreakHash(block, "w/0", n.Id); want == "" || h < min {
				want, min = n.Id, h
			}
		}
		if r.Placed[0].Node != want {
			t.Fatalf("block %d: %s; want %s (smallest tie-break hash)", b, r.Placed[0].Node, want)
		}
		wins[want]++
	}
	for _, n := range nodes {
		if wins[n.Id] < 5 {
			t.Errorf("over 200 blocks, %s won %d ties; want them spread (%v)", n.Id, wins[n.Id], wins)
		}
	}
	// Within one block, different tasks (of different workloads: binpack
	// would otherwise stack them) pick different nodes too.
	for i := range 20 {
		c.workload(&types.WorkloadSpec{Name: fmt.Sprintf("v%d", i), Resources: types.Resources{CpuMillis: 100, MemoryMb: 100}})
	}
	chosen := map[string]bool{}
	for i := range 20 {
		r := Place(c, testBlock, requests(fmt.Sprintf("v%d", i), 0, 1), 1)
		chosen[r.Placed[0].Node] = true
	}
	if len(chosen) < 5 {
		t.Errorf("20 tasks in one block chose only %d distinct nodes", len(chosen))
	}
}

func TestPlaceNodeOrder(t *testing.T) {
	nodes := []*types.Node{zoned("c", "z1", nil), zoned("a", "z2", nil), zoned("b", "z1", nil), zoned("d", "z3", nil)}
	spec := &types.WorkloadSpec{Name: "w", SpreadKey: "zone", Resources: types.Resources{CpuMillis: 1000, MemoryMb: 100}}
	c := newCluster(nodes...).workload(spec, "c")
	got := Place(c, testBlock, requests("w", 1, 8), 10)
	c.nodes = []*types.Node{nodes[1], nodes[2], nodes[0], nodes[3]}
	want := Place(c, testBlock, requests("w", 1, 8), 10)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unsorted nodes: %+v\nsorted: %+v", got, want)
	}
	if nodes[0].Id != "c" {
		t.Errorf("Place reordered the caller's slice")
	}
}

// TestPlacePinned: a pinned task (a system workload's) goes to its node or
// nowhere, with the node's own checks; its placement counts for the tasks
// after it.
func TestPlacePinned(t *testing.T) {
	c := newCluster(
		zoned("a", "z1", nil),
		zoned("b", "z1", func(n *types.Node) { n.Cordoned = true }),
		zoned("c", "z2", func(n *types.Node) { n.Allocated.CpuMillis = 3900 }),
		zoned("d", "z2", nil),
	).workload(&types.WorkloadSpec{Name: "sys", Resources: types.Resources{CpuMillis: 500, MemoryMb: 64}})
	c.workload(&types.WorkloadSpec{Name: "big", Resources: types.Resources{CpuMillis: 3600, MemoryMb: 64}})
	res := Place(c, testBlock, []TaskRequest{
		{Task: "sys/0", Workload: "sys", Pin: "a"},
		{Task: "sys/1", Workload: "sys", Pin: "b"},
		{Task: "sys/2", Workload: "sys", Pin: "c"},
		{Task: "sys/3", Workload: "sys", Pin: "gone"},
		{Task: "big/0", Workload: "big"},
		{Task: "big/1", Workload: "big"},
	}, 10)
	if got, want := placedOn(res), "sys/0@a big/0@d"; got != want {
		t.Fatalf("placed %q; want %q", got, want)
	}
	why := map[string]string{}
	for _, u := range res.Unplaced {
		why[u.Task] = u.Why.String()
	}
	want := map[string]string{
		"sys/1": "0/1 nodes fit: 1 node cordoned",
		"sys/2": "0/1 nodes fit: 1 insufficient cpu",
		"sys/3": "0/0 nodes fit: no nodes",
		"big/1": "0/4 nodes fit: 3 insufficient cpu, 1 node cordoned",
	}
	if !reflect.DeepEqual(why, want) {
		t.Fatalf("unplaced %v; want %v", why, want)
	}
}
