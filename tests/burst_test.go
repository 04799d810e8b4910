package tests

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/types"
)

// TestOneSignerBurstThroughFourValidators (issue 10, item 6; ADR 0015):
// the admin registers 500 nodes in one burst, sequences n … n+499, sent
// with broadcast_tx_sync round-robin through the 4 validators. Every one
// must commit with code 0 (no sequence fails in a block: PrepareProposal
// orders each signer's transactions, ProcessProposal checks it), within a
// deadline.
//
// A validator admits a sequence only after its predecessor reached it
// (gossip), and at most its budget of pending transactions per signer:
// the sender retries the same bytes on code 8 (sequence skipped: the
// predecessor is not there yet) and 32 (budget: wait for a block), as
// client.Broadcast's callers do.
func TestOneSignerBurstThroughFourValidators(t *testing.T) {
	needE2E(t)
	const burst = 500
	n := startTestnet(t, "e2e-burst", 200*time.Millisecond)
	kr, err := keyring.New(n.dir, keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kr.Signer("admin")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clients := make([]*rpchttp.HTTP, 4)
	for i := range clients {
		clients[i] = n.rpc(i)
	}
	query := func(path string, v any) {
		t.Helper()
		q, err := clients[1].ABCIQuery(ctx, path, nil)
		if err != nil || q.Response.Code != 0 {
			t.Fatalf("query %s: %v %s", path, err, q.Response.Log)
		}
		if err := json.Unmarshal(q.Response.Value, v); err != nil {
			t.Fatalf("query %s: %v", path, err)
		}
	}
	var acc api.AccountView
	query("/accounts/"+crypto.AddressHex(admin.Public().(ed25519.PublicKey)), &acc)
	var before api.SummaryView
	query("/summary", &before)

	txs := make([][]byte, burst)
	for i := range txs {
		id := fmt.Sprintf("burst-%03d", i)
		seed := sha256.Sum256([]byte("burst-node/" + id))
		txs[i] = signedTx(t, admin, &types.TxBody{ChainId: n.m.ChainID, Sequence: acc.Sequence + uint64(i),
			Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
				NodeId: id, PubKey: ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey), Zone: "a",
				Capacity: types.Resources{CpuMillis: 1000, MemoryMb: 1024},
			}}})
	}

	start := time.Now()
	deadline := start.Add(60 * time.Second)
	hashes := make([][]byte, burst)
	retries := map[uint32]int{}
	for i, raw := range txs {
		for v := i % 4; ; {
			res, err := clients[v].BroadcastTxSync(ctx, raw)
			if err == nil && res.Code == 0 {
				hashes[i] = res.Hash
				break
			}
			code := uint32(0)
			if res != nil {
				code = res.Code
			}
			// CometBFT v1 returns a CheckTx refusal as an RPC error.
			if c, _, ok := client.CheckTxRejection(err); ok {
				code, err = c, nil
			}
			if time.Now().After(deadline) {
				t.Fatalf("tx %d (sequence %d) not admitted within the deadline: %v %+v", i, acc.Sequence+uint64(i), err, res)
			}
			switch {
			case err != nil && strings.Contains(err.Error(), "tx already exists in cache"):
				hashes[i] = cmtHash(raw)
			case err != nil && strings.Contains(err.Error(), "mempool is full"):
				retries[0]++
			case err != nil:
				t.Fatalf("tx %d via val%d: %v", i, v, err)
			case code == api.ErrSequenceSkipped.Code || code == api.ErrSignerBudget.Code:
				retries[code]++
			default:
				t.Fatalf("tx %d (sequence %d) via val%d: code %d: %+v", i, acc.Sequence+uint64(i), v, code, res)
			}
			if hashes[i] != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	sent := time.Since(start)

	waitUntil(t, time.Until(deadline), "all 500 registrations committed", func() (bool, string) {
		var s api.SummaryView
		q, err := clients[2].ABCIQuery(ctx, "/summary", nil)
		if err != nil || q.Response.Code != 0 || json.Unmarshal(q.Response.Value, &s) != nil {
			return false, fmt.Sprintf("summary: %v", err)
		}
		return s.Nodes == before.Nodes+burst, fmt.Sprintf("%d nodes (%d before)", s.Nodes, before.Nodes)
	})
	committed := time.Since(start)
	heights := map[int64]int{}
	for i, h := range hashes {
		res, err := clients[i%4].Tx(ctx, h, false)
		if err != nil {
			t.Fatalf("tx %d: %v", i, err)
		}
		if res.TxResult.Code != 0 {
			t.Fatalf("tx %d (sequence %d) at height %d: code %d: %s", i, acc.Sequence+uint64(i), res.Height, res.TxResult.Code, res.TxResult.Log)
		}
		heights[res.Height]++
	}
	var after api.AccountView
	query("/accounts/"+crypto.AddressHex(admin.Public().(ed25519.PublicKey)), &after)
	if after.Sequence != acc.Sequence+burst {
		t.Fatalf("admin sequence %d; want %d", after.Sequence, acc.Sequence+burst)
	}
	t.Logf("%d registrations from one key through 4 validators: admitted in %s, all committed with code 0 after %s in %d blocks; retries: %d × code 8, %d × code 32, %d × mempool full",
		burst, sent.Round(time.Millisecond), committed.Round(time.Millisecond), len(heights),
		retries[api.ErrSequenceSkipped.Code], retries[api.ErrSignerBudget.Code], retries[0])
}

// cmtHash is CometBFT's transaction hash (SHA-256 of the bytes).
func cmtHash(raw []byte) []byte {
	h := sha256.Sum256(raw)
	return h[:]
}
