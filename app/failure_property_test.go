package app

import (
	"bytes"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/internal/testseed"
	"github.com/phalanx-bft/phalanx/types"
)

// TestFailureDetectionProperties is a seeded simulation of DESIGN §5's
// failure models with default params: 3f+1 observers of which f are
// Byzantine (they send any report at any time: wrong windows, lies,
// conflicting reports, failing tasks, bogus evidence), honest observers
// whose reports are lost now and then, nodes whose heartbeats are lost
// (at most omissionBudget in a row) or delayed (up to maxDelayBlocks), and
// nodes that crash. It asserts:
//
//   - a node that keeps heartbeating within the omission budget, and that
//     every honest observer reaches, is never Down, Partitioned or
//     Quarantined, and never gets a strike;
//   - a crashed node is Down within down_after + report_window of its last
//     heartbeat the chain saw, and stays Down;
//   - two replicas fed the same blocks return the same results and events
//     and hand back byte-identical TakeChanges at every height; the second
//     replica is rebuilt from the stored records (LoadState) every few
//     heights and must go on identically.
func TestFailureDetectionProperties(t *testing.T) {
	seeds := []int64{1, 2, time.Now().UnixNano()}
	if *seedFlag != 0 {
		seeds = []int64{*seedFlag}
	}
	heights := 600
	if testing.Short() {
		heights = 150
	}
	for _, seed := range seeds {
		// With reputation (and now and then a deliberate equivocation),
		// liars soon fall below the floor or are jailed and stop counting;
		// without it (the floor out of reach, no equivocation) they count
		// all along, which tests the quorum rules alone.
		for _, reputation := range []bool{true, false} {
			name := fmt.Sprintf("%d/reputation=%v", seed, reputation)
			t.Run(name, func(t *testing.T) {
				testseed.Log(t, "./app", seed)
				simulateFailures(t, rand.New(rand.NewSource(seed)), heights, reputation)
			})
		}
	}
}

const (
	omissionBudget = 3 // heartbeats lost in a row, at most
	maxDelayBlocks = 2 // a heartbeat is included up to this many blocks late
	maxBlockGapMs  = 1400
)

type simNode struct {
	id        string
	crashAtMs int64 // 0: never
	lost      int   // consecutive heartbeats lost so far
	nextHbMs  int64 // when the agent sends its next heartbeat
	hbSeq     uint64
	downAtMs  int64 // block time it went Down (crashed nodes)
}

type delayedHb struct {
	dueHeight int64
	node      string
	seq       uint64
}

func simulateFailures(t *testing.T, rng *rand.Rand, heights int, reputation bool) {
	f := 1 + rng.Intn(3)
	nObs := 3*f + 1
	params := api.DefaultParams()
	// Without reputation the liars also never equivocate, so that they
	// count all along.
	equivocate := reputation
	if !reputation {
		params.ReputationFloor = -api.MaxReputation
	}
	g := &api.Genesis{Params: params, Accounts: []types.GenesisAccount{
		{Address: testAddr("ops"), Roles: []types.Role{types.ROLE_OPERATOR}},
	}}
	var observers []string
	byzantine := map[string]bool{}
	for i := 0; i < nObs; i++ {
		name := fmt.Sprintf("obs%d", i)
		observers = append(observers, name)
		g.Accounts = append(g.Accounts, types.GenesisAccount{Address: testAddr(name), Roles: []types.Role{types.ROLE_OBSERVER}})
	}
	strategy := map[string]int{} // 0: say the opposite of the truth; 1: random
	for _, i := range rng.Perm(nObs)[:f] {
		byzantine[observers[i]] = true
		strategy[observers[i]] = rng.Intn(2)
	}
	lies := map[string]bool{} // "obs/window/node" -> what it said
	a, err := NewState(testChainID, g)
	if err != nil {
		t.Fatal(err)
	}
	store := newRecordStore(t)
	persist, load := store.persist, store.load
	persist(a.TakeChanges())
	b := load(0)

	const startMs = 1_000_000
	var nodes []*simNode
	crashes := 0
	for i := 0; i < 10; i++ {
		n := &simNode{id: fmt.Sprintf("n%d", i), nextHbMs: startMs + int64(rng.Intn(2000))}
		if rng.Intn(3) == 0 {
			n.crashAtMs = startMs + int64(20_000+rng.Intn(heights*1000))
			crashes++
		}
		nodes = append(nodes, n)
	}
	byID := map[string]*simNode{}
	for _, n := range nodes {
		byID[n.id] = n
	}
	t.Logf("f=%d: %d observers (%d Byzantine), %d nodes (%d to crash), %d heights", f, nObs, f, len(nodes), crashes, heights)

	timeMs := int64(startMs)
	var delayed []delayedHb
	honestReported := map[string]uint64{}
	codes := map[string]int{}
	var maxDownDelay int64
	byzActiveHeights := 0          // Σ over heights of the Byzantine observers counted
	lastSeen := map[string]int64{} // block time of the last heartbeat the chain accepted

	for h := int64(1); h <= int64(heights); h++ {
		timeMs += 800 + rng.Int63n(maxBlockGapMs-800+1)
		block := Block{Height: h, TimeMs: timeMs, Hash: []byte(fmt.Sprintf("hash-%d", h))}
		var txs [][]byte
		seqUsed := map[string]uint64{} // txs per signer in this block
		add := func(signer string, body *types.TxBody) {
			body.ChainId, body.Sequence = testChainID, a.NextSequence(testAddr(signer))+seqUsed[signer]
			seqUsed[signer]++
			txs = append(txs, encodeTx(testKey(signer), body))
		}

		// Block 1: register the nodes and a workload whose tasks they run.
		if h == 1 {
			for _, n := range nodes {
				add("ops", &types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{NodeId: n.id, PubKey: testPub(n.id), Zone: "z",
					Capacity: types.Resources{CpuMillis: 4000, MemoryMb: 4096}}}})
			}
			add("ops", &types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: types.WorkloadSpec{
				Name: "web", Command: "run", Replicas: 8, MaxPerNode: 1, Resources: types.Resources{CpuMillis: 100, MemoryMb: 64}}}}})
		}

		// Heartbeats: sent every 2 s by live agents; some lost (a bounded
		// number in a row), some delayed.
		hb := func(id string, seq uint64) {
			msg := &types.Heartbeat{NodeId: id, Seq: seq}
			for _, task := range a.tasksOn(id) {
				if taskActive(task) {
					msg.Tasks = append(msg.Tasks, types.TaskReport{TaskId: task.Id, Generation: task.Generation, State: types.TASK_RUNNING})
				}
			}
			add(id, &types.TxBody{Msg: &types.TxBody_Heartbeat{Heartbeat: msg}})
		}
		kept := delayed[:0]
		for _, d := range delayed {
			if d.dueHeight <= h {
				hb(d.node, d.seq)
			} else {
				kept = append(kept, d)
			}
		}
		delayed = kept
		if h > 1 {
			for _, n := range nodes {
				if n.crashAtMs != 0 && timeMs >= n.crashAtMs || timeMs < n.nextHbMs {
					continue
				}
				n.nextHbMs = timeMs + params.HeartbeatIntervalMs
				n.hbSeq++
				switch r := rng.Intn(10); {
				case r < 2 && n.lost < omissionBudget:
					n.lost++
				case r < 4:
					n.lost = 0
					delayed = append(delayed, delayedHb{dueHeight: h + 1 + rng.Int63n(maxDelayBlocks), node: n.id, seq: n.hbSeq})
				default:
					n.lost = 0
					hb(n.id, n.hbSeq)
				}
			}
		}

		// Honest observers: one report per window about every node (crashed
		// ones unreachable), in a random block of the window; a fifth of
		// the reports are lost.
		window := uint64(timeMs / params.ReportWindowMs)
		for _, o := range observers {
			if byzantine[o] || a.accounts[addrHex(testAddr(o))].Jailed {
				continue
			}
			if last, ok := honestReported[o]; ok && last >= window || rng.Intn(3) != 0 && (timeMs+maxBlockGapMs)/params.ReportWindowMs == int64(window) {
				continue
			}
			honestReported[o] = window
			if rng.Intn(5) == 0 {
				continue // lost
			}
			rep := &types.HealthReport{Window: window}
			for _, n := range nodes {
				rep.Observations = append(rep.Observations, types.Observation{NodeId: n.id, Reachable: n.crashAtMs == 0 || timeMs < n.crashAtMs})
			}
			add(o, &types.TxBody{Msg: &types.TxBody_HealthReport{HealthReport: rep}})
		}

		// Byzantine observers: any report at any time, for any window. They
		// lie by strategy (invert the truth, or random) and keep their
		// story straight within a window, but for a deliberate
		// equivocation now and then (which gets them jailed).
		taskIDs := sortedKeys(a.tasks)
		for _, o := range observers {
			if !byzantine[o] || rng.Intn(2) == 0 {
				continue
			}
			w := window
			switch rng.Intn(6) {
			case 0:
				w--
			case 1:
				w = uint64(rng.Intn(int(window) + 3))
			}
			rep := &types.HealthReport{Window: w}
			for _, i := range rng.Perm(len(nodes))[:1+rng.Intn(len(nodes))] {
				sn := nodes[i]
				key := fmt.Sprintf("%s/%d/%s", o, w, sn.id)
				up, said := lies[key]
				if !said || equivocate && rng.Intn(300) == 0 {
					alive := sn.crashAtMs == 0 || timeMs < sn.crashAtMs
					up = !alive
					if strategy[o] == 1 {
						up = rng.Intn(2) == 0
					}
					lies[key] = up
				}
				obs := types.Observation{NodeId: sn.id, Reachable: up}
				if up && len(taskIDs) > 0 && rng.Intn(2) == 0 {
					obs.FailingTaskIds = []string{taskIDs[rng.Intn(len(taskIDs))]}
				}
				rep.Observations = append(rep.Observations, obs)
			}
			if rng.Intn(8) == 0 {
				// Evidence it cannot forge: two reports of its own that do
				// not conflict, or heartbeats of a node it does not hold.
				mk := func(node string, up bool) []byte {
					return encodeTx(testKey(o), &types.TxBody{ChainId: testChainID, Sequence: 7, Msg: &types.TxBody_HealthReport{HealthReport: &types.HealthReport{
						Window: w, Observations: []types.Observation{{NodeId: node, Reachable: up}}}}})
				}
				other := mk(nodes[1].id, false) // about another node: no conflict
				confess := equivocate && rng.Intn(40) == 0
				if confess {
					other = mk(nodes[0].id, false) // a true confession: it is jailed
				}
				ev := &types.TxBody{Msg: &types.TxBody_ReportEquivocation{ReportEquivocation: &types.ReportEquivocation{TxA: mk(nodes[0].id, true), TxB: other}}}
				if !confess {
					// Junk evidence never reaches a block: DecodeTx
					// refuses it (ADR 0014).
					ev.ChainId = testChainID
					if _, err := api.DecodeTx(encodeTx(testKey(o), ev), testChainID); api.CodeOf(err) != api.ErrInvalidEvidence.Code {
						t.Fatalf("height %d: junk evidence: %v; want code %d", h, err, api.ErrInvalidEvidence.Code)
					}
					codes["ReportEquivocation/18"]++
					continue
				}
				add(o, ev)
				continue
			}
			add(o, &types.TxBody{Msg: &types.TxBody_HealthReport{HealthReport: rep}})
		}

		// Apply the block to both replicas.
		ea, eb := a.BeginBlock(block, nil), b.BeginBlock(block, nil)
		if !reflect.DeepEqual(ea, eb) {
			t.Fatalf("height %d: BeginBlock events differ", h)
		}
		for _, raw := range txs {
			txA, errA := api.DecodeTx(raw, testChainID)
			txB, errB := api.DecodeTx(raw, testChainID)
			if errA != nil || errB != nil {
				t.Fatalf("height %d: DecodeTx: %v", h, errA)
			}
			before := a.beforeTx(txA)
			ra, rb := a.DeliverTx(txA), b.DeliverTx(txB)
			if ra.Code != 0 {
				if err := a.afterFailedTx(before); err != nil {
					t.Fatalf("height %d: a failed %s (code %d: %s) changed the state: %v", h, api.MsgName(&txA.Body), ra.Code, ra.Log, err)
				}
			}
			if !reflect.DeepEqual(ra, rb) {
				t.Fatalf("height %d: results differ:\n%+v\n%+v", h, ra, rb)
			}
			codes[fmt.Sprintf("%s/%d", api.MsgName(&txA.Body), ra.Code)]++
			if hbm := txA.Body.GetHeartbeat(); hbm != nil && ra.Code == 0 {
				lastSeen[hbm.NodeId] = timeMs
			}
			if rn := txA.Body.GetRegisterNode(); rn != nil && ra.Code == 0 {
				lastSeen[rn.NodeId] = timeMs // registration starts the deadlines
			}
		}
		resA, resB := a.EndBlock(), b.EndBlock()
		if !reflect.DeepEqual(resA, resB) {
			t.Fatalf("height %d: EndBlock differs", h)
		}
		ca, cb := a.TakeChanges(), b.TakeChanges()
		if len(ca) != len(cb) {
			t.Fatalf("height %d: %d changes vs %d", h, len(ca), len(cb))
		}
		for i := range ca {
			if !bytes.Equal(ca[i].Key, cb[i].Key) || !bytes.Equal(ca[i].Value, cb[i].Value) {
				t.Fatalf("height %d: change %q differs between the replicas", h, ca[i].Key)
			}
		}
		persist(ca)
		if h%25 == 0 {
			b = load(h) // the second replica restarts from its records
		}

		for _, o := range observers {
			if byzantine[o] && a.activeObserver(a.accounts[addrHex(testAddr(o))]) {
				byzActiveHeights++
			}
		}

		// The properties.
		for _, sn := range nodes {
			n := a.nodes[sn.id]
			if n == nil {
				continue
			}
			crashed := sn.crashAtMs != 0 && timeMs >= sn.crashAtMs
			if !crashed {
				if n.State == types.NODE_DOWN || n.State == types.NODE_PARTITIONED || n.State == types.NODE_QUARANTINED || n.Strikes > 0 {
					t.Fatalf("height %d t=%d: healthy node %s is %s (%s), strikes %d", h, timeMs, n.Id, api.NodeStateName(n.State), n.Reason, n.Strikes)
				}
				continue
			}
			if n.State == types.NODE_DOWN && sn.downAtMs == 0 {
				sn.downAtMs = timeMs
				maxDownDelay = max(maxDownDelay, timeMs-lastSeen[sn.id])
			}
			if sn.downAtMs != 0 && n.State != types.NODE_DOWN {
				t.Fatalf("height %d: crashed node %s came back as %s (%s)", h, n.Id, api.NodeStateName(n.State), n.Reason)
			}
			if sn.downAtMs == 0 && timeMs > lastSeen[sn.id]+params.DownAfterMs+params.ReportWindowMs {
				t.Fatalf("height %d t=%d: node %s crashed (last heartbeat seen at t=%d) and is still %s after down_after + report_window",
					h, timeMs, n.Id, lastSeen[sn.id], api.NodeStateName(n.State))
			}
		}
	}
	if err := a.verify(); err != nil {
		t.Fatal(err)
	}
	var jailed, inactive []string
	for _, o := range observers {
		acc := a.accounts[addrHex(testAddr(o))]
		if acc.Jailed {
			jailed = append(jailed, o)
		} else if !a.activeObserver(acc) {
			inactive = append(inactive, o)
		}
	}
	var byz []string
	for _, o := range sortedKeys(byzantine) {
		byz = append(byz, o)
	}
	sort.Strings(byz)
	var hist []string
	for _, k := range sortedKeys(codes) {
		hist = append(hist, fmt.Sprintf("%s:%d", k, codes[k]))
	}
	t.Logf("Byzantine %v (counted as active in %.0f%% of observer-heights); at the end jailed %v, below the floor %v; crashed nodes Down at most %d ms after their last heartbeat (bound %d)",
		byz, 100*float64(byzActiveHeights)/float64(f*heights), jailed, inactive, maxDownDelay, params.DownAfterMs+params.ReportWindowMs)
	t.Logf("results (message/code:count): %v", hist)
}
