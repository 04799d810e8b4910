// Package ping is the observers' UDP liveness probe (ADR 0018, "UDP
// probes"): one datagram to a node's endpoint, one back, instead of a TCP
// connection and an HTTP request.
//
// A node's agent answers on the UDP port of its HTTP endpoint (the same
// host:port). The wire format, all integers big-endian:
//
//	ping: "PHXP" | version 1 | kind 1 | nonce (8) | id length (1) | node id
//	pong: "PHXP" | version 1 | kind 2 | nonce (8) | flags (1) | failing (2) | id length (1) | node id
//
// flags bit 0 is the agent's "ok" (as /healthz says); failing is how many
// of its tasks are not healthy, so an observer asks /tasks over HTTP only
// when some are. The nonce is random per probe: a pong that does not echo
// one the prober is waiting for is dropped, so only something that saw
// the ping can answer it (against off-path spoofing, as a TCP handshake;
// an eavesdropper on the path can answer from any address, which is
// weaker than TCP against one who cannot also inject into the
// connection). Pongs are matched by nonce, not by source address: a
// listener bound to a wildcard address may answer from another one.
package ping

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/phalanx-bft/phalanx/api"
)

const (
	magic   = "PHXP"
	version = 1

	kindPing = 1
	kindPong = 2

	pingHeader = 4 + 1 + 1 + 8 + 1
	pongHeader = 4 + 1 + 1 + 8 + 1 + 2 + 1

	// MaxPacket bounds a datagram of either kind.
	MaxPacket = pongHeader + api.MaxNodeIDLen
)

// Ping is a probe of the node NodeID.
type Ping struct {
	Nonce  uint64
	NodeID string
}

// Pong is a node's answer.
type Pong struct {
	Nonce   uint64
	NodeID  string
	OK      bool
	Failing uint16
}

// Errors of the parsers.
var (
	ErrNotPhalanx = errors.New("not a Phalanx probe datagram")
	ErrMalformed  = errors.New("malformed probe datagram")
)

// AppendPing appends p's encoding to b.
func AppendPing(b []byte, p Ping) []byte {
	b = append(b, magic...)
	b = append(b, version, kindPing)
	b = binary.BigEndian.AppendUint64(b, p.Nonce)
	b = append(b, byte(len(p.NodeID)))
	return append(b, p.NodeID...)
}

// AppendPong appends p's encoding to b.
func AppendPong(b []byte, p Pong) []byte {
	b = append(b, magic...)
	b = append(b, version, kindPong)
	b = binary.BigEndian.AppendUint64(b, p.Nonce)
	var flags byte
	if p.OK {
		flags |= 1
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint16(b, p.Failing)
	b = append(b, byte(len(p.NodeID)))
	return append(b, p.NodeID...)
}

func header(b []byte, kind byte, size int) error {
	if len(b) < 6 || string(b[:4]) != magic {
		return ErrNotPhalanx
	}
	if b[4] != version {
		return fmt.Errorf("%w: version %d; expected %d", ErrMalformed, b[4], version)
	}
	if b[5] != kind {
		return fmt.Errorf("%w: kind %d; expected %d", ErrMalformed, b[5], kind)
	}
	if len(b) < size {
		return fmt.Errorf("%w: %d bytes; expected at least %d", ErrMalformed, len(b), size)
	}
	if n := int(b[size-1]); n > api.MaxNodeIDLen || len(b) != size+n {
		return fmt.Errorf("%w: node id of %d bytes in a datagram of %d; expected at most %d, filling it", ErrMalformed, n, len(b), api.MaxNodeIDLen)
	}
	return nil
}

// ParsePing decodes a ping.
func ParsePing(b []byte) (Ping, error) {
	if err := header(b, kindPing, pingHeader); err != nil {
		return Ping{}, err
	}
	return Ping{Nonce: binary.BigEndian.Uint64(b[6:14]), NodeID: string(b[pingHeader:])}, nil
}

// ParsePong decodes a pong.
func ParsePong(b []byte) (Pong, error) {
	if err := header(b, kindPong, pongHeader); err != nil {
		return Pong{}, err
	}
	return Pong{
		Nonce:   binary.BigEndian.Uint64(b[6:14]),
		OK:      b[14]&1 != 0,
		Failing: binary.BigEndian.Uint16(b[15:17]),
		NodeID:  string(b[pongHeader:]),
	}, nil
}

// Answer says how to answer a ping for nodeID from from: answer false
// drops it (no such node here, a crashed one in a simulation, a peer
// refused).
type Answer func(nodeID string, from net.Addr) (p Pong, answer bool)

// Serve answers the pings that arrive on pc until pc is closed; other
// datagrams are dropped. It returns net.ErrClosed's error when pc closes.
func Serve(pc net.PacketConn, answer Answer) error {
	buf := make([]byte, MaxPacket+1)
	out := make([]byte, 0, MaxPacket)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			continue // a transient error (an ICMP error queued on the socket): keep serving
		}
		p, err := ParsePing(buf[:n])
		if err != nil {
			continue
		}
		pong, ok := answer(p.NodeID, from)
		if !ok {
			continue
		}
		pong.Nonce = p.Nonce
		out = AppendPong(out[:0], pong)
		_, _ = pc.WriteTo(out, from)
	}
}

// Listen binds the UDP side of an HTTP endpoint: the same address as
// tcpAddr (a bound listener's address, so its port is known), asking for
// a receive buffer of bufBytes (0: the system's default; the kernel caps
// it at net.core.rmem_max).
func Listen(tcpAddr net.Addr, bufBytes int) (net.PacketConn, error) {
	pc, err := net.ListenPacket("udp", tcpAddr.String())
	if err != nil {
		return nil, err
	}
	if u, ok := pc.(*net.UDPConn); ok && bufBytes > 0 {
		_ = u.SetReadBuffer(bufBytes)
	}
	return pc, nil
}

// Prober sends pings from one socket and matches the pongs to them.
type Prober struct {
	conn *net.UDPConn

	mu      sync.Mutex
	pending map[uint64]func(Pong) // by nonce; called once, from the reader

	// The round trip estimate (RFC 6298's smoothed rtt and variance),
	// from every answer: Sweep waits longer when answers come slowly (a
	// busy machine), instead of calling live nodes silent.
	rttMu        sync.Mutex
	srtt, rttvar time.Duration
	rttSamples   int
}

// observe adds a round trip to the estimate.
func (p *Prober) observe(d time.Duration) {
	p.rttMu.Lock()
	defer p.rttMu.Unlock()
	if p.rttSamples == 0 {
		p.srtt, p.rttvar = d, d/2
	} else {
		diff := p.srtt - d
		if diff < 0 {
			diff = -diff
		}
		p.rttvar = (3*p.rttvar + diff) / 4
		p.srtt = (7*p.srtt + d) / 8
	}
	p.rttSamples++
}

// RTO is how long to wait for an answer: srtt + 4·rttvar, at least lo
// and at most hi (lo before any answer).
func (p *Prober) RTO(lo, hi time.Duration) time.Duration {
	p.rttMu.Lock()
	defer p.rttMu.Unlock()
	if p.rttSamples == 0 {
		return lo
	}
	return min(max(p.srtt+4*p.rttvar, lo), hi)
}

// NewProber binds a socket on every interface, on a port the OS picks.
func NewProber() (*Prober, error) {
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("UDP probe socket: %w", err)
	}
	_ = conn.SetReadBuffer(1 << 20)
	p := &Prober{conn: conn, pending: map[uint64]func(Pong){}}
	go p.read()
	return p, nil
}

// Close closes the socket; pending probes end without an answer.
func (p *Prober) Close() error { return p.conn.Close() }

func (p *Prober) read() {
	buf := make([]byte, MaxPacket+1)
	for {
		n, _, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		pong, err := ParsePong(buf[:n])
		if err != nil {
			continue
		}
		p.mu.Lock()
		got := p.pending[pong.Nonce]
		delete(p.pending, pong.Nonce)
		p.mu.Unlock()
		if got != nil {
			got(pong)
		}
	}
}

// Target is one node a Sweep pings.
type Target struct {
	Endpoint string
	NodeID   string
}

// Result is a Sweep's answer for one Target: Answered false when no pong
// came within the tries (or the endpoint could not be read).
type Result struct {
	Pong     Pong
	RTT      time.Duration
	Answered bool
}

// SweepWindow bounds the pings a Sweep has in flight (sent, neither
// answered nor timed out): like a TCP window, it paces the sweep to the
// answers, so a host answering for many nodes (the fleet simulator: one
// socket for all) is never sent more than its socket buffer holds.
const SweepWindow = 256

// Sweep pings every target from the one socket, at most SweepWindow in
// flight, each given RTO(timeout, maxTimeout) to answer on its first try
// and twice as long on each next one (at most maxTimeout) (a target whose endpoint is not an
// IP literal is not pinged: no name is looked up, which could stall the
// sweep; it stays unanswered); then it pings those that did not
// answer again, up to tries rounds in all. Results are in the targets'
// order. A sweep of N answering targets takes about N/SweepWindow round
// trips, and a silent target costs its window slot timeout per try.
func (p *Prober) Sweep(ctx context.Context, targets []Target, tries int, timeout, maxTimeout time.Duration) []Result {
	floor := timeout
	res := make([]Result, len(targets))
	addrs := make([]netip.AddrPort, len(targets))
	valid := make([]bool, len(targets))
	for i, t := range targets {
		if ap, err := netip.ParseAddrPort(t.Endpoint); err == nil && len(t.NodeID) <= api.MaxNodeIDLen {
			addrs[i], valid[i] = ap, true
		}
	}
	var (
		mu          sync.Mutex
		sent        = make([]time.Time, len(targets))
		outstanding = make([]bool, len(targets))
		inflight    int
		nonces      []uint64
		wake        = make(chan struct{}, 1)
	)
	defer func() {
		p.mu.Lock()
		for _, n := range nonces {
			delete(p.pending, n)
		}
		p.mu.Unlock()
	}()
	var rnd [8]byte
	buf := make([]byte, 0, MaxPacket)
	for try := 0; try < tries && ctx.Err() == nil; try++ {
		var todo []int
		mu.Lock()
		for i := range targets {
			if valid[i] && !res[i].Answered {
				todo = append(todo, i)
			}
		}
		mu.Unlock()
		if len(todo) == 0 {
			break
		}
		timeout := min(max(p.RTO(floor, maxTimeout), floor)<<try, max(maxTimeout, floor))
		var queue []int // sent this try, in order (so by deadline)
		head := 0
		// expire frees the slots of the oldest pings past their timeout;
		// it reports whether a slot is free. mu is held.
		expire := func() bool {
			for head < len(queue) {
				i := queue[head]
				if !outstanding[i] {
					head++
					continue
				}
				if time.Since(sent[i]) < timeout {
					break
				}
				outstanding[i] = false
				inflight--
				head++
			}
			return inflight < SweepWindow
		}
		// wait blocks until a slot may be free: an answer, or the oldest
		// ping's deadline.
		wait := func() bool {
			d := timeout
			mu.Lock()
			for k := head; k < len(queue); k++ {
				if i := queue[k]; outstanding[i] {
					d = timeout - time.Since(sent[i])
					break
				}
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
				return false
			case <-wake:
			case <-time.After(max(d, time.Millisecond)):
			}
			return true
		}
		for _, i := range todo {
			for {
				mu.Lock()
				free := expire()
				if free {
					inflight++
					outstanding[i] = true
					sent[i] = time.Now()
					queue = append(queue, i)
				}
				mu.Unlock()
				if free {
					break
				}
				if !wait() {
					mu.Lock()
					defer mu.Unlock()
					return slices.Clone(res)
				}
			}
			_, _ = rand.Read(rnd[:])
			nonce := binary.BigEndian.Uint64(rnd[:])
			mu.Lock()
			at := sent[i] // this try's send time: a late answer to an earlier try has its own
			mu.Unlock()
			p.mu.Lock()
			p.pending[nonce] = func(pong Pong) {
				mu.Lock()
				if outstanding[i] {
					outstanding[i] = false
					inflight--
				}
				if !res[i].Answered {
					res[i] = Result{Pong: pong, RTT: time.Since(at), Answered: true}
					p.observe(res[i].RTT)
				}
				mu.Unlock()
				select {
				case wake <- struct{}{}:
				default:
				}
			}
			p.mu.Unlock()
			nonces = append(nonces, nonce)
			buf = AppendPing(buf[:0], Ping{Nonce: nonce, NodeID: targets[i].NodeID})
			_, _ = p.conn.WriteToUDPAddrPort(buf, addrs[i])
		}
		// The last pings: until each is answered or timed out.
		for {
			mu.Lock()
			expire()
			done := inflight == 0
			mu.Unlock()
			if done || !wait() {
				break
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(res)
}
