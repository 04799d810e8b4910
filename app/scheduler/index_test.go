package scheduler

import (
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/internal/testseed"
	"github.com/phalanx-bft/phalanx/types"
)

// TestPlaceMatchesReference compares Place with referencePlace (Place as
// it was before the score index, reference_test.go) on seeded random
// clusters and queues: the same placements, the same tasks unplaced with
// the same explanations, the same Examined. The clusters have 1 to 700
// nodes, and indexMinReady is lowered at random (to 0 in a third of the
// cases), so that the index runs on small clusters where every corner is
// reached, and on large ones where the walks are long: constraints (= and
// !=, on labels and zones), spread workloads among indexed ones (their
// placements move nodes in the indexes), nodes not Ready, cordoned,
// draining, with no capacity or over-allocated, workloads sharing one
// request (one index) or needing nothing, identical nodes (ties),
// max_per_node, avoided nodes, queues that exhaust the cluster, limits
// from 0 to MaxPlacementsPerCall, nodes in any order, Clusters with and
// without NodeIndexer.
func TestPlaceMatchesReference(t *testing.T) {
	seeds := []int64{1, 2, 3, time.Now().UnixNano()}
	if *seedFlag != 0 {
		seeds = []int64{*seedFlag}
	}
	cases := 300
	if testing.Short() {
		cases = 60
	}
	defer func(v int) { indexMinReady = v }(indexMinReady)
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			testseed.Log(t, "./app/scheduler", seed)
			rng := rand.New(rand.NewSource(seed))
			placed, unplaced, indexedCalls := 0, 0, 0
			for i := range cases {
				c, tasks, limit, block := referenceCase(rng)
				switch rng.Intn(3) {
				case 0:
					indexMinReady = 0
				case 1:
					indexMinReady = rng.Intn(len(c.nodes) + 1)
				default:
					indexMinReady = IndexMinReady
				}
				if countReady(c) >= indexMinReady {
					indexedCalls++
				}
				var cl Cluster = c
				if sortedByID(c.nodes) && rng.Intn(2) == 0 {
					cl = newIndexedCluster(c)
				}
				got := Place(cl, block, tasks, limit)
				want := referencePlace(cl, block, tasks, limit)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("case %d (%d nodes, %d tasks, limit %d, indexMinReady %d): Place and the reference differ\n%s",
						i, len(c.nodes), len(tasks), limit, indexMinReady, diffResults(got, want))
				}
				placed, unplaced = placed+len(got.Placed), unplaced+len(got.Unplaced)
			}
			t.Logf("%d cases (%d through the index): %d tasks placed, %d unplaced", cases, indexedCalls, placed, unplaced)
			if indexedCalls < cases/3 || placed == 0 || unplaced == 0 {
				t.Errorf("the generator reaches too little: %d indexed calls, %d placed, %d unplaced", indexedCalls, placed, unplaced)
			}
		})
	}
}

// indexedCluster is a testCluster that is a NodeIndexer, as the app's
// cluster view is.
type indexedCluster struct {
	*testCluster
	index map[string]int
}

func newIndexedCluster(c *testCluster) *indexedCluster {
	ic := &indexedCluster{testCluster: c, index: map[string]int{}}
	for i, n := range c.nodes {
		ic.index[n.Id] = i
	}
	return ic
}

func (c *indexedCluster) NodeIndex(id string) (int, bool) {
	i, ok := c.index[id]
	return i, ok
}

func countReady(c *testCluster) int {
	n := 0
	for _, node := range c.nodes {
		if (readyChecker{}).check(node) == fits {
			n++
		}
	}
	return n
}

// diffResults describes the first difference between two Results.
func diffResults(got, want Result) string {
	if got.Examined != want.Examined {
		return fmt.Sprintf("Examined %d, reference %d", got.Examined, want.Examined)
	}
	for i := range min(len(got.Placed), len(want.Placed)) {
		if got.Placed[i] != want.Placed[i] {
			return fmt.Sprintf("placement %d: %+v, reference %+v", i, got.Placed[i], want.Placed[i])
		}
	}
	if len(got.Placed) != len(want.Placed) {
		return fmt.Sprintf("%d placements, reference %d", len(got.Placed), len(want.Placed))
	}
	return fmt.Sprintf("unplaced:\n%+v\nreference:\n%+v", got.Unplaced, want.Unplaced)
}

// referenceCase draws a cluster, a queue, a limit and a block hash.
func referenceCase(rng *rand.Rand) (*testCluster, []TaskRequest, int, []byte) {
	pick := func(xs ...string) string { return xs[rng.Intn(len(xs))] }
	zones := []string{"z0", "z1", "z2", "z3", "z4", "z5"}[:1+rng.Intn(6)]
	sizes := []int{1 + rng.Intn(8), 10 + rng.Intn(60), 100 + rng.Intn(600)}
	nodeCount := sizes[rng.Intn(len(sizes))]
	identical := rng.Intn(4) == 0 // every node alike: ties everywhere
	c := newCluster()
	for _, i := range rng.Perm(nodeCount) {
		n := &types.Node{Id: fmt.Sprintf("n%03d", i), State: types.NODE_READY}
		if rng.Intn(10) > 0 {
			n.Zone = zones[rng.Intn(len(zones))]
		}
		n.Capacity = types.Resources{CpuMillis: 4000, MemoryMb: 4096}
		if !identical {
			if rng.Intn(6) == 0 {
				n.State = types.NodeState(rng.Intn(6))
			}
			n.Cordoned = rng.Intn(15) == 0
			n.Draining = rng.Intn(30) == 0
			n.Capacity.CpuMillis = int64(1000 * (1 + rng.Intn(8)))
			n.Capacity.MemoryMb = int64(1024 * (1 + rng.Intn(8)))
			n.Allocated.CpuMillis = n.Capacity.CpuMillis * int64(rng.Intn(9)) / 8
			n.Allocated.MemoryMb = n.Capacity.MemoryMb * int64(rng.Intn(9)) / 8
			switch rng.Intn(12) {
			case 0: // odd amounts, to probe the capacity boundaries
				n.Allocated.CpuMillis -= int64(rng.Intn(3))
				n.Allocated.MemoryMb += int64(rng.Intn(3))
			case 1: // no capacity
				n.Capacity = types.Resources{}
			case 2: // over-allocated (a node that shrank)
				n.Allocated.CpuMillis = n.Capacity.CpuMillis + 500
			}
		}
		if rng.Intn(2) == 0 {
			n.Labels = append(n.Labels, types.Label{Key: "disk", Value: pick("ssd", "hdd")})
		}
		if rng.Intn(2) == 0 {
			n.Labels = append(n.Labels, types.Label{Key: "rack", Value: pick("r0", "r1", "r2")})
		}
		if rng.Intn(10) == 0 {
			n.Labels = append(n.Labels, types.Label{Key: "zone", Value: pick(zones...)})
		}
		sort.Slice(n.Labels, func(i, j int) bool { return n.Labels[i].Key < n.Labels[j].Key })
		c.nodes = append(c.nodes, n)
	}
	if rng.Intn(2) == 0 {
		sort.Slice(c.nodes, func(i, j int) bool { return c.nodes[i].Id < c.nodes[j].Id })
	}
	// A few requests, shared by several workloads (one index each).
	requests := []types.Resources{{}, {CpuMillis: 250, MemoryMb: 256}}
	for range 1 + rng.Intn(4) {
		requests = append(requests, types.Resources{CpuMillis: int64(250*(1+rng.Intn(12)) + rng.Intn(2)), MemoryMb: int64(256*(1+rng.Intn(12)) + rng.Intn(2))})
	}
	var tasks []TaskRequest
	for w := range 1 + rng.Intn(8) {
		spec := &types.WorkloadSpec{
			Name:      fmt.Sprintf("w%d", w),
			Resources: requests[rng.Intn(len(requests))],
			Rank:      pick("", RankBinpack, RankSpread),
		}
		for range rng.Intn(3) {
			spec.Constraints = append(spec.Constraints, types.Constraint{Label: pick("disk", "rack", "zone"), Op: pick("=", "!="), Value: pick("ssd", "r1", "z0", "z1")})
		}
		if rng.Intn(3) == 0 {
			spec.SpreadKey = pick("zone", "zone", "rack")
			spec.MaxPerDomain = uint32(rng.Intn(4))
			spec.MaxSkew = uint32(rng.Intn(3))
		}
		if rng.Intn(2) == 0 {
			spec.MaxPerNode = uint32(1 + rng.Intn(3))
		}
		var on []string
		for range rng.Intn(3 * nodeCount / 2) {
			on = append(on, c.nodes[rng.Intn(len(c.nodes))].Id)
		}
		if rng.Intn(10) == 0 {
			on = append(on, "gone") // a task on a node the cluster no longer lists
		}
		c.workload(spec, on...)
		for i := range rng.Intn(1 + 2*nodeCount) {
			tr := TaskRequest{Task: fmt.Sprintf("%s/%d", spec.Name, 10+i), Workload: spec.Name}
			if rng.Intn(4) == 0 {
				tr.Avoid = pick(c.nodes[rng.Intn(len(c.nodes))].Id, "gone")
			}
			tasks = append(tasks, tr)
		}
	}
	rng.Shuffle(len(tasks), func(i, j int) { tasks[i], tasks[j] = tasks[j], tasks[i] })
	if len(tasks) > MaxTasksPerCall {
		tasks = tasks[:MaxTasksPerCall]
	}
	limit := []int{0, 1, 1 + rng.Intn(20), 100, 1000, rng.Intn(MaxPlacementsPerCall + 1)}[rng.Intn(6)]
	block := make([]byte, 32)
	rng.Read(block)
	return c, tasks, limit, block
}
