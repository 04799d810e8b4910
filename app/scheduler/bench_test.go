package scheduler

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/types"
)

// BenchmarkPlace measures placements per second on one core
// (go test ./app/scheduler -run '^$' -bench Place -cpu 1) on clusters of
// 100 to 10,000 nodes with a realistic mix: 3 to 10 zones, disk and gpu
// labels, nodes of 4 to 32 cores already 0–70 % allocated, 1 % cordoned,
// 1 % Suspect, 0.5 % Down, 0.5 % draining; 50 workloads of mixed sizes
// (a fifth need disk=ssd, two need a gpu, a fifth rank "spread"), each
// with 20 tasks running, and a 3-replica workload spread over zones
// (max_skew 1, max_per_domain 1).
//
// One op is one Place call, with a new block hash each time, on the same
// cluster (Place changes nothing): batch=100 places 100 tasks (the default
// max_placements_per_block: the 3 spread replicas among 97 tasks of random
// workloads), batch=1 one task of a random workload (every call pays its
// setup). "placements/s" and "ns/placement" count placed tasks only;
// "cpu-ns/placement" is the process's CPU time (GC included) per placement,
// which other load on the machine does not inflate.
func BenchmarkPlace(b *testing.B) {
	for _, nodes := range []int{100, 1_000, 5_000, 10_000} {
		c, queue := benchCluster(nodes)
		for _, batch := range []int{100, 1} {
			b.Run(fmt.Sprintf("nodes=%d/batch=%d", nodes, batch), func(b *testing.B) {
				benchPlace(b, c, func(i int) []TaskRequest {
					if batch == 1 {
						return queue[3+i%(len(queue)-3):][:1]
					}
					return queue[:batch]
				})
			})
		}
	}
}

// BenchmarkPlaceTies is the tie-heavy case: identical empty nodes in one
// zone and a workload ranked "spread", so that every node ties with the
// best on every scan and every scan hashes every node (the cost of the
// SHA-256 tie-break). batch=100 as above.
func BenchmarkPlaceTies(b *testing.B) {
	for _, nodes := range []int{100, 1_000, 5_000, 10_000} {
		c := newCluster()
		for i := range nodes {
			c.nodes = append(c.nodes, zoned(fmt.Sprintf("node-%05d", i), "a", nil))
		}
		c.workload(&types.WorkloadSpec{Name: "web", Rank: RankSpread, Resources: types.Resources{CpuMillis: 100, MemoryMb: 100}})
		tasks := requests("web", 0, 100)
		b.Run(fmt.Sprintf("nodes=%d/batch=100", nodes), func(b *testing.B) {
			benchPlace(b, c, func(int) []TaskRequest { return tasks })
		})
	}
}

// BenchmarkPlaceIndex measures Place against referencePlace (Place before
// the score index, reference_test.go) in the same run, on one core
// (go test ./app/scheduler -run '^$' -bench PlaceIndex -cpu 1): the mixed
// clusters of BenchmarkPlace at 100, 1,000 and 5,000 nodes with batches of
// 1, 100 and 1,000 tasks, and the tie-heavy cluster of BenchmarkPlaceTies
// (every node ties: the index walks them all). The two run interleaved,
// reference first, for each shape.
func BenchmarkPlaceIndex(b *testing.B) {
	impls := []struct {
		name  string
		place placeFunc
	}{{"reference", referencePlace}, {"index", Place}}
	for _, nodes := range []int{100, 1_000, 5_000} {
		c, queue := benchCluster(nodes)
		for _, batch := range []int{1, 100, 1000} {
			if batch > nodes {
				continue // more tasks than such a cluster holds
			}
			for _, impl := range impls {
				b.Run(fmt.Sprintf("nodes=%d/batch=%d/%s", nodes, batch, impl.name), func(b *testing.B) {
					benchPlaceWith(b, impl.place, c, func(i int) []TaskRequest {
						if batch == 1 {
							return queue[3+i%(len(queue)-3):][:1]
						}
						return queue[:batch]
					})
				})
			}
		}
	}
	// Distinct requests: workloads of one task (each=1) or two (each=2),
	// 100 tasks in all, each workload with its own request, so that no
	// index serves two workloads: with each=1 no index is built, with
	// each=2 each is built for the workload's second task and used once.
	for _, nodes := range []int{100, 1_000, 5_000} {
		for _, each := range []int{1, 2} {
			c, _ := benchCluster(nodes)
			var tasks []TaskRequest
			for w := range 100 / each {
				name := fmt.Sprintf("distinct%03d", w)
				c.workload(&types.WorkloadSpec{Name: name, Resources: types.Resources{CpuMillis: 100 + 7*int64(w), MemoryMb: 128 + 13*int64(w)}})
				tasks = append(tasks, requests(name, 0, each)...)
			}
			for _, impl := range impls {
				b.Run(fmt.Sprintf("distinct/nodes=%d/each=%d/%s", nodes, each, impl.name), func(b *testing.B) {
					benchPlaceWith(b, impl.place, c, func(int) []TaskRequest { return tasks })
				})
			}
		}
	}
	for _, nodes := range []int{1_000, 5_000} {
		c := newCluster()
		for i := range nodes {
			c.nodes = append(c.nodes, zoned(fmt.Sprintf("node-%05d", i), "a", nil))
		}
		c.workload(&types.WorkloadSpec{Name: "web", Rank: RankSpread, Resources: types.Resources{CpuMillis: 100, MemoryMb: 100}})
		tasks := requests("web", 0, 100)
		for _, impl := range impls {
			b.Run(fmt.Sprintf("ties/nodes=%d/batch=100/%s", nodes, impl.name), func(b *testing.B) {
				benchPlaceWith(b, impl.place, c, func(int) []TaskRequest { return tasks })
			})
		}
	}
}

type placeFunc func(c Cluster, blockHash []byte, tasks []TaskRequest, limit int) Result

// benchPlace runs one Place call per op with the tasks tasks(i) returns
// and the limit len(tasks(i)), and reports placements per second.
func benchPlace(b *testing.B, c Cluster, tasks func(i int) []TaskRequest) {
	benchPlaceWith(b, Place, c, tasks)
}

// benchPlaceWith is benchPlace with place for Place.
func benchPlaceWith(b *testing.B, place placeFunc, c Cluster, tasks func(i int) []TaskRequest) {
	block := make([]byte, 32)
	placed, wanted := 0, 0
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint64(block, uint64(i))
		t := tasks(i)
		wanted += len(t)
		placed += len(place(c, block, t, len(t)).Placed)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if placed < wanted*9/10 {
		b.Fatalf("placed %d of %d tasks", placed, wanted)
	}
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "placements/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(placed), "ns/placement")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(placed), "cpu-ns/placement")
}

// cpuTime is the process's user and system CPU time: unlike the wall
// clock, it does not count the time other processes on a shared machine
// take from the benchmark.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchCluster(nodes int) (*testCluster, []TaskRequest) {
	rng := rand.New(rand.NewSource(int64(nodes)))
	zones, ok := map[int]int{100: 3, 1_000: 5, 5_000: 8, 10_000: 10}[nodes]
	if !ok {
		zones = 3 + nodes/1000
	}
	c := newCluster()
	for i := range nodes {
		cores := int64(4 << rng.Intn(4)) // 4, 8, 16, 32
		n := &types.Node{
			Id:       fmt.Sprintf("node-%05d", i),
			Zone:     fmt.Sprintf("zone-%d", rng.Intn(zones)),
			State:    types.NODE_READY,
			Capacity: types.Resources{CpuMillis: cores * 1000, MemoryMb: cores * 4096},
		}
		n.Labels = append(n.Labels, types.Label{Key: "disk", Value: []string{"ssd", "hdd"}[rng.Intn(2)]})
		if rng.Intn(20) == 0 {
			n.Labels = append(n.Labels, types.Label{Key: "gpu", Value: "yes"})
		}
		n.Labels = append(n.Labels, types.Label{Key: "rack", Value: fmt.Sprintf("r%d", rng.Intn(40))})
		sort.Slice(n.Labels, func(i, j int) bool { return n.Labels[i].Key < n.Labels[j].Key })
		switch k := rng.Intn(200); {
		case k < 2:
			n.Cordoned = true
		case k < 4:
			n.State = types.NODE_SUSPECT
		case k < 5:
			n.State = types.NODE_DOWN
		case k < 6:
			n.Draining = true
		}
		pct := int64(rng.Intn(71))
		n.Allocated = types.Resources{CpuMillis: n.Capacity.CpuMillis * pct / 100, MemoryMb: n.Capacity.MemoryMb * pct / 100}
		c.nodes = append(c.nodes, n)
	}
	sizes := []types.Resources{{CpuMillis: 100, MemoryMb: 128}, {CpuMillis: 500, MemoryMb: 1024}, {CpuMillis: 2000, MemoryMb: 4096}, {CpuMillis: 4000, MemoryMb: 8192}}
	var queue []TaskRequest
	spread := &types.WorkloadSpec{Name: "db", SpreadKey: "zone", MaxSkew: 1, MaxPerDomain: 1, Resources: sizes[2]}
	c.workload(spread)
	queue = append(queue, requests("db", 0, 3)...)
	const workloads = 50
	for w := range workloads {
		spec := &types.WorkloadSpec{Name: fmt.Sprintf("w%02d", w), Resources: sizes[rng.Intn(len(sizes))]}
		switch {
		case w < 2:
			spec.Constraints = []types.Constraint{{Label: "gpu", Op: "=", Value: "yes"}}
		case w < 12:
			spec.Constraints = []types.Constraint{{Label: "disk", Op: "=", Value: "ssd"}}
		}
		if w%5 == 4 {
			spec.Rank = RankSpread
		}
		var on []string
		for range 20 {
			on = append(on, c.nodes[rng.Intn(nodes)].Id)
		}
		c.workload(spec, on...)
	}
	for i := range 1000 {
		w := fmt.Sprintf("w%02d", rng.Intn(workloads))
		queue = append(queue, TaskRequest{Task: fmt.Sprintf("%s/%d", w, 100+i), Workload: w})
	}
	return c, queue
}

// BenchmarkPlaceThreshold measures the scan against the index at the sizes
// around IndexMinReady (go test ./app/scheduler -run '^$' -bench
// PlaceThreshold -cpu 1): scan forces the scan (indexMinReady above the
// cluster), index forces the index (indexMinReady 0).
func BenchmarkPlaceThreshold(b *testing.B) {
	defer func(v int) { indexMinReady = v }(indexMinReady)
	for _, nodes := range []int{50, 100, 200, 500, 1000} {
		c, queue := benchCluster(nodes)
		for _, batch := range []int{1, 100} {
			for _, mode := range []string{"scan", "index"} {
				b.Run(fmt.Sprintf("nodes=%d/batch=%d/%s", nodes, batch, mode), func(b *testing.B) {
					indexMinReady = 0
					if mode == "scan" {
						indexMinReady = MaxNodes + 1
					}
					benchPlace(b, c, func(i int) []TaskRequest {
						if batch == 1 {
							return queue[3+i%(len(queue)-3):][:1]
						}
						return queue[:batch]
					})
				})
			}
		}
	}
}
