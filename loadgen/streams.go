package loadgen

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/types"
)

// HeartbeatStream is the Phalanx side of a bench: lane i is node
// NodeIDs[i] heartbeating with its own key Keys[i], as its agent would:
// its k-th transaction is signed with account sequence k (the node's
// account was created by its registration, so it starts at 0) and
// carries heartbeat seq k+1. Memo pads every transaction towards a size.
type HeartbeatStream struct {
	ChainID string
	Keys    []ed25519.PrivateKey
	NodeIDs []string
	Memo    string

	// built[lane][k] is the signed transaction k of lane, once built.
	built [][][]byte
	once  sync.Once
}

// Lanes is the number of nodes.
func (h *HeartbeatStream) Lanes() int { return len(h.Keys) }

func (h *HeartbeatStream) init() {
	h.once.Do(func() { h.built = make([][][]byte, len(h.Keys)) })
}

// Tx is node lane's k-th heartbeat.
func (h *HeartbeatStream) Tx(lane, k int) ([]byte, error) {
	h.init()
	if lane < 0 || lane >= len(h.Keys) || len(h.NodeIDs) != len(h.Keys) {
		return nil, fmt.Errorf("loadgen: heartbeat lane %d of %d keys and %d node ids", lane, len(h.Keys), len(h.NodeIDs))
	}
	if k < len(h.built[lane]) && h.built[lane][k] != nil {
		return h.built[lane][k], nil
	}
	return h.build(lane, k)
}

func (h *HeartbeatStream) build(lane, k int) ([]byte, error) {
	return client.BuildTx(h.ChainID, uint64(k), 0, h.Memo,
		&types.Heartbeat{NodeId: h.NodeIDs[lane], Seq: uint64(k) + 1}, h.Keys[lane])
}

// Prepare signs transactions k[lane] … k[lane]+n-1 of every lane, on
// every core.
func (h *HeartbeatStream) Prepare(k []int, n int) error {
	h.init()
	if len(k) != len(h.Keys) {
		return fmt.Errorf("loadgen: %d lane positions for %d lanes", len(k), len(h.Keys))
	}
	lanes := make(chan int)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for lane := range lanes {
				want := k[lane] + n
				b := h.built[lane]
				if len(b) < want {
					b = append(b, make([][]byte, want-len(b))...)
				}
				for i := k[lane]; i < want; i++ {
					if b[i] != nil {
						continue
					}
					tx, err := h.build(lane, i)
					if err != nil {
						mu.Lock()
						first = errors.Join(first, err)
						mu.Unlock()
						break
					}
					b[i] = tx
				}
				// Transactions before k[lane] were admitted: never sent again.
				for i := range min(k[lane], len(b)) {
					b[i] = nil
				}
				h.built[lane] = b
			}
		})
	}
	for lane := range h.Keys {
		lanes <- lane
	}
	close(lanes)
	wg.Wait()
	return first
}

// Resume goes on from the sequence CheckTx asks for (codes 7 and 8:
// "…; next is N").
func (h *HeartbeatStream) Resume(_ int, log string) (int, bool) {
	seq, ok := nextSeq(log)
	if !ok || seq > 1<<30 {
		return 0, false
	}
	return int(seq), true
}

// nextSeq reads N from a CheckTx log "…; next is N".
func nextSeq(log string) (uint64, bool) {
	const mark = "next is "
	i := strings.LastIndex(log, mark)
	if i < 0 {
		return 0, false
	}
	var seq uint64
	if _, err := fmt.Sscanf(log[i+len(mark):], "%d", &seq); err != nil {
		return 0, false
	}
	return seq, true
}

// MaxKVStoreTxBytes bounds KVStoreStream.Size (api.MaxTxBytes, Phalanx's
// own limit, so both systems can carry the same size).
const MaxKVStoreTxBytes = api.MaxTxBytes

// KVStoreStream is the kvstore side of a bench: transaction k of lane i
// is "bench-RUN-i-k=xxx…", padded with 'x' to Size bytes, a new key each
// (CometBFT's abci/example/kvstore format: one '=', no ':').
type KVStoreStream struct {
	Run   string // distinguishes runs: no transaction repeats an earlier one
	Count int    // lanes
	Size  int    // bytes per transaction
}

// Lanes is Count.
func (s KVStoreStream) Lanes() int { return s.Count }

// Tx is lane's k-th key=value transaction.
func (s KVStoreStream) Tx(lane, k int) ([]byte, error) {
	key := "bench-" + s.Run + "-" + strconv.Itoa(lane) + "-" + strconv.Itoa(k) + "="
	if s.Size > MaxKVStoreTxBytes || s.Size < len(key)+1 {
		return nil, fmt.Errorf("loadgen: kvstore transaction of %d bytes; expected %d..%d for key %q", s.Size, len(key)+1, MaxKVStoreTxBytes, key)
	}
	tx := make([]byte, s.Size)
	copy(tx, key)
	for i := len(key); i < len(tx); i++ {
		tx[i] = 'x'
	}
	return tx, nil
}

// Prepare: nothing to sign.
func (KVStoreStream) Prepare([]int, int) error { return nil }

// Resume: kvstore transactions have no sequence.
func (KVStoreStream) Resume(int, string) (int, bool) { return 0, false }
