package abci

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/cometbft/cometbft/libs/log"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app"
)

// queryWait bounds how long a query waits for the query view to reach the
// height it asks for (or the last committed height): applying a block
// takes milliseconds, so only a view that is stuck takes this long.
const queryWait = 5 * time.Second

// committedBlock is a committed block as the query view replays it: the
// same inputs FinalizeBlock applied, and the records it changed.
type committedBlock struct {
	block    app.Block
	evidence []app.Misbehavior
	txs      [][]byte
	changes  []app.KV
}

// queryView is the state JSON queries read (docs/adr/0013-query-view.md):
// a second app.State that replays every committed block after the
// consensus state has applied it. A query holds only the view's lock, for
// the one page it reads; FinalizeBlock, CheckTx and Commit never wait for
// a query. The replay is also a running determinism check: the records
// the view changes must equal those the consensus state changed.
type queryView struct {
	logger log.Logger
	decode func([]byte) (*api.Tx, error)

	mu    sync.Mutex // held by one query, or by the replay of one block
	state *app.State
	err   error // set when the view diverged: queries fail with it

	qmu      sync.Mutex // guards queue, height, advanced, closed
	queue    []committedBlock
	height   int64         // the view's height
	advanced chan struct{} // closed and replaced when height moves
	wake     chan struct{} // one-slot: a block was queued
	closed   bool
	done     chan struct{}
}

func newQueryView(st *app.State, decode func([]byte) (*api.Tx, error), logger log.Logger) *queryView {
	v := &queryView{
		logger: logger, decode: decode, state: st, height: st.Height(),
		advanced: make(chan struct{}), wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	go v.run()
	return v
}

// push queues a committed block for replay.
func (v *queryView) push(b committedBlock) {
	v.qmu.Lock()
	v.queue = append(v.queue, b)
	v.qmu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// close stops the replay goroutine and waits for it.
func (v *queryView) close() {
	v.qmu.Lock()
	v.closed = true
	v.qmu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
	<-v.done
}

func (v *queryView) run() {
	defer close(v.done)
	for {
		v.qmu.Lock()
		if v.closed {
			v.qmu.Unlock()
			return
		}
		var b committedBlock
		ok := len(v.queue) > 0
		if ok {
			b = v.queue[0]
			v.queue[0] = committedBlock{}
			v.queue = v.queue[1:]
		}
		v.qmu.Unlock()
		if !ok {
			<-v.wake
			continue
		}
		v.mu.Lock()
		if v.err == nil {
			v.err = v.replay(b)
			if v.err != nil {
				v.logger.Error("query view stopped: queries will fail until the node restarts", "err", v.err)
			}
		}
		v.mu.Unlock()
		v.qmu.Lock()
		v.height = b.block.Height
		close(v.advanced)
		v.advanced = make(chan struct{})
		v.qmu.Unlock()
	}
}

// replay applies b to the view's state as FinalizeBlock applied it to the
// consensus state, and compares the changed records.
func (v *queryView) replay(b committedBlock) error {
	st := v.state
	st.BeginBlock(b.block, b.evidence)
	for _, raw := range b.txs {
		tx, err := v.decode(raw)
		if err != nil {
			continue // FinalizeBlock answered it with its code; nothing changed
		}
		st.DeliverTx(tx)
	}
	st.EndBlock()
	got := st.TakeChanges()
	if len(got) != len(b.changes) {
		return fmt.Errorf("replay of block %d changed %d records; the consensus state changed %d", b.block.Height, len(got), len(b.changes))
	}
	for i := range got {
		if !bytes.Equal(got[i].Key, b.changes[i].Key) || !bytes.Equal(got[i].Value, b.changes[i].Value) {
			return fmt.Errorf("replay of block %d differs from the consensus state at record %q", b.block.Height, b.changes[i].Key)
		}
	}
	return nil
}

// query answers path from the view once it has reached height: the last
// committed height when the query arrived (exact false: a later height
// will do), or the height asked for (exact: only that height).
func (v *queryView) query(path string, height int64, exact bool) ([]byte, int64, error) {
	deadline := time.NewTimer(queryWait)
	defer deadline.Stop()
	for {
		v.qmu.Lock()
		h, advanced := v.height, v.advanced
		v.qmu.Unlock()
		if h >= height {
			break
		}
		select {
		case <-advanced:
		case <-deadline.C:
			return nil, h, api.Errorf(api.ErrInternal, "the query view is at height %d and did not reach %d within %s", h, height, queryWait)
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err != nil {
		return nil, v.state.Height(), api.Errorf(api.ErrInternal, "query view: %v", v.err)
	}
	h := v.state.Height()
	if exact && h != height {
		return nil, h, api.Errorf(api.ErrNotFound, "JSON queries answer at the latest height %d, not %d; use prove=true for a past height's record", h, height)
	}
	out, err := v.state.Query(path)
	return out, h, err
}
