package tests

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// TestCrashRecovery kills a real `phalanxd start` with SIGKILL while
// transactions flow, restarts it, and checks that it continues from its
// last height with the app hash the headers record, and that every
// committed transaction's effect survived.
func TestCrashRecovery(t *testing.T) {
	needE2E(t)
	v := initValidator(t, "crash-test", 150*time.Millisecond)
	v.start()
	waitHeight(t, v.rpcAddr, 2, 90*time.Second)
	admin := v.adminKey()
	c := v.rpc()
	ctx := context.Background()

	var mu sync.Mutex
	hashes := map[string][]byte{} // node id -> tx hash of its registration
	var seq uint64
	send := func(stop <-chan struct{}) {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			id := fmt.Sprintf("crash-n%d", seq)
			body := &types.TxBody{ChainId: "crash-test", Sequence: seq, Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
				NodeId: id, PubKey: nodePub(id), Zone: "a", Capacity: types.Resources{CpuMillis: 1000, MemoryMb: 1024},
			}}}
			raw := signedTx(t, admin, body)
			mu.Unlock()
			res, err := c.BroadcastTxSync(ctx, raw)
			if err != nil {
				return // the node is gone
			}
			if res.Code == 0 {
				mu.Lock()
				hashes[id] = res.Hash
				seq++
				mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond) // pacing, not synchronisation
		}
	}

	for round := 1; round <= 2; round++ {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { send(stop); close(done) }()
		h := heightNow(t, v.rpcAddr)
		waitHeight(t, v.rpcAddr, h+8, 60*time.Second)
		v.kill()
		close(stop)
		<-done
		killedAt := h + 8
		t.Logf("round %d: SIGKILL at height >= %d with %d registrations accepted", round, killedAt, len(hashes))

		v.start()
		after := waitHeight(t, v.rpcAddr, killedAt+3, 90*time.Second)
		info, err := c.ABCIInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		last := info.Response.LastBlockHeight
		next := last + 1
		waitHeight(t, v.rpcAddr, next, 30*time.Second)
		hdr, err := c.Header(ctx, &next)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(hdr.Header.AppHash, info.Response.LastBlockAppHash) {
			t.Fatalf("app hash at %d is %X; header %d records %X", last, info.Response.LastBlockAppHash, next, hdr.Header.AppHash)
		}
		t.Logf("round %d: resumed to height %d; app hash at %d agrees with header %d", round, after, last, next)
		// Transactions admitted to the mempool but not committed died with
		// the process: a client resumes from the account's sequence.
		mu.Lock()
		seq = accountSequence(t, v, admin)
		mu.Unlock()
	}

	// The admin's sequence counts its committed transactions; exactly the
	// registrations with ids below it exist (ids follow sequences), none
	// above, and each committed one is in the state after two crashes.
	// (The tx index is not used: CometBFT indexes after commit, so a block
	// committed just before a SIGKILL may never be indexed.)
	mu.Lock()
	defer mu.Unlock()
	committed := accountSequence(t, v, admin)
	if committed == 0 {
		t.Fatal("no registration was committed; the test exercised nothing")
	}
	for i := uint64(0); i < committed+5; i++ {
		id := fmt.Sprintf("crash-n%d", i)
		q, err := c.ABCIQuery(ctx, "/nodes/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if exists := q.Response.Code == 0; exists != (i < committed) {
			t.Fatalf("node %s exists=%v but the admin sequence is %d (code %d %s)", id, exists, committed, q.Response.Code, q.Response.Log)
		}
	}
	t.Logf("%d of %d admitted registrations committed and present after 2 crashes", committed, len(hashes))
}

// accountSequence reads an account's next sequence over RPC.
func accountSequence(t *testing.T, v *validator, k ed25519.PrivateKey) uint64 {
	t.Helper()
	seq, err := querySequence(context.Background(), v.rpc(), k)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// querySequence asks for the next sequence of k's account.
func querySequence(ctx context.Context, c *rpchttp.HTTP, k ed25519.PrivateKey) (uint64, error) {
	addr := crypto.AddressHex(k.Public().(ed25519.PublicKey))
	q, err := c.ABCIQuery(ctx, "/accounts/"+addr, nil)
	if err != nil {
		return 0, fmt.Errorf("account %s query: %w", addr, err)
	}
	if q.Response.Code != 0 {
		return 0, fmt.Errorf("account %s query: code %d: %s", addr, q.Response.Code, q.Response.Log)
	}
	var acct struct {
		Sequence uint64 `json:"sequence"`
	}
	if err := json.Unmarshal(q.Response.Value, &acct); err != nil {
		return 0, fmt.Errorf("account %s: %w", addr, err)
	}
	return acct.Sequence, nil
}

// nodePub derives a distinct node public key from a node id.
func nodePub(id string) []byte {
	seed := sha256.Sum256([]byte("e2e-node/" + id))
	return ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
}
