// Package linkproxy is a TCP proxy for one network link, in the manner of
// toxiproxy, for the nemesis (issue 13, docs/nemesis.md): a process dials
// the proxy instead of its peer, and the test cuts the link (a partition),
// heals it, or slows it (latency and jitter), while both ends run
// unchanged.
//
// A cut link is a black hole, as a partition is on a real network: bytes
// in flight and new connections go nowhere and nothing is refused, so the
// ends find out by their own timeouts. Reset mode closes the connections
// instead (a peer that went away).
package linkproxy

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Mode is what a cut link does.
type Mode int

const (
	// Blackhole holds every connection open and forwards nothing.
	Blackhole Mode = iota
	// Reset closes every connection, and closes new ones at once.
	Reset
)

// Proxy forwards connections made to its listener to Target.
type Proxy struct {
	Target string
	ln     net.Listener

	mu      sync.Mutex
	cut     bool
	mode    Mode
	latency time.Duration
	jitter  time.Duration
	rng     *rand.Rand
	conns   map[net.Conn]struct{}
	changed chan struct{} // closed and replaced when cut, mode or latency change
	closed  bool
	wg      sync.WaitGroup
}

// New listens on listen (host:port; port 0 picks one) and forwards to
// target. seed drives the jitter.
func New(listen, target string, seed uint64) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &Proxy{Target: target, ln: ln, conns: map[net.Conn]struct{}{}, changed: make(chan struct{}),
		rng: rand.New(rand.NewPCG(seed, 0x6c696e6b))} // "link"
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address to dial instead of Target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut cuts the link in mode m until Heal.
func (p *Proxy) Cut(m Mode) {
	p.mu.Lock()
	p.cut, p.mode = true, m
	var drop []net.Conn
	if m == Reset {
		for c := range p.conns {
			drop = append(drop, c)
		}
	}
	p.notifyLocked()
	p.mu.Unlock()
	for _, c := range drop {
		_ = c.Close()
	}
}

// Heal restores the link: held connections forward again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.cut = false
	p.notifyLocked()
	p.mu.Unlock()
}

// Slow delays every chunk of bytes by latency ± jitter (0, 0: no delay),
// in order.
func (p *Proxy) Slow(latency, jitter time.Duration) {
	p.mu.Lock()
	p.latency, p.jitter = latency, jitter
	p.notifyLocked()
	p.mu.Unlock()
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	var all []net.Conn
	for c := range p.conns {
		all = append(all, c)
	}
	p.notifyLocked()
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range all {
		_ = c.Close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !p.track(c) {
			_ = c.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// waitOpen blocks while the link is cut in Blackhole mode; it reports
// false when the connection must end (Reset, or the proxy closed).
func (p *Proxy) waitOpen() bool {
	for {
		p.mu.Lock()
		cut, mode, closed, ch := p.cut, p.mode, p.closed, p.changed
		p.mu.Unlock()
		switch {
		case closed:
			return false
		case !cut:
			return true
		case mode == Reset:
			return false
		}
		<-ch
	}
}

func (p *Proxy) delay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.latency
	if p.jitter > 0 {
		d += time.Duration(p.rng.Int64N(int64(2*p.jitter+1))) - p.jitter
	}
	return max(d, 0)
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	if !p.waitOpen() {
		return
	}
	up, err := net.DialTimeout("tcp", p.Target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(up) {
		_ = up.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, c); done <- struct{}{} }()
	go func() { p.pipe(c, up); done <- struct{}{} }()
	<-done // one side ended: end both
}

// pipe copies src to dst chunk by chunk, holding each while the link is
// cut and delaying it by the link's latency.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := p.delay(); d > 0 {
				time.Sleep(d) // the fault itself: a slow link
			}
			if !p.waitOpen() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}
			return
		}
	}
}
