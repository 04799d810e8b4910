package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/internal/rpcforge"
)

// maxFaultyWitnessCost bounds what one faulty witness may add to a
// verification: an agent's self-fencing window (ADR 0021) must outlast
// every verification stall one faulty validator can cause.
const maxFaultyWitnessCost = 3500 * time.Millisecond

// verifyEach verifies the next n heights one by one, as the agent's
// verified event stream does, and returns the longest call.
func verifyEach(t *testing.T, tr *client.Trust, rpc string, from int64, n int) (int64, time.Duration) {
	t.Helper()
	var worst time.Duration
	h := from
	for i := 0; i < n; i++ {
		h = waitNodeHeight(t, rpc, h+1)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		began := time.Now()
		_, err := tr.Header(ctx, h)
		took := time.Since(began)
		cancel()
		if err != nil {
			t.Fatalf("Header(%d) after %s: %v", h, took.Round(time.Millisecond), err)
		}
		worst = max(worst, took)
	}
	return h, worst
}

// TestLaggingWitnessDoesNotStallVerification: a witness that is behind
// (a validator catching up after a restart or a pause: it answers, with
// an older latest height) must not hold verifications. CometBFT's
// detector, given a witness behind the primary, sleeps 2 × MaxClockDrift
// + MaxBlockLag (30 s) without looking at the context, holding the light
// client; an agent's verified stream then stalled past its self-fencing
// window, and it fenced a healthy task (issue 14;
// TestOneFaultyValidatorCostsNoReady in CI). The header is still
// cross-checked with the witness that has it.
func TestLaggingWitnessDoesNotStallVerification(t *testing.T) {
	rpc := startNode(t, 3)
	lag, good := newProxy(t, rpc), newProxy(t, rpc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := client.NewTrust(ctx, client.TrustOptions{Genesis: genesisFile(), Primary: rpc,
		Witnesses: []string{lag.URL(), good.URL()}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	h, _ := verifyEach(t, tr, rpc, waitNodeHeight(t, rpc, 3), 1)

	lag.Freeze(h)
	good.ResetCounts()
	h, worst := verifyEach(t, tr, rpc, h, 5)
	if worst > maxFaultyWitnessCost {
		t.Errorf("with a witness frozen at height %d, the slowest of 5 verifications took %s; want at most %s", h-5, worst.Round(time.Millisecond), maxFaultyWitnessCost)
	}
	if good.Count("commit") < 5 {
		t.Errorf("the witness that has the headers was asked for %d commits in 5 verifications; each header must be cross-checked with it", good.Count("commit"))
	}
	t.Logf("witness frozen at %d: 5 verifications up to height %d, the slowest %s", h-5, h, worst.Round(time.Millisecond))

	// Caught up again, it is a witness like any other.
	lag.Freeze(0)
	lag.ResetCounts()
	_, worst = verifyEach(t, tr, rpc, h, 2)
	if lag.Count("commit") == 0 {
		t.Errorf("the witness that caught up was not asked again (counts %v)", lag.Counts())
	}
	t.Logf("caught up: slowest of 2 verifications %s", worst.Round(time.Millisecond))
}

// TestSilentNodeCostsOneTimeout: a node that accepts connections and
// never answers (a validator under SIGSTOP), or that refuses them (one
// that crashed), costs a verification at most one request timeout, and
// then nothing while it stays so: the trust's breaker for it is open, and
// it is tried again later (not dropped: once back, it is asked again).
// As a witness, and as the primary (the light client takes another).
func TestSilentNodeCostsOneTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    rpcforge.DropMode
		primary bool
	}{
		{"paused-witness", rpcforge.Hang, false},
		{"crashed-witness", rpcforge.Refuse, false},
		{"paused-primary", rpcforge.Hang, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rpc := startNode(t, 3)
			faulty, good := newProxy(t, rpc), newProxy(t, rpc)
			opts := client.TrustOptions{Genesis: genesisFile(), Primary: rpc, Witnesses: []string{faulty.URL(), good.URL()}, Logf: t.Logf}
			if tc.primary {
				opts.Primary, opts.Witnesses = faulty.URL(), []string{good.URL(), rpc}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			tr, err := client.NewTrust(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			h, _ := verifyEach(t, tr, rpc, waitNodeHeight(t, rpc, 3), 1)

			methods := []string{"commit", "validators", "status"}
			for _, m := range methods {
				faulty.Drop(m, tc.mode)
			}
			faulty.ResetCounts()
			// For 8 s: the breaker opens for 2 s, then 4 s, then 8 s.
			began := time.Now()
			var worst time.Duration
			n := 0
			for time.Since(began) < 8*time.Second {
				var w time.Duration
				h, w = verifyEach(t, tr, rpc, h, 1)
				worst = max(worst, w)
				n++
			}
			took := time.Since(began)
			if worst > maxFaultyWitnessCost {
				t.Errorf("the slowest of %d verifications took %s; want at most %s", n, worst.Round(time.Millisecond), maxFaultyWitnessCost)
			}
			asked := faulty.Count("commit") + faulty.Count("status")
			if asked > 6 {
				t.Errorf("the silent node was asked %d times in %d verifications (%s); after it did not answer it should be left alone for a while", asked, n, took.Round(time.Millisecond))
			}
			t.Logf("%s: %d verifications in %s, the slowest %s; it was asked %d times", tc.name, n, took.Round(time.Millisecond), worst.Round(time.Millisecond), asked)

			// Back: it is asked again within the breaker's backoff.
			for _, m := range methods {
				faulty.Restore(m)
			}
			faulty.ResetCounts()
			deadline := time.Now().Add(20 * time.Second)
			for faulty.Count("commit") == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the node, answering again, was not asked for a header within 20 s (counts %v)", faulty.Counts())
				}
				h, _ = verifyEach(t, tr, rpc, h, 1)
			}
		})
	}
}
