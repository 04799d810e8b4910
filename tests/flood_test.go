package tests

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/loadgen"
	"github.com/phalanx-bft/phalanx/types"
)

var (
	floodDuration = flag.Duration("flood-duration", 8*time.Second,
		"how long each flood of TestFloodsDoNotStarveHealth runs (make test-flood: 60s)")
	floodLatency = flag.Bool("flood-latency", false,
		"TestFloodsDoNotStarveHealth: hold heartbeat commit latency's p99 to 2 block intervals (make test-flood)")
)

// floodBlockTime is the network's block interval in the flood test.
const floodBlockTime = 500 * time.Millisecond

// heartbeatProbe is a registered node whose heartbeats the test sends
// itself, one at a time every probeEvery, timing each from
// broadcast_tx_sync to its commit.
type heartbeatProbe struct {
	c       *client.Client
	chainID string
	key     ed25519.PrivateKey
	id      string

	mu         sync.Mutex
	samples    []time.Duration
	failures   []string
	seq, hbSeq uint64
}

const probeEvery = 250 * time.Millisecond

// run sends heartbeats until ctx ends.
func (p *heartbeatProbe) run(ctx context.Context) {
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		raw, err := client.BuildTx(p.chainID, p.seq, 0, "", &types.Heartbeat{NodeId: p.id, Seq: p.hbSeq + 1}, p.key)
		if err != nil {
			p.fail(err.Error())
			return
		}
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		_, err = p.c.Broadcast(cctx, raw)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.fail(fmt.Sprintf("heartbeat seq %d: %v", p.hbSeq+1, err))
			// Resynchronise the account and heartbeat sequences from the
			// chain: a heartbeat whose wait failed may have been committed.
			if seq, serr := p.c.NextSequence(ctx, crypto.Address(p.key.Public().(ed25519.PublicKey))); serr == nil {
				p.seq = seq
			}
			var n api.NodeView
			if _, qerr := p.c.Query(ctx, client.NodePath(p.id), &n); qerr == nil && n.LastHeartbeatSeq > p.hbSeq {
				p.hbSeq = n.LastHeartbeatSeq
			}
			continue
		}
		p.mu.Lock()
		p.samples = append(p.samples, time.Since(start))
		p.mu.Unlock()
		p.seq++
		p.hbSeq++
	}
}

func (p *heartbeatProbe) fail(msg string) {
	p.mu.Lock()
	p.failures = append(p.failures, msg)
	p.mu.Unlock()
}

// take returns and clears the samples and failures so far.
func (p *heartbeatProbe) take() ([]time.Duration, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, f := p.samples, p.failures
	p.samples, p.failures = nil, nil
	return s, f
}

// TestFloodsDoNotStarveHealth is issue 10's acceptance run: a 4-validator
// network with observers and agents running, flooded in turn from (a)
// thousands of fresh keys (junk evidence), (b) one registered node's key
// (heartbeats), (c) one observer's key (health reports) and (d) an
// operator's key (workload updates), each for -flood-duration. During
// each: no agent's node leaves Ready, the heartbeat commit latency's p99
// stays within 2 block intervals (a probe node heartbeats through it all;
// the same probe without a flood is the baseline), every refused
// transaction carries a numbered code, and (a) creates no account.
//
// make test runs it with 8 s floods and logs the latencies; make
// test-flood runs 60 s floods and also holds the p99 to its bound
// (-flood-latency), a timing a loaded CI machine should not decide.
func TestFloodsDoNotStarveHealth(t *testing.T) {
	needE2E(t)
	h := startHealNet(t, "flood-1", floodBlockTime)
	mustRun(t, append([]string{"tx", "workload", "create", "-f", sampleWorkload}, h.run.txArgs("admin")...)...)
	h.waitSteady(60 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chainID := h.m.ChainID
	h.c.SetChainID(chainID)
	kr, err := keyring.New(h.m.Dir, keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kr.Signer(h.m.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	observer, err := kr.Signer(h.m.Validators[0].Observer)
	if err != nil {
		t.Fatal(err)
	}
	seed := testSeed(t)
	newKey := func(name string) ed25519.PrivateKey {
		var s [ed25519.SeedSize]byte
		copy(s[:], fmt.Sprintf("%d/%s", seed, name))
		return ed25519.NewKeyFromSeed(s[:])
	}
	// Two extra nodes: the probe, and the noisy node of flood (b).
	probe := &heartbeatProbe{c: h.c, chainID: chainID, key: newKey("probe"), id: "probe"}
	noisy := newKey("noisy")
	for _, n := range []struct {
		id  string
		key ed25519.PrivateKey
	}{{"probe", probe.key}, {"noisy", noisy}} {
		if _, err := h.c.SignAndBroadcast(ctx, admin, &types.RegisterNode{NodeId: n.id, PubKey: n.key.Public().(ed25519.PublicKey), Zone: "zone-x",
			Endpoint: "127.0.0.1:9", Capacity: types.Resources{CpuMillis: 1000, MemoryMb: 1000}}, client.TxOptions{}); err != nil {
			t.Fatalf("register %s: %v", n.id, err)
		}
	}
	go probe.run(ctx)

	var params api.ParamsView
	if _, err := h.c.Query(ctx, "/params", &params); err != nil {
		t.Fatal(err)
	}
	accounts := func() int {
		var s api.SummaryView
		if _, err := h.c.Query(ctx, "/summary", &s); err != nil {
			t.Fatal(err)
		}
		return s.Accounts
	}
	nextSeq := func(k ed25519.PrivateKey) uint64 {
		seq, err := h.c.NextSequence(ctx, crypto.Address(k.Public().(ed25519.PublicKey)))
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	// agentsReady watches the agents' nodes until stop is closed and
	// returns every state other than Ready it saw.
	agentsReady := func(stop <-chan struct{}) <-chan []string {
		out := make(chan []string, 1)
		go func() {
			var seen []string
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					out <- seen
					return
				case <-tick.C:
				}
				states, err := h.nodeStates(ctx)
				if err != nil {
					continue
				}
				for _, a := range h.m.Agents {
					if states[a.Name] != "Ready" {
						seen = append(seen, fmt.Sprintf("%s %s", a.Name, states[a.Name]))
					}
				}
			}
		}()
		return out
	}

	// Baseline: the probe alone.
	probe.take()
	baseStop := make(chan struct{})
	baseReady := agentsReady(baseStop)
	waitUntil(t, *floodDuration+30*time.Second, "baseline heartbeat samples", func() (bool, string) {
		probe.mu.Lock()
		n := len(probe.samples)
		probe.mu.Unlock()
		return n >= int(*floodDuration/probeEvery)/2, fmt.Sprintf("%d samples", n)
	})
	close(baseStop)
	base, baseFail := probe.take()
	t.Logf("baseline: %d heartbeats, commit latency p50 %s p99 %s; failures %v; non-Ready %v",
		len(base), pct(base, 50), pct(base, 99), baseFail, <-baseReady)

	nodes := make([]string, len(h.m.Validators))
	for i, v := range h.m.Validators {
		nodes[i] = v.RPC
	}
	window := func() uint64 {
		st, err := h.c.Status(ctx)
		if err != nil {
			return 0
		}
		return uint64(st.SyncInfo.LatestBlockTime.UnixMilli() / params.ReportWindowMs)
	}
	for _, fl := range []struct {
		name   string
		source func() loadgen.Source
		fresh  bool
	}{
		{"a: junk evidence from fresh keys", func() loadgen.Source {
			return loadgen.JunkEvidence{ChainID: chainID, Seed: seed, Size: 120_000}
		}, true},
		{"b: one node's heartbeats", func() loadgen.Source {
			var n api.NodeView
			if _, err := h.c.Query(ctx, client.NodePath("noisy"), &n); err != nil {
				t.Fatal(err)
			}
			return loadgen.Sequenced{ChainID: chainID, Key: noisy, Start: nextSeq(noisy), Msg: func(i int) client.Msg {
				return &types.Heartbeat{NodeId: "noisy", Seq: n.LastHeartbeatSeq + 1 + uint64(i)}
			}}
		}, false},
		{"c: one observer's reports", func() loadgen.Source {
			w := window()
			return loadgen.Sequenced{ChainID: chainID, Key: observer, Start: nextSeq(observer), Msg: func(i int) client.Msg {
				return &types.HealthReport{Window: w, Observations: []types.Observation{{NodeId: "noisy", Reachable: true}}}
			}}
		}, false},
		{"d: an operator's workload updates", func() loadgen.Source {
			var wl api.WorkloadView
			if _, err := h.c.Query(ctx, client.WorkloadPath(sampleWorkloadName), &wl); err != nil {
				t.Fatal(err)
			}
			spec := wl.Spec.Spec()
			return loadgen.Sequenced{ChainID: chainID, Key: admin, Start: nextSeq(admin), Msg: func(i int) client.Msg {
				s := spec
				s.Priority = spec.Priority + int32(i%2) // a change, but not one that moves tasks
				return &types.UpdateWorkload{Spec: s}
			}}
		}, false},
	} {
		before := accounts()
		src := fl.source()
		workers := 1
		if !src.Ordered() {
			workers = 16
		}
		probe.take()
		stop := make(chan struct{})
		ready := agentsReady(stop)
		res, err := loadgen.Flood(ctx, loadgen.Config{Nodes: nodes, Source: src, Workers: workers, Duration: *floodDuration})
		close(stop)
		lat, fails := probe.take()
		notReady := <-ready
		after := accounts()
		p50, p99 := pct(lat, 50), pct(lat, 99)
		t.Logf("flood %s: %s", fl.name, res)
		t.Logf("flood %s: %d heartbeats, commit latency p50 %s p99 %s (baseline p50 %s p99 %s); accounts %d -> %d",
			fl.name, len(lat), p50, p99, pct(base, 50), pct(base, 99), before, after)
		if err != nil {
			t.Errorf("flood %s: %v", fl.name, err)
		}
		if len(notReady) > 0 {
			t.Errorf("flood %s: agents' nodes left Ready: %v", fl.name, notReady)
		}
		if len(lat) == 0 || *floodLatency && p99 > 2*floodBlockTime {
			t.Errorf("flood %s: heartbeat commit latency p99 %s over %d heartbeats; want within 2 block intervals (%s); failures %v",
				fl.name, p99, len(lat), 2*floodBlockTime, fails)
		}
		for m, n := range res.Rejected {
			if m != "tx already exists in cache" { // a duplicate, not a refusal
				t.Errorf("flood %s: %d refused without a numbered code (%q)", fl.name, n, m)
			}
		}
		if fl.fresh && after != before {
			t.Errorf("flood %s: accounts %d -> %d; fresh keys must create none", fl.name, before, after)
		}
	}
}
