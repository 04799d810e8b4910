package ping

import (
	"context"
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

// serveLoopback answers pings on a loopback socket as answer says and
// returns the endpoint and a prober.
func serveLoopback(t *testing.T, answer Answer) (string, *Prober) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go Serve(pc, answer)
	pr, err := NewProber()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	return pc.LocalAddr().String(), pr
}

func TestSweepAnswersEachTarget(t *testing.T) {
	ep, pr := serveLoopback(t, func(id string, _ net.Addr) (Pong, bool) {
		switch {
		case strings.HasPrefix(id, "dead"):
			return Pong{}, false
		case id == "sick":
			return Pong{NodeID: id, Failing: 2}, true
		}
		return Pong{NodeID: id, OK: true}, true
	})
	var targets []Target
	for i := range 2000 {
		id := fmt.Sprintf("n%d", i)
		if i%100 == 7 {
			id = fmt.Sprintf("dead%d", i)
		}
		targets = append(targets, Target{Endpoint: ep, NodeID: id})
	}
	targets = append(targets, Target{Endpoint: "not an endpoint", NodeID: "n-bad"},
		Target{Endpoint: "localhost:1", NodeID: "a-name"}, // names are not looked up
		Target{Endpoint: ep, NodeID: "sick"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	res := pr.Sweep(ctx, targets, 2, 200*time.Millisecond, 400*time.Millisecond)
	t.Logf("swept %d targets in %s", len(targets), time.Since(start))
	for i, r := range res {
		id := targets[i].NodeID
		want := !strings.HasPrefix(id, "dead") && id != "n-bad" && id != "a-name"
		if r.Answered != want || (want && (r.Pong.NodeID != id || r.RTT <= 0)) {
			t.Fatalf("target %d (%s): %+v; want answered %v by its own node", i, id, r, want)
		}
	}
	if sick := res[len(res)-1].Pong; sick.OK || sick.Failing != 2 {
		t.Errorf("sick: %+v; want not ok, 2 failing", sick)
	}
	if ok := res[0].Pong; !ok.OK || ok.Failing != 0 {
		t.Errorf("n0: %+v; want ok, none failing", ok)
	}
	pr.mu.Lock()
	left := len(pr.pending)
	pr.mu.Unlock()
	if left != 0 {
		t.Errorf("%d nonces still pending after the sweep", left)
	}
}

func TestSweepEndsWithItsContext(t *testing.T) {
	ep, pr := serveLoopback(t, func(string, net.Addr) (Pong, bool) { return Pong{}, false })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := pr.Sweep(ctx, []Target{{Endpoint: ep, NodeID: "dead"}}, 3, time.Minute, time.Minute)
	if d := time.Since(start); d > 5*time.Second || res[0].Answered {
		t.Errorf("a silent target with minute-long tries: %+v after %s; want unanswered when the context ends", res[0], d)
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
