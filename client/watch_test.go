package client_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/internal/linkproxy"
)

// TestWatchSurvivesNodeRestarts: Watch's node goes away (every connection
// reset, new ones refused) and comes back, 30 times. CometBFT v1.0.1's
// websocket client redials by itself 1–2 s after its connection breaks;
// when Watch has stopped that client meanwhile (its probe failed first)
// and the redial succeeds, the client starts a reader that sends on the
// closed ResponsesCh and panics the process. It did so to an agent in CI.
// Watch's block feed does not redial, so this test, which heals the link
// inside that window every cycle, keeps running; after each heal Watch is
// connected again, and it still is once every abandoned client's redial
// has had time to fire.
func TestWatchSurvivesNodeRestarts(t *testing.T) {
	rpc := startNode(t, 2)
	p, err := linkproxy.New("127.0.0.1:0", strings.TrimPrefix(rpc, "tcp://"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	var mu sync.Mutex
	var lines []string
	logged := make(chan struct{}, 64)
	logf := func(format string, args ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(format, args...))
		mu.Unlock()
		select {
		case logged <- struct{}{}:
		default:
		}
	}
	// waitLog waits (10 s at most) for a log line after the first from
	// that contains s, and returns the index after it.
	waitLog := func(from int, s string) int {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			mu.Lock()
			for i := from; i < len(lines); i++ {
				if strings.Contains(lines[i], s) {
					mu.Unlock()
					return i + 1
				}
			}
			mu.Unlock()
			select {
			case <-logged:
			case <-deadline:
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("no log line containing %q within 10s; Watch logged:\n%s", s, strings.Join(lines, "\n"))
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- client.Watch(ctx, client.WatchOptions{
			Nodes:          []string{"tcp://" + p.Addr()},
			HealthInterval: 200 * time.Millisecond,
			MaxBackoff:     250 * time.Millisecond,
			Logf:           logf,
		}, func(client.WatchEvent) error { return nil })
	}()
	at := waitLog(0, "connected")
	for cycle := 0; cycle < 30; cycle++ {
		p.Cut(linkproxy.Reset)
		at = waitLog(at, "reconnecting")
		p.Heal()
		at = waitLog(at, "connected")
	}
	// Every abandoned client redials within 2 s of its break; give the
	// last one that long, measured by the node's own blocks (200 ms).
	waitNodeHeight(t, rpc, waitNodeHeight(t, rpc, 0)+15)
	mu.Lock()
	tail := lines[at:]
	mu.Unlock()
	for _, l := range tail {
		if strings.Contains(l, "reconnecting") {
			t.Errorf("Watch lost its node after the last heal: %s", l)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Watch returned %v after its context ended; want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return within 5s of its context ending")
	}
}
