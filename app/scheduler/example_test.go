package scheduler_test

import (
	"fmt"

	"github.com/phalanx-bft/phalanx/app/scheduler"
	"github.com/phalanx-bft/phalanx/types"
)

// cluster is the caller's side of scheduler.Cluster: here plain fields;
// in app/, indexes over the state.
type cluster struct {
	nodes []*types.Node
	specs map[string]*types.WorkloadSpec
	on    map[string][]string // workload → node of each of its placed tasks
}

func (c *cluster) Nodes() []*types.Node                     { return c.nodes }
func (c *cluster) Workload(name string) *types.WorkloadSpec { return c.specs[name] }
func (c *cluster) TaskNodes(workload string) []string       { return c.on[workload] }

// Three zones; zone c's only node is Down and zone b's is cordoned. A
// database with one replica per zone (max_per_domain 1) places one replica
// in zone a and explains why the other two wait.
func ExamplePlace() {
	node := func(id, zone string) *types.Node {
		return &types.Node{Id: id, Zone: zone, State: types.NODE_READY,
			Capacity: types.Resources{CpuMillis: 4000, MemoryMb: 8192}}
	}
	a1, a2, b1, c1 := node("a1", "a"), node("a2", "a"), node("b1", "b"), node("c1", "c")
	a2.Allocated = types.Resources{CpuMillis: 2000, MemoryMb: 4096}
	b1.Cordoned = true
	c1.State = types.NODE_DOWN
	c := &cluster{
		nodes: []*types.Node{a1, a2, b1, c1},
		specs: map[string]*types.WorkloadSpec{"db": {Name: "db", SpreadKey: "zone", MaxPerDomain: 1,
			Resources: types.Resources{CpuMillis: 1000, MemoryMb: 1024}}},
	}
	tasks := []scheduler.TaskRequest{{Task: "db/0", Workload: "db"}, {Task: "db/1", Workload: "db"}, {Task: "db/2", Workload: "db"}}

	res := scheduler.Place(c, []byte("block hash"), tasks, 100)
	for _, p := range res.Placed {
		fmt.Printf("%s → %s\n", p.Task, p.Node)
	}
	for _, u := range res.Unplaced {
		fmt.Printf("%s pending: %s\n", u.Task, u.Why)
	}
	// Output:
	// db/0 → a2
	// db/1 pending: 0/4 nodes fit: 2 max_per_domain reached, 1 node cordoned, 1 node not ready
	// db/2 pending: 0/4 nodes fit: 2 max_per_domain reached, 1 node cordoned, 1 node not ready
}
