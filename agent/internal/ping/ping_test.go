package ping

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
)

func TestEncodingRoundTrips(t *testing.T) {
	p := Ping{Nonce: 0x0102030405060708, NodeID: "fleet-00042"}
	got, err := ParsePing(AppendPing(nil, p))
	if err != nil || got != p {
		t.Fatalf("ping: %+v, %v; want %+v", got, err, p)
	}
	q := Pong{Nonce: 7, NodeID: strings.Repeat("a", api.MaxNodeIDLen), OK: true, Failing: 513}
	gq, err := ParsePong(AppendPong(nil, q))
	if err != nil || gq != q {
		t.Fatalf("pong: %+v, %v; want %+v", gq, err, q)
	}
	if len(AppendPong(nil, q)) != MaxPacket {
		t.Errorf("the largest pong is %d bytes; MaxPacket %d", len(AppendPong(nil, q)), MaxPacket)
	}
}

func TestParsersRefuseMalformed(t *testing.T) {
	good := AppendPing(nil, Ping{Nonce: 1, NodeID: "n1"})
	cases := map[string][]byte{
		"empty":          nil,
		"other magic":    append([]byte("HTTP"), good[4:]...),
		"version 2":      append(append([]byte(nil), good[:4]...), append([]byte{2}, good[5:]...)...),
		"a pong":         AppendPong(nil, Pong{Nonce: 1, NodeID: "n1"}),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte(nil), good...), 'x'),
		"header only":    good[:pingHeader-1],
		"id too long":    AppendPing(nil, Ping{Nonce: 1, NodeID: strings.Repeat("a", api.MaxNodeIDLen+1)}),
	}
	for name, b := range cases {
		if p, err := ParsePing(b); err == nil {
			t.Errorf("%s: parsed as %+v; want an error", name, p)
		}
	}
	if _, err := ParsePong(good); err == nil {
		t.Error("a ping parsed as a pong")
	}
}

func TestProbeOverLoopback(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go Serve(pc, func(id string, _ net.Addr) (Pong, bool) {
		switch id {
		case "alive":
			return Pong{NodeID: id, OK: true, Failing: 2}, true
		case "sick":
			return Pong{NodeID: id}, true
		}
		return Pong{}, false // "dead": no answer
	})
	pr, err := NewProber()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ep := pc.LocalAddr().String()

	pong, rtt, err := pr.Probe(ctx, ep, "alive", 2, 2*time.Second)
	if err != nil || !pong.OK || pong.Failing != 2 || pong.NodeID != "alive" || rtt <= 0 {
		t.Fatalf("alive: %+v rtt %s, %v", pong, rtt, err)
	}
	if pong, _, err := pr.Probe(ctx, ep, "sick", 2, 2*time.Second); err != nil || pong.OK {
		t.Fatalf("sick: %+v, %v; want an answer that is not ok", pong, err)
	}
	start := time.Now()
	if _, _, err := pr.Probe(ctx, ep, "dead", 3, 50*time.Millisecond); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("dead: %v; want ErrNoAnswer", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("3 tries of 50ms ended after %s", d)
	}
	// Many at once, through one socket: each gets its own answer.
	errs := make(chan error, 200)
	for range 200 {
		go func() {
			p, _, err := pr.Probe(ctx, ep, "alive", 3, 2*time.Second)
			if err == nil && p.NodeID != "alive" {
				err = errors.New("wrong node " + p.NodeID)
			}
			errs <- err
		}()
	}
	for range 200 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	pr.mu.Lock()
	left := len(pr.pending)
	pr.mu.Unlock()
	if left != 0 {
		t.Errorf("%d nonces still pending after every probe ended", left)
	}
}

func TestSweepAnswersEachTarget(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go Serve(pc, func(id string, _ net.Addr) (Pong, bool) {
		if strings.HasPrefix(id, "dead") {
			return Pong{}, false
		}
		return Pong{NodeID: id, OK: true}, true
	})
	pr, err := NewProber()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ep := pc.LocalAddr().String()
	var targets []Target
	for i := range 2000 {
		id := fmt.Sprintf("n%d", i)
		if i%100 == 7 {
			id = fmt.Sprintf("dead%d", i)
		}
		targets = append(targets, Target{Endpoint: ep, NodeID: id})
	}
	targets = append(targets, Target{Endpoint: "not an endpoint", NodeID: "n-bad"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	res := pr.Sweep(ctx, targets, 2, 200*time.Millisecond, 400*time.Millisecond)
	t.Logf("swept %d targets in %s", len(targets), time.Since(start))
	for i, r := range res {
		want := !strings.HasPrefix(targets[i].NodeID, "dead") && targets[i].NodeID != "n-bad"
		if r.Answered != want || (want && r.Pong.NodeID != targets[i].NodeID) {
			t.Fatalf("target %d (%s): %+v; want answered %v by its own node", i, targets[i].NodeID, r, want)
		}
	}
	pr.mu.Lock()
	left := len(pr.pending)
	pr.mu.Unlock()
	if left != 0 {
		t.Errorf("%d nonces still pending after the sweep", left)
	}
}

func TestRTOFollowsAnswers(t *testing.T) {
	var p Prober
	if got := p.RTO(300*time.Millisecond, 2*time.Second); got != 300*time.Millisecond {
		t.Errorf("before any answer: %s; want the floor", got)
	}
	for range 20 {
		p.observe(time.Millisecond)
	}
	if got := p.RTO(300*time.Millisecond, 2*time.Second); got != 300*time.Millisecond {
		t.Errorf("fast answers: %s; want the floor", got)
	}
	for range 20 {
		p.observe(900 * time.Millisecond) // a starved machine
	}
	got := p.RTO(300*time.Millisecond, 2*time.Second)
	if got <= 900*time.Millisecond || got > 2*time.Second {
		t.Errorf("answers of 900ms: RTO %s; want above 900ms, at most the cap", got)
	}
}
