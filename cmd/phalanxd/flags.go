package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/networks"
	"github.com/phalanx-bft/phalanx/types"
)

// Exit statuses of tx commands (besides 0).
const (
	// exitRejected: the node rejected the transaction (CheckTx or its
	// block), or any other error.
	exitRejected = 1
	// exitUnknownOutcome: the transaction was broadcast but not seen in a
	// block before the deadline; it may still be committed.
	exitUnknownOutcome = 2
)

// nodeFlags are the flags of every command that talks to a node.
type nodeFlags struct {
	node   string
	output string
}

func (f *nodeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.node, "node", client.DefaultNode, "CometBFT RPC address of a node: tcp://HOST:PORT")
	addOutputFlag(cmd, &f.output)
}

// client checks the flags and connects.
func (f *nodeFlags) client(commitTimeout time.Duration) (*client.Client, error) {
	if err := checkOutput(f.output); err != nil {
		return nil, err
	}
	c, err := client.NewWithConfig(client.Config{Node: f.node, CommitTimeout: commitTimeout})
	if err != nil {
		return nil, fmt.Errorf("invalid --node: %w", err)
	}
	return c, nil
}

// txFlags are the flags of every `phalanxd tx` command.
type txFlags struct {
	nodeFlags
	keyringFlags
	from          string
	chainID       string
	yes           bool
	timeoutHeight int64
	memo          string
	commitTimeout time.Duration
	fallbacks     []string
}

// register adds the common tx flags to cmd. fromHelp describes --from for
// this command.
func (f *txFlags) register(cmd *cobra.Command, fromHelp string) {
	f.nodeFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.home, "home", config.DefaultHome(), "home directory holding the keyring")
	fl.StringVar(&f.backend, "keyring-backend", string(keyring.BackendFile),
		"keyring backend: file (passphrase from $"+keyring.EnvPassphrase+" or the terminal) or test (unencrypted, local networks only)")
	fl.StringVar(&f.from, "from", "", fromHelp)
	fl.StringVar(&f.chainID, "chain-id", "", "chain id to sign for (default: the one the node reports)")
	fl.BoolVarP(&f.yes, "yes", "y", false, "sign and broadcast without asking for confirmation (required when stdin is not a terminal)")
	fl.Int64Var(&f.timeoutHeight, "timeout-height", 0, "drop the transaction if it is not in a block by this height (0: never)")
	fl.StringVar(&f.memo, "memo", "", fmt.Sprintf("free-text note stored with the transaction (at most %d bytes)", api.MaxMemoBytes))
	fl.DurationVar(&f.commitTimeout, "commit-timeout", client.DefaultCommitTimeout, "how long to wait for the transaction to be committed")
	fl.StringArrayVar(&f.fallbacks, "rpc-fallback", nil, "RPC address of another validator, used when --node (and the fallbacks before) do not answer or are catching up; "+
		"the same signed transaction is sent there (repeatable; default: when --home holds a testnet.json listing --node, the network's other validators)")
}

// withFallbacks gives c the --rpc-fallback nodes, or, when none is given
// and --home is a test network (testnet.json) that lists --node, its
// other validators; then returns the first of them that answers and is
// in sync.
func (f *txFlags) withFallbacks(ctx context.Context, c *client.Client) (*client.Client, error) {
	urls := f.fallbacks
	if len(urls) == 0 {
		urls = manifestFallbacks(f.home, c.Node())
	}
	if len(urls) == 0 {
		return c, nil
	}
	fc, err := c.WithFallbacks(urls...)
	if err != nil {
		return nil, fmt.Errorf("invalid --rpc-fallback: %w", err)
	}
	return fc.FirstLive(ctx)
}

// manifestFallbacks are the RPC addresses of the validators of the test
// network in home other than node, if home holds a manifest listing node.
func manifestFallbacks(home, node string) []string {
	if _, err := os.Stat(networks.Path(home)); err != nil {
		return nil
	}
	m, err := networks.LoadManifest(home)
	if err != nil {
		return nil
	}
	var out []string
	listed := false
	for _, v := range m.Validators {
		n, err := client.NormalizeNode(v.RPC)
		if err != nil {
			continue
		}
		if n == node {
			listed = true
			continue
		}
		out = append(out, n)
	}
	if !listed {
		return nil
	}
	return out
}

// check validates the flag values that need no node.
func (f *txFlags) check() error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	if f.timeoutHeight < 0 {
		return fmt.Errorf("invalid --timeout-height %d: want 0 (none) or a block height", f.timeoutHeight)
	}
	if len(f.memo) > api.MaxMemoBytes {
		return fmt.Errorf("invalid --memo: %d bytes; the limit is %d", len(f.memo), api.MaxMemoBytes)
	}
	if f.commitTimeout <= 0 {
		return fmt.Errorf("invalid --commit-timeout %s: want a positive duration such as 30s", f.commitTimeout)
	}
	return nil
}

// cmdContext is the command's context, cancelled on Ctrl-C or SIGTERM.
func cmdContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm prints summary and asks y/N on the command's terminal. With yes
// it does nothing; without a terminal and without yes it refuses.
func confirm(cmd *cobra.Command, yes bool, summary []string) error {
	if yes {
		return nil
	}
	w := cmd.ErrOrStderr()
	if !isTerminal(cmd.InOrStdin()) {
		return errors.New("not signed: standard input is not a terminal, so there is nobody to confirm; pass --yes to sign and broadcast without asking")
	}
	for _, line := range summary {
		fmt.Fprintln(w, line)
	}
	fmt.Fprint(w, "Sign and broadcast this transaction? [y/N]: ")
	answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return errors.New("not signed: not confirmed (answer y, or pass --yes)")
}

// printResult writes a transaction result in the chosen format.
func printResult(w io.Writer, output string, r *client.Result) error {
	if output == outputJSON {
		if r.Events == nil {
			r.Events = []client.Event{}
		}
		return writeJSON(w, r)
	}
	fmt.Fprintf(w, "txhash: %s\n", r.Hash)
	fmt.Fprintf(w, "height: %d\n", r.Height)
	fmt.Fprintf(w, "code: %d\n", r.Code)
	fmt.Fprintf(w, "log: %s\n", r.Log)
	if len(r.Events) > 0 {
		fmt.Fprintln(w, "events:")
		for _, e := range r.Events {
			parts := make([]string, len(e.Attributes))
			for i, a := range e.Attributes {
				parts[i] = a.Key + "=" + quoteIfNeeded(a.Value)
			}
			fmt.Fprintf(w, "  - %s %s\n", e.Type, strings.Join(parts, " "))
		}
	}
	return nil
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"=") {
		return strconv.Quote(s)
	}
	return s
}

// txExitError maps a broadcast error to the process exit status.
func txExitError(err error) error {
	if errors.Is(err, client.ErrCommitTimeout) {
		return &exitError{code: exitUnknownOutcome, err: err}
	}
	return &exitError{code: exitRejected, err: err}
}

// ---- value parsers (unit-tested in flags_test.go) ----

// parseLabels reads --label key=value flags into labels sorted by key, as
// RegisterNode needs them. Keys must be unique.
func parseLabels(flags []string) ([]types.Label, error) {
	seen := map[string]bool{}
	out := make([]types.Label, 0, len(flags))
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("label %q is not key=value", f)
		}
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("label %q has an empty key; expected key=value", f)
		}
		if seen[k] {
			return nil, fmt.Errorf("label key %q given twice; each key takes one value", k)
		}
		seen[k] = true
		out = append(out, types.Label{Key: k, Value: v})
	}
	if len(out) > api.MaxLabelsPerNode {
		return nil, fmt.Errorf("%d labels given; the limit is %d", len(out), api.MaxLabelsPerNode)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// taskStates maps the states a node may report to their proto values.
var taskStates = map[string]types.TaskState{
	"assigned":  types.TASK_ASSIGNED,
	"running":   types.TASK_RUNNING,
	"failed":    types.TASK_FAILED,
	"completed": types.TASK_COMPLETED,
}

// parseTaskReport reads a --task flag: TASK_ID:GENERATION:STATE, e.g.
// web/0:3:running. STATE is assigned, running, failed or completed (any
// case).
func parseTaskReport(s string) (types.TaskReport, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return types.TaskReport{}, fmt.Errorf("task report %q is not TASK_ID:GENERATION:STATE (e.g. web/0:3:running)", s)
	}
	id, genS, stateS := parts[0], parts[1], parts[2]
	if !strings.Contains(id, "/") {
		return types.TaskReport{}, fmt.Errorf("task report %q: task id %q is not WORKLOAD/INDEX (e.g. web/0)", s, id)
	}
	gen, err := strconv.ParseUint(genS, 10, 64)
	if err != nil {
		return types.TaskReport{}, fmt.Errorf("task report %q: generation %q is not a non-negative integer", s, genS)
	}
	state, ok := taskStates[strings.ToLower(stateS)]
	if !ok {
		return types.TaskReport{}, fmt.Errorf("task report %q: state %q is not one of assigned, running, failed, completed", s, stateS)
	}
	return types.TaskReport{TaskId: id, Generation: gen, State: state}, nil
}

// parseDurationMs reads a duration such as 500ms, 2s or 1m30s into whole
// milliseconds (at least 1).
func parseDurationMs(flag, s string) (int64, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid --%s %q: not a duration; expected a number with a unit, such as 500ms, 2s or 1m30s", flag, s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("invalid --%s %q: must be positive", flag, s)
	}
	if d%time.Millisecond != 0 {
		return 0, fmt.Errorf("invalid --%s %q: must be a whole number of milliseconds", flag, s)
	}
	return d.Milliseconds(), nil
}

// parseDurationMsAllowZero is parseDurationMs that also accepts 0.
func parseDurationMsAllowZero(flag, s string) (int64, error) {
	if d, err := time.ParseDuration(strings.TrimSpace(s)); err == nil && d == 0 {
		return 0, nil
	}
	return parseDurationMs(flag, s)
}

// formatMs shows milliseconds as a Go duration (5000 → 5s).
func formatMs(ms int64) string { return (time.Duration(ms) * time.Millisecond).String() }

// parseMilli reads a decimal such as 8, 8.0 or 7.125 into thousandths
// (8000, 8000, 7125) exactly, without floating point.
func parseMilli(flag, s string) (uint32, error) {
	bad := func(why string) error {
		return fmt.Errorf("invalid --%s %q: %s; expected a positive decimal with at most 3 decimals, such as 8 or 8.5", flag, s, why)
	}
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, bad("empty")
	}
	if len(frac) > 3 {
		return 0, bad("more than 3 decimals")
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, bad("not a number")
			}
		}
	}
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseUint(whole, 10, 32)
	if err != nil {
		return 0, bad("too large")
	}
	f := uint64(0)
	if frac != "" {
		f, _ = strconv.ParseUint((frac + "00")[:3], 10, 32)
	}
	v := w*1000 + f
	if v == 0 {
		return 0, bad("must be above 0")
	}
	if v > math.MaxUint32 {
		return 0, bad("too large")
	}
	return uint32(v), nil
}

// formatMilli shows thousandths as a decimal (8000 → 8.0, 7125 → 7.125).
func formatMilli(v uint32) string {
	s := fmt.Sprintf("%d.%03d", v/1000, v%1000)
	s = strings.TrimRight(s, "0")
	if strings.HasSuffix(s, ".") {
		s += "0"
	}
	return s
}

// parsePhiThreshold reads --phi-threshold: a decimal (parseMilli) within
// the range the chain accepts, 1.0 to 100.0.
func parsePhiThreshold(s string) (uint32, error) {
	m, err := parseMilli("phi-threshold", s)
	if err != nil {
		return 0, err
	}
	if m < api.MinPhiThresholdMilli || m > api.MaxPhiThresholdMilli {
		return 0, fmt.Errorf("invalid --phi-threshold %q: want %s to %s", s,
			formatMilli(api.MinPhiThresholdMilli), formatMilli(api.MaxPhiThresholdMilli))
	}
	return m, nil
}

// phiThresholdHelp is the --help of --phi-threshold.
var phiThresholdHelp = fmt.Sprintf("phi accrual threshold for Suspect, %s to %s, e.g. 8.0 (at most 3 decimals)",
	formatMilli(api.MinPhiThresholdMilli), formatMilli(api.MaxPhiThresholdMilli))

// positiveIntParam is a `tx params update` flag of a positive integer
// (at most max) stored in an int64 field.
func positiveIntParam(name, help string, max int64, field func(*types.Params) *int64) paramFlag {
	return paramFlag{name: name, typ: "int", help: help, apply: func(p *types.Params, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 1 || n > max {
			return fmt.Errorf("invalid --%s %q: expected an integer from 1 to %d", name, v, max)
		}
		*field(p) = n
		return nil
	}}
}

// detectorParamFlags are the `tx params update` flags of the failure
// detector's clock and the observers' reputation (docs/failure-detection.md).
func detectorParamFlags() []paramFlag {
	return []paramFlag{
		durationParam("max-clock-step", fmt.Sprintf("largest step of the failure detector's clock per block, at least %s: a longer gap between blocks (a chain stall) does not count as node silence beyond it",
			formatMs(api.MinClockStepMs)), func(p *types.Params) *int64 { return &p.MaxClockStepMs }),
		positiveIntParam("reputation-max", "highest reputation an observer can reach (+1 per window it agrees with)",
			api.MaxReputation, func(p *types.Params) *int64 { return &p.ReputationMax }),
		positiveIntParam("reputation-penalty", "reputation an observer loses per vote that disagrees with a window's decision",
			api.MaxReputation, func(p *types.Params) *int64 { return &p.ReputationPenalty }),
	}
}

// evictionParamFlags are the `tx params update` flags of eviction pacing
// (ADR 0012, docs/scheduling.md). Rates and the threshold are decimals, as
// kube-controller-manager's flags, stored in thousandths.
func evictionParamFlags() []paramFlag {
	return []paramFlag{
		uintParam("max-evictions-per-block", fmt.Sprintf("tasks evicted at most per block from failed and draining nodes, 1 to %d; the rest wait for the next blocks", api.MaxEvictionsPerBlockLimit),
			func(p *types.Params) *uint32 { return &p.MaxEvictionsPerBlock }),
		milliParam("node-eviction-rate", "failed nodes per second a zone lets go, after the first at once (e.g. 0.1: one per 10 s; at most 3 decimals)",
			func(p *types.Params) *uint32 { return &p.NodeEvictionRateMilli }),
		milliParam("secondary-node-eviction-rate", "failed nodes per second a zone in partial disruption lets go if it has more than --large-zone-size-threshold nodes (e.g. 0.01; 0: none)",
			func(p *types.Params) *uint32 { return &p.SecondaryNodeEvictionRateMilli }),
		milliParam("unhealthy-zone-threshold", "share of a zone's nodes not Ready (more than 2 of them) from which the zone is in partial disruption (e.g. 0.55)",
			func(p *types.Params) *uint32 { return &p.UnhealthyZoneThresholdMilli }),
		uintParam("large-zone-size-threshold", "nodes a zone must have more than to keep evicting (at the secondary rate) in partial disruption",
			func(p *types.Params) *uint32 { return &p.LargeZoneSizeThreshold }),
	}
}

// admissionParamFlags are the `tx params update` flags of admission
// control (ADR 0014).
func admissionParamFlags() []paramFlag {
	return []paramFlag{
		uintParam("max-self-registrations-per-block", fmt.Sprintf("nodes registering themselves (open registration) applied at most per block, 1 to %d; the rest are refused and may be sent again", api.MaxSelfRegistrationsPerBlockLimit),
			func(p *types.Params) *uint32 { return &p.MaxSelfRegistrationsPerBlock }),
	}
}

// milliParam is a `tx params update` flag of a decimal with at most 3
// decimals, stored in thousandths (0 allowed; the chain's validation
// checks the range).
func milliParam(name, help string, field func(*types.Params) *uint32) paramFlag {
	return paramFlag{name: name, typ: "decimal", help: help, apply: func(p *types.Params, v string) error {
		if t := strings.TrimSpace(v); strings.Contains(t, "0") && strings.Trim(t, "0.") == "" && strings.Count(t, ".") <= 1 {
			*field(p) = 0 // 0, 0.0, .0: parseMilli wants a positive value
			return nil
		}
		m, err := parseMilli(name, v)
		if err != nil {
			return err
		}
		*field(p) = m
		return nil
	}}
}

// parseFraction reads N/D, e.g. 2/3.
func parseFraction(flag, s string) (num, den uint32, err error) {
	n, d, ok := strings.Cut(strings.TrimSpace(s), "/")
	nv, err1 := strconv.ParseUint(n, 10, 32)
	dv, err2 := strconv.ParseUint(d, 10, 32)
	if !ok || err1 != nil || err2 != nil || dv == 0 {
		return 0, 0, fmt.Errorf("invalid --%s %q: expected a fraction NUM/DEN such as 2/3", flag, s)
	}
	return uint32(nv), uint32(dv), nil
}

// parsePubKey reads an ed25519 public key given as base64 (standard or
// URL alphabet) or hex, or as the JSON `phalanxd comet show-validator`
// prints ({"type":"tendermint/PubKeyEd25519","value":"…"}).
func parsePubKey(what, s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var v struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("%s: not the JSON of a public key: %v", what, err)
		}
		if v.Type != "" && !strings.Contains(strings.ToLower(v.Type), "ed25519") {
			return nil, fmt.Errorf("%s: key type %q; expected an ed25519 key", what, v.Type)
		}
		s = v.Value
	}
	var b []byte
	if len(s) == 2*crypto.PubKeyLen {
		if h, err := hex.DecodeString(s); err == nil {
			b = h
		}
	}
	if b == nil {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if d, err := enc.DecodeString(s); err == nil {
				b = d
				break
			}
		}
	}
	if b == nil {
		return nil, fmt.Errorf("%s %q is neither base64 nor hex; expected a 32-byte ed25519 public key, e.g. the \"value\" that `phalanxd comet show-validator` prints", what, s)
	}
	if len(b) != crypto.PubKeyLen {
		return nil, fmt.Errorf("%s %q decodes to %d bytes; expected %d (ed25519)", what, s, len(b), crypto.PubKeyLen)
	}
	return b, nil
}

// resolveAddress reads an account address: 40 hex characters, or the name
// of a key in the keyring (kr may be nil).
func resolveAddress(kr *keyring.Keyring, s string) ([]byte, error) {
	addr, err := crypto.ParseAddress(s)
	if err == nil {
		return addr, nil
	}
	if kr != nil && keyring.ValidateName(s) == nil {
		if info, kerr := kr.Show(s); kerr == nil {
			return crypto.Address(info.PubKey), nil
		}
	}
	if kr != nil {
		return nil, fmt.Errorf("%w (nor the name of a key in %s)", err, kr.Dir())
	}
	return nil, err
}
