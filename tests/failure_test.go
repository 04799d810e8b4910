package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFailureDetectionOnTestnet drives failure detection through the CLI on
// a 4-validator network: a node whose heartbeats stop is seen by
// `phalanxd watch` going Suspect then Down; observers reporting a live
// node unreachable move it to Down only once a quorum (3 of 4) reported.
func TestFailureDetectionOnTestnet(t *testing.T) {
	needE2E(t)
	n := startTestnet(t, "e2e-fd", 200*time.Millisecond)
	w := startWatch(t, n.m.Validators[1].RPC)

	// Short detection times so the test runs in seconds, and a long report
	// window so that three sequential reports fall into one window.
	n.updateParams("--heartbeat-interval", "1s", "--suspect-after", "3s", "--down-after", "6s", "--report-window", "20s")
	for _, id := range []string{"n1", "n2"} {
		n.registerNode(id, "a")
	}

	// n2 heartbeats throughout, from its own goroutine.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = run(t, append([]string{"tx", "node", "heartbeat", "n2"}, n.txArgs("n2")...)...)
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	// Crash: n1 heartbeats a few times, then stops.
	for i := 0; i < 3; i++ {
		mustRun(t, append([]string{"tx", "node", "heartbeat", "n1"}, n.txArgs("n1")...)...)
	}
	lastBeat := time.Now()
	suspectAt := w.waitFor(t, "node_status", 30*time.Second, "node", "n1", "to", "Suspect")
	downAt := w.waitFor(t, "node_status", 30*time.Second, "node", "n1", "to", "Down")
	if !downAt.After(suspectAt) && downAt != suspectAt {
		t.Fatalf("n1 went Down (%s) before Suspect (%s)", downAt, suspectAt)
	}
	t.Logf("crash: last heartbeat → Suspect seen by watch after %s, → Down after %s (suspect_after 3s, down_after 6s, 200ms blocks)",
		suspectAt.Sub(lastBeat).Round(10*time.Millisecond), downAt.Sub(lastBeat).Round(10*time.Millisecond))

	// Byzantine-tolerant verdicts: n2 is alive and heartbeating; observers
	// report it unreachable one by one, all in the same report window.
	window := reportWindow(t, n)
	report := func(observer string) {
		mustRun(t, append([]string{"tx", "node", "report", "n2", "--unreachable", "--window", fmt.Sprint(window)}, n.txArgs(observer)...)...)
	}
	report("observer0")
	report("observer1")
	// Two of four is not more than 2/3: n2 stays up. Give the end-of-block
	// pass two blocks to act, reading the committed state.
	h := heightNow(t, n.addr(0))
	waitHeight(t, n.addr(0), h+2, 10*time.Second)
	if st := nodeState(t, n, "n2"); st == "Down" {
		t.Fatalf("n2 is Down after 2 of 4 observers reported it unreachable")
	}
	if c := w.count("node_status", "node", "n2", "to", "Down"); c != 0 {
		t.Fatalf("watch saw n2 go Down after 2 of 4 reports")
	}
	report("observer2")
	w.waitFor(t, "node_status", 15*time.Second, "node", "n2", "to", "Down")
	if st := nodeState(t, n, "n2"); st != "Down" {
		t.Fatalf("n2 is %s after 3 of 4 observers reported it unreachable; want Down", st)
	}
}

// reportWindow computes the current report window from the chain.
func reportWindow(t *testing.T, n *testnet) uint64 {
	t.Helper()
	out := mustRun(t, "query", "params", "--node", n.m.Validators[0].RPC, "-o", "json")
	var p struct {
		ReportWindowMs int64 `json:"report_window_ms"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.ReportWindowMs <= 0 {
		t.Fatalf("params: %v\n%s", err, out)
	}
	st, err := n.rpc(0).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return uint64(st.SyncInfo.LatestBlockTime.UnixMilli() / p.ReportWindowMs)
}

func nodeState(t *testing.T, n *testnet, id string) string {
	t.Helper()
	out := mustRun(t, "query", "node", id, "--node", n.m.Validators[2].RPC, "-o", "json")
	var v struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("query node %s: %v\n%s", id, err, strings.TrimSpace(out))
	}
	return v.State
}
