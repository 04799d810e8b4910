package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/networks"
)

// recoveryKills is how many agents BenchmarkRecoveryTime kills.
const recoveryKills = 12

// BenchmarkRecoveryTime measures self-healing on what `make localnet`
// runs: 4 validators (1s blocks), an observer per validator, 3 agents in
// 3 zones, the sample workload (examples/localnet.json) and the default
// parameters (heartbeat 2s, report window 5s, down_after 15s). Then
// recoveryKills times: once every node is Ready and every task Running,
// wait a random time (seeded; uniform over one report window), SIGKILL an
// agent holding tasks, picked at random, and measure until each of its
// tasks is Running on another agent at a higher generation (kill →
// replacement Running, on the chain); then restart the agent. All along
// /proc is sampled every 50ms: no (task, generation) ever runs in two
// process groups.
//
//	go test ./tests -run '^$' -bench RecoveryTime -benchtime 1x -timeout 30m
func BenchmarkRecoveryTime(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a network of real processes")
	}
	needProc(b)
	seed := testSeed(b)
	for i := 0; i < b.N; i++ {
		measureRecovery(b, seed+uint64(i), recoveryKills)
	}
}

// kill is one measured kill.
type kill struct {
	agent     string
	tasks     []string
	phase     time.Duration // time into the report window at the kill
	gone      time.Duration // kill → the tasks' processes gone
	placed    time.Duration // kill → every task placed elsewhere
	recovered time.Duration // kill → every task Running elsewhere
	to        string        // where the tasks went
}

func measureRecovery(b *testing.B, seed uint64, kills int) {
	rng := rand.New(rand.NewPCG(seed, 6))
	base, err := networks.FindFreeBasePort(4, 3)
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "net")
	m, err := networks.InitTestnet(networks.InitOptions{Dir: dir, ChainID: "bench-heal", Validators: 4, Agents: 3, BasePort: base, NoMetrics: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	h := &healNet{tb: b, m: m}
	b.Cleanup(func() {
		if b.Failed() {
			dumpLogs(b, m)
		}
		if _, err := networks.Stop(context.Background(), m, networks.StopOptions{}); err != nil {
			b.Errorf("stop: %v", err)
		}
	})
	if _, err := networks.Start(ctx, m, networks.StartOptions{Binary: binary, Timeout: 60 * time.Second}); err != nil {
		b.Fatal(err)
	}
	if h.c, err = client.New(m.Validators[0].RPC); err != nil {
		b.Fatal(err)
	}
	specJSON, err := os.ReadFile(sampleWorkload)
	if err != nil {
		b.Fatal(err)
	}
	spec, err := api.ParseWorkloadSpecJSON(specJSON)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := networks.CreateWorkload(ctx, m, spec); err != nil {
		b.Fatal(err)
	}
	var params api.ParamsView
	if _, err := h.c.Query(ctx, "/params", &params); err != nil {
		b.Fatal(err)
	}
	window := time.Duration(params.ReportWindowMs) * time.Millisecond
	b.Logf("network up: 4 validators, 4 observers, 3 agents, block time %s, heartbeat %dms, report window %s, down_after %dms",
		m.BlockTime, params.HeartbeatIntervalMs, window, params.DownAfterMs)
	sampler := startSampler(dir)

	b.ResetTimer()
	var done []kill
	for k := range kills {
		tasks := h.waitSteady(90 * time.Second)
		time.Sleep(time.Duration(rng.Int64N(int64(window))))
		tasks, err := h.tasks(ctx)
		if err != nil {
			b.Fatal(err)
		}
		holders := map[string][]api.TaskView{}
		for _, tk := range tasks {
			holders[tk.Node] = append(holders[tk.Node], tk)
		}
		var names []string
		for name := range holders {
			names = append(names, name)
		}
		sort.Strings(names)
		victim := names[rng.IntN(len(names))]
		lost := holders[victim]
		procs := scanTaskProcs(dir)
		var pids []int
		kl := kill{agent: victim}
		for _, tk := range lost {
			kl.tasks = append(kl.tasks, fmt.Sprintf("%s g%d", tk.ID, tk.Generation))
			pids = append(pids, pidsOf(procs, tk.ID, tk.Generation)...)
		}
		killedAt := time.Now()
		kl.phase = time.Duration(killedAt.UnixMilli()%params.ReportWindowMs) * time.Millisecond
		if _, err := networks.Kill(ctx, m, victim); err != nil {
			b.Fatal(err)
		}
		waitUntil(b, 90*time.Second, fmt.Sprintf("kill %d: %v Running away from %s", k+1, kl.tasks, victim), func() (bool, string) {
			if kl.gone == 0 && !slices.ContainsFunc(pids, pidAlive) {
				kl.gone = time.Since(killedAt)
			}
			now, err := h.tasks(ctx)
			if err != nil {
				return false, err.Error()
			}
			placed, running := true, true
			var to []string
			for _, tk := range lost {
				n := now[tk.ID]
				moved := n.Generation > tk.Generation && n.Node != victim && n.Node != ""
				placed = placed && moved
				running = running && moved && n.State == "Running"
				to = append(to, n.Node)
			}
			if placed && kl.placed == 0 {
				kl.placed = time.Since(killedAt)
			}
			if running {
				kl.recovered, kl.to = time.Since(killedAt), strings.Join(to, ",")
			}
			return running && kl.gone > 0, tasksText(now)
		})
		// testing keeps only 10 lines of a benchmark's log: one line per
		// kill goes to stderr, the summary to the log.
		fmt.Fprintf(os.Stderr, "BenchmarkRecoveryTime kill %2d: %s (%s) at %.1fs into a report window: processes gone after %s, placed elsewhere after %.2fs, Running on %s after %.2fs\n",
			k+1, kl.agent, strings.Join(kl.tasks, ", "), kl.phase.Seconds(), kl.gone.Round(time.Millisecond), kl.placed.Seconds(), kl.to, kl.recovered.Seconds())
		done = append(done, kl)
		if _, err := networks.Start(ctx, m, networks.StartOptions{Binary: binary, Only: []string{victim}, Timeout: 60 * time.Second}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sampler.finish(b)

	var rec, placed, gone []time.Duration
	var all []string
	for _, kl := range done {
		rec, placed, gone = append(rec, kl.recovered), append(placed, kl.placed), append(gone, kl.gone)
		all = append(all, fmt.Sprintf("%.2f", kl.recovered.Seconds()))
	}
	b.ReportMetric(median(rec).Seconds(), "s-recovery-median")
	b.ReportMetric(slices.Max(rec).Seconds(), "s-recovery-worst")
	b.ReportMetric(slices.Min(rec).Seconds(), "s-recovery-best")
	b.ReportMetric(median(placed).Seconds(), "s-placed-median")
	b.ReportMetric(float64(slices.Max(gone).Milliseconds()), "ms-procs-gone-worst")
	b.Logf("%d kills, kill → replacement Running (s): %s; median %.2fs, worst %.2fs, best %.2fs; placed elsewhere: median %.2fs; task processes gone after at most %s",
		len(done), strings.Join(all, " "), median(rec).Seconds(), slices.Max(rec).Seconds(), slices.Min(rec).Seconds(),
		median(placed).Seconds(), slices.Max(gone).Round(time.Millisecond))
}

// median is the middle value (the mean of the two middle ones for an
// even count).
func median(xs []time.Duration) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
