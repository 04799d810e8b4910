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
	MaxNodes = 1 << 17
	// MaxTasksPerCall bounds the tasks handed to one call.
	MaxTasksPerCall = 1 << 20
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
	// Avoid names a node the task goes to only if no other node can take
	// it (the task used up its restarts there); "" for none. A soft
	// preference: it ranks, it never filters.
	Avoid string
	// Pin names the only node the task may run on (a system workload's
	// task, one per node); "" for none. The node's checks still apply:
	// ready, schedulable, constraints, max_per_node, resources.
	Pin string
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
		if t.Pin != "" {
			scans++
			node, why := p.pinned(w, t.Pin)
			if node < 0 {
				res.Unplaced = append(res.Unplaced, Unplaced{Task: t.Task, Why: why})
				continue
			}
			p.commitPinned(w, node)
			res.Placed = append(res.Placed, Placement{Task: t.Task, Node: p.nodes[node].Id})
			continue
		}
		if w.unplaceable != nil {
			// Capacity only shrinks and the workload's counts do not
			// move within a call: what fitted nowhere still does not.
			res.Unplaced = append(res.Unplaced, Unplaced{Task: t.Task, Why: *w.unplaceable})
			continue
		}
		scans++
		avoid := int32(-1)
		if t.Avoid != "" {
			avoid = int32(p.nodeIndex(t.Avoid))
		}
		node := int32(-1)
		if w.indexed != nil {
			p.tie.startTask(t.Task)
			if node = p.bestByScore(w.indexed, avoid); node < 0 {
				// Nothing fits: the scan explains why.
				p.buildSlots(w)
			}
		}
		var s *slot
		if w.indexed == nil {
			if s = w.rank.best(t.Task, avoid); s == nil {
				why := w.explain(len(p.nodes))
				w.unplaceable = &why
				res.Unplaced = append(res.Unplaced, Unplaced{Task: t.Task, Why: why})
				continue
			}
			node = s.node
		}
		p.commit(w, node, s)
		res.Placed = append(res.Placed, Placement{Task: t.Task, Node: p.nodes[node].Id})
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
	// domainsByKey: each spread key's domains, read once per call.
	domainsByKey map[string]*nodeDomains
	indexer      NodeIndexer // nil unless c is one and its nodes were sorted
	slotOf       []int32     // plan's scratch table, all 0 between plans
	// requests: the requests (cpu, memory) of the workloads ranked by
	// score, read by key; indexes: their score indexes in the order built
	// (commit updates them all).
	requests map[[2]int64]*request
	indexes  []*scoreIndex
	// pinnedOn: the nodes this call placed pinned tasks of a scanned
	// (spread) workload on, for max_per_node (an indexed plan counts them
	// in its own placed list).
	pinnedOn map[string][]int32
}

func newPlacer(c Cluster, blockHash []byte) *placer {
	nodes := c.Nodes()
	if len(nodes) > MaxNodes {
		panic(fmt.Sprintf("scheduler: %d nodes; the limit is %d", len(nodes), MaxNodes))
	}
	indexer, _ := c.(NodeIndexer)
	if !sortedByID(nodes) {
		indexer = nil
		nodes = slices.Clone(nodes)
		slices.SortFunc(nodes, func(a, b *types.Node) int { return strings.Compare(a.Id, b.Id) })
		if !sortedByID(nodes) {
			panic("scheduler: duplicate node ids")
		}
	}
	p := &placer{c: c, nodes: nodes, res: make([]nodeResources, len(nodes)), plans: map[string]*plan{}, tie: newTieBreak(blockHash, nodes),
		domainsByKey: map[string]*nodeDomains{}, indexer: indexer, requests: map[[2]int64]*request{}}
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

// NodeIndexer may be implemented by a Cluster whose Nodes() are sorted by
// id: NodeIndex returns a node's position in Nodes() (false if there is
// none), in O(1), where Place would otherwise search the ids.
type NodeIndexer interface {
	NodeIndex(id string) (int, bool)
}

// nodeIndex returns the index of the node with the given id, or -1.
func (p *placer) nodeIndex(id string) int {
	if p.indexer != nil {
		if i, ok := p.indexer.NodeIndex(id); ok {
			return i
		}
		return -1
	}
	i := sort.Search(len(p.nodes), func(i int) bool { return p.nodes[i].Id >= id })
	if i < len(p.nodes) && p.nodes[i].Id == id {
		return i
	}
	return -1
}

// plan is one workload within one call. A workload with a spread_key is
// scanned: its slots are the nodes that pass its node checks, with its
// counts, and its pipeline is
//
//	slotSource → checkIterator(max_per_node, max_per_domain, max_skew, resources) → ranker
//
// Any other workload ranks its nodes by score alone (indexed, index.go:
// through the score index of its request, or a pass over the Ready nodes
// while there is none) until a task of it fits nowhere: then its slots are
// built, so that the scan explains why (and decides, the scan being the
// reference of the index).
type plan struct {
	spec        *types.WorkloadSpec
	indexed     *indexedPlan // nil once scanned
	slots       []slot
	static      reasonCounts // nodes the node checks filtered out
	domains     *domains     // nil without spread_key
	res         []nodeResources
	checks      checkIterator
	rank        ranker
	unplaceable *Explanation // set once a task of the workload fitted nowhere
}

// plan returns the workload's plan, built on first use in the call. A
// scanned plan costs O(nodes × constraints) for the node checks
// (readyChecker ran once for all workloads, in newPlacer; the spread label
// of each node is read once per call and key), O(tasks of the workload)
// for the counts (O(tasks × log nodes) when the Cluster is no
// NodeIndexer). An indexed plan costs O(tasks of the workload) for the
// counts, with max_per_node only; its node checks run as its tasks reach
// the nodes.
func (p *placer) plan(workload string) *plan {
	if w := p.plans[workload]; w != nil {
		return w
	}
	spec := p.c.Workload(workload)
	if spec == nil {
		panic(fmt.Sprintf("scheduler: no workload %q", workload))
	}
	w := &plan{spec: spec, res: p.res}
	p.plans[workload] = w
	if spec.SpreadKey != "" {
		p.buildSlots(w)
		return w
	}
	need := [2]int64{spec.Resources.CpuMillis, spec.Resources.MemoryMb}
	r := p.requests[need]
	if r == nil {
		r = &request{cpuNeed: need[0], memNeed: need[1]}
		p.requests[need] = r
	}
	ip := &indexedPlan{req: r, spread: spec.Rank == RankSpread, maxPerNode: spec.MaxPerNode}
	if len(spec.Constraints) > 0 {
		ip.constraints = &constraintChecker{spec.Constraints}
		ip.status = make([]uint8, len(p.nodes))
	}
	if spec.MaxPerNode > 0 {
		ip.onNode = map[int32]uint32{}
		for _, id := range p.c.TaskNodes(workload) {
			if i := p.nodeIndex(id); i >= 0 {
				ip.onNode[int32(i)]++
			}
		}
	}
	w.indexed = ip
	return w
}

// buildSlots scans the workload's node checks and counts into its slots
// and pipeline (the placements this call made through its index included).
func (p *placer) buildSlots(w *plan) {
	spec := w.spec
	var placed []int32
	if w.indexed != nil {
		placed = w.indexed.placed
		w.indexed = nil
	}
	w.static = p.notReady
	w.slots = make([]slot, 0, len(p.ready))
	var constraints nodeChecker
	if len(spec.Constraints) > 0 {
		constraints = constraintChecker{spec.Constraints}
	}
	var labels *nodeDomains
	if spec.SpreadKey != "" {
		labels = p.nodeDomains(spec.SpreadKey)
		w.domains = &domains{count: make([]uint32, len(labels.names)), eligible: make([]bool, len(labels.names))}
	}
	// slotOf: node index -> slot index + 1 (0: none), the call's scratch
	// table, cleared below for the next plan.
	if p.slotOf == nil {
		p.slotOf = make([]int32, len(p.nodes))
	}
	slotOf := p.slotOf
	for _, i := range p.ready {
		if constraints != nil {
			if r := constraints.check(p.nodes[i]); r != fits {
				w.static[r]++
				continue
			}
		}
		s := slot{node: i, domain: -1}
		if labels != nil {
			if s.domain = labels.of[i]; s.domain < 0 {
				w.static[noSpreadLabel]++
				continue
			}
			w.domains.eligible[s.domain] = true
		}
		w.slots = append(w.slots, s)
		slotOf[i] = int32(len(w.slots))
	}
	for _, id := range p.c.TaskNodes(spec.Name) {
		i := p.nodeIndex(id)
		if i < 0 {
			continue // a node the cluster no longer lists holds nothing
		}
		if labels != nil && labels.of[i] >= 0 {
			w.domains.count[labels.of[i]]++
		}
		if k := slotOf[i]; k > 0 {
			w.slots[k-1].onNode++
		}
	}
	for _, i := range placed { // indexed plans have no spread_key
		if k := slotOf[i]; k > 0 {
			w.slots[k-1].onNode++
		}
	}
	for _, s := range w.slots {
		slotOf[s.node] = 0
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
}

// nodeDomains are the values of one spread key over the call's nodes,
// numbered in node id order: of[i] is node i's domain, -1 if it lacks the
// label (spreadLabelChecker's rule). Read once per call and key, shared by
// the workloads that spread on it.
type nodeDomains struct {
	of    []int32
	names []string
}

func (p *placer) nodeDomains(key string) *nodeDomains {
	if d := p.domainsByKey[key]; d != nil {
		return d
	}
	d := &nodeDomains{of: make([]int32, len(p.nodes))}
	index := map[string]int32{} // read by key only
	for i, n := range p.nodes {
		if (spreadLabelChecker{key}).check(n) != fits {
			d.of[i] = -1
			continue
		}
		v, _ := LabelValue(n, key)
		k, seen := index[v]
		if !seen {
			k = int32(len(d.names))
			index[v] = k
			d.names = append(d.names, v)
		}
		d.of[i] = k
	}
	p.domainsByKey[key] = d
	return d
}

// commit records one placement of the workload on node i: s is its slot
// if the workload is scanned, nil if it is indexed.
func (p *placer) commit(w *plan, i int32, s *slot) {
	r := &p.res[i]
	r.cpuAlloc += w.spec.Resources.CpuMillis
	r.memAlloc += w.spec.Resources.MemoryMb
	if s != nil {
		s.onNode++
		if w.domains != nil {
			w.domains.count[s.domain]++
			w.domains.updateMin()
		}
	} else {
		if w.indexed.onNode != nil {
			w.indexed.onNode[i]++
		}
		w.indexed.placed = append(w.indexed.placed, i)
	}
	for _, x := range p.indexes {
		x.update(i)
	}
}

// pinned checks the one node a pinned task may take: its index, or -1 and
// why not (an explanation over that one node).
func (p *placer) pinned(w *plan, id string) (int32, Explanation) {
	i := p.nodeIndex(id)
	if i < 0 {
		return -1, Explanation{Nodes: 0, Filtered: Filtered{}}
	}
	r := (readyChecker{}).check(p.nodes[i])
	if r == fits && len(w.spec.Constraints) > 0 {
		r = (constraintChecker{w.spec.Constraints}).check(p.nodes[i])
	}
	if r == fits && w.spec.MaxPerNode > 0 {
		var on uint32
		if w.indexed != nil {
			on = w.indexed.onNode[int32(i)] // the cluster's and this call's
		} else {
			for _, n := range p.c.TaskNodes(w.spec.Name) {
				if n == id {
					on++
				}
			}
			for _, x := range p.pinnedOn[w.spec.Name] {
				if x == int32(i) {
					on++
				}
			}
		}
		r = maxPerNodeChecker{w.spec.MaxPerNode}.check(&slot{node: int32(i), onNode: on})
	}
	if r == fits {
		r = resourcesChecker{w.spec.Resources.CpuMillis, w.spec.Resources.MemoryMb, p.res}.check(&slot{node: int32(i)})
	}
	if r != fits {
		var c reasonCounts
		c[r]++
		return -1, Explanation{Nodes: 1, Filtered: c.filtered()}
	}
	return int32(i), Explanation{}
}

// commitPinned records a pinned placement on node i: the node's
// resources, and the workload's counts if a later unpinned task of it
// reads them.
func (p *placer) commitPinned(w *plan, i int32) {
	if w.indexed != nil {
		p.commit(w, i, nil)
		return
	}
	r := &p.res[i]
	r.cpuAlloc += w.spec.Resources.CpuMillis
	r.memAlloc += w.spec.Resources.MemoryMb
	for k := range w.slots {
		if w.slots[k].node == i {
			w.slots[k].onNode++
			if w.domains != nil {
				w.domains.count[w.slots[k].domain]++
				w.domains.updateMin()
			}
		}
	}
	if p.pinnedOn == nil {
		p.pinnedOn = map[string][]int32{}
	}
	p.pinnedOn[w.spec.Name] = append(p.pinnedOn[w.spec.Name], i)
	for _, x := range p.indexes {
		x.update(i)
	}
}

// explain is the explanation of the last scan, which placed nothing.
func (w *plan) explain(nodes int) Explanation {
	counts := w.static
	counts.add(&w.checks.filtered)
	return Explanation{Nodes: nodes, Filtered: counts.filtered()}
}

// domains are the values of a workload's spread_key (numbered as in
// nodeDomains), with the workload's task count in each. A domain is
// eligible when at least one node in it passes the workload's node checks
// (Ready, schedulable, constraints): max_skew compares against the
// emptiest eligible domain.
type domains struct {
	count    []uint32
	eligible []bool
	min      uint32 // the smallest count over eligible domains
}

func (d *domains) updateMin() {
	first := true
	for i, c := range d.count {
		if d.eligible[i] && (first || c < d.min) {
			d.min, first = c, false
		}
	}
}
