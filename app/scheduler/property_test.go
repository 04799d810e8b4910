package scheduler

import (
	"flag"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/internal/testseed"
	"github.com/phalanx-bft/phalanx/types"
)

var seedFlag = flag.Int64("seed", 0, "seed of the placement property test (0: fixed seeds and one from the clock)")

// TestPlaceProperties places random task queues on random clusters (zones,
// labels, capacities, states, cordons, existing tasks) and checks, for
// every case:
//
//   - Place agrees, task by task, with placeOracle, a naive reading of
//     doc.go's rules (so every task is placed when a feasible node exists,
//     within the limit, and on the best one);
//   - invariants checked on Place's own result, independently of the
//     ranking: nodes Ready and schedulable, constraints met, capacity never
//     exceeded, max_per_node, max_per_domain and max_skew never violated;
//   - the same inputs give the same result twice and with the nodes in a
//     shuffled order.
func TestPlaceProperties(t *testing.T) {
	seeds := []int64{1, 2, time.Now().UnixNano()}
	if *seedFlag != 0 {
		seeds = []int64{*seedFlag}
	}
	const cases = 400
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			testseed.Log(t, "./app/scheduler", seed)
			rng := rand.New(rand.NewSource(seed))
			placed, unplaced, waiting := 0, 0, 0
			reasons := map[string]int{}
			for i := range cases {
				c, tasks, limit, block := randomCase(rng)
				r := checkCase(t, fmt.Sprintf("seed %d case %d", seed, i), rng, c, tasks, limit, block)
				if t.Failed() {
					return
				}
				placed, unplaced, waiting = placed+len(r.Placed), unplaced+len(r.Unplaced), waiting+len(tasks)-r.Examined
				for _, u := range r.Unplaced {
					for k, n := range u.Why.Filtered {
						reasons[k] += n
					}
				}
			}
			t.Logf("%d cases: %d tasks placed, %d unplaced, %d left by the limit; filtered nodes by reason: %v",
				cases, placed, unplaced, waiting, reasons)
			// The generator must reach every reason, or the oracle
			// comparison proves less than it seems.
			for r := reason(1); r < numReasons; r++ {
				if reasons[r.String()] == 0 {
					t.Errorf("no case filtered a node for %q", r)
				}
			}
		})
	}
}

func randomCase(rng *rand.Rand) (*testCluster, []TaskRequest, int, []byte) {
	pick := func(xs ...string) string { return xs[rng.Intn(len(xs))] }
	zones := []string{"z0", "z1", "z2", "z3", "z4"}[:1+rng.Intn(5)]
	c := newCluster()
	nodeCount := 1 + rng.Intn(30)
	for _, i := range rng.Perm(nodeCount) {
		n := &types.Node{Id: fmt.Sprintf("n%02d", i), State: types.NODE_READY}
		if rng.Intn(10) > 0 {
			n.Zone = zones[rng.Intn(len(zones))]
		}
		if rng.Intn(5) == 0 {
			n.State = types.NodeState(rng.Intn(6))
		}
		n.Cordoned = rng.Intn(10) == 0
		n.Draining = rng.Intn(20) == 0
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
		n.Capacity.CpuMillis = int64(1000 * (1 + rng.Intn(4)))
		n.Capacity.MemoryMb = int64(1024 * (1 + rng.Intn(4)))
		n.Allocated.CpuMillis = n.Capacity.CpuMillis * int64(rng.Intn(5)) / 4
		n.Allocated.MemoryMb = n.Capacity.MemoryMb * int64(rng.Intn(5)) / 4
		if rng.Intn(4) == 0 { // odd amounts, to probe the capacity boundaries
			n.Allocated.CpuMillis -= int64(rng.Intn(3))
			n.Allocated.MemoryMb -= int64(rng.Intn(3))
		}
		c.nodes = append(c.nodes, n)
	}
	var tasks []TaskRequest
	for w := range 1 + rng.Intn(5) {
		spec := &types.WorkloadSpec{
			Name:      fmt.Sprintf("w%d", w),
			Resources: types.Resources{CpuMillis: int64(250*(1+rng.Intn(6)) + rng.Intn(2)), MemoryMb: int64(256*(1+rng.Intn(6)) + rng.Intn(2))},
			Rank:      pick("", RankBinpack, RankSpread),
		}
		if rng.Intn(3) == 0 {
			spec.Constraints = append(spec.Constraints, types.Constraint{Label: pick("disk", "rack", "zone"), Op: pick("=", "!="), Value: pick("ssd", "r1", "z0")})
		}
		if rng.Intn(3) > 0 {
			spec.SpreadKey = pick("zone", "zone", "rack")
			spec.MaxPerDomain = uint32(rng.Intn(4))
			spec.MaxSkew = uint32(rng.Intn(3))
		}
		spec.MaxPerNode = uint32(rng.Intn(4))
		var on []string
		for range rng.Intn(6) {
			on = append(on, c.nodes[rng.Intn(len(c.nodes))].Id)
		}
		if rng.Intn(10) == 0 {
			on = append(on, "gone") // a task on a node the cluster no longer lists
		}
		c.workload(spec, on...)
		for i := range rng.Intn(12) {
			tr := TaskRequest{Task: fmt.Sprintf("%s/%d", spec.Name, 10+i), Workload: spec.Name}
			if rng.Intn(4) == 0 {
				tr.Avoid = pick(c.nodes[rng.Intn(len(c.nodes))].Id, "gone")
			}
			tasks = append(tasks, tr)
		}
	}
	rng.Shuffle(len(tasks), func(i, j int) { tasks[i], tasks[j] = tasks[j], tasks[i] })
	block := make([]byte, 32)
	rng.Read(block)
	return c, tasks, rng.Intn(20), block
}

func checkCase(t *testing.T, name string, rng *rand.Rand, c *testCluster, tasks []TaskRequest, limit int, block []byte) Result {
	t.Helper()
	got := Place(c, block, tasks, limit)
	if again := Place(c, block, tasks, limit); !reflect.DeepEqual(got, again) {
		t.Fatalf("%s: two runs differ:\n%+v\n%+v", name, got, again)
	}
	shuffled := *c
	shuffled.nodes = append([]*types.Node(nil), c.nodes...)
	rng.Shuffle(len(shuffled.nodes), func(i, j int) { shuffled.nodes[i], shuffled.nodes[j] = shuffled.nodes[j], shuffled.nodes[i] })
	if other := Place(&shuffled, block, tasks, limit); !reflect.DeepEqual(got, other) {
		t.Fatalf("%s: shuffled nodes change the result:\n%+v\n%+v", name, got, other)
	}
	want := placeOracle(c, block, tasks, limit)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: Place and the oracle differ\nPlace:  %+v\noracle: %+v", name, got, want)
	}
	checkInvariants(t, name, c, tasks, limit, got)
	return got
}

// world is the oracle's mutable copy of a cluster.
type world struct {
	nodes     []*types.Node // sorted by id, copies
	specs     map[string]*types.WorkloadSpec
	taskNodes map[string][]string
}

func newWorld(c *testCluster) *world {
	w := &world{specs: c.specs, taskNodes: map[string][]string{}}
	for _, n := range c.nodes {
		cp := *n
		w.nodes = append(w.nodes, &cp)
	}
	sort.Slice(w.nodes, func(i, j int) bool { return w.nodes[i].Id < w.nodes[j].Id })
	for k, v := range c.taskNodes {
		w.taskNodes[k] = append([]string(nil), v...)
	}
	return w
}

func (w *world) node(id string) *types.Node {
	for _, n := range w.nodes {
		if n.Id == id {
			return n
		}
	}
	return nil
}

// label reads a label naively: a linear scan, then the zone for "zone".
func label(n *types.Node, key string) (string, bool) {
	for _, l := range n.Labels {
		if l.Key == key {
			return l.Value, true
		}
	}
	if key == "zone" && n.Zone != "" {
		return n.Zone, true
	}
	return "", false
}

// schedulable: the node checks (Ready, not draining or cordoned,
// constraints, spread label).
func schedulable(n *types.Node, spec *types.WorkloadSpec) string {
	switch {
	case n.State != types.NODE_READY:
		return ReasonNotReady
	case n.Draining:
		return ReasonDraining
	case n.Cordoned:
		return ReasonCordoned
	}
	for _, k := range spec.Constraints {
		v, ok := label(n, k.Label)
		if k.Op == "=" && !(ok && v == k.Value) || k.Op == "!=" && ok && v == k.Value {
			return ReasonConstraint
		}
	}
	if spec.SpreadKey != "" {
		if _, ok := label(n, spec.SpreadKey); !ok {
			return ReasonNoSpreadLabel
		}
	}
	return ""
}

// domainCounts counts the workload's tasks per domain, and returns the
// eligible domains.
func (w *world) domainCounts(workload string) (map[string]uint32, map[string]bool) {
	spec := w.specs[workload]
	counts, eligible := map[string]uint32{}, map[string]bool{}
	for _, id := range w.taskNodes[workload] {
		if n := w.node(id); n != nil {
			if v, ok := label(n, spec.SpreadKey); ok {
				counts[v]++
			}
		}
	}
	for _, n := range w.nodes {
		if schedulable(n, spec) == "" {
			v, _ := label(n, spec.SpreadKey)
			eligible[v] = true
		}
	}
	return counts, eligible
}

func minEligible(counts map[string]uint32, eligible map[string]bool) uint32 {
	first, min := true, uint32(0)
	for d := range eligible {
		if first || counts[d] < min {
			min, first = counts[d], false
		}
	}
	return min
}

// reason is why n cannot take one more task of workload now, or "".
func (w *world) reason(n *types.Node, workload string) string {
	spec := w.specs[workload]
	if r := schedulable(n, spec); r != "" {
		return r
	}
	onNode := uint32(0)
	for _, id := range w.taskNodes[workload] {
		if id == n.Id {
			onNode++
		}
	}
	if spec.MaxPerNode > 0 && onNode >= spec.MaxPerNode {
		return ReasonMaxPerNode
	}
	if spec.SpreadKey != "" {
		counts, eligible := w.domainCounts(workload)
		d, _ := label(n, spec.SpreadKey)
		if spec.MaxPerDomain > 0 && counts[d] >= spec.MaxPerDomain {
			return ReasonMaxPerDomain
		}
		if spec.MaxSkew > 0 && counts[d]+1 > minEligible(counts, eligible)+spec.MaxSkew {
			return ReasonMaxSkew
		}
	}
	if n.Allocated.CpuMillis+spec.Resources.CpuMillis > n.Capacity.CpuMillis {
		return ReasonInsufficientCPU
	}
	if n.Allocated.MemoryMb+spec.Resources.MemoryMb > n.Capacity.MemoryMb {
		return ReasonInsufficientMem
	}
	return ""
}

// better reports whether a ranks above b for task.
func (w *world) better(a, b *types.Node, task TaskRequest, block []byte) bool {
	if (a.Id == task.Avoid) != (b.Id == task.Avoid) {
		return b.Id == task.Avoid
	}
	workload := task.Workload
	spec := w.specs[workload]
	if spec.SpreadKey != "" {
		counts, _ := w.domainCounts(workload)
		da, _ := label(a, spec.SpreadKey)
		db, _ := label(b, spec.SpreadKey)
		if counts[da] != counts[db] {
			return counts[da] < counts[db]
		}
	}
	score := func(n *types.Node) int64 {
		s := (n.Allocated.CpuMillis+spec.Resources.CpuMillis)*1000/n.Capacity.CpuMillis +
			(n.Allocated.MemoryMb+spec.Resources.MemoryMb)*1000/n.Capacity.MemoryMb
		if spec.Rank == RankSpread {
			return -s
		}
		return s
	}
	if sa, sb := score(a), score(b); sa != sb {
		return sa > sb
	}
	ha, hb := TieBreakHash(block, task.Task, a.Id), TieBreakHash(block, task.Task, b.Id)
	return ha < hb || ha == hb && a.Id < b.Id
}

func (w *world) place(n *types.Node, workload string) {
	spec := w.specs[workload]
	n.Allocated.CpuMillis += spec.Resources.CpuMillis
	n.Allocated.MemoryMb += spec.Resources.MemoryMb
	w.taskNodes[workload] = append(w.taskNodes[workload], n.Id)
}

// placeOracle is Place as doc.go states it, computed naively.
func placeOracle(c *testCluster, block []byte, tasks []TaskRequest, limit int) Result {
	w := newWorld(c)
	res := Result{Examined: len(tasks)}
	scans := 0
	unplaceable := map[string]*Explanation{}
	for i, t := range tasks {
		if len(res.Placed) == limit || scans == limit*ScansPerPlacement {
			res.Examined = i
			break
		}
		if why := unplaceable[t.Workload]; why != nil {
			res.Unplaced = append(res.Unplaced, Unplaced{t.Task, *why})
			continue
		}
		scans++
		var best *types.Node
		why := Explanation{Nodes: len(w.nodes), Filtered: Filtered{}}
		for _, n := range w.nodes {
			if r := w.reason(n, t.Workload); r != "" {
				why.Filtered[r]++
			} else if best == nil || w.better(n, best, t, block) {
				best = n
			}
		}
		if best == nil {
			unplaceable[t.Workload] = &why
			res.Unplaced = append(res.Unplaced, Unplaced{t.Task, why})
			continue
		}
		w.place(best, t.Workload)
		res.Placed = append(res.Placed, Placement{t.Task, best.Id})
	}
	return res
}

// checkInvariants replays Place's result and checks what must hold
// whatever the ranking.
func checkInvariants(t *testing.T, name string, c *testCluster, tasks []TaskRequest, limit int, r Result) {
	t.Helper()
	w := newWorld(c)
	placed := map[string]string{}
	for _, p := range r.Placed {
		placed[p.Task] = p.Node
	}
	unplaced := map[string]Explanation{}
	for _, u := range r.Unplaced {
		unplaced[u.Task] = u.Why
	}
	if len(r.Placed) > limit {
		t.Errorf("%s: %d placements; limit %d", name, len(r.Placed), limit)
	}
	if r.Examined < len(tasks) && len(r.Placed) < limit && r.Examined < limit*ScansPerPlacement {
		t.Errorf("%s: stopped after %d tasks with %d placed, limit %d", name, r.Examined, len(r.Placed), limit)
	}
	for i, task := range tasks {
		node, isPlaced := placed[task.Task]
		why, isUnplaced := unplaced[task.Task]
		if i >= r.Examined {
			if isPlaced || isUnplaced {
				t.Errorf("%s: %s beyond Examined has a result", name, task.Task)
			}
			continue
		}
		if isPlaced == isUnplaced {
			t.Fatalf("%s: %s is placed %v and unplaced %v", name, task.Task, isPlaced, isUnplaced)
		}
		spec := c.specs[task.Workload]
		if isUnplaced {
			sum := 0
			for _, k := range why.Filtered {
				sum += k
			}
			if why.Nodes != len(c.nodes) || sum != len(c.nodes) {
				t.Errorf("%s: %s: explanation %v does not count every node once (%d)", name, task.Task, why, len(c.nodes))
			}
			for _, n := range w.nodes {
				if r := w.reason(n, task.Workload); r == "" {
					t.Errorf("%s: %s left pending; %s could take it", name, task.Task, n.Id)
				}
			}
			continue
		}
		n := w.node(node)
		if n == nil {
			t.Fatalf("%s: %s placed on unknown node %s", name, task.Task, node)
		}
		if r := schedulable(n, spec); r != "" {
			t.Errorf("%s: %s placed on %s: %s", name, task.Task, node, r)
		}
		onNode := 0
		for _, id := range w.taskNodes[task.Workload] {
			if id == node {
				onNode++
			}
		}
		if spec.MaxPerNode > 0 && onNode >= int(spec.MaxPerNode) {
			t.Errorf("%s: %s on %s: max_per_node %d violated", name, task.Task, node, spec.MaxPerNode)
		}
		if spec.SpreadKey != "" {
			counts, eligible := w.domainCounts(task.Workload)
			d, _ := label(n, spec.SpreadKey)
			min := minEligible(counts, eligible)
			skewBefore := uint32(0)
			for e := range eligible {
				skewBefore = max(skewBefore, counts[e]-min)
			}
			if spec.MaxPerDomain > 0 && counts[d] >= spec.MaxPerDomain {
				t.Errorf("%s: %s on %s: max_per_domain %d violated in %s", name, task.Task, node, spec.MaxPerDomain, d)
			}
			w.place(n, task.Workload)
			counts, _ = w.domainCounts(task.Workload)
			newMin := minEligible(counts, eligible)
			skewAfter := uint32(0)
			for e := range eligible {
				skewAfter = max(skewAfter, counts[e]-newMin)
			}
			if spec.MaxSkew > 0 && counts[d] > min+spec.MaxSkew {
				t.Errorf("%s: %s in %s: %d tasks there, min %d, max_skew %d", name, task.Task, d, counts[d], min, spec.MaxSkew)
			}
			if spec.MaxSkew > 0 && skewBefore <= spec.MaxSkew && skewAfter > spec.MaxSkew {
				t.Errorf("%s: %s in %s: skew %d → %d, max_skew %d", name, task.Task, d, skewBefore, skewAfter, spec.MaxSkew)
			}
		} else {
			w.place(n, task.Workload)
		}
		if n.Allocated.CpuMillis > n.Capacity.CpuMillis || n.Allocated.MemoryMb > n.Capacity.MemoryMb {
			t.Errorf("%s: %s over capacity on %s: %+v of %+v", name, task.Task, node, n.Allocated, n.Capacity)
		}
	}
}
