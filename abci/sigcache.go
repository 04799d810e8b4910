package abci

import (
	"crypto/sha256"
	"sync"

	"github.com/phalanx-bft/phalanx/crypto"
)

// sigCacheSize bounds how many verified signatures are remembered: enough
// for several full mempools' worth of transactions between blocks.
const sigCacheSize = 50_000

// sigCache remembers (public key, body, signature) triples that verified,
// so a transaction checked in CheckTx, ProcessProposal or a block's batch
// pre-verification (sigverify.go) is not verified a second time.
// Verification is a pure function of the triple, so a hit returns exactly
// what verifying again would. Safe for concurrent use.
type sigCache struct {
	// verifyOne verifies one signature on a miss: crypto.Verify, or
	// the baseline verifier of a benchmark.
	verifyOne func(pub, body, sig []byte) bool

	mu   sync.Mutex
	set  map[[32]byte]struct{}
	ring [][32]byte // insertion order, for eviction
	next int
}

func newSigCache() *sigCache {
	return &sigCache{
		verifyOne: crypto.Verify,
		set:       make(map[[32]byte]struct{}, sigCacheSize),
		ring:      make([][32]byte, 0, sigCacheSize),
	}
}

// sigKeyStackBytes is how much of a triple sigKey hashes from the stack
// (a heartbeat's is about 200 bytes); a longer one is copied to the heap.
const sigKeyStackBytes = 512

// sigKey is SHA-256(pub || sig || body): pub and sig have fixed lengths
// (checked before any verification), so the concatenation is unambiguous.
func sigKey(pub, body, sig []byte) [32]byte {
	var buf [sigKeyStackBytes]byte
	return sha256.Sum256(append(append(append(buf[:0], pub...), sig...), body...))
}

// verify is an api.Verifier backed by the cache.
func (c *sigCache) verify(pub, body, sig []byte) bool {
	k := sigKey(pub, body, sig)
	if c.has(k) {
		return true
	}
	if !c.verifyOne(pub, body, sig) {
		return false
	}
	c.add(k)
	return true
}

// has reports whether the triple of key k verified.
func (c *sigCache) has(k [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.set[k]
	return ok
}

// add records that the triple of key k verified, evicting the oldest
// entry when the cache is full.
func (c *sigCache) add(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.set[k]; ok {
		return
	}
	if len(c.ring) < sigCacheSize {
		c.ring = append(c.ring, k)
	} else {
		delete(c.set, c.ring[c.next])
		c.ring[c.next] = k
		c.next = (c.next + 1) % sigCacheSize
	}
	c.set[k] = struct{}{}
}

// reset forgets every verified triple (tests: a validator that saw none
// of a block's transactions), in place: the query view's goroutine may be
// verifying through the same cache.
func (c *sigCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.set)
	c.ring, c.next = c.ring[:0], 0
}
