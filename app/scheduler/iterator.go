package scheduler

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/bits"

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
	RankBinpack = "binpack"
	RankSpread  = "spread"
)

// ranker takes every slot its source yields and keeps the best: with a
// spread_key, the slot whose domain holds the fewest of the workload's
// tasks; then the highest score; then the smallest tie-break hash.
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
func (r *ranker) best(task string) *slot {
	r.source.Reset()
	r.tie.startTask(task)
	var (
		best       *slot
		bestDomain uint32
		bestScore  int64
		bestHash   [sha256.Size]byte
		hashed     bool // bestHash is best's hash
	)
	for s := r.source.Next(); s != nil; s = r.source.Next() {
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
					bestHash, hashed = r.tie.sum(r.nodes[best.node].Id), true
				}
				h := r.tie.sum(r.nodes[s.node].Id)
				if bytes.Compare(h[:], bestHash[:]) >= 0 {
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

// tieBreak hashes (block hash, task id, node id) with SHA-256, in two
// levels so that the part hashed per node is short:
//
//	taskKey = sha256(u32be(len(blockHash)) ‖ blockHash ‖ task)
//	hash    = sha256(taskKey ‖ node)
//
// With node ids up to 23 bytes, hashing one node is one SHA-256 block. The
// smallest hash (bytes compared) wins a tie, so among equally good nodes
// the choice is fixed by the block yet differs from task to task and block
// to block.
type tieBreak struct {
	block []byte // u32be(len(blockHash)) ‖ blockHash, then the task id
	buf   []byte // taskKey, then the node id being hashed
}

func newTieBreak(blockHash []byte) *tieBreak {
	block := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(blockHash)+64), uint32(len(blockHash)))
	return &tieBreak{block: append(block, blockHash...), buf: make([]byte, sha256.Size, sha256.Size+64)}
}

func (t *tieBreak) startTask(task string) {
	n := len(t.block)
	key := sha256.Sum256(append(t.block, task...))
	t.block = t.block[:n]
	copy(t.buf, key[:])
}

func (t *tieBreak) sum(node string) [sha256.Size]byte {
	t.buf = append(t.buf[:sha256.Size], node...)
	return sha256.Sum256(t.buf)
}

// TieBreakHash returns the hash that breaks a tie between equally ranked
// nodes for task in the block with hash blockHash (see Place). Exported for
// tests and for explaining a placement.
func TieBreakHash(blockHash []byte, task, node string) [sha256.Size]byte {
	t := newTieBreak(blockHash)
	t.startTask(task)
	return t.sum(node)
}
