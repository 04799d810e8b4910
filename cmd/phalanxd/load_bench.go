package main

import (
	"context"
	stded25519 "crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/loadgen"
	"github.com/phalanx-bft/phalanx/networks"
	"github.com/phalanx-bft/phalanx/node"
	"github.com/phalanx-bft/phalanx/types"
)

// Systems `phalanxd load bench` compares.
const (
	benchPhalanx = "phalanx"
	benchKVStore = node.TestAppKVStore
)

// Defaults and limits of `phalanxd load bench`.
const (
	benchDefaultBasePort = 21000
	benchChainID         = "phalanx-bench"
	// benchRegisterBatch is how many RegisterNode transactions the admin
	// has in flight: below its pending budget (api.DefaultSignerPendingTxs).
	benchRegisterBatch = 200
	// benchRegisterTimeout bounds the wait for one batch to commit.
	benchRegisterTimeout = 60 * time.Second
	benchMaxSigners      = loadgen.MaxBenchLanes
	// benchLatencyMethod says how commit latency is measured (printed and
	// in the JSON).
	benchLatencyMethod = "broadcast_tx_sync send time -> commit time of the block holding the tx (header time of the next block, read from val0's /block)"
)

type benchOptions struct {
	rates      []int
	step       time.Duration
	warmup     time.Duration
	drain      time.Duration
	validators int
	blockTime  time.Duration
	txSize     int
	signers    int
	senders    int
	outputDir  string
	keep       bool
	output     string
	basePort   int
	systems    []string
	seed       uint64
	alternate  bool
}

// benchReport is the JSON output of `phalanxd load bench` (-o json).
type benchReport struct {
	Validators    int           `json:"validators"`
	BlockTime     string        `json:"block_time"`
	Warmup        string        `json:"warmup"`
	Step          string        `json:"step"`
	TxBytes       int           `json:"tx_bytes"`
	Signers       int           `json:"signers"`
	Senders       int           `json:"senders"`
	Alternate     bool          `json:"alternate"`
	LatencyMethod string        `json:"latency_method"`
	Systems       []benchSystem `json:"systems"`
	Ratios        []benchRatio  `json:"ratios,omitempty"`
	// Saturated: each system's most committed tx/s at any offered rate
	// of the run (its throughput at saturation when the rates pass its
	// capacity), and Phalanx's ÷ kvstore's.
	Saturated *benchSaturated `json:"saturated,omitempty"`
	Started   time.Time       `json:"started"`
	Elapsed   string          `json:"elapsed"`
}

type benchSystem struct {
	Name  string               `json:"name"`
	Steps []loadgen.StepResult `json:"steps"`
}

// benchRatio is Phalanx's committed tx/s over kvstore's at one rate.
type benchRatio struct {
	OfferedRate int     `json:"offered_tx_per_s"`
	Committed   float64 `json:"phalanx_over_kvstore"`
}

func loadBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Compare committed tx/s and commit latency of Phalanx and CometBFT's kvstore, on the same network and sender",
		Long: `For each system of --systems in turn (phalanx, kvstore): write a fresh
--validators loopback network into --output-dir/SYSTEM (ports from
--base-port), start it as real processes, offer it each rate of --rates for
--warmup then --step-duration, and stop it. kvstore is CometBFT's own
abci/example/kvstore (at the pinned CometBFT version) run in-process by the
very same phalanxd, with the same config.toml, block time and ports.

Phalanx transactions are signed heartbeats of --signers nodes, registered
first by the admin, each node's heartbeats in sequence order; kvstore
transactions are key=value padded to the same size (--tx-size, default the
size of a heartbeat). One sender does both: open loop at a fixed rate,
--senders goroutines, node I's transactions always to validator I mod N; a
transaction not broadcast within 1 s of its due time (its sender still
busy) is a missed send (counted, not sent late). With --alternate each rate gets fresh networks, the systems
taking turns (phalanx at rate 1, kvstore at rate 1, phalanx at rate 2, …). A refused transaction is offered again at its lane's next
due time.

Per rate it prints committed tx/s (the transactions of the blocks whose
commit time falls in the measured window), drained tx/s (the window's own
transactions that committed, per second from the window's start to the last
one's commit: the rate even when blocks come late), commit latency p50/p99 (from
broadcast to the block's commit time: the header time of the next block,
read from val0's /block), refusals by CheckTx code and CometBFT's own
rejections ("mempool is full"), and then Phalanx's committed tx/s over
kvstore's. After each step it waits up to --drain for the step's
transactions to commit. It needs the ports BASE … BASE+10N-1 free.`,
		Example: `  phalanxd load bench --rates 1000,2000,4000
  phalanxd load bench --rates 500 --step-duration 5s --warmup 2s --systems kvstore -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			ctx, cancel := cmdContext(cmd)
			defer cancel()
			rep, err := runBench(ctx, o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if o.output == outputJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printBench(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntSliceVar(&o.rates, "rates", []int{1000, 2000, 4000}, "offered transactions per second, one step each, in order")
	fl.DurationVar(&o.step, "step-duration", 20*time.Second, "measured window of each step")
	fl.DurationVar(&o.warmup, "warmup", 5*time.Second, "sending at the step's rate before its measured window")
	fl.DurationVar(&o.drain, "drain", 60*time.Second, "after each step, the longest wait for its transactions to commit")
	fl.IntVar(&o.validators, "validators", networks.DefaultValidators, "validators of each network")
	fl.DurationVar(&o.blockTime, "block-time", networks.DefaultBlockTime, "consensus timeout_commit of each network")
	fl.IntVar(&o.txSize, "tx-size", 0, "bytes per transaction for both systems (Phalanx pads heartbeats with a memo); 0: a heartbeat's own size")
	fl.IntVar(&o.signers, "signers", 1000, fmt.Sprintf("Phalanx: registered nodes sending heartbeats (lanes; 1..%d); kvstore uses as many lanes", benchMaxSigners))
	fl.IntVar(&o.senders, "senders", 512, fmt.Sprintf("sender goroutines (1..%d)", loadgen.MaxBenchWorkers))
	fl.StringVar(&o.outputDir, "output-dir", "", "where the networks are written (DIR/phalanx, DIR/kvstore, kept); default a temporary directory, removed at the end")
	fl.StringVarP(&o.output, "output", "o", outputText, "output format: text or json (one object)")
	fl.IntVar(&o.basePort, "base-port", benchDefaultBasePort, "first loopback port of each network (they run one after the other)")
	fl.StringSliceVar(&o.systems, "systems", []string{benchPhalanx, benchKVStore}, "systems to run, in order: phalanx, kvstore")
	fl.Uint64Var(&o.seed, "seed", 1, "seed the nodes' keys derive from")
	fl.BoolVar(&o.alternate, "alternate", false, "a fresh network per system and rate, the systems taking turns at each rate (fairer on a machine whose load changes)")
	return cmd
}

func (o *benchOptions) validate() error {
	if len(o.rates) == 0 || len(o.rates) > loadgen.MaxBenchRates {
		return fmt.Errorf("invalid --rates: %d rates; expected 1..%d", len(o.rates), loadgen.MaxBenchRates)
	}
	for _, r := range o.rates {
		if r < 1 || r > loadgen.MaxRate {
			return fmt.Errorf("invalid --rates: %d/s; expected 1..%d", r, loadgen.MaxRate)
		}
	}
	switch {
	case o.step <= 0 || o.step > loadgen.MaxBenchStep:
		return fmt.Errorf("invalid --step-duration %s: expected more than 0 and at most %s", o.step, loadgen.MaxBenchStep)
	case o.warmup < 0 || o.warmup > loadgen.MaxBenchStep:
		return fmt.Errorf("invalid --warmup %s: expected 0 .. %s", o.warmup, loadgen.MaxBenchStep)
	case o.drain <= 0 || o.drain > loadgen.MaxBenchStep:
		return fmt.Errorf("invalid --drain %s: expected more than 0 and at most %s", o.drain, loadgen.MaxBenchStep)
	case o.signers < 1 || o.signers > benchMaxSigners:
		return fmt.Errorf("invalid --signers %d: expected 1..%d", o.signers, benchMaxSigners)
	case o.senders < 1 || o.senders > loadgen.MaxBenchWorkers:
		return fmt.Errorf("invalid --senders %d: expected 1..%d", o.senders, loadgen.MaxBenchWorkers)
	case o.txSize < 0 || o.txSize > loadgen.MaxKVStoreTxBytes:
		return fmt.Errorf("invalid --tx-size %d: expected 0 (a heartbeat's size) .. %d", o.txSize, loadgen.MaxKVStoreTxBytes)
	case o.output != outputText && o.output != outputJSON:
		return fmt.Errorf("invalid --output %q: expected text or json", o.output)
	case len(o.systems) == 0:
		return fmt.Errorf("invalid --systems: none; expected %s and/or %s", benchPhalanx, benchKVStore)
	}
	seen := map[string]bool{}
	for _, s := range o.systems {
		if s != benchPhalanx && s != benchKVStore {
			return fmt.Errorf("invalid --systems: %q; expected %s and/or %s", s, benchPhalanx, benchKVStore)
		}
		if seen[s] {
			return fmt.Errorf("invalid --systems: %s listed twice", s)
		}
		seen[s] = true
	}
	return nil
}

func runBench(ctx context.Context, o benchOptions, progress io.Writer) (*benchReport, error) {
	keys, ids := benchNodes(o.seed, o.signers)
	memo, size, err := benchMemo(keys[0], ids[0], o.txSize)
	if err != nil {
		return nil, err
	}
	dir := o.outputDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "phalanx-load-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	rep := &benchReport{Validators: o.validators, BlockTime: o.blockTime.String(), Warmup: o.warmup.String(), Step: o.step.String(),
		TxBytes: size, Signers: o.signers, Senders: o.senders, Alternate: o.alternate, LatencyMethod: benchLatencyMethod, Started: time.Now().UTC()}
	fmt.Fprintf(progress, "load bench: %s, rates %v/s, %s warmup + %s per step, %d-byte transactions, %d lanes, %d senders\n",
		strings.Join(o.systems, " then "), o.rates, o.warmup, o.step, size, o.signers, o.senders)
	for _, sys := range o.systems {
		rep.Systems = append(rep.Systems, benchSystem{Name: sys})
	}
	// One network per system with every rate, or (--alternate) one per
	// system and rate, the systems taking turns at each rate.
	rounds := [][]int{o.rates}
	if o.alternate {
		rounds = nil
		for _, r := range o.rates {
			rounds = append(rounds, []int{r})
		}
	}
	for _, rates := range rounds {
		for i, sys := range o.systems {
			steps, err := benchSystemRun(ctx, o, sys, rates, filepath.Join(dir, sys), keys, ids, memo, size, progress)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sys, err)
			}
			rep.Systems[i].Steps = append(rep.Systems[i].Steps, steps...)
		}
	}
	rep.Ratios = benchRatios(rep.Systems)
	rep.Saturated = benchSaturation(rep.Systems)
	rep.Elapsed = time.Since(rep.Started).Round(time.Second).String()
	return rep, nil
}

// benchNodes derives the Phalanx nodes' keys and ids from seed.
func benchNodes(seed uint64, n int) ([]stded25519.PrivateKey, []string) {
	rng := rand.New(rand.NewPCG(seed, 0x6c6f6164)) // "load"
	keys := make([]stded25519.PrivateKey, n)
	ids := make([]string, n)
	var s [stded25519.SeedSize]byte
	for i := range keys {
		for k := 0; k < len(s); k += 8 {
			binary.LittleEndian.PutUint64(s[k:], rng.Uint64())
		}
		keys[i] = stded25519.NewKeyFromSeed(s[:])
		ids[i] = fmt.Sprintf("bench-%05d", i)
	}
	return keys, ids
}

// benchMemo is the memo that pads a heartbeat to size bytes (none for
// size 0) and the resulting size, measured on a node's first heartbeat.
func benchMemo(key stded25519.PrivateKey, id string, size int) (string, int, error) {
	hb := &loadgen.HeartbeatStream{ChainID: benchChainID, Keys: []stded25519.PrivateKey{key}, NodeIDs: []string{id}}
	tx, err := hb.Tx(0, 0)
	if err != nil {
		return "", 0, err
	}
	if size == 0 || size == len(tx) {
		return "", len(tx), nil
	}
	// A memo of m < 128 bytes adds m+2 (field tag and length).
	pad := size - len(tx) - 2
	if pad < 1 || pad > 125 {
		return "", 0, fmt.Errorf("invalid --tx-size %d: a heartbeat is %d bytes and its memo pads it to %d..%d", size, len(tx), len(tx)+3, len(tx)+127)
	}
	hb.Memo = strings.Repeat("x", pad)
	hb2 := &loadgen.HeartbeatStream{ChainID: benchChainID, Keys: hb.Keys, NodeIDs: hb.NodeIDs, Memo: hb.Memo}
	if tx, err = hb2.Tx(0, 0); err != nil {
		return "", 0, err
	}
	if len(tx) != size {
		return "", 0, fmt.Errorf("padding a heartbeat to %d bytes gave %d", size, len(tx))
	}
	return hb.Memo, size, nil
}

// benchSystemRun runs rates against a fresh network of one system.
func benchSystemRun(ctx context.Context, o benchOptions, sys string, rates []int, dir string, keys []stded25519.PrivateKey, ids []string,
	memo string, size int, progress io.Writer) ([]loadgen.StepResult, error) {
	testApp := ""
	if sys == benchKVStore {
		testApp = node.TestAppKVStore
	}
	m, err := networks.InitTestnet(networks.InitOptions{Dir: dir, ChainID: benchChainID, Validators: o.validators,
		BasePort: o.basePort, BlockTime: o.blockTime, NoMetrics: true, Force: true, TestApp: testApp})
	if err != nil {
		return nil, err
	}
	net, err := networks.Start(ctx, m, networks.StartOptions{Progress: progress})
	if err != nil {
		return nil, err
	}
	defer func() {
		if _, err := networks.Stop(context.Background(), m, networks.StopOptions{}); err != nil {
			fmt.Fprintf(progress, "%s: stopping the network: %v\n", sys, err)
		}
	}()
	fmt.Fprintf(progress, "%s: %d validators up in %s\n", sys, len(net.Validators()), net.Elapsed.Round(time.Millisecond))
	var nodes []string
	for _, v := range m.Validators {
		nodes = append(nodes, v.RPC)
	}
	var stream loadgen.Stream
	if sys == benchPhalanx {
		if err := benchRegister(ctx, m, keys, ids, progress); err != nil {
			return nil, err
		}
		stream = &loadgen.HeartbeatStream{ChainID: m.ChainID, Keys: keys, NodeIDs: ids, Memo: memo}
	} else {
		stream = loadgen.KVStoreStream{Run: fmt.Sprint(time.Now().UnixNano()), Count: len(keys), Size: size}
	}
	var w io.Writer = prefixWriter{prefix: sys + ": ", w: progress}
	return loadgen.Bench(ctx, loadgen.BenchConfig{Nodes: nodes, Stream: stream, Rates: rates,
		Warmup: o.warmup, Step: o.step, Drain: o.drain, Workers: o.senders, Progress: w})
}

// benchRegister registers the bench's nodes, signed by the network's
// admin (an operator), benchRegisterBatch at a time.
func benchRegister(ctx context.Context, m *networks.Manifest, keys []stded25519.PrivateKey, ids []string, progress io.Writer) error {
	kr, err := keyring.New(m.Dir, keyring.BackendTest, nil)
	if err != nil {
		return err
	}
	admin, err := kr.Signer(m.AdminKey)
	if err != nil {
		return err
	}
	c, err := client.New(m.Validators[0].RPC)
	if err != nil {
		return err
	}
	addr := crypto.Address(admin.Public().(stded25519.PublicKey))
	seq, err := c.NextSequence(ctx, addr)
	if err != nil {
		return err
	}
	began := time.Now()
	for lo := 0; lo < len(keys); lo += benchRegisterBatch {
		hi := min(lo+benchRegisterBatch, len(keys))
		for i := lo; i < hi; i++ {
			msg := &types.RegisterNode{NodeId: ids[i], PubKey: keys[i].Public().(stded25519.PublicKey), Zone: "zone-a",
				Capacity: types.Resources{CpuMillis: 4000, MemoryMb: 8192}}
			raw, err := client.BuildTx(m.ChainID, seq, 0, "", msg, admin)
			if err != nil {
				return err
			}
			if err := c.BroadcastSync(ctx, raw); err != nil {
				return fmt.Errorf("register node %s: %w", ids[i], err)
			}
			seq++
		}
		if err := benchWaitSequence(ctx, c, addr, seq); err != nil {
			return fmt.Errorf("registering nodes %s…%s: %w", ids[lo], ids[hi-1], err)
		}
	}
	fmt.Fprintf(progress, "phalanx: registered %d nodes in %s\n", len(keys), time.Since(began).Round(time.Millisecond))
	return nil
}

// benchWaitSequence polls until the account's committed sequence is seq.
func benchWaitSequence(ctx context.Context, c *client.Client, addr []byte, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, benchRegisterTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := c.NextSequence(ctx, addr)
		if err == nil && got >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sequence %d not committed within %s (last: %d, %v)", seq, benchRegisterTimeout, got, err)
		case <-tick.C:
		}
	}
}

type benchSaturated struct {
	Phalanx float64 `json:"phalanx"`
	KVStore float64 `json:"kvstore"`
	Ratio   float64 `json:"ratio"`
}

// benchSaturation is each system's best committed rate in the run.
func benchSaturation(systems []benchSystem) *benchSaturated {
	best := map[string]float64{}
	for _, sys := range systems {
		for _, st := range sys.Steps {
			best[sys.Name] = max(best[sys.Name], st.CommittedRate)
		}
	}
	p, k := best[benchPhalanx], best[benchKVStore]
	if p == 0 || k == 0 {
		return nil
	}
	return &benchSaturated{Phalanx: p, KVStore: k, Ratio: p / k}
}

// benchRatios pairs Phalanx's and kvstore's steps by offered rate.
func benchRatios(systems []benchSystem) []benchRatio {
	var p, k *benchSystem
	for i := range systems {
		switch systems[i].Name {
		case benchPhalanx:
			p = &systems[i]
		case benchKVStore:
			k = &systems[i]
		}
	}
	if p == nil || k == nil {
		return nil
	}
	var out []benchRatio
	for i := range min(len(p.Steps), len(k.Steps)) {
		r := benchRatio{OfferedRate: p.Steps[i].OfferedRate}
		if k.Steps[i].CommittedRate > 0 {
			r.Committed = p.Steps[i].CommittedRate / k.Steps[i].CommittedRate
		}
		out = append(out, r)
	}
	return out
}

func printBench(w io.Writer, rep *benchReport) {
	fmt.Fprintf(w, "%d validators, block time %s, %s warmup + %s measured per rate, %d-byte transactions, %d lanes, %d senders\n",
		rep.Validators, rep.BlockTime, rep.Warmup, rep.Step, rep.TxBytes, rep.Signers, rep.Senders)
	fmt.Fprintf(w, "commit latency: %s\n", rep.LatencyMethod)
	for _, s := range rep.Systems {
		fmt.Fprintf(w, "\n%s\n", s.Name)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "OFFERED/s\tCOMMITTED/s\tDRAINED/s\tP50 ms\tP99 ms\tSENT\tADMITTED\tMISSED\tREFUSED\tUNCOMMITTED\t")
		for _, st := range s.Steps {
			fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t%d\t%d\t%s\t%d\t\n", st.OfferedRate, st.CommittedRate, st.DrainedRate, st.LatencyP50Ms, st.LatencyP99Ms,
				st.Sent, st.Admitted, st.Missed, refusals(st), st.Uncommitted)
		}
		_ = tw.Flush()
	}
	if len(rep.Ratios) > 0 {
		fmt.Fprintf(w, "\nphalanx committed tx/s ÷ kvstore's\n")
		for _, r := range rep.Ratios {
			fmt.Fprintf(w, "  at %d/s offered: %.2f\n", r.OfferedRate, r.Committed)
		}
	}
	if s := rep.Saturated; s != nil {
		fmt.Fprintf(w, "saturated (the most each committed at any offered rate): phalanx %.0f/s, kvstore %.0f/s: %.2f\n", s.Phalanx, s.KVStore, s.Ratio)
	}
}

// refusals is "-" or "code 7: 3, mempool is full: 120" in order.
func refusals(st loadgen.StepResult) string {
	var parts []string
	for _, c := range sortedKeys(st.Refused) {
		parts = append(parts, fmt.Sprintf("code %s: %d", c, st.Refused[c]))
	}
	for _, m := range sortedKeys(st.Rejected) {
		parts = append(parts, fmt.Sprintf("%s: %d", m, st.Rejected[m]))
	}
	if st.RPCErrors > 0 {
		parts = append(parts, fmt.Sprintf("rpc errors: %d", st.RPCErrors))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// prefixWriter prefixes every write (a line) with prefix.
type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// sortedKeys are m's keys in order.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
