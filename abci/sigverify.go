package abci

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// This file verifies a block's transaction signatures ahead of its
// sequential checks (ADR 0017): in batches (crypto.VerifyBatch), on all
// cores, and only the ones the signature cache does not hold. What
// verifies goes into the cache; the decoding that follows (api.DecodeTx
// through sigCache.verify) then finds it there. The block's outcome does
// not depend on it: a signature the batch accepts is one crypto.Verify
// accepts (ZIP-215), and one it does not cache is verified again, alone,
// where the decoding meets it. So the scheduling of the workers, their
// number and the cache's contents change how long a block takes, never
// what it does.

const (
	// verifyBatchMax bounds one batch: larger batches cost little less
	// per signature (BenchmarkVerify), and a bad signature makes its
	// whole batch fall back to verifying each alone.
	verifyBatchMax = 256
	// verifyBatchMin is the fewest signatures worth a worker of their
	// own: below it, starting a goroutine costs more than it saves.
	verifyBatchMin = 32
)

// preverify batch-verifies the outer signatures of raw transactions on
// up to GOMAXPROCS workers and caches those that verify. A transaction
// that does not decode, or whose key or signature has the wrong length,
// is skipped: the decoding that follows refuses it with its error code.
// Inner signatures (equivocation evidence) are left to the decoding.
func (a *Application) preverify(raws [][]byte) {
	if a.noPreverify || len(raws) == 0 {
		return
	}
	// Chunks of consecutive transactions, at most verifyBatchMax each,
	// as many as the workers can share evenly.
	workers := min(runtime.GOMAXPROCS(0), (len(raws)+verifyBatchMin-1)/verifyBatchMin)
	chunks := max(workers, (len(raws)+verifyBatchMax-1)/verifyBatchMax)
	size := (len(raws) + chunks - 1) / chunks
	if workers <= 1 {
		for lo := 0; lo < len(raws); lo += size {
			a.preverifyChunk(raws[lo:min(lo+size, len(raws))])
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(int64(size))) - size
				if lo >= len(raws) {
					return
				}
				a.preverifyChunk(raws[lo:min(lo+size, len(raws))])
			}
		}()
	}
	wg.Wait()
}

// preverifyChunk verifies one batch and caches what verifies.
func (a *Application) preverifyChunk(raws [][]byte) {
	pubs := make([][]byte, 0, len(raws))
	bodies := make([][]byte, 0, len(raws))
	sigs := make([][]byte, 0, len(raws))
	keys := make([][32]byte, 0, len(raws))
	for _, raw := range raws {
		if len(raw) > api.MaxTxBytes {
			continue
		}
		var tx types.Tx
		if tx.Unmarshal(raw) != nil || len(tx.PubKey) != crypto.PubKeyLen || len(tx.Signature) != crypto.SignatureLen {
			continue
		}
		k := sigKey(tx.PubKey, tx.BodyBytes, tx.Signature)
		if a.sigs.has(k) {
			continue
		}
		pubs, bodies, sigs, keys = append(pubs, tx.PubKey), append(bodies, tx.BodyBytes), append(sigs, tx.Signature), append(keys, k)
	}
	if len(keys) == 0 {
		return
	}
	for i, ok := range crypto.VerifyBatch(pubs, bodies, sigs) {
		if ok {
			a.sigs.add(keys[i])
		}
	}
}
