package scheduler

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/phalanx-bft/phalanx/types"
)

// Limits of one Place call (STYLE §9). Place panics when a caller exceeds
// them: the caller's own limits (app.MaxNodes, app.MaxTasksTotal,
// app.MaxPlacementsPerBlockLimit) must stay within these.
const (
	// MaxNodes bounds the nodes one call considers.
	MaxNodes = 1 << 16
	// MaxTasksPerCall bounds the tasks handed to one call.
	MaxTasksPerCall = 1 << 18
	// MaxPlacementsPerCall bounds Place's limit.
	MaxPlacementsPerCall = 10_000
	// ScansPerPlacement bounds the work of a call: it scans the nodes for
	// at most limit × ScansPerPlacement tasks. A scan that places nothing
	// counts too, so a queue of unplaceable tasks cannot make a call
	// cost more than that many scans.
	ScansPerPlacement = 4
)

// Cluster is what Place reads of the cluster: a narrow view the caller
// implements over its state. Place never modifies what it returns.
type Cluster interface {
	// Nodes returns every node, ideally sorted by id (Place sorts a copy
	// if not). Node ids must be unique.
	Nodes() []*types.Node
	// Workload returns the spec of the named workload (nil if there is
	// none: Place panics, a task's workload must exist).
	Workload(name string) *types.WorkloadSpec
	// TaskNodes returns the node id of every task of the workload that
	// holds resources on a node (one entry per task, in any order; a
	// node appears as many times as it holds tasks of the workload).
	// Place counts these per node (max_per_node) and per spread domain
	// (max_per_domain, max_skew, spread preference).
	TaskNodes(workload string) []string
}

// TaskRequest is one pending task to place. Task ids are unique within a
// call.
type TaskRequest struct {
	Task     string // task id
	Workload string
}

// Placement is a task placed on a node.
type Placement struct {
	Task string
	Node string
}

// Unplaced is a task that fits on no node, and why.
type Unplaced struct {
	Task string
	Why  Explanation
}

// Result is what one Place call decided.
type Result struct {
	// Placed lists the placements in task order.
	Placed []Placement
	// Unplaced lists the examined tasks that fit nowhere, in task order.
	// Tasks of one workload that fit nowhere share one Explanation (its
	// Filtered map must not be modified).
	Unplaced []Unplaced
	// Examined is how many tasks, from the first, were examined: each
	// of them is in Placed or Unplaced. tasks[Examined:] were not, the
	// call having reached its limit of placements or scans; they wait.
	Examined int
}

// Place assigns tasks to nodes, in the order given (the caller orders
// them: priority, oldest first), making at most limit placements. Each
// placement updates the allocation and the workload's counts that later
// tasks of the same call see. The same cluster, block hash and tasks give
// the same Result, whatever the order of c.Nodes(). doc.go states the
// pipeline, the ranking and the costs.
func Place(c Cluster, blockHash []byte, tasks []TaskRequest, limit int) Result {
	if limit < 0 || limit > MaxPlacementsPerCall {
		panic(fmt.Sprintf("scheduler: limit %d; want 0..%d", limit, MaxPlacementsPerCall))
	}
	if len(tasks) > MaxTasksPerCall {
		panic(fmt.Sprintf("scheduler: %d tasks; the limit is %d", len(tasks), MaxTasksPerCall))
	}
	p := newPlacer(c, blockHash)
	res := Result{Examined: len(tasks)}
	scans, maxScans := 0, limit*ScansPerPlacement
	for i, t := range tasks {
		if len(res.Placed) == limit || scans == maxScans {
			res.Examined = i
			break
		}
		w := p.plan(t.Workload)
		if w.unplaceable != nil {
			// Capacity only shrinks and the workload's counts do not
			// move within a call: what fitted nowhere still does not.
			res.Unplaced = append(res.Unplaced, Unplaced{Task: t.Task, Why: *w.unplaceable})
			continue
		}
		scans++
		s := w.rank.best(t.Task)
		if s == nil {
			why := w.explain(len(p.nodes))
			w.unplaceable = &why
			res.Unplaced = append(res.Unplaced, Unplaced{Task: t.Task, Why: why})
			continue
		}
		w.commit(s)
		res.Placed = append(res.Placed, Placement{Task: t.Task, Node: p.nodes[s.node].Id})
	}
	return res
}

// placer is the state of one Place call.
type placer struct {
	c        Cluster
	nodes    []*types.Node   // sorted by id
	res      []nodeResources // by node index
	ready    []int32         // indexes of the nodes readyChecker passes
	notReady reasonCounts    // the others, by reason
	plans    map[string]*plan
	tie      *tieBreak
}

func newPlacer(c Cluster, blockHash []byte) *placer {
	nodes := c.Nodes()
	if len(nodes) > MaxNodes {
		panic(fmt.Sprintf("scheduler: %d nodes; the limit is %d", len(nodes), MaxNodes))
	}
	if !sortedByID(nodes) {
		nodes = slices.Clone(nodes)
		slices.SortFunc(nodes, func(a, b *types.Node) int { return strings.Compare(a.Id, b.Id) })
		if !sortedByID(nodes) {
			panic("scheduler: duplicate node ids")
		}
	}
	p := &placer{c: c, nodes: nodes, res: make([]nodeResources, len(nodes)), plans: map[string]*plan{}, tie: newTieBreak(blockHash)}
	for i, n := range nodes {
		p.res[i] = nodeResources{
			cpuCap: n.Capacity.CpuMillis, cpuAlloc: n.Allocated.CpuMillis,
			memCap: n.Capacity.MemoryMb, memAlloc: n.Allocated.MemoryMb,
		}
		// readyChecker does not depend on the workload: run it once.
		if r := (readyChecker{}).check(n); r != fits {
			p.notReady[r]++
			continue
		}
		p.ready = append(p.ready, int32(i))
	}
	return p
}

// sortedByID reports whether the ids strictly increase.
func sortedByID(nodes []*types.Node) bool {
	for i := 1; i < len(nodes); i++ {
		if nodes[i-1].Id >= nodes[i].Id {
			return false
		}
	}
	return true
}

// nodeIndex returns the index of the node with the given id, or -1.
func (p *placer) nodeIndex(id string) int {
	i := sort.Search(len(p.nodes), func(i int) bool { return p.nodes[i].Id >= id })
	if i < len(p.nodes) && p.nodes[i].Id == id {
		return i
	}
	return -1
}

// plan is one workload within one call: the nodes that pass its node
// checks (its slots), its counts, and its pipeline
//
//	slotSource → checkIterator(max_per_node, max_per_domain, max_skew, resources) → ranker
type plan struct {
	spec        *types.WorkloadSpec
	slots       []slot
	static      reasonCounts // nodes the node checks filtered out
	domains     *domains     // nil without spread_key
	res         []nodeResources
	checks      checkIterator
	rank        ranker
	unplaceable *Explanation // set once a task of the workload fitted nowhere
}

// plan returns the workload's plan, built on first use in the call:
// O(nodes × constraints) for the node checks (readyChecker ran once for
// all workloads, in newPlacer), O(tasks of the workload × log nodes) for
// the counts.
func (p *placer) plan(workload string) *plan {
	if w := p.plans[workload]; w != nil {
		return w
	}
	spec := p.c.Workload(workload)
	if spec == nil {
		panic(fmt.Sprintf("scheduler: no workload %q", workload))
	}
	w := &plan{spec: spec, res: p.res, static: p.notReady, slots: make([]slot, 0, len(p.ready))}
	var nodeChecks []nodeChecker
	if len(spec.Constraints) > 0 {
		nodeChecks = append(nodeChecks, constraintChecker{spec.Constraints})
	}
	if spec.SpreadKey != "" {
		nodeChecks = append(nodeChecks, spreadLabelChecker{spec.SpreadKey})
		w.domains = &domains{index: map[string]int32{}}
	}
nodes:
	for _, i := range p.ready {
		n := p.nodes[i]
		for _, c := range nodeChecks {
			if r := c.check(n); r != fits {
				w.static[r]++
				continue nodes
			}
		}
		s := slot{node: i, domain: -1}
		if w.domains != nil {
			v, _ := LabelValue(n, spec.SpreadKey)
			s.domain = w.domains.id(v)
			w.domains.eligible[s.domain] = true
		}
		w.slots = append(w.slots, s)
	}
	for _, id := range p.c.TaskNodes(workload) {
		i := p.nodeIndex(id)
		if i < 0 {
			continue // a node the cluster no longer lists holds nothing
		}
		if w.domains != nil {
			if v, ok := LabelValue(p.nodes[i], spec.SpreadKey); ok {
				w.domains.count[w.domains.id(v)]++
			}
		}
		if s := w.slot(int32(i)); s != nil {
			s.onNode++
		}
	}
	if w.domains != nil {
		w.domains.updateMin()
	}

	var checks []slotChecker
	if spec.MaxPerNode > 0 {
		checks = append(checks, maxPerNodeChecker{spec.MaxPerNode})
	}
	if w.domains != nil && spec.MaxPerDomain > 0 {
		checks = append(checks, maxPerDomainChecker{spec.MaxPerDomain, w.domains})
	}
	if w.domains != nil && spec.MaxSkew > 0 {
		checks = append(checks, maxSkewChecker{spec.MaxSkew, w.domains})
	}
	checks = append(checks, resourcesChecker{spec.Resources.CpuMillis, spec.Resources.MemoryMb, p.res})
	w.checks = checkIterator{source: &slotSource{slots: w.slots}, checks: checks}
	w.rank = ranker{
		source: &w.checks, domains: w.domains, spread: spec.Rank == RankSpread,
		cpuNeed: spec.Resources.CpuMillis, memNeed: spec.Resources.MemoryMb,
		res: p.res, nodes: p.nodes, tie: p.tie,
	}
	p.plans[workload] = w
	return w
}

// slot returns the slot of node index i, or nil.
func (w *plan) slot(i int32) *slot {
	k := sort.Search(len(w.slots), func(k int) bool { return w.slots[k].node >= i })
	if k < len(w.slots) && w.slots[k].node == i {
		return &w.slots[k]
	}
	return nil
}

// commit records one placement of the workload on s.
func (w *plan) commit(s *slot) {
	r := &w.res[s.node]
	r.cpuAlloc += w.spec.Resources.CpuMillis
	r.memAlloc += w.spec.Resources.MemoryMb
	s.onNode++
	if w.domains != nil {
		w.domains.count[s.domain]++
		w.domains.updateMin()
	}
}

// explain is the explanation of the last scan, which placed nothing.
func (w *plan) explain(nodes int) Explanation {
	counts := w.static
	counts.add(&w.checks.filtered)
	return Explanation{Nodes: nodes, Filtered: counts.filtered()}
}

// domains are the values of a workload's spread_key, numbered in the order
// first met (node id order, then task order: deterministic), with the
// workload's task count in each. A domain is eligible when at least one
// node in it passes the workload's node checks (Ready, schedulable,
// constraints): max_skew compares against the emptiest eligible domain.
type domains struct {
	index    map[string]int32 // read by key only
	count    []uint32
	eligible []bool
	min      uint32 // the smallest count over eligible domains
}

func (d *domains) id(value string) int32 {
	if i, ok := d.index[value]; ok {
		return i
	}
	i := int32(len(d.count))
	d.index[value] = i
	d.count = append(d.count, 0)
	d.eligible = append(d.eligible, false)
	return i
}

func (d *domains) updateMin() {
	first := true
	for i, c := range d.count {
		if d.eligible[i] && (first || c < d.min) {
			d.min, first = c, false
		}
	}
}
