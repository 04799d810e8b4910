package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/agent/observer"
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/networks"
	"github.com/phalanx-bft/phalanx/types"
)

// startNemLiar runs a Byzantine observer in the test process, signing
// with observer obsName's key (its honest process is killed meanwhile),
// until the returned stop. Each report window it lies at random, as much
// as the chain lets one observer say: every node reachable or not at
// random, random tasks of each node named failing, and random nodes
// attested up and withdrawn. Its transactions are well formed and
// correctly signed: only the other observers' agreement stands between
// its lies and a verdict.
func startNemLiar(t *testing.T, m *networks.Manifest, obsName string, seed uint64) (stop func()) {
	t.Helper()
	var v networks.Validator
	for _, x := range m.Validators {
		if x.Observer == obsName {
			v = x
		}
	}
	if v.Name == "" {
		t.Fatalf("lying observer: no validator has observer %s", obsName)
	}
	kr, err := keyring.New(m.Dir, keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := kr.Signer(obsName)
	if err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, o := range m.Validators {
		if o.Name != v.Name {
			others = append(others, o.RPC)
		}
	}
	c0, err := client.New(v.RPC)
	if err != nil {
		t.Fatal(err)
	}
	c, err := c0.WithFallbacks(others...)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c696172)) // "liar"
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	lies, sent := 0, 0
	outcomes := map[string]int{}
	wg.Go(func() {
		var last uint64
		for ctx.Err() == nil {
			w, err := liarWindow(ctx, c)
			if err != nil || w <= last {
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond): // the next look at the window
				}
				continue
			}
			last = w
			for _, msg := range liarMessages(ctx, c, rng, w) {
				lies++
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				res, err := c.SignAndBroadcast(cctx, key, msg, client.TxOptions{})
				ccancel()
				switch {
				case err != nil:
					outcomes[err.Error()]++
				case res.Code != 0:
					outcomes[fmt.Sprintf("code %d %s", res.Code, res.Log)]++
				default:
					sent++
				}
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		t.Logf("lying observer %s: %d lies signed, %d committed; the others: %v", obsName, lies, sent, outcomes)
	}
}

// liarWindow is the report window of the latest block.
func liarWindow(ctx context.Context, c *client.Client) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return 0, err
	}
	var pv api.ParamsView
	if _, err := c.Query(ctx, "/params", &pv); err != nil {
		return 0, err
	}
	if pv.ReportWindowMs <= 0 {
		return 0, context.Canceled
	}
	return uint64(st.SyncInfo.LatestBlockTime.UnixMilli() / pv.ReportWindowMs), nil
}

// liarMessages are one window's lies: a HealthReport and an Attest.
func liarMessages(ctx context.Context, c *client.Client, rng *rand.Rand, window uint64) []client.Msg {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	nodes, err := c.Nodes(ctx, url.Values{})
	if err != nil {
		return nil
	}
	tasks, err := c.Tasks(ctx, url.Values{})
	if err != nil {
		return nil
	}
	onNode := map[string][]string{}
	for _, tk := range tasks.Tasks {
		if tk.Node != "" {
			onNode[tk.Node] = append(onNode[tk.Node], tk.ID)
		}
	}
	var obs []types.Observation
	att := &types.Attest{Window: window}
	for _, n := range nodes.Nodes {
		o := types.Observation{NodeId: n.ID, Reachable: rng.IntN(2) == 0, RttMs: uint32(rng.IntN(50))}
		ids := onNode[n.ID]
		sort.Strings(ids)
		for _, id := range ids {
			if rng.IntN(2) == 0 {
				o.FailingTaskIds = append(o.FailingTaskIds, id)
			}
		}
		obs = append(obs, o)
		switch rng.IntN(3) {
		case 0:
			att.Up = append(att.Up, n.ID)
		case 1:
			att.Withdraw = append(att.Withdraw, n.ID)
		}
	}
	return []client.Msg{observer.BuildReport(window, obs), att}
}
