package rpcpool

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto"
)

// Submission limits.
const (
	// StallBlocks: a transaction admitted to a mempool whose account
	// sequence the chain has not moved past for this many blocks is
	// considered lost (admitted only by a node that died or censors, or
	// behind a gap); the account's sequence is then re-read from the chain.
	StallBlocks = 5
	// waitPoll is the pause between two looks for a pending transaction.
	waitPoll = 200 * time.Millisecond
)

// ErrStalled: a transaction was admitted by a node but the chain did not
// include it, nor anything else at its sequence, for StallBlocks blocks.
var ErrStalled = errors.New("transaction stalled")

// Submitter signs the transactions of one account and submits each through
// every node of a pool at once (Pool.Broadcast), with one sequence counter
// for the account, whatever node admits them. It is safe for concurrent
// use. The counter starts from the chain's account sequence and is read
// from the chain again when the nodes say it is wrong (codes 7, 8), when a
// transaction could not be handed to any node, and when one stalls.
type Submitter struct {
	pool *Pool
	key  ed25519.PrivateKey
	addr []byte

	mu      sync.Mutex
	chainID string
	loaded  bool
	next    uint64
	epoch   uint64 // counts the times next was set from outside
}

// NewSubmitter returns a Submitter for the account of key.
func (p *Pool) NewSubmitter(key ed25519.PrivateKey) *Submitter {
	return &Submitter{pool: p, key: key, addr: crypto.Address(key.Public().(ed25519.PublicKey))}
}

// Pending is a transaction some node admitted to its mempool.
type Pending struct {
	Hash string // upper-case hex
	Seq  uint64 // its account sequence
	Sent time.Time

	epoch uint64
}

// Send signs msg with the account's next sequence and hands it to every
// node (each call bounded by timeout); it returns once a node admitted it,
// without waiting for a block. When the nodes refuse the sequence it
// takes the sequence they expect and tries once more.
func (s *Submitter) Send(ctx context.Context, msg client.Msg, timeout time.Duration) (*Pending, error) {
	for attempt := 0; ; attempt++ {
		chainID, seq, epoch, err := s.take(ctx, timeout)
		if err != nil {
			return nil, err
		}
		raw, err := client.BuildTx(chainID, seq, 0, "", msg, s.key)
		if err != nil {
			s.giveBack(epoch, seq)
			return nil, err
		}
		sent := time.Now()
		err = s.pool.Broadcast(ctx, timeout, raw)
		if err == nil {
			return &Pending{Hash: client.TxHash(raw), Seq: seq, Sent: sent, epoch: epoch}, nil
		}
		if next, ok := client.ExpectedSequence(err); ok {
			s.set(epoch, next)
			if attempt == 0 {
				continue
			}
			return nil, err
		}
		if Answered(err) {
			// Refused everywhere for another reason: the sequence is unused.
			s.giveBack(epoch, seq)
		} else {
			// A node that did not answer in time may have admitted it.
			s.invalidate(epoch)
		}
		return nil, err
	}
}

// Submit is Send, then Wait.
func (s *Submitter) Submit(ctx context.Context, msg client.Msg, timeout, commitTimeout time.Duration) (*client.Result, error) {
	p, err := s.Send(ctx, msg, timeout)
	if err != nil {
		return nil, err
	}
	return s.Wait(ctx, p, timeout, commitTimeout)
}

// take returns the chain id and the next sequence, and counts it used.
func (s *Submitter) take(ctx context.Context, timeout time.Duration) (chainID string, seq, epoch uint64, err error) {
	s.mu.Lock()
	chainID, loaded := s.chainID, s.loaded
	s.mu.Unlock()
	if chainID == "" || !loaded {
		var next uint64
		err := s.pool.Do(ctx, timeout, func(ctx context.Context, c *client.Client) error {
			id, err := c.ChainID(ctx)
			if err != nil {
				return err
			}
			n, err := c.NextSequence(ctx, s.addr)
			chainID, next = id, n
			return err
		})
		if err != nil {
			return "", 0, 0, err
		}
		s.mu.Lock()
		s.chainID = chainID
		if !s.loaded {
			s.next, s.loaded = next, true
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seq = s.next
	s.next++
	return s.chainID, seq, s.epoch, nil
}

// giveBack returns seq, unused, if nothing was taken after it.
func (s *Submitter) giveBack(epoch, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch == epoch && s.next == seq+1 {
		s.next = seq
	}
}

// set makes next the next sequence, unless it was set since epoch.
func (s *Submitter) set(epoch, next uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch == epoch {
		s.next, s.loaded = next, true
		s.epoch++
	}
}

// invalidate makes the next take read the sequence from the chain.
func (s *Submitter) invalidate(epoch uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch == epoch {
		s.loaded = false
		s.epoch++
	}
}

// rewind moves the counter back to the chain's next sequence when a
// transaction stalled, unless the counter was set since it was sent.
func (s *Submitter) rewind(epoch, chainNext uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != epoch || !s.loaded || s.next <= chainNext {
		return false
	}
	s.next = chainNext
	s.epoch++
	return true
}

// Prime sets the chain id and the next sequence without asking the chain:
// for an account known to be new (next 0), a process that registers
// thousands of nodes (the fleet simulator) saves one query per node. A
// wrong guess costs what any wrong sequence does: the nodes say the
// expected one and Send takes it.
func (s *Submitter) Prime(chainID string, next uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chainID, s.next, s.loaded = chainID, next, true
	s.epoch++
}

// Peek is the sequence the next Send would use; ok is false while it is to
// be read from the chain.
func (s *Submitter) Peek() (next uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next, s.loaded
}

// Wait waits, at most commitTimeout, for p to be in a block, asking the
// nodes in turn (each request bounded by timeout, the next node when one
// does not answer). It returns the result, with a *client.TxError when the
// block refused the transaction. It returns early when the transaction can
// no longer be included: its sequence was used by another transaction (a
// *client.TxError with code 7), or it stalled (ErrStalled: the chain
// stayed below its sequence for StallBlocks blocks; the sequence counter
// is then rewound to the chain's). On the deadline the error wraps
// client.ErrCommitTimeout.
func (s *Submitter) Wait(ctx context.Context, p *Pending, timeout, commitTimeout time.Duration) (*client.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	t := time.NewTicker(waitPoll)
	defer t.Stop()
	var (
		lastErr     error
		chainSeq    uint64 // the chain's next sequence of the account, last read
		seqSince    int64  // the height at which chainSeq was first seen
		superseded  int    // reads that saw the sequence used, the tx not found
		polls       int
		stallHeight int64
	)
	for {
		var found *client.Result
		err := s.pool.Do(ctx, timeout, func(ctx context.Context, c *client.Client) error {
			r, err := c.Tx(ctx, p.Hash)
			if errors.Is(err, client.ErrTxNotFound) {
				return nil
			}
			found = r
			return err
		})
		switch {
		case err != nil:
			lastErr = err
		case found != nil && found.Code != 0:
			return found, &client.TxError{Code: found.Code, Log: found.Log, Hash: found.Hash, Height: found.Height}
		case found != nil:
			return found, nil
		}
		polls++
		if polls%2 == 0 {
			var next uint64
			var height int64
			err := s.pool.Do(ctx, timeout, func(ctx context.Context, c *client.Client) error {
				n, err := c.NextSequence(ctx, s.addr)
				if err != nil {
					return err
				}
				h, err := c.LatestHeight(ctx)
				next, height = n, h
				return err
			})
			switch {
			case err != nil:
				lastErr = err
			case next > p.Seq:
				// Used; by this transaction if the index shows it soon.
				if superseded++; superseded >= 3 {
					return nil, &client.TxError{Code: api.ErrSequenceUsed.Code, Hash: p.Hash, Log: fmt.Sprintf(
						"sequence %d of account %X was used by another transaction (the account's next sequence is %d); tx %s was dropped and will never be included",
						p.Seq, s.addr, next, p.Hash)}
				}
			case next != chainSeq || seqSince == 0:
				chainSeq, seqSince = next, height
			case height-seqSince >= StallBlocks:
				stallHeight = height
				rewound := s.rewind(p.epoch, next)
				return nil, fmt.Errorf("%w: tx %s (sequence %d) admitted %s ago, but the chain's next sequence for account %X stayed %d from height %d to %d; rewound the sequence counter: %v",
					ErrStalled, p.Hash, p.Seq, time.Since(p.Sent).Round(time.Millisecond), s.addr, next, seqSince, stallHeight, rewound)
			}
		}
		select {
		case <-ctx.Done():
			how := fmt.Sprintf("not seen in a block within %s", commitTimeout)
			if errors.Is(ctx.Err(), context.Canceled) {
				how = "interrupted before it was seen in a block"
			}
			msg := fmt.Errorf("%w: tx %s (sequence %d) %s", client.ErrCommitTimeout, p.Hash, p.Seq, how)
			if lastErr != nil {
				msg = fmt.Errorf("%w; last error: %v", msg, lastErr)
			}
			return nil, msg
		case <-t.C:
		}
	}
}
