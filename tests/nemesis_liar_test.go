package tests

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/agent/observer"
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto"
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
func startNemLiar(t *testing.T, m *networks.Manifest, obsName string, seed uint64) func() {
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
	admin, err := kr.Signer(m.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	var cs []*client.Client
	for _, o := range m.Validators {
		c, err := client.New(o.RPC)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	addr := crypto.Address(key.Public().(ed25519.PublicKey))
	account := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, c := range cs {
			if a, err := c.Account(ctx, addr); err == nil {
				return fmt.Sprintf("reputation %d, agreements %d, disagreements %d, jailed %v", a.Reputation, a.Agreements, a.Disagreements, a.Jailed)
			}
		}
		return "unknown"
	}
	before := account()
	rng := rand.New(rand.NewPCG(seed, 0x6c696172)) // "liar"
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	lies, admitted := 0, 0
	refused := map[string]int{}
	// The last window it lied in (read after wg.Wait). It starts at the
	// current window: the honest observer, killed just now, may have voted
	// in it, and a lie there with the same key would be equivocation,
	// which the chain jails (seen in seed 2028's cycle 191).
	var last uint64
	for _, c := range cs {
		if w, err := reportWindowAt(ctx, c); err == nil {
			last = max(last, w)
		}
	}
	wg.Go(func() {
		var seq uint64
		haveSeq := false
		rot := 0 // the validator it sends through
		since := time.Now()
		for ctx.Err() == nil {
			// Through one validator while it answers with new windows; the
			// next one when it fails or its windows stop moving (it is cut
			// off, paused or behind).
			c := cs[rot%len(cs)]
			w, err := reportWindowAt(ctx, c)
			if err != nil || w <= last {
				if err != nil || time.Since(since) > 2*liarWindowLen {
					rot, since, haveSeq = rot+1, time.Now(), false
				}
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond): // the next look at the window
				}
				continue
			}
			last, since = w, time.Now()
			for _, msg := range liarMessages(ctx, c, rng, w) {
				lies++
				for try := 0; try < 2; try++ {
					cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
					if !haveSeq {
						if seq, err = c.NextSequence(cctx, addr); err != nil {
							ccancel()
							break
						}
						haveSeq = true
					}
					raw, err := client.BuildTx(m.ChainID, seq, 0, "", msg, key)
					if err != nil {
						ccancel()
						t.Errorf("lying observer: build: %v", err)
						return
					}
					err = c.BroadcastSync(cctx, raw)
					ccancel()
					if err == nil {
						seq++
						admitted++
						break
					}
					if next, ok := client.ExpectedSequence(err); ok {
						seq = next // the dead honest observer's transactions still pending
						continue
					}
					haveSeq = false
					refused[err.Error()]++
					break
				}
			}
		}
	})
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			// The honest observer, restarted, must not vote in a window
			// the liar voted in with the same key: that is equivocation,
			// and the chain would jail it. One process with one key lies
			// and then tells the truth in the next windows: wait until
			// the liar's last window has closed (the open windows are the
			// current one and the one before), at most 3 windows.
			for deadline := time.Now().Add(3 * liarWindowLen); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if w, err := reportWindowAt(context.Background(), cs[0]); err == nil && w >= last+2 {
					break
				}
			}
			after := account()
			t.Logf("lying observer %s: %d lies signed, %d admitted to a mempool; refused: %v; its account before: %s; after: %s", obsName, lies, admitted, refused, before, after)
			if strings.Contains(after, "jailed true") {
				// The chain caught it (its lies contradicted the honest
				// observer's report of the same window: equivocation). The
				// admin unjails the account, as an operator would once the
				// key is safe again, so that the honest observer returns.
				// Through each validator in turn: one may be down or cut
				// off in this cycle (seed 2028's cycle 191 killed val0).
				var errs []string
				for _, c := range cs {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					res, err := c.SignAndBroadcast(ctx, admin, &types.UnjailObserver{Address: addr}, client.TxOptions{})
					cancel()
					if err == nil && res.Code == 0 {
						t.Logf("lying observer %s: jailed by the chain; unjailed by the admin at height %d", obsName, res.Height)
						return
					}
					errs = append(errs, fmt.Sprintf("%s: %v %+v", c.Node(), err, res))
				}
				t.Errorf("lying observer %s: unjail: %s", obsName, strings.Join(errs, "; "))
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// liarWindowLen is the report window the liar expects (the testnet's
// params): a validator whose window has not moved for two is left.
const liarWindowLen = 5 * time.Second

// reportWindowAt is the report window of the latest block c knows (the
// liar's clock, and the aimed kill's).
func reportWindowAt(ctx context.Context, c *client.Client) (uint64, error) {
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
		return 0, fmt.Errorf("params.report_window_ms is %d", pv.ReportWindowMs)
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
