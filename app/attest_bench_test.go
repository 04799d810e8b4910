package app

import (
	"fmt"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// BenchmarkAttestedLiveness compares the chain's per-block cost of keeping
// 10,000 idle nodes alive (newBenchEnv: 10 observers, 1 s blocks, 10 s
// windows and heartbeat interval) by heartbeats and by attestations
// (ADR 0018), on one goroutine, transactions decoded (signatures are
// abci/'s cost: one per transaction):
//
//	heartbeats:      1,000 heartbeats per block (every node every 10 s), no
//	                 reports: today's cost of an idle cluster.
//	attested-idle:   every node attested by the 10 observers; each observer
//	                 sends one empty Attest per window (in its first block).
//	attested-churn:  besides, 10 nodes crash per block (1 % of the cluster
//	                 per 10 s window): every observer withdraws them and
//	                 reports them unreachable; they go Down, their tasks move.
//
// ns/op is per block; tx/block and bytes/block are what the chain carries.
func BenchmarkAttestedLiveness(b *testing.B) {
	for _, mode := range []string{"heartbeats", "attested-idle", "attested-churn"} {
		b.Run(mode, func(b *testing.B) { benchAttested(b, mode) })
	}
}

func benchAttested(b *testing.B, mode string) {
	e := newBenchEnv(b)
	if mode != "heartbeats" {
		e.attestAll(b)
		// Past the warm-up's windows, whose reports voted every node
		// reachable (a crash reported in them would be equivocation).
		for k := 0; k < 20; k++ {
			e.timeMs += benchBlockMs
			window := uint64(e.timeMs / e.s.params.ReportWindowMs)
			e.s.BeginBlock(Block{Height: e.s.height + 1, TimeMs: e.timeMs, Hash: []byte("h")}, nil)
			for o := 0; o < benchObservers; o++ {
				if e.s.accounts[addrHex(e.obsAddr[o])].AttestWindow != window {
					e.deliver(b, e.tx(e.obsPubs[o], e.obsAddr[o], &types.TxBody{Msg: &types.TxBody_Attest{Attest: &types.Attest{Window: window}}}))
				}
			}
			e.s.EndBlock()
			e.s.TakeChanges()
		}
	}
	var txCount, txBytes int64
	crashes := 0
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		e.timeMs += benchBlockMs
		h := e.s.height + 1
		var txs []*api.Tx
		switch mode {
		case "heartbeats":
			txs = e.heartbeatTxs(h)
		default:
			window := uint64(e.timeMs / e.s.params.ReportWindowMs)
			var down []string
			if mode == "attested-churn" {
				for k := 0; k < 10 && crashes < benchNodes; k++ {
					i := crashes * 7919 % benchNodes
					crashes++
					e.crashed[i] = true
					down = append(down, fmt.Sprintf("n%05d", i))
				}
				down = sortedUnique(down)
			}
			for o := 0; o < benchObservers; o++ {
				seq := e.s.NextSequence(e.obsAddr[o])
				obsTx := func(msg *types.TxBody) *api.Tx {
					msg.ChainId, msg.Sequence = testChainID, seq
					seq++
					return &api.Tx{PubKey: e.obsPubs[o], Address: e.obsAddr[o], Body: *msg}
				}
				if len(down) > 0 || e.s.accounts[addrHex(e.obsAddr[o])].AttestWindow != window {
					txs = append(txs, obsTx(&types.TxBody{Msg: &types.TxBody_Attest{Attest: &types.Attest{Window: window, Withdraw: down}}}))
				}
				if len(down) > 0 {
					rep := &types.HealthReport{Window: window}
					for _, id := range down {
						rep.Observations = append(rep.Observations, types.Observation{NodeId: id})
					}
					txs = append(txs, obsTx(&types.TxBody{Msg: &types.TxBody_HealthReport{HealthReport: rep}}))
				}
			}
		}
		for _, tx := range txs {
			txCount++
			txBytes += int64(tx.Body.Size()) + 32 + 64 // body, key, signature
		}
		b.StartTimer()
		e.s.BeginBlock(Block{Height: h, TimeMs: e.timeMs, Hash: []byte("h")}, nil)
		for _, tx := range txs {
			if res := e.s.DeliverTx(tx); res.Code != 0 {
				b.Fatalf("%s: code %d: %s", api.MsgName(&tx.Body), res.Code, res.Log)
			}
		}
		e.s.EndBlock()
		e.s.TakeChanges()
	}
	b.StopTimer()
	b.ReportMetric(float64(txCount)/float64(b.N), "tx/block")
	b.ReportMetric(float64(txBytes)/float64(b.N), "bytes/block")
	var sum api.SummaryView
	mustUnmarshalB(b, e.s, "/summary", &sum)
	b.ReportMetric(float64(sum.NodesByState["Down"]), "down-nodes")
	b.ReportMetric(float64(sum.NodesByState["Suspect"]), "suspect-nodes")
}

// attestAll makes every observer attest every node, in one block.
func (e *benchEnv) attestAll(b *testing.B) {
	e.timeMs += benchBlockMs
	window := uint64(e.timeMs / e.s.params.ReportWindowMs)
	e.s.BeginBlock(Block{Height: e.s.height + 1, TimeMs: e.timeMs, Hash: []byte("h")}, nil)
	for o := 0; o < benchObservers; o++ {
		for start := 0; start < benchNodes; start += api.MaxAttestChanges {
			m := &types.Attest{Window: window}
			for i := start; i < min(start+api.MaxAttestChanges, benchNodes); i++ {
				m.Up = append(m.Up, fmt.Sprintf("n%05d", i))
			}
			e.deliver(b, e.tx(e.obsPubs[o], e.obsAddr[o], &types.TxBody{Msg: &types.TxBody_Attest{Attest: m}}))
		}
	}
	e.s.EndBlock()
	e.s.TakeChanges()
	var sum api.SummaryView
	mustUnmarshalB(b, e.s, "/summary", &sum)
	attested := 0
	for _, id := range e.s.nodeIDs {
		if e.s.nodes[id].Attested {
			attested++
		}
	}
	if attested != benchNodes {
		b.Fatalf("%d of %d nodes attested after every observer attested them all", attested, benchNodes)
	}
}

// heartbeatTxs are the heartbeats of the nodes whose turn it is, as in
// blockTxs, without the reports.
func (e *benchEnv) heartbeatTxs(height int64) []*api.Tx {
	var txs []*api.Tx
	for _, tx := range e.blockTxs(height) {
		if tx.Body.GetHeartbeat() != nil {
			txs = append(txs, tx)
		}
	}
	return txs
}
