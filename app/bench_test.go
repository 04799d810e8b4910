package app

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// BenchmarkFailureDetection measures the state machine's per-block cost of
// failure detection and report processing at scale (one goroutine, as the
// ABCI connection runs it): 10,000 nodes, each heartbeating every 10
// blocks (1,000 heartbeats per block), and 10 observers that each report
// every node once per 10-block window in reports of 100 nodes (100
// reports per block, 10,000 votes, quorum decisions and scoring for 1,000
// nodes). Blocks are 1 s apart; heartbeat_interval 10 s, report_window
// 10 s. Transactions are built outside the timer and enter DeliverTx
// decoded (signature checks are abci/'s cost, see its benchmarks).
//
//	steady:  every node live.
//	churn:   besides, 10 nodes crash per block: deadlines expire, nodes go
//	         Suspect and Down (reports say unreachable) and their tasks move.
//	idle:    empty blocks 1 ms apart: the end-of-block pass with nothing
//	         due, which must not depend on the number of nodes.
//
// ns/op is ns per block; "commit-ns/block" is the TakeChanges share.
func BenchmarkFailureDetection(b *testing.B) {
	for _, mode := range []string{"steady", "churn", "idle"} {
		b.Run(mode, func(b *testing.B) { benchFailureDetection(b, mode) })
	}
}

const (
	benchNodes        = 10_000
	benchObservers    = 10
	benchNodesPerVote = 100
	benchBlockMs      = 1000
)

type benchEnv struct {
	s       *State
	pubs    [][]byte
	addrs   [][]byte
	obsPubs [][]byte
	obsAddr [][]byte
	timeMs  int64
	hbSeq   []uint64
	crashed []bool
}

func benchKey(name string) ed25519.PublicKey {
	seed := sha256.Sum256([]byte("phalanx-bench/" + name))
	return ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
}

// tx wraps a body as DecodeTx would hand it over.
func (e *benchEnv) tx(pub, addr []byte, msg *types.TxBody) *api.Tx {
	msg.ChainId = testChainID
	msg.Sequence = e.s.NextSequence(addr)
	return &api.Tx{PubKey: pub, Address: addr, Body: *msg}
}

func (e *benchEnv) deliver(b *testing.B, tx *api.Tx) {
	if res := e.s.DeliverTx(tx); res.Code != 0 {
		b.Fatalf("%s: code %d: %s", api.MsgName(&tx.Body), res.Code, res.Log)
	}
}

func newBenchEnv(b *testing.B) *benchEnv {
	p := api.DefaultParams()
	p.HeartbeatIntervalMs = 10_000
	p.SuspectAfterMs = 30_000
	p.DownAfterMs = 60_000
	p.ReportWindowMs = 10_000
	p.MaxPlacementsPerBlock = api.MaxPlacementsPerBlockLimit
	opsPub := benchKey("ops")
	g := &api.Genesis{Params: p, Accounts: []types.GenesisAccount{{Address: crypto.Address(opsPub), Roles: []types.Role{types.ROLE_OPERATOR}}}}
	e := &benchEnv{hbSeq: make([]uint64, benchNodes), crashed: make([]bool, benchNodes), timeMs: 10_000_000}
	for i := 0; i < benchObservers; i++ {
		pub := benchKey(fmt.Sprintf("obs%d", i))
		e.obsPubs = append(e.obsPubs, pub)
		e.obsAddr = append(e.obsAddr, crypto.Address(pub))
		g.Accounts = append(g.Accounts, types.GenesisAccount{Address: crypto.Address(pub), Roles: []types.Role{types.ROLE_OBSERVER}})
	}
	s, err := NewState(testChainID, g)
	if err != nil {
		b.Fatal(err)
	}
	e.s = s
	s.TakeChanges()
	s.BeginBlock(Block{Height: 1, TimeMs: e.timeMs, Hash: []byte("h")}, nil)
	for i := 0; i < benchNodes; i++ {
		pub := benchKey(fmt.Sprintf("n%d", i))
		e.pubs = append(e.pubs, pub)
		e.addrs = append(e.addrs, crypto.Address(pub))
		e.deliver(b, e.tx(opsPub, crypto.Address(opsPub), &types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
			NodeId: fmt.Sprintf("n%05d", i), PubKey: pub, Zone: fmt.Sprintf("z%d", i%3),
			Capacity: types.Resources{CpuMillis: 4000, MemoryMb: 8192}}}}))
	}
	// 10 workloads of 1,000 tasks: about one task per node, reported
	// Running in every heartbeat.
	for w := 0; w < 10; w++ {
		e.deliver(b, e.tx(opsPub, crypto.Address(opsPub), &types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: types.WorkloadSpec{
			Name: fmt.Sprintf("w%d", w), Command: "run", Replicas: 1000, Resources: types.Resources{CpuMillis: 100, MemoryMb: 64}}}}}))
	}
	s.EndBlock()
	s.TakeChanges()
	// Two windows to reach the steady state (tallies, rings, reputations).
	for i := 0; i < 20; i++ {
		e.block(b)
	}
	return e
}

// blockTxs builds one block's transactions: the heartbeats of the nodes
// whose turn it is, and the observers' reports on the same nodes.
func (e *benchEnv) blockTxs(height int64) []*api.Tx {
	slot := int(height % 10)
	var txs []*api.Tx
	for i := slot; i < benchNodes; i += 10 {
		if e.crashed[i] {
			continue
		}
		e.hbSeq[i]++
		id := fmt.Sprintf("n%05d", i)
		hb := &types.Heartbeat{NodeId: id, Seq: e.hbSeq[i], Usage: types.Resources{CpuMillis: 500, MemoryMb: 1024}}
		for _, t := range e.s.tasksOn(id) {
			if taskActive(t) {
				hb.Tasks = append(hb.Tasks, types.TaskReport{TaskId: t.Id, Generation: t.Generation, State: types.TASK_RUNNING})
			}
		}
		tx := e.tx(e.pubs[i], e.addrs[i], &types.TxBody{Msg: &types.TxBody_Heartbeat{Heartbeat: hb}})
		txs = append(txs, tx)
	}
	// Each observer covers this block's 1,000 nodes in 10 reports of 100:
	// all 10,000 nodes once per 10-block window.
	window := uint64(e.timeMs / e.s.params.ReportWindowMs)
	for o := 0; o < benchObservers; o++ {
		seq := e.s.NextSequence(e.obsAddr[o])
		for r := 0; r < benchNodes/10/benchNodesPerVote; r++ {
			rep := &types.HealthReport{Window: window}
			for k := 0; k < benchNodesPerVote; k++ {
				i := slot + 10*(r*benchNodesPerVote+k)
				rep.Observations = append(rep.Observations, types.Observation{NodeId: fmt.Sprintf("n%05d", i), Reachable: !e.crashed[i], RttMs: 3})
			}
			tx := &api.Tx{PubKey: e.obsPubs[o], Address: e.obsAddr[o], Body: types.TxBody{ChainId: testChainID, Sequence: seq,
				Msg: &types.TxBody_HealthReport{HealthReport: rep}}}
			seq++
			txs = append(txs, tx)
		}
	}
	return txs
}

// block applies one block of blockTxs, untimed (warm-up).
func (e *benchEnv) block(b *testing.B) {
	e.timeMs += benchBlockMs
	h := e.s.height + 1
	txs := e.blockTxs(h)
	e.s.BeginBlock(Block{Height: h, TimeMs: e.timeMs, Hash: []byte("h")}, nil)
	for _, tx := range txs {
		e.deliver(b, tx)
	}
	e.s.EndBlock()
	e.s.TakeChanges()
}

func benchFailureDetection(b *testing.B, mode string) {
	e := newBenchEnv(b)
	b.ReportAllocs()
	b.ResetTimer()
	var commitNs int64
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		h := e.s.height + 1
		if mode == "churn" {
			for k := 0; k < 10; k++ {
				e.crashed[(n*10+k)*7919%benchNodes] = true
			}
		}
		var txs []*api.Tx
		if mode == "idle" {
			e.timeMs++ // 1 ms apart: no deadline comes due
		} else {
			e.timeMs += benchBlockMs
			txs = e.blockTxs(h)
		}
		b.StartTimer()
		e.s.BeginBlock(Block{Height: h, TimeMs: e.timeMs, Hash: []byte("h")}, nil)
		for _, tx := range txs {
			if res := e.s.DeliverTx(tx); res.Code != 0 {
				b.Fatalf("%s: code %d: %s", api.MsgName(&tx.Body), res.Code, res.Log)
			}
		}
		e.s.EndBlock()
		start := time.Now()
		e.s.TakeChanges()
		commitNs += time.Since(start).Nanoseconds()
	}
	b.StopTimer()
	b.ReportMetric(float64(commitNs)/float64(b.N), "commit-ns/block")
	var sum api.SummaryView
	mustUnmarshalB(b, e.s, "/summary", &sum)
	b.ReportMetric(float64(sum.NodesByState["Down"]), "down-nodes")
}

func mustUnmarshalB(b *testing.B, s *State, path string, v any) {
	out, err := s.Query(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := jsonUnmarshal(out, v); err != nil {
		b.Fatal(err)
	}
}
