package scheduler

import "math/bits"

// IndexMinReady is the number of Ready nodes from which a call builds
// score indexes: below it a request's tasks always pass over the Ready
// nodes. Measured with BenchmarkPlaceThreshold (docs/scheduling.md, "The
// score index"): at 50 Ready nodes the index and the pass cost the same,
// from 100 the index is ahead.
const IndexMinReady = 64

// indexMinReady is IndexMinReady, a variable only so that tests can run
// the index on the smallest clusters; Place never changes it.
var indexMinReady = IndexMinReady

// numBuckets is the number of score buckets: a node's use after a
// placement is 0..2·ScoreScale (ranker.score).
const numBuckets = 2*ScoreScale + 1

// scoreIndex keeps the Ready nodes that have room for one task of a given
// request (cpu, memory) bucketed by their use after the placement, the
// score's one variable part: bin-packing walks the buckets from the
// fullest, spreading from the emptiest, and the first bucket holding a node
// a task can take holds its best nodes (the tie-break hash picks among
// them). One index serves every workload with that request in the call;
// each placement moves the node it fills in every index (O(indexes)), and
// a node found without room for the request leaves the index for the rest
// of the call (allocations only grow within a call). The order of the
// nodes within a bucket decides nothing: the walk compares every node of
// the bucket by the tie-break hash, then by id.
type scoreIndex struct {
	cpuNeed, memNeed int64
	res              []nodeResources
	head             [numBuckets]int32 // first node of each bucket, -1 if empty
	nonEmpty         [(numBuckets + 63) / 64]uint64
	link             []indexLink // by node index
}

// indexLink places one node in its bucket's doubly linked list.
type indexLink struct {
	next, prev int32
	bucket     int16 // -1: not in the index
}

// newScoreIndex indexes the ready nodes (indexes into res) with room for
// the request.
func newScoreIndex(cpuNeed, memNeed int64, res []nodeResources, ready []int32) *scoreIndex {
	x := &scoreIndex{cpuNeed: cpuNeed, memNeed: memNeed, res: res, link: make([]indexLink, len(res))}
	for b := range x.head {
		x.head[b] = -1
	}
	for i := range x.link {
		x.link[i].bucket = -1
	}
	for _, i := range ready {
		if x.fits(i) {
			x.insert(i)
		}
	}
	return x
}

// fits reports whether node i has room for the request (resourcesChecker).
func (x *scoreIndex) fits(i int32) bool {
	r := &x.res[i]
	return x.cpuNeed <= r.cpuCap-r.cpuAlloc && x.memNeed <= r.memCap-r.memAlloc
}

// used is node i's use after the placement (ranker.score); i fits.
func (x *scoreIndex) used(i int32) int {
	r := &x.res[i]
	return int(perMille(r.cpuAlloc+x.cpuNeed, r.cpuCap) + perMille(r.memAlloc+x.memNeed, r.memCap))
}

func (x *scoreIndex) insert(i int32) {
	b := x.used(i)
	l := &x.link[i]
	l.bucket, l.prev, l.next = int16(b), -1, x.head[b]
	if l.next >= 0 {
		x.link[l.next].prev = i
	}
	x.head[b] = i
	x.nonEmpty[b/64] |= 1 << (b % 64)
}

func (x *scoreIndex) remove(i int32) {
	l := &x.link[i]
	b := int(l.bucket)
	if l.prev >= 0 {
		x.link[l.prev].next = l.next
	} else {
		x.head[b] = l.next
	}
	if l.next >= 0 {
		x.link[l.next].prev = l.prev
	}
	l.bucket = -1
	if x.head[b] < 0 {
		x.nonEmpty[b/64] &^= 1 << (b % 64)
	}
}

// update puts node i, whose allocation changed, back in its bucket, or
// out of the index if it has no room left for the request.
func (x *scoreIndex) update(i int32) {
	if x.link[i].bucket < 0 {
		return
	}
	x.remove(i)
	if x.fits(i) {
		x.insert(i)
	}
}

// below returns the fullest non-empty bucket under b, or -1.
func (x *scoreIndex) below(b int) int {
	for b--; b >= 0; {
		w := x.nonEmpty[b/64] & (^uint64(0) >> (63 - b%64)) // bits 0..b%64
		if w != 0 {
			return b/64*64 + bits.Len64(w) - 1
		}
		b = b/64*64 - 1
	}
	return -1
}

// above returns the emptiest non-empty bucket over b, or -1.
func (x *scoreIndex) above(b int) int {
	for b++; b < numBuckets; {
		w := x.nonEmpty[b/64] & (^uint64(0) << (b % 64)) // bits b%64..63
		if w != 0 {
			return b/64*64 + bits.TrailingZeros64(w)
		}
		b = b/64*64 + 64
	}
	return -1
}

// request is a request (cpu, memory) of the workloads ranked by score in
// one call, with its score index once built.
type request struct {
	cpuNeed, memNeed int64
	tasks            int         // the tasks with this request ranked so far
	index            *scoreIndex // built for the IndexAfterTasks-th task
}

// IndexAfterTasks is the task of a request, in a call, for which its
// score index is built: the tasks before pass over the Ready nodes. An
// index costs about three passes to build (BenchmarkPlaceIndex,
// distinct/each=2), so a request with one or two tasks in a call, as in a
// call of one task, does not pay for one.
const IndexAfterTasks = 3

// bestByScore returns the best node for one task of a workload ranked by
// score (the tie-break has started the task), as ranker.best would over
// the workload's slots, or -1 if no node can take it. avoid is the index
// of the node the task avoids, or -1.
func (p *placer) bestByScore(w *indexedPlan, avoid int32) int32 {
	r := w.req
	r.tasks++
	if r.index == nil && r.tasks >= IndexAfterTasks && len(p.ready) >= indexMinReady {
		r.index = newScoreIndex(r.cpuNeed, r.memNeed, p.res, p.ready)
		p.indexes = append(p.indexes, r.index)
	}
	if r.index == nil {
		return w.scan(p, avoid)
	}
	return w.walk(p, avoid)
}

// indexedPlan is the state of a workload ranked by score alone (it has no
// spread_key). Its node checks (constraints; readyChecker ran in
// newPlacer) run lazily, once per node its tasks reach.
type indexedPlan struct {
	req         *request
	spread      bool               // rank "spread": the emptiest first
	constraints *constraintChecker // nil without constraints
	status      []uint8            // by node: 0 not checked, 1 passes, 2 filtered
	maxPerNode  uint32
	onNode      map[int32]uint32 // the workload's tasks per node (read by key), with max_per_node only
	placed      []int32          // the nodes this call placed the workload on
}

// scan passes over the Ready nodes in id order, as ranker.best does over
// the slots.
func (w *indexedPlan) scan(p *placer, avoid int32) int32 {
	cpuNeed, memNeed := w.req.cpuNeed, w.req.memNeed
	var (
		best, bestUsed = int32(-1), int64(0)
		bestHash       uint64
		hashed         bool // bestHash is best's hash
		avoidFits      bool
	)
	for _, i := range p.ready {
		r := &p.res[i]
		switch {
		case cpuNeed > r.cpuCap-r.cpuAlloc || memNeed > r.memCap-r.memAlloc:
			continue
		case !w.passes(p, i):
			continue
		case i == avoid:
			avoidFits = true // any other node ranks above it
			continue
		}
		used := perMille(r.cpuAlloc+cpuNeed, r.cpuCap) + perMille(r.memAlloc+memNeed, r.memCap)
		worse := used < bestUsed
		if w.spread {
			worse = used > bestUsed
		}
		switch {
		case best < 0:
		case worse:
			continue
		case used == bestUsed:
			// A tie: only now is the hash worth computing. Equal hashes
			// keep the first node in id order.
			if !hashed {
				bestHash, hashed = p.tie.sum(best), true
			}
			h := p.tie.sum(i)
			if h >= bestHash {
				continue
			}
			best, bestHash = i, h
			continue
		}
		best, bestUsed, hashed = i, used, false
	}
	if best < 0 && avoidFits {
		return avoid
	}
	return best
}

// walk is scan through the request's score index: it walks the buckets
// from the best score and stops after the first bucket holding a node the
// task can take, the tie-break hash choosing within it.
func (w *indexedPlan) walk(p *placer, avoid int32) int32 {
	x := w.req.index
	best, bestHash, avoidFits := int32(-1), uint64(0), false
	b := x.below(numBuckets)
	if w.spread {
		b = x.above(-1)
	}
	for b >= 0 {
		for i := x.head[b]; i >= 0; {
			next := x.link[i].next
			switch {
			case !x.fits(i):
				x.remove(i) // for the rest of the call
			case !w.passes(p, i):
			case i == avoid:
				avoidFits = true // any other node ranks above it
			default:
				// Equal hashes keep the first node in id order.
				if h := p.tie.sum(i); best < 0 || h < bestHash || h == bestHash && i < best {
					best, bestHash = i, h
				}
			}
			i = next
		}
		if best >= 0 {
			return best
		}
		if w.spread {
			b = x.above(b)
		} else {
			b = x.below(b)
		}
	}
	if avoidFits {
		return avoid
	}
	return -1
}

// passes reports whether node i (Ready, with room) passes the workload's
// constraints and max_per_node.
func (w *indexedPlan) passes(p *placer, i int32) bool {
	if w.constraints != nil {
		st := w.status[i]
		if st == 0 {
			st = 2
			if w.constraints.check(p.nodes[i]) == fits {
				st = 1
			}
			w.status[i] = st
		}
		if st != 1 {
			return false
		}
	}
	return w.maxPerNode == 0 || w.onNode[i] < w.maxPerNode
}
