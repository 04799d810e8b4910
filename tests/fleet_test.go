package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/agent/fleet"
	"github.com/phalanx-bft/phalanx/networks"
)

// TestFleetShortRun is issue 12 item 1's end-to-end test: `phalanxd
// fleet` plays 200 nodes for 60 s against a 4-validator network made by
// `testnet init --fleet` (real validators and observers, each its own
// process), with the default detection params (short ones turn a loaded
// machine's slow blocks into verdicts), crashing 3 % of the nodes, each
// revived 8 s after its crash once its Down was seen. No node
// the fleet kept alive may be seen Suspect or Down; every crashed node
// must be seen Down; attested nodes skip their heartbeats, so the fleet
// sends far fewer than one per node per interval; the JSON summary has
// the fields.
func TestFleetShortRun(t *testing.T) {
	needE2E(t)
	began := time.Now()
	const (
		nodes    = 200
		duration = 60 * time.Second
		crash    = 0.03
		interval = 2 * time.Second // params.heartbeat_interval_ms's default
	)
	seed := testSeed(t)
	base, err := networks.FindFreeBasePort(4, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, "testnet", "init", "--validators", "4", "--fleet", "--output", dir, "--chain-id", "fleet-e2e",
		"--base-port", fmt.Sprint(base), "--no-metrics")
	m, err := networks.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Observers {
		t.Fatal("testnet init --fleet: the manifest does not run observers")
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, m)
		}
		if out, err := run(t, "testnet", "stop", dir); err != nil {
			t.Errorf("testnet stop: %v\n%s", err, out)
		}
	})
	out := mustRun(t, "testnet", "start", dir, "--detach")
	for _, v := range m.Validators {
		if !strings.Contains(out, "observer"+strings.TrimPrefix(v.Name, "val")) {
			t.Fatalf("testnet start of a --fleet network started no observer for %s:\n%s", v.Name, out)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), duration+90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "fleet", "--home", dir, "--nodes", fmt.Sprint(nodes), "--duration", duration.String(),
		"--crash-fraction", fmt.Sprint(crash), "--down-for", "8s",
		// At most 100 nodes heartbeat while they wait for their first
		// attestation: 50 tx/s, which a loaded machine's chain carries.
		"--max-unattested", "100", "--register-rate", "50", "--seed", fmt.Sprint(seed), "--listen", "0.0.0.0:0", "--progress", "5s", "-o", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	t.Logf("fleet progress:\n%s", stderr.String())
	if err != nil {
		t.Fatalf("phalanxd fleet: %v\n%s", err, stdout.String())
	}
	var raw map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
		t.Fatalf("fleet -o json printed no JSON object: %v\n%s", err, stdout.String())
	}
	for _, k := range []string{"false_suspect", "false_down", "detection_p50_ms", "detection_p99_ms", "tx_per_s",
		"nodes", "duration_s", "crashed", "revived", "detected", "undetected", "suspect_verdicts", "down_verdicts", "tx", "attested"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("fleet -o json: no field %q in %s", k, stdout.String())
		}
	}
	var s fleet.Summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	t.Logf("summary: %s", stdout.String())

	if s.Nodes != nodes || s.Registered != nodes {
		t.Errorf("%d nodes, %d registered; want %d of %d", s.Nodes, s.Registered, nodes, nodes)
	}
	if s.FalseSuspect != 0 || s.FalseDown != 0 {
		t.Errorf("false verdicts: %d Suspect, %d Down (%v); want none", s.FalseSuspect, s.FalseDown, s.FalseNodes)
	}
	if want := int(crash * nodes); s.Crashed != want {
		t.Errorf("%d nodes crashed; want %d (%.0f%% of %d)", s.Crashed, want, crash*100, nodes)
	}
	if s.Detected != s.Crashed || s.Undetected != 0 {
		t.Errorf("%d of %d crashed nodes seen Down, %d undetected; want all", s.Detected, s.Crashed, s.Undetected)
	}
	if s.Revived == 0 {
		t.Errorf("no crashed node revived")
	}
	if s.DetectionP50Ms <= 0 || s.DetectionP99Ms < s.DetectionP50Ms || s.DetectionMaxMs < s.DetectionP99Ms {
		t.Errorf("detection p50 %d ms, p99 %d ms, max %d ms; want 0 < p50 <= p99 <= max", s.DetectionP50Ms, s.DetectionP99Ms, s.DetectionMaxMs)
	}
	// One heartbeat per node per interval would be nodes × duration /
	// interval = 6,000; attested nodes skip theirs (the nodes heartbeat
	// only until their first attestation, and after a revival).
	every := int64(nodes) * int64(duration/interval)
	if s.Tx.Heartbeat >= every/2 || s.HeartbeatsSkipped <= s.Tx.Heartbeat {
		t.Errorf("%d heartbeats sent, %d skipped; want fewer than %d (half of one per node per interval) and more skipped than sent",
			s.Tx.Heartbeat, s.HeartbeatsSkipped, every/2)
	}
	if s.TxPerS <= 0 || s.TxPerS >= float64(nodes)/interval.Seconds()/2 {
		t.Errorf("fleet tx/s %.1f; want above 0 and below %.0f", s.TxPerS, float64(nodes)/interval.Seconds()/2)
	}
	if s.Attested < nodes*9/10 {
		t.Errorf("%d nodes attested at the end; want at least %d", s.Attested, nodes*9/10)
	}
	t.Logf("test took %s", time.Since(began).Round(100*time.Millisecond))
}
