package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/types"
)

func TestParseLabels(t *testing.T) {
	got, err := parseLabels([]string{"zone=eu-1", "disk=ssd", "note=a=b", "empty="})
	if err != nil {
		t.Fatal(err)
	}
	want := []types.Label{{Key: "disk", Value: "ssd"}, {Key: "empty", Value: ""}, {Key: "note", Value: "a=b"}, {Key: "zone", Value: "eu-1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseLabels = %+v, want %+v (sorted by key)", got, want)
	}
	if got, err := parseLabels(nil); err != nil || len(got) != 0 {
		t.Errorf("no labels: %v, %v", got, err)
	}
	bad := map[string]string{
		"zone":      `label "zone" is not key=value`,
		"=ssd":      `label "=ssd" has an empty key`,
		"disk=a":    `label key "disk" given twice`,
		" =x":       "empty key",
		"zone-only": `label "zone-only" is not key=value`,
	}
	for in, want := range bad {
		flags := []string{in}
		if in == "disk=a" {
			flags = []string{"disk=a", "disk=b"}
		}
		if _, err := parseLabels(flags); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseLabels(%q) err = %v, want %q", flags, err, want)
		}
	}
	many := make([]string, api.MaxLabelsPerNode+1)
	for i := range many {
		many[i] = string(rune('a'+i%26)) + strings.Repeat("x", i) + "=v"
	}
	if _, err := parseLabels(many); err == nil || !strings.Contains(err.Error(), "the limit is") {
		t.Errorf("too many labels: %v", err)
	}
}

func TestParseTaskReport(t *testing.T) {
	got, err := parseTaskReport("web/0:3:Running")
	if err != nil {
		t.Fatal(err)
	}
	if want := (types.TaskReport{TaskId: "web/0", Generation: 3, State: types.TASK_RUNNING}); !reflect.DeepEqual(got, want) {
		t.Errorf("parseTaskReport = %+v, want %+v", got, want)
	}
	for s, st := range map[string]types.TaskState{"a/1:0:assigned": types.TASK_ASSIGNED, "a/1:0:FAILED": types.TASK_FAILED, "a/1:9:completed": types.TASK_COMPLETED} {
		if r, err := parseTaskReport(s); err != nil || r.State != st {
			t.Errorf("parseTaskReport(%q) = %+v, %v", s, r, err)
		}
	}
	bad := map[string]string{
		"web/0:3":           "is not TASK_ID:GENERATION:STATE",
		"web/0:3:running:x": "is not TASK_ID:GENERATION:STATE",
		"web:3:running":     `task id "web" is not WORKLOAD/INDEX`,
		"web/0:-1:running":  `generation "-1" is not a non-negative integer`,
		"web/0:x:running":   `generation "x"`,
		"web/0:1:pending":   `state "pending" is not one of assigned, running, failed, completed`,
	}
	for in, want := range bad {
		if _, err := parseTaskReport(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseTaskReport(%q) err = %v, want %q", in, err, want)
		}
	}
}

func TestParseDurationMs(t *testing.T) {
	for in, want := range map[string]int64{"2s": 2000, "500ms": 500, "1m30s": 90_000, " 1h ": 3_600_000, "1.5s": 1500} {
		if got, err := parseDurationMs("x", in); err != nil || got != want {
			t.Errorf("parseDurationMs(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]string{
		"2000":   "not a duration; expected a number with a unit",
		"":       "not a duration",
		"0s":     "must be positive",
		"-1s":    "must be positive",
		"1500us": "whole number of milliseconds",
	}
	for in, want := range bad {
		if _, err := parseDurationMs("heartbeat-interval", in); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--heartbeat-interval") {
			t.Errorf("parseDurationMs(%q) err = %v, want %q naming the flag", in, err, want)
		}
	}
	if got, err := parseDurationMsAllowZero("x", "0s"); err != nil || got != 0 {
		t.Errorf("parseDurationMsAllowZero(0s) = %d, %v", got, err)
	}
	if got := formatMs(90_000); got != "1m30s" {
		t.Errorf("formatMs = %q", got)
	}
}

func TestParseMilli(t *testing.T) {
	for in, want := range map[string]uint32{"8": 8000, "8.0": 8000, "7.125": 7125, "0.5": 500, ".25": 250, "12.3": 12300} {
		if got, err := parseMilli("phi-threshold", in); err != nil || got != want {
			t.Errorf("parseMilli(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "0", "0.000", "8.1234", "-1", "1e3", "abc", "99999999999"} {
		if _, err := parseMilli("phi-threshold", in); err == nil {
			t.Errorf("parseMilli(%q) accepted", in)
		}
	}
	for v, want := range map[uint32]string{8000: "8.0", 7125: "7.125", 500: "0.5", 12300: "12.3"} {
		if got := formatMilli(v); got != want {
			t.Errorf("formatMilli(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestParseFraction(t *testing.T) {
	if n, d, err := parseFraction("q", "2/3"); err != nil || n != 2 || d != 3 {
		t.Errorf("parseFraction(2/3) = %d/%d, %v", n, d, err)
	}
	for _, in := range []string{"2", "2/0", "a/3", "2/3/4", ""} {
		if _, _, err := parseFraction("q", in); err == nil {
			t.Errorf("parseFraction(%q) accepted", in)
		}
	}
}

func TestParsePubKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xAB}, 32)
	b64 := base64.StdEncoding.EncodeToString(key)
	for _, in := range []string{
		b64,
		base64.RawURLEncoding.EncodeToString(key),
		hex.EncodeToString(key),
		`{"type":"tendermint/PubKeyEd25519","value":"` + b64 + `"}`,
	} {
		got, err := parsePubKey("PUBKEY", in)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("parsePubKey(%q) = %X, %v", in, got, err)
		}
	}
	bad := map[string]string{
		"abc":  "decodes to 2 bytes; expected 32",
		"!!!!": "neither base64 nor hex",
		`{"type":"tendermint/PubKeySecp256k1","value":"` + b64 + `"}`: "expected an ed25519 key",
		`{bad json`: "not the JSON of a public key",
	}
	for in, want := range bad {
		if _, err := parsePubKey("PUBKEY", in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parsePubKey(%q) err = %v, want %q", in, err, want)
		}
	}
}

func TestApplyParamChanges(t *testing.T) {
	cur := api.NewParamsView(api.DefaultParams())
	dir := t.TempDir()
	file := filepath.Join(dir, "params.json")
	// Values chosen away from the defaults, whatever those are.
	def := api.DefaultParams()
	wantMax := def.MaxPlacementsPerBlock + 7
	wantHB := def.HeartbeatIntervalMs * 2
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`{"max_placements_per_block": %d, "heartbeat_interval_ms": %d}`, wantMax, def.HeartbeatIntervalMs+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	pfs := paramFlags()
	set := func(name, value string) func(*types.Params) error {
		return func(p *types.Params) error {
			for _, pf := range pfs {
				if pf.name == name {
					return pf.apply(p, value)
				}
			}
			t.Fatalf("no flag %s", name)
			return nil
		}
	}
	// The file applies first, then the flags.
	p, err := applyParamChanges(cur, nil, file, set("heartbeat-interval", fmt.Sprintf("%dms", wantHB)))
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxPlacementsPerBlock != wantMax || p.HeartbeatIntervalMs != wantHB || p.DownAfterMs != def.DownAfterMs {
		t.Errorf("params = %+v", p)
	}
	diff := paramsDiff(def, p)
	if len(diff) != 2 || !strings.Contains(diff[0], "heartbeat_interval") || !strings.Contains(diff[1], "max_placements_per_block") {
		t.Errorf("diff = %q", diff)
	}
	// The chain's validation runs locally.
	_, err = applyParamChanges(cur, nil, "", set("suspect-after", "1s"))
	if !errors.Is(err, api.ErrInvalidParams) || !strings.Contains(err.Error(), "suspect_after_ms") {
		t.Errorf("suspect-after below heartbeat interval: %v", err)
	}
	for name, value := range map[string]string{
		"partition-policy": "drop", "open-registration": "maybe", "phi-threshold": "x",
		"observer-quorum": "2", "max-placements-per-block": "-1", "reputation-floor": "low",
	} {
		if _, err := applyParamChanges(cur, nil, "", set(name, value)); err == nil || !strings.Contains(err.Error(), "--"+name) {
			t.Errorf("--%s %s: err = %v, want it to name the flag", name, value, err)
		}
	}
	if err := os.WriteFile(file, []byte(`{"bogus": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := applyParamChanges(cur, nil, file, set("heartbeat-interval", "2s")); err == nil || !strings.Contains(err.Error(), `unknown field "bogus"`) {
		t.Errorf("unknown field in file: %v", err)
	}
	// Eviction pacing: decimals in thousandths, 0 where the chain allows it.
	p, err = applyParamChanges(cur, nil, "", func(p *types.Params) error {
		for _, fv := range [][2]string{{"node-eviction-rate", "0.25"}, {"secondary-node-eviction-rate", "0"},
			{"unhealthy-zone-threshold", "0.7"}, {"max-evictions-per-block", "7"}, {"large-zone-size-threshold", "0"}} {
			if err := set(fv[0], fv[1])(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || p.NodeEvictionRateMilli != 250 || p.SecondaryNodeEvictionRateMilli != 0 || p.UnhealthyZoneThresholdMilli != 700 ||
		p.MaxEvictionsPerBlock != 7 || p.LargeZoneSizeThreshold != 0 {
		t.Errorf("eviction pacing flags: %+v, %v", p, err)
	}
	if _, err := applyParamChanges(cur, nil, "", set("max-evictions-per-block", "0")); !errors.Is(err, api.ErrInvalidParams) || !strings.Contains(err.Error(), "max_evictions_per_block") {
		t.Errorf("max-evictions-per-block 0: %v", err)
	}
	if _, err := applyParamChanges(cur, nil, "", set("node-eviction-rate", "-1")); err == nil || !strings.Contains(err.Error(), "--node-eviction-rate") {
		t.Errorf("node-eviction-rate -1: %v", err)
	}
	// Every flag is documented and round-trips through paramsText names.
	for _, pf := range pfs {
		if pf.help == "" {
			t.Errorf("--%s has no help", pf.name)
		}
	}
}

// runCLI runs the tx and query commands under a root like phalanxd's,
// with args and stdin (not a terminal). (rootCmd itself cannot be built
// twice in one process: cometCmd reuses CometBFT's global commands.)
func runCLI(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	root := &cobra.Command{Use: "phalanxd", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(txCmd(), queryCmd())
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func testHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	kr, err := keyring.New(home, keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"admin", "n1"} {
		if _, err := kr.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

// TestTxCommandsRefuseBadInput runs tx commands up to the point where they
// would contact a node (there is none: --node points at a closed port,
// and --chain-id avoids asking it).
func TestTxCommandsRefuseBadInput(t *testing.T) {
	home := testHome(t)
	common := []string{"--home", home, "--keyring-backend", "test", "--node", "tcp://127.0.0.1:1", "--chain-id", "c-1"}
	spec := filepath.Join(home, "bad.json")
	if err := os.WriteFile(spec, []byte(`{"name":"web","replicas":1,"extra":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"tx", "node", "cordon", "n1", "--from", "admin"}, "standard input is not a terminal"},
		{[]string{"tx", "node", "cordon", "n1"}, "no signer: pass --from KEY"},
		{[]string{"tx", "node", "cordon", "n1", "--from", "nobody", "--yes"}, `--from "nobody"`},
		{[]string{"tx", "node", "cordon", "N1", "--from", "admin", "--yes"}, `code 12: node id "N1"`},
		{[]string{"tx", "node", "register", "n2", "--cpu", "1000", "--memory", "512", "--zone", "z", "--label", "zone", "--node-key", "n1", "--from", "admin"}, `label "zone" is not key=value`},
		{[]string{"tx", "node", "register", "n2", "--cpu", "1000", "--memory", "512", "--zone", "z", "--from", "admin"}, "exactly one of --node-key"},
		{[]string{"tx", "node", "register", "n2", "--memory", "512", "--zone", "z", "--from", "admin"}, `required flag(s) "cpu" not set`},
		{[]string{"tx", "node", "heartbeat", "n1", "--seq", "1", "--task", "web/0:1:sleeping", "--from", "n1"}, `state "sleeping"`},
		{[]string{"tx", "workload", "create", "-f", spec, "--from", "admin"}, `unknown field "extra"`},
		{[]string{"tx", "workload", "create", "--from", "admin"}, "no spec: pass -f"},
		{[]string{"tx", "role", "grant", "nobody", "operator", "--from", "admin"}, `invalid address "nobody"`},
		{[]string{"tx", "role", "grant", "n1", "boss", "--from", "admin"}, `role "boss" is not one of admin, operator, observer, node`},
		{[]string{"tx", "validator", "set-power", "abc", "1", "--from", "admin"}, "decodes to 2 bytes"},
		{[]string{"tx", "validator", "set-power", strings.Repeat("A", 43) + "=", "x", "--from", "admin"}, `POWER "x" is not a non-negative integer`},
		{[]string{"tx", "params", "update", "--from", "admin"}, "nothing to change"},
		{[]string{"tx", "node", "cordon", "n1", "--from", "admin", "--output", "yaml"}, `invalid --output "yaml"`},
		{[]string{"tx", "node", "cordon", "n1", "--from", "admin", "--timeout-height", "-1"}, "invalid --timeout-height -1"},
		{[]string{"tx", "node", "cordon", "n1", "--from", "admin", "--node", "ftp://x:1"}, "invalid --node"},
	}
	for _, tc := range cases {
		args := append(append([]string{}, tc.args...), common...)
		if tc.want == "invalid --node" {
			args = tc.args
			args = append(args, "--home", home, "--keyring-backend", "test")
		}
		_, _, err := runCLI(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("phalanxd %s\n  err = %v\n  want it to contain %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

func TestQueryCommandsRefuseBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"query", "tasks", "--state", "sleeping"}, `invalid --state "sleeping"`},
		{[]string{"query", "account", "xyz", "--home", t.TempDir()}, `invalid address "xyz"`},
		{[]string{"query", "tx", "zz"}, `tx hash "zz" is not 64 hex characters`},
		{[]string{"query", "nodes", "-o", "yaml"}, `invalid --output "yaml"`},
		{[]string{"query", "nodes"}, "node unreachable"},
	}
	for _, tc := range cases {
		args := append(append([]string{}, tc.args...), "--node", "tcp://127.0.0.1:1")
		_, _, err := runCLI(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("phalanxd %s\n  err = %v\n  want it to contain %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// TestEveryFlagDocumented checks that every tx and query flag has help text.
func TestEveryFlagDocumented(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" {
			t.Errorf("%q has no short help", c.CommandPath())
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("%s --%s has no help", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(txCmd())
	walk(queryCmd())
}

// TestDetectorParamFlags covers --max-clock-step, --reputation-max,
// --reputation-penalty and the --phi-threshold range.
func TestDetectorParamFlags(t *testing.T) {
	def := api.DefaultParams()
	cur := api.NewParamsView(def)
	pfs := paramFlags()
	set := func(kv ...string) func(*types.Params) error {
		return func(p *types.Params) error {
			for i := 0; i < len(kv); i += 2 {
				found := false
				for _, pf := range pfs {
					if pf.name == kv[i] {
						found = true
						if err := pf.apply(p, kv[i+1]); err != nil {
							return err
						}
					}
				}
				if !found {
					t.Fatalf("no flag --%s", kv[i])
				}
			}
			return nil
		}
	}
	wantStep, wantMax, wantPen := def.MaxClockStepMs+3000, def.ReputationMax+5, def.ReputationPenalty+1
	p, err := applyParamChanges(cur, nil, "", set(
		"max-clock-step", fmt.Sprintf("%dms", wantStep),
		"reputation-max", fmt.Sprint(wantMax),
		"reputation-penalty", fmt.Sprint(wantPen),
		"phi-threshold", "100",
	))
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxClockStepMs != wantStep || p.ReputationMax != wantMax || p.ReputationPenalty != wantPen || p.PhiThresholdMilli != 100_000 {
		t.Errorf("params = %+v", p)
	}
	diff := strings.Join(paramsDiff(def, p), "\n")
	for _, name := range []string{"phi_threshold", "max_clock_step", "reputation_max", "reputation_penalty"} {
		if !strings.Contains(diff, name+":") {
			t.Errorf("diff does not name %s:\n%s", name, diff)
		}
	}
	// The params table (query params) shows the new parameters.
	text := map[string]string{}
	for _, kv := range paramsText(def) {
		text[kv[0]] = kv[1]
	}
	for name, want := range map[string]string{
		"max_clock_step":     formatMs(def.MaxClockStepMs),
		"reputation_max":     fmt.Sprint(def.ReputationMax),
		"reputation_penalty": fmt.Sprint(def.ReputationPenalty),
	} {
		if text[name] != want {
			t.Errorf("paramsText %s = %q, want %q", name, text[name], want)
		}
	}
	// Bad values name the flag; values the chain refuses fail locally.
	for _, tc := range [][3]string{
		{"max-clock-step", "soon", "--max-clock-step"},
		{"max-clock-step", "0s", "--max-clock-step"},
		{"max-clock-step", "500ms", "max_clock_step_ms"},
		{"reputation-max", "0", "--reputation-max"},
		{"reputation-max", "ten", "--reputation-max"},
		{"reputation-penalty", "-2", "--reputation-penalty"},
		{"reputation-penalty", fmt.Sprint(api.MaxReputation + 1), "--reputation-penalty"},
		{"phi-threshold", "0.5", "want 1.0 to 100.0"},
		{"phi-threshold", "100.001", "want 1.0 to 100.0"},
	} {
		_, err := applyParamChanges(cur, nil, "", set(tc[0], tc[1]))
		if err == nil || !strings.Contains(err.Error(), tc[2]) {
			t.Errorf("--%s %s: err = %v, want it to contain %q", tc[0], tc[1], err, tc[2])
		}
	}
	// The flags are registered on `tx params update`, typed and documented.
	update, _, err := txCmd().Find([]string{"params", "update"})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]string{"max-clock-step": "duration", "reputation-max": "int", "reputation-penalty": "int", "phi-threshold": "decimal"} {
		fl := update.Flags().Lookup(name)
		if fl == nil {
			t.Errorf("tx params update has no --%s", name)
			continue
		}
		if fl.Value.Type() != typ || fl.Usage == "" {
			t.Errorf("--%s: type %q, usage %q", name, fl.Value.Type(), fl.Usage)
		}
	}
	if u := update.Flags().Lookup("phi-threshold").Usage; !strings.Contains(u, "1.0 to 100.0") {
		t.Errorf("--phi-threshold help %q does not give the range", u)
	}
	// Through the command line as well (it stops at the unreachable node,
	// after the flags parsed).
	home := testHome(t)
	_, _, err = runCLI(t, "", "tx", "params", "update", "--max-clock-step", "8s", "--reputation-max", "20", "--reputation-penalty", "3",
		"--from", "admin", "--yes", "--home", home, "--keyring-backend", "test", "--node", "tcp://127.0.0.1:1", "--chain-id", "c-1")
	if err == nil || strings.Contains(err.Error(), "unknown flag") || strings.Contains(err.Error(), "nothing to change") {
		t.Errorf("tx params update with the new flags: err = %v, want the node to be unreachable", err)
	}
}

func testNodeView() *api.NodeView {
	return &api.NodeView{
		ID: "n1", State: "Suspect", Reason: "phi >= 8.0: no heartbeat for 7613 ms", Zone: "z1",
		Labels: map[string]string{"zone": "z1"}, Address: strings.Repeat("AB", 20),
		LastHeartbeat: 1_700_000_000_000, LastHeartbeatAgeMs: 7_800, LastHeartbeatSeq: 12,
		Tasks: []string{"web/0"},
		Health: &api.NodeHealthView{
			Phi: 9.4123, PhiThreshold: 8, Samples: 42, MeanIntervalMs: 2003.4, StdDevMs: 11.6,
			SuspectAt: 1_700_000_007_613, SuspectBy: "phi",
			DownAt:  1_700_000_015_000,
			Verdict: "unreachable", VerdictWindow: 340_000_000,
			Window: 340_000_001, ActiveObservers: 4, Quorum: 3,
			ReportsFor: 1, ReportsAgainst: 2,
			Windows: []api.WindowTallyView{
				{Window: 340_000_000, Unreachable: 3, Outcome: "unreachable"},
				{Window: 340_000_001, Reachable: 1, Unreachable: 2, Outcome: "none"},
			},
		},
	}
}

func TestRenderNodeHealth(t *testing.T) {
	var buf bytes.Buffer
	if err := renderNode(&buf, testNodeView()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"health:",
		"phi: ", "9.4 (threshold 8.0, reached; 42 samples, mean interval 2.003s, std dev 12ms)",
		"7.8s ago (seq 12)",
		"0.2s ago (by phi)",    // suspect at: 7613 ms after the heartbeat, now 7800
		"in 7.2s (down_after)", // down at: 15000 ms after
		"unreachable (window 340000000)",
		"window 340000001: 1 for, 2 against; quorum 3 of 4 active observers",
		"previous window: 340000000: 0 for, 3 against, decided unreachable",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("node output lacks %q:\n%s", want, out)
		}
	}
	// Without a heartbeat there is no block time to be relative to: the
	// deadlines are absolute.
	n := testNodeView()
	n.LastHeartbeat, n.LastHeartbeatAgeMs = 0, 0
	n.Health.ActiveObservers, n.Health.Quorum = 0, 1
	n.Health.Windows = nil
	buf.Reset()
	if err := renderNode(&buf, n); err != nil {
		t.Fatal(err)
	}
	out = buf.String()
	for _, want := range []string{msTime(n.Health.DownAt), "never", "no active observers"} {
		if !strings.Contains(out, want) {
			t.Errorf("node output lacks %q:\n%s", want, out)
		}
	}
	// A view without health (an older node) has no health section.
	n.Health = nil
	buf.Reset()
	if err := renderNode(&buf, n); err != nil || strings.Contains(buf.String(), "health:") {
		t.Errorf("no health: err %v, output:\n%s", err, buf.String())
	}
	// The nodes table: phi with one decimal, "-" without health.
	buf.Reset()
	if err := renderNodes(&buf, &api.NodesAnswer{Height: 9, Nodes: []api.NodeView{*testNodeView(), *n}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], " PHI ") || !strings.Contains(lines[1], " 9.4 ") || !strings.Contains(lines[2], " - ") {
		t.Errorf("nodes table:\n%s", buf.String())
	}
}

func TestRenderObservers(t *testing.T) {
	val := strings.Repeat("CD", 20)
	ans := &api.ObserversAnswer{Height: 5, Active: 1, Quorum: 1, Observers: []api.ObserverView{
		{AccountView: api.AccountView{Address: strings.Repeat("AB", 20), Roles: []string{"observer"}, Reputation: 3, ValidatorAddress: val}, Active: true},
		{AccountView: api.AccountView{Address: strings.Repeat("EF", 20), Roles: []string{"observer"}, Jailed: true, JailReason: "equivocation"}},
	}}
	var buf bytes.Buffer
	if err := renderObservers(&buf, ans); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(out, "\n")
	if lines[0] != "active observers: 1, quorum: 1" {
		t.Errorf("first line %q", lines[0])
	}
	for _, want := range []string{"ACTIVE", "VALIDATOR", val, "yes: equivocation"} {
		if !strings.Contains(out, want) {
			t.Errorf("observers output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`ABAB\S*\s+yes\s+`+val).MatchString(out) || !regexp.MustCompile(`EFEF\S*\s+no\s+-\s`).MatchString(out) {
		t.Errorf("ACTIVE/VALIDATOR columns wrong:\n%s", out)
	}
}

// TestWatchTypeNodeStrike: node_strike (and eviction pacing's zone_status
// and eviction_deferred, the lifecycle's node_removed and
// account_unjailed, preemption's task_preempted) are app event types, in their place, and `watch
// --type` lists them.
func TestWatchTypeNodeStrike(t *testing.T) {
	want := []string{"node_status", "node_strike", "task_placed", "task_evicted", "task_failed", "task_stop", "account_jailed", "workload",
		"zone_status", "eviction_deferred", "node_removed", "account_unjailed", "task_preempted"}
	if !reflect.DeepEqual(client.AppEventTypes, want) {
		t.Errorf("AppEventTypes = %q, want %q", client.AppEventTypes, want)
	}
	if u := watchCmd().Flags().Lookup("type").Usage; !strings.Contains(u, api.EventNodeStrike) {
		t.Errorf("--type help %q does not list %s", u, api.EventNodeStrike)
	}
}
