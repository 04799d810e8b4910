package client

import (
	"context"
	"fmt"
	"sync"

	"github.com/phalanx-bft/phalanx/crypto"
)

// Sequencer hands out consecutive sequences for one signer, so that a
// sender can have several transactions in flight (the node's CheckTx
// counts the ones it admitted). It starts from the account's committed
// sequence, read from the node on first use and after Reset. It is safe
// for concurrent use, but transactions must reach the node in the order
// of their sequences, or the later ones are rejected with code 8.
//
// After a transaction is rejected with code 7 or 8, or dropped, call
// Reset: the numbers handed out after it are then stale.
type Sequencer struct {
	c    *Client
	addr []byte

	mu     sync.Mutex
	loaded bool
	next   uint64
}

// NewSequencer returns a Sequencer for the account addr (20 bytes).
func (c *Client) NewSequencer(addr []byte) (*Sequencer, error) {
	if len(addr) != crypto.AddressLen {
		return nil, fmt.Errorf("sequencer: address is %d bytes; expected %d", len(addr), crypto.AddressLen)
	}
	return &Sequencer{c: c, addr: append([]byte(nil), addr...)}, nil
}

// Next returns the sequence for the next transaction and counts it as used.
func (s *Sequencer) Next(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		seq, err := s.c.NextSequence(ctx, s.addr)
		if err != nil {
			return 0, err
		}
		s.next, s.loaded = seq, true
	}
	seq := s.next
	s.next++
	return seq, nil
}

// Peek returns the sequence Next would return, without counting it; ok is
// false before the first Next after creation or Reset.
func (s *Sequencer) Peek() (seq uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next, s.loaded
}

// Reset re-reads the account's committed sequence from the node. Call it
// once the transactions in flight are committed or known to be dropped;
// a Reset while some are still pending hands their numbers out again.
func (s *Sequencer) Reset(ctx context.Context) error {
	seq, err := s.c.NextSequence(ctx, s.addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next, s.loaded = seq, true
	return nil
}
