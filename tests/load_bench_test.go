package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// loadBenchReport mirrors the parts of `phalanxd load bench -o json` the
// test checks; unknown fields are allowed (the report may grow).
type loadBenchReport struct {
	Validators    int    `json:"validators"`
	TxBytes       int    `json:"tx_bytes"`
	LatencyMethod string `json:"latency_method"`
	Systems       []struct {
		Name  string `json:"name"`
		Steps []struct {
			OfferedRate   int            `json:"offered_tx_per_s"`
			Scheduled     int            `json:"scheduled"`
			Missed        int            `json:"missed_sends"`
			Sent          int            `json:"sent"`
			Admitted      int            `json:"admitted"`
			Refused       map[string]int `json:"refused_by_code"`
			Rejected      map[string]int `json:"rejected_by_mempool"`
			RPCErrors     int            `json:"rpc_errors"`
			TxBytes       float64        `json:"tx_bytes"`
			Committed     int            `json:"committed"`
			CommittedRate float64        `json:"committed_tx_per_s"`
			Blocks        int            `json:"blocks"`
			DrainedRate   float64        `json:"drained_tx_per_s"`
			Latencies     int            `json:"latency_samples"`
			P50           float64        `json:"latency_p50_ms"`
			P99           float64        `json:"latency_p99_ms"`
			Max           float64        `json:"latency_max_ms"`
			Uncommitted   int            `json:"uncommitted"`
		} `json:"steps"`
	} `json:"systems"`
	Ratios []struct {
		OfferedRate int     `json:"offered_tx_per_s"`
		Ratio       float64 `json:"phalanx_over_kvstore"`
	} `json:"ratios"`
	Saturated struct {
		Phalanx float64 `json:"phalanx"`
		KVStore float64 `json:"kvstore"`
		Ratio   float64 `json:"ratio"`
	} `json:"saturated"`
}

// TestLoadBenchSweep runs `phalanxd load bench` as `make bench-load`
// does, at tiny rates and short steps: a real 4-validator Phalanx network
// (signed heartbeats of registered nodes), then a real 4-validator
// network of CometBFT's kvstore, as processes. Both must commit what was
// offered, with ordered latencies, and the JSON must be one well-formed
// object whose counts add up.
func TestLoadBenchSweep(t *testing.T) {
	needE2E(t)
	rates := []int{20, 40}
	const step = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "bench")
	cmd := exec.CommandContext(ctx, binary, "load", "bench", "--rates", "20,40", "--step-duration", step.String(),
		"--warmup", "1s", "--drain", "15s", "--signers", "10", "--senders", "4", "--block-time", "300ms",
		"--base-port", "21200", "--output-dir", dir, "-o", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("phalanxd load bench: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("load bench took %s; progress:\n%s", time.Since(began).Round(time.Millisecond), stderr.String())

	var rep loadBenchReport
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Fatalf("output holds more than one JSON value:\n%s", stdout.String())
	}
	if rep.Validators != 4 || rep.TxBytes < 100 || rep.LatencyMethod == "" {
		t.Fatalf("header: %d validators, %d-byte transactions, latency method %q", rep.Validators, rep.TxBytes, rep.LatencyMethod)
	}
	if len(rep.Systems) != 2 || rep.Systems[0].Name != "phalanx" || rep.Systems[1].Name != "kvstore" {
		t.Fatalf("systems %+v; want phalanx then kvstore", rep.Systems)
	}
	for _, sys := range rep.Systems {
		if len(sys.Steps) != len(rates) {
			t.Fatalf("%s: %d steps; want %d", sys.Name, len(sys.Steps), len(rates))
		}
		for i, st := range sys.Steps {
			name := fmt.Sprintf("%s at %d/s", sys.Name, st.OfferedRate)
			if st.OfferedRate != rates[i] {
				t.Errorf("%s step %d: offered %d/s; want %d", sys.Name, i, st.OfferedRate, rates[i])
			}
			if want := rates[i] * int(step/time.Second); st.Scheduled != want {
				t.Errorf("%s: %d scheduled; want %d", name, st.Scheduled, want)
			}
			if st.Sent+st.Missed+st.RPCErrors != st.Scheduled {
				t.Errorf("%s: sent %d + missed %d + rpc errors %d != scheduled %d", name, st.Sent, st.Missed, st.RPCErrors, st.Scheduled)
			}
			if st.Admitted == 0 || st.Admitted > st.Sent {
				t.Errorf("%s: admitted %d of %d sent", name, st.Admitted, st.Sent)
			}
			if st.Committed <= 0 || st.Blocks <= 0 {
				t.Errorf("%s: committed %d in %d blocks; want some", name, st.Committed, st.Blocks)
			}
			// At most warmup + window's worth can commit in the window.
			if st.CommittedRate > 2*float64(st.OfferedRate) {
				t.Errorf("%s: committed %.1f/s, more than the %d/s offered allows", name, st.CommittedRate, st.OfferedRate)
			}
			if st.DrainedRate <= 0 || st.DrainedRate > 2*float64(st.OfferedRate) {
				t.Errorf("%s: drained %.1f/s; want more than 0 and at most twice the %d/s offered", name, st.DrainedRate, st.OfferedRate)
			}
			if st.Latencies == 0 || !(0 < st.P50 && st.P50 <= st.P99 && st.P99 <= st.Max) {
				t.Errorf("%s: %d latency samples, p50 %.1f ms, p99 %.1f ms, max %.1f ms: want 0 < p50 <= p99 <= max",
					name, st.Latencies, st.P50, st.P99, st.Max)
			}
			if st.Uncommitted != 0 {
				t.Errorf("%s: %d admitted transactions never committed at this low rate", name, st.Uncommitted)
			}
			if d := st.TxBytes - float64(rep.TxBytes); d < -4 || d > 4 {
				t.Errorf("%s: %.1f-byte transactions on average; the bench's size is %d", name, st.TxBytes, rep.TxBytes)
			}
		}
	}
	if len(rep.Ratios) != len(rates) {
		t.Fatalf("%d ratios; want one per rate", len(rep.Ratios))
	}
	for _, r := range rep.Ratios {
		if r.Ratio <= 0 {
			t.Errorf("ratio at %d/s is %.2f; want > 0", r.OfferedRate, r.Ratio)
		}
	}
	best := map[string]float64{}
	for _, sys := range rep.Systems {
		for _, st := range sys.Steps {
			best[sys.Name] = max(best[sys.Name], st.CommittedRate)
		}
	}
	if s := rep.Saturated; s.Phalanx != best["phalanx"] || s.KVStore != best["kvstore"] || s.KVStore == 0 || math.Abs(s.Ratio-s.Phalanx/s.KVStore) > 1e-9 {
		t.Errorf("saturated %+v; want each system's best committed rate %v and their ratio", s, best)
	}
}
