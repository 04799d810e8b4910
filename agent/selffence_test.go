package agent

import (
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/types"
)

// TestLeaseRenewal: a task's lease moves with the verified stream only
// while the stream covers it (it has seen every block since the task's
// proof, and no event named the task since); an event freezes it until a
// proof at or above the event's height.
func TestLeaseRenewal(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	a := &Agent{fence: fenceState{leases: map[string]*lease{}, fenced: map[string]uint64{}}}
	anchor := func(id string) time.Time { return a.fence.leases[id].anchor }

	a.proved(&types.Task{Id: "web/0", Generation: 3}, &client.Proof{Height: 10, HeaderTime: at(11)})
	a.streamProgress(15, at(16)) // the stream starts after a gap: 11-14 unseen
	if got := anchor("web/0"); !got.Equal(at(11)) {
		t.Fatalf("anchor %s after a stream that missed blocks 11-14; want the proof's %s", got, at(11))
	}
	a.proved(&types.Task{Id: "web/0", Generation: 3}, &client.Proof{Height: 15, HeaderTime: at(16)})
	a.streamProgress(16, at(17))
	if got := anchor("web/0"); !got.Equal(at(17)) {
		t.Fatalf("anchor %s; want the stream's %s once a proof at 15 covers the gap", got, at(17))
	}
	a.streamEvent(client.WatchEvent{Height: 17, Type: "task_evicted", Attributes: []client.Attribute{{Key: "task", Value: "web/0"}}})
	a.streamProgress(17, at(18))
	a.streamProgress(18, at(19))
	if got := anchor("web/0"); !got.Equal(at(17)) {
		t.Fatalf("anchor %s after an event named the task at 17; want it frozen at %s", got, at(17))
	}
	a.proved(&types.Task{Id: "web/0", Generation: 3}, &client.Proof{Height: 16, HeaderTime: at(17)}) // older than the event
	a.streamProgress(19, at(20))
	if got := anchor("web/0"); !got.Equal(at(17)) {
		t.Fatalf("anchor %s after a proof below the event; want still %s", got, at(17))
	}
	a.proved(&types.Task{Id: "web/0", Generation: 3}, &client.Proof{Height: 19, HeaderTime: at(20)})
	a.streamProgress(20, at(21))
	if got := anchor("web/0"); !got.Equal(at(21)) {
		t.Fatalf("anchor %s after a proof at the event's height or above; want the stream's %s again", got, at(21))
	}
	a.streamProgress(25, at(26)) // a gap: a new stream
	if got := anchor("web/0"); !got.Equal(at(21)) {
		t.Fatalf("anchor %s after a stream with a gap; want %s until a proof covers it", got, at(21))
	}
	// A proof of another generation starts a new lease.
	a.proved(&types.Task{Id: "web/0", Generation: 4}, &client.Proof{Height: 26, HeaderTime: at(27)})
	if l := a.fence.leases["web/0"]; l.gen != 4 || !l.anchor.Equal(at(27)) || l.frozenAt != 0 {
		t.Fatalf("lease %+v; want generation 4 from its proof", *l)
	}
}

// TestFenceWindow: the window keeps twice the drift bound and a kill
// margin below the chain's fence timeout, never less than half of it; the
// stop's grace is at most a quarter of it.
func TestFenceWindow(t *testing.T) {
	for _, c := range []struct {
		timeoutMs     int64
		drift, stop   time.Duration
		window, grace time.Duration
		ok            bool
	}{
		{15_000, time.Second, 10 * time.Second, 12500 * time.Millisecond, 3125 * time.Millisecond, true},
		{15_000, time.Second, time.Second, 12500 * time.Millisecond, time.Second, true},
		{4_000, 5 * time.Second, 10 * time.Second, 2 * time.Second, 500 * time.Millisecond, true},
		{0, time.Second, time.Second, 0, 0, false},
		{-1, time.Second, time.Second, 0, 0, false},
	} {
		a := &Agent{cfg: Config{MaxClockDrift: c.drift, StopGrace: c.stop}, fence: fenceState{timeoutMs: c.timeoutMs}}
		w, g, ok := a.fenceWindow(0)
		if w != c.window || g != c.grace || ok != c.ok {
			t.Errorf("timeout %d ms, drift %s, stop grace %s: window %s grace %s ok %v; want %s %s %v", c.timeoutMs, c.drift, c.stop, w, g, ok, c.window, c.grace, c.ok)
		}
	}
	// A placement's own lost_after_ms (disconnect policy) decides, shorter
	// or longer than the param, and fences even where the param is 0.
	a := &Agent{cfg: Config{MaxClockDrift: time.Second, StopGrace: 10 * time.Second}, fence: fenceState{timeoutMs: 30_000}}
	if w, g, ok := a.fenceWindow(8_000); w != 5500*time.Millisecond || g != 1375*time.Millisecond || !ok {
		t.Errorf("lost_after 8 s: window %s grace %s ok %v; want 5.5s 1.375s true", w, g, ok)
	}
	a.fence.timeoutMs = 0
	if w, _, ok := a.fenceWindow(60_000); w != 57500*time.Millisecond || !ok {
		t.Errorf("lost_after 60 s with fence_timeout_ms 0: window %s ok %v; want 57.5s true", w, ok)
	}
	a.cfg.NoSelfFence = true
	if _, _, ok := a.fenceWindow(60_000); ok {
		t.Error("--no-self-fence: a window")
	}
}
