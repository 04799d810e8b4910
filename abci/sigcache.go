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

func sigKey(pub, body, sig []byte) [32]byte {
	h := sha256.New()
	h.Write(pub)
	h.Write(sig)
	h.Write(body)
	var k [32]byte
	h.Sum(k[:0])
	return k
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
