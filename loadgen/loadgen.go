// Package loadgen floods validators with signed transactions, as an
// attacker or a very busy cluster would, and counts what the network did
// with them: admitted to the mempool, or refused with which numbered code.
// It is the engine of `phalanxd load flood` and of the flood tests;
// Bench (bench.go), the engine of `phalanxd load bench`, offers fixed
// rates open loop and measures committed tx/s and commit latency.
//
// A Flood runs Workers goroutines until Duration passes (or ctx ends),
// each taking the next transaction from Source and sending it with
// broadcast_tx_sync to the next validator, round robin (an Ordered source
// to the first validator only); with Rate > 0 the
// workers together send at most Rate transactions a second. A Source
// that must keep a signer's sequences in order (one signer) is driven by
// one worker, and moves to the next sequence only when the last one was
// admitted (a refused one is sent again, as a client would): CheckTx
// refuses a sequence that skips ahead.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/phalanx-bft/phalanx/client"
)

// Limits of a flood's configuration.
const (
	MaxWorkers  = 256
	MaxDuration = 24 * time.Hour
	MaxRate     = 1_000_000
)

// Source yields the i-th transaction of a flood (i counts from 0), or an
// error that stops the flood.
type Source interface {
	Next(i int) ([]byte, error)
	// Ordered: the transactions are one signer's consecutive sequences, so
	// they must be sent one at a time, in order.
	Ordered() bool
}

// Resequencer is an Ordered source that can say which index carries a
// sequence: when CheckTx answers "next is N" (codes 7 and 8: the signer's
// sequence moved, e.g. transactions of the flood were dropped from the
// mempool), the flood goes on from N, as a client would.
type Resequencer interface {
	IndexOf(seq uint64) (int, bool)
}

// Config is a flood.
type Config struct {
	Nodes    []string // CometBFT RPC addresses, tcp://host:port
	Source   Source
	Workers  int           // parallel senders (1 for an Ordered source)
	Duration time.Duration // how long to send
	Rate     int           // transactions per second in all; 0: as fast as possible
}

// Validate reports a missing or impossible setting.
func (c Config) Validate() error {
	switch {
	case len(c.Nodes) == 0:
		return errors.New("loadgen: no validator RPC address")
	case c.Source == nil:
		return errors.New("loadgen: no transaction source")
	case c.Workers < 1 || c.Workers > MaxWorkers:
		return fmt.Errorf("loadgen: %d workers; expected 1..%d", c.Workers, MaxWorkers)
	case c.Source.Ordered() && c.Workers != 1:
		return fmt.Errorf("loadgen: one signer's sequences need 1 worker, not %d", c.Workers)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("loadgen: duration %s; expected more than 0 and at most %s", c.Duration, MaxDuration)
	case c.Rate < 0 || c.Rate > MaxRate:
		return fmt.Errorf("loadgen: rate %d/s; expected 0 (as fast as possible) .. %d", c.Rate, MaxRate)
	}
	return nil
}

// Result counts what a flood did.
type Result struct {
	Sent     int            // broadcasts that got an answer
	Admitted int            // CheckTx code 0
	Refused  map[uint32]int // CheckTx code -> count
	// Rejected counts broadcasts CometBFT itself refused before or
	// without CheckTx ("mempool is full", "tx already exists in cache",
	// "tx too large"), by message.
	Rejected map[string]int
	Errors   int // RPC failures (connection refused, timeouts)
	Elapsed  time.Duration
}

// Rate is the transactions answered per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

// String is a one-line summary with the codes in order.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d in %.1fs (%.0f/s): admitted %d", r.Sent, r.Elapsed.Seconds(), r.Rate(), r.Admitted)
	codes := make([]uint32, 0, len(r.Refused))
	for c := range r.Refused {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool { return codes[i] < codes[j] })
	for _, c := range codes {
		fmt.Fprintf(&b, ", code %d: %d", c, r.Refused[c])
	}
	msgs := make([]string, 0, len(r.Rejected))
	for m := range r.Rejected {
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	for _, m := range msgs {
		fmt.Fprintf(&b, ", %q: %d", m, r.Rejected[m])
	}
	if r.Errors > 0 {
		fmt.Fprintf(&b, ", rpc errors: %d", r.Errors)
	}
	return b.String()
}

// Flood runs cfg and returns what happened. A Source error stops it and
// is returned with the counts so far.
func Flood(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Refused: map[uint32]int{}, Rejected: map[string]int{}}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	clients := make([]*rpchttp.HTTP, len(cfg.Nodes))
	for i, n := range cfg.Nodes {
		c, err := rpchttp.New(n)
		if err != nil {
			return res, fmt.Errorf("loadgen: node %s: %w", n, err)
		}
		clients[i] = c
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	var (
		mu      sync.Mutex
		next    int
		srcErr  error
		tick    <-chan time.Time
		started = time.Now()
	)
	if cfg.Rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(cfg.Rate))
		defer t.Stop()
		tick = t.C
	}
	ordered := cfg.Source.Ordered()
	take := func() (int, bool) {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				return 0, false
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil || srcErr != nil {
			return 0, false
		}
		i := next
		if !ordered {
			next++ // an ordered source moves on only when a tx is admitted
		}
		return i, true
	}
	var wg sync.WaitGroup
	for w := 0; w < cfg.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				raw, err := cfg.Source.Next(i)
				if err != nil {
					mu.Lock()
					if srcErr == nil {
						srcErr = err
					}
					mu.Unlock()
					return
				}
				c := clients[(i+w)%len(clients)]
				if ordered {
					// One signer talks to one validator, as a client does: a
					// sequence sent elsewhere may arrive before the one it
					// follows has been gossiped there.
					c = clients[0]
				}
				r, err := c.BroadcastTxSync(ctx, raw)
				mu.Lock()
				switch {
				case err != nil && ctx.Err() != nil:
					// the flood ended during the call: not counted
				case err != nil:
					if code, log, ok := client.CheckTxRejection(err); ok {
						res.Sent++
						res.Refused[code]++
						if ordered {
							resequence(cfg.Source, log, &next)
						}
					} else if m := mempoolRejection(err.Error()); m != "" {
						res.Sent++
						res.Rejected[m]++
						if ordered && m == "tx already exists in cache" {
							next++ // it is in the mempool already: go on
						}
					} else {
						res.Errors++
					}
				case r.Code == 0:
					res.Sent++
					res.Admitted++
					if ordered {
						next++
					}
				default:
					res.Sent++
					res.Refused[r.Code]++
					if ordered {
						resequence(cfg.Source, r.Log, &next)
					}
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	res.Elapsed = time.Since(started)
	return res, srcErr
}

// resequence moves an ordered flood to the index of the sequence CheckTx
// asked for ("…; next is N"), if the source can say which that is.
func resequence(src Source, log string, next *int) {
	r, ok := src.(Resequencer)
	if !ok {
		return
	}
	const mark = "next is "
	i := strings.LastIndex(log, mark)
	if i < 0 {
		return
	}
	var seq uint64
	if _, err := fmt.Sscanf(log[i+len(mark):], "%d", &seq); err != nil {
		return
	}
	if idx, ok := r.IndexOf(seq); ok {
		*next = idx
	}
}

// mempoolRejection names CometBFT's own refusals, which carry no code.
func mempoolRejection(msg string) string {
	for _, m := range []string{"mempool is full", "tx already exists in cache", "tx too large"} {
		if strings.Contains(msg, m) {
			return m
		}
	}
	return ""
}
