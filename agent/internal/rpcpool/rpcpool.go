// Package rpcpool gives the worker agent and the observer one view of
// several validators' RPC endpoints: a request goes to the current node,
// and when that node does not answer, to the next one in turn. Backoff
// spaces out the attempts while none answers, so a control plane that is
// down costs a few requests per interval, not a busy loop.
package rpcpool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/phalanx-bft/phalanx/client"
)

// Limits and defaults.
const (
	// MaxNodes bounds the RPC URLs of one pool.
	MaxNodes = 16
	// DefaultBackoffBase and DefaultBackoffMax bound the pause between two
	// rounds in which no node answered.
	DefaultBackoffBase = 250 * time.Millisecond
	DefaultBackoffMax  = 10 * time.Second
)

// ErrAllUnreachable wraps the last transport error when no node of the
// pool answered.
var ErrAllUnreachable = errors.New("no validator RPC answered")

// Pool is an ordered list of RPC clients with a current one. It is safe
// for concurrent use.
type Pool struct {
	clients []*client.Client
	logf    func(format string, args ...any)

	mu  sync.Mutex
	cur int
}

// New connects (lazily: no request is made) to every URL with cfg (its Node
// field is replaced by each URL). logf may be nil.
func New(urls []string, cfg client.Config, logf func(format string, args ...any)) (*Pool, error) {
	if len(urls) == 0 {
		return nil, errors.New("rpc pool: no node URL; expected at least one --node")
	}
	if len(urls) > MaxNodes {
		return nil, fmt.Errorf("rpc pool: %d node URLs; the limit is %d", len(urls), MaxNodes)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	p := &Pool{logf: logf}
	seen := map[string]bool{}
	for _, u := range urls {
		c := cfg
		c.Node = u
		cl, err := client.NewWithConfig(c)
		if err != nil {
			return nil, err
		}
		if seen[cl.Node()] {
			return nil, fmt.Errorf("rpc pool: node URL %s given twice", cl.Node())
		}
		seen[cl.Node()] = true
		p.clients = append(p.clients, cl)
	}
	return p, nil
}

// URLs returns the pool's normalised RPC addresses in order.
func (p *Pool) URLs() []string {
	out := make([]string, len(p.clients))
	for i, c := range p.clients {
		out[i] = c.Node()
	}
	return out
}

// Clients returns the pool's clients in order.
func (p *Pool) Clients() []*client.Client { return append([]*client.Client(nil), p.clients...) }

// Current returns the client requests go to first.
func (p *Pool) Current() *client.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clients[p.cur]
}

// Do calls f with the current client and, while f's error says the node
// did not answer (see Answered), with each other client in turn, each call
// bounded by timeout (0: only ctx). The first client that answers becomes
// the current one. It returns f's error from the client that answered, or
// the last transport error wrapped with ErrAllUnreachable.
func (p *Pool) Do(ctx context.Context, timeout time.Duration, f func(ctx context.Context, c *client.Client) error) error {
	p.mu.Lock()
	start := p.cur
	p.mu.Unlock()
	var last error
	for i := range p.clients {
		idx := (start + i) % len(p.clients)
		c := p.clients[idx]
		actx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, timeout)
		}
		err := f(actx, c)
		cancel()
		if Answered(err) {
			p.mu.Lock()
			if p.cur != idx {
				p.logf("control plane: now using %s", c.Node())
				p.cur = idx
			}
			p.mu.Unlock()
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = err
		if len(p.clients) > 1 {
			p.logf("control plane: %s: %v", c.Node(), err)
		}
	}
	return fmt.Errorf("%w (tried %d): %v", ErrAllUnreachable, len(p.clients), last)
}

// Answered reports whether err is an answer of a node: nil, a transaction
// or query rejected by the application, or a transaction known to be
// dropped. Anything else (connection refused, a timeout, a transaction
// whose commit was not seen in time) says the node may be down or cut off
// from the others, and another node should be tried.
func Answered(err error) bool {
	if err == nil {
		return true
	}
	var te *client.TxError
	var qe *client.QueryError
	return errors.As(err, &te) || errors.As(err, &qe) || errors.Is(err, client.ErrTxDropped)
}

// Backoff is a capped exponential backoff with jitter: each Next is about
// twice the previous one, between Base and Max. The zero value uses the
// defaults. It is not safe for concurrent use.
type Backoff struct {
	Base, Max time.Duration
	next      time.Duration
}

// Next returns the pause before the next attempt: a random duration in
// [d/2, d] where d doubles from Base up to Max.
func (b *Backoff) Next() time.Duration {
	base, maxD := b.Base, b.Max
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if maxD < base {
		maxD = max(DefaultBackoffMax, base)
	}
	if b.next < base {
		b.next = base
	}
	d := b.next
	b.next = min(2*b.next, maxD)
	return d/2 + rand.N(d/2+1)
}

// Reset starts the next round of backoff from Base again.
func (b *Backoff) Reset() { b.next = 0 }
