package scheduler

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/phalanx-bft/phalanx/types"
)

// referencePlace is Place as it was before the score index (issue 12),
// kept verbatim as the reference the index is compared with
// (TestPlaceMatchesReference) and measured against (BenchmarkPlaceIndex).
// It shares the checkers, the ranker and the tie-break with Place.
//
// Place assigns tasks to nodes, in the order given (the caller orders
// them: priority, oldest first), making at most limit placements. Each
// placement updates the allocation and the workload's counts that later
// tasks of the same call see. The same cluster, block hash and tasks give
// the same Result, whatever the order of c.Nodes(). doc.go states the
// pipeline, the ranking and the costs.
func referencePlace(c Cluster, blockHash []byte, tasks []TaskRequest, limit int) Result {
	if limit < 0 || limit > MaxPlacementsPerCall {
		panic(fmt.Sprintf("scheduler: limit %d; want 0..%d", limit, MaxPlacementsPerCall))
	}
	if len(tasks) > MaxTasksPerCall {
		panic(fmt.Sprintf("scheduler: %d tasks; the limit is %d", len(tasks), MaxTasksPerCall))
	}
	p := newRefPlacer(c, blockHash)
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
		avoid := int32(-1)
		if t.Avoid != "" {
			avoid = int32(p.nodeIndex(t.Avoid))
		}
		s := w.rank.best(t.Task, avoid)
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

// refPlacer is the state of one Place call.
type refPlacer struct {
	c        Cluster
	nodes    []*types.Node   // sorted by id
	res      []nodeResources // by node index
	ready    []int32         // indexes of the nodes readyChecker passes
	notReady reasonCounts    // the others, by reason
	plans    map[string]*refPlan
	tie      *tieBreak
	// domainsByKey: each spread key's domains, read once per call.
	domainsByKey map[string]*nodeDomains
	indexer      NodeIndexer // nil unless c is one and its nodes were sorted
	slotOf       []int32     // plan's scratch table, all 0 between plans
}

func newRefPlacer(c Cluster, blockHash []byte) *refPlacer {
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
	p := &refPlacer{c: c, nodes: nodes, res: make([]nodeResources, len(nodes)), plans: map[string]*refPlan{}, tie: newTieBreak(blockHash, nodes),
		domainsByKey: map[string]*nodeDomains{}, indexer: indexer}
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

// nodeIndex returns the index of the node with the given id, or -1.
func (p *refPlacer) nodeIndex(id string) int {
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

// plan is one workload within one call: the nodes that pass its node
// checks (its slots), its counts, and its pipeline
//
//	slotSource → checkIterator(max_per_node, max_per_domain, max_skew, resources) → ranker
type refPlan struct {
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
// all workloads, in newRefPlacer; the spread label of each node is read once
// per call and key), O(tasks of the workload) for the counts (O(tasks ×
// log nodes) when the Cluster is no NodeIndexer).
func (p *refPlacer) plan(workload string) *refPlan {
	if w := p.plans[workload]; w != nil {
		return w
	}
	spec := p.c.Workload(workload)
	if spec == nil {
		panic(fmt.Sprintf("scheduler: no workload %q", workload))
	}
	w := &refPlan{spec: spec, res: p.res, static: p.notReady, slots: make([]slot, 0, len(p.ready))}
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
	for _, id := range p.c.TaskNodes(workload) {
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
	p.plans[workload] = w
	return w
}

func (p *refPlacer) nodeDomains(key string) *nodeDomains {
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

// commit records one placement of the workload on s.
func (w *refPlan) commit(s *slot) {
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
func (w *refPlan) explain(nodes int) Explanation {
	counts := w.static
	counts.add(&w.checks.filtered)
	return Explanation{Nodes: nodes, Filtered: counts.filtered()}
}
