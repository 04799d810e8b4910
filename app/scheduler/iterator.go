package scheduler

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// slot is one node a workload may run on: it passed the workload's node
// checks. Its fields change as the call places tasks of the workload.
type slot struct {
	node   int32  // index in the call's nodes (id order)
	domain int32  // index in the workload's domains; -1 without spread_key
	onNode uint32 // the workload's tasks on the node
}

// nodeResources is a node's capacity and allocation, the allocation
// including the placements made so far in the call.
type nodeResources struct {
	cpuCap, cpuAlloc int64
	memCap, memAlloc int64
}

// feasibleIterator yields candidate slots one at a time, nil when there
// are no more (Nomad's FeasibleIterator); Reset starts over.
type feasibleIterator interface {
	Next() *slot
	Reset()
}

// slotSource yields a workload's slots in node id order.
type slotSource struct {
	slots []slot
	pos   int
}

func (it *slotSource) Next() *slot {
	if it.pos == len(it.slots) {
		return nil
	}
	it.pos++
	return &it.slots[it.pos-1]
}

func (it *slotSource) Reset() { it.pos = 0 }

// checkIterator yields the slots of its source that pass every check, in
// the source's order, and counts the others under the first check each
// fails. (Its source is concrete: an interface call per slot cost a tenth
// of a scan.)
type checkIterator struct {
	source   *slotSource
	checks   []slotChecker
	filtered reasonCounts
}

func (it *checkIterator) Next() *slot {
next:
	for s := it.source.Next(); s != nil; s = it.source.Next() {
		for _, c := range it.checks {
			if r := c.check(s); r != fits {
				it.filtered[r]++
				continue next
			}
		}
		return s
	}
	return nil
}

func (it *checkIterator) Reset() {
	it.source.Reset()
	it.filtered = reasonCounts{}
}

// ScoreScale is the resolution of a node's score: per mille of its
// capacity, for cpu and for memory.
const ScoreScale = 1000

// Rank names (WorkloadSpec.rank). "" is RankBinpack.
const (
	RankBinpack = api.RankBinpack
	RankSpread  = api.RankSpread
)

// ranker takes every slot its source yields and keeps the best: a slot
// other than the task's avoided node; then, with a spread_key, the slot
// whose domain holds the fewest of the workload's tasks; then the highest
// score; then the smallest tie-break hash.
type ranker struct {
	source  feasibleIterator
	domains *domains // nil without spread_key
	spread  bool     // rank "spread": prefer the emptiest node
	cpuNeed int64
	memNeed int64
	res     []nodeResources
	nodes   []*types.Node
	tie     *tieBreak
}

// best returns the best slot for task, or nil if the source yields none.
// avoid is the index of the node the task avoids, or -1.
func (r *ranker) best(task string, avoid int32) *slot {
	r.source.Reset()
	r.tie.startTask(task)
	var (
		best       *slot
		bestDomain uint32
		bestScore  int64
		bestHash   uint64
		hashed     bool // bestHash is best's hash
	)
	for s := r.source.Next(); s != nil; s = r.source.Next() {
		if best != nil && avoid >= 0 {
			switch {
			case s.node == avoid:
				continue // any other node ranks above it
			case best.node == avoid:
				best = nil // the first other node replaces it
			}
		}
		var inDomain uint32
		if r.domains != nil {
			inDomain = r.domains.count[s.domain]
			if best != nil && inDomain > bestDomain {
				continue
			}
		}
		score := r.score(s)
		if best != nil {
			if inDomain == bestDomain && score < bestScore {
				continue
			}
			if inDomain == bestDomain && score == bestScore {
				// A tie: only now is the hash worth computing.
				if !hashed {
					bestHash, hashed = r.tie.sum(best.node), true
				}
				// Equal hashes (two node ids with one FNV hash: not
				// expected in practice) keep the first node in id order.
				h := r.tie.sum(s.node)
				if h >= bestHash {
					continue
				}
				best, bestHash = s, h
				continue
			}
		}
		best, bestDomain, bestScore, hashed = s, inDomain, score, false
	}
	return best
}

// score is, for bin-packing, the node's use after the placement, per mille
// of capacity summed over cpu and memory (0..2·ScoreScale; the fuller the
// better); for spreading, 2·ScoreScale minus that (the emptier the
// better). The slot passed the capacity checks: allocation + need ≤
// capacity, so nothing overflows.
func (r *ranker) score(s *slot) int64 {
	n := &r.res[s.node]
	used := perMille(n.cpuAlloc+r.cpuNeed, n.cpuCap) + perMille(n.memAlloc+r.memNeed, n.memCap)
	if r.spread {
		return 2*ScoreScale - used
	}
	return used
}

// perMille returns used·ScoreScale/capacity rounded down, within
// 0..ScoreScale, exact for every int64 (128-bit product when needed).
func perMille(used, capacity int64) int64 {
	switch {
	case used <= 0:
		return 0
	case used >= capacity: // also capacity ≤ 0: a node with no capacity is full
		return ScoreScale
	case used <= math.MaxInt64/ScoreScale:
		return used * ScoreScale / capacity
	}
	hi, lo := bits.Mul64(uint64(used), ScoreScale)
	q, _ := bits.Div64(hi, lo, uint64(capacity)) // q < ScoreScale: no overflow
	return int64(q)
}

// tieBreak hashes (block hash, task id, node id) in two levels, so that
// what is computed per tied node is a few arithmetic operations:
//
//	taskKey = first 8 bytes, big-endian, of
//	          sha256(u32be(len(blockHash)) ‖ blockHash ‖ task)   once per task
//	nodeKey = FNV-1a 64 of the node id                           once per node and call
//	hash    = fmix64(taskKey XOR nodeKey)                        per tie
//
// fmix64 is MurmurHash3's 64-bit finaliser, a bijection with full
// avalanche: for a task key that SHA-256 makes unpredictable, the order it
// gives the nodes is as good as random, and different for every task and
// block. The smallest hash wins a tie, so among equally good nodes the
// choice is fixed by the block yet spread evenly. (A SHA-256 per tied node
// cost 0.2 µs: 2 ms a scan when 10,000 identical nodes tie.)
type tieBreak struct {
	block    []byte // u32be(len(blockHash)) ‖ blockHash, then the task id
	taskKey  uint64
	nodes    []*types.Node
	nodeKeys []uint64 // FNV-1a of each node's id; 0 until computed
}

func newTieBreak(blockHash []byte, nodes []*types.Node) *tieBreak {
	block := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(blockHash)+64), uint32(len(blockHash)))
	return &tieBreak{block: append(block, blockHash...), nodes: nodes, nodeKeys: make([]uint64, len(nodes))}
}

func (t *tieBreak) startTask(task string) {
	n := len(t.block)
	key := sha256.Sum256(append(t.block, task...))
	t.block = t.block[:n]
	t.taskKey = binary.BigEndian.Uint64(key[:8])
}

// sum is the tie-break hash of node index i for the current task.
func (t *tieBreak) sum(i int32) uint64 {
	k := t.nodeKeys[i]
	if k == 0 {
		k = fnv1a(t.nodes[i].Id) | 1 // never 0: 0 marks "not computed"
		t.nodeKeys[i] = k
	}
	return fmix64(t.taskKey ^ k)
}

// fnv1a is the 64-bit FNV-1a hash of s.
func fnv1a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// fmix64 is MurmurHash3's 64-bit finaliser.
func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// TieBreakHash returns the hash that breaks a tie between equally ranked
// nodes for task in the block with hash blockHash (see Place): the
// smallest wins. Exported for tests and for explaining a placement.
func TieBreakHash(blockHash []byte, task, node string) uint64 {
	t := newTieBreak(blockHash, []*types.Node{{Id: node}})
	t.startTask(task)
	return t.sum(0)
}
