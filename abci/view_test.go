package abci

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app"
)

func query(a *Application, path string, height int64) *abcitypes.QueryResponse {
	r, _ := a.Query(context.Background(), &abcitypes.QueryRequest{Path: path, Height: height})
	return r
}

// A query right after Commit sees the block Commit made durable: the view
// may lag, but a query waits for it to reach the committed height.
func TestQueryReadsWhatCommitJustWrote(t *testing.T) {
	a := newApp(t, t.TempDir())
	admin := key("admin")
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("n%d", i)
		commitBlock(t, a, int64(i+1), [][]byte{signTx(t, admin, register(testChain, uint64(i), id, key(id), "a"))})
		r := query(a, "/nodes/"+id, 0)
		if r.Code != 0 || r.Height < int64(i+1) {
			t.Fatalf("block %d: query /nodes/%s: code %d (%s) at height %d", i+1, id, r.Code, r.Log, r.Height)
		}
	}
	if r := query(a, "/nodes", 30); r.Code != 0 || r.Height != 30 {
		t.Fatalf("query at height 30: code %d %s height %d", r.Code, r.Log, r.Height)
	}
	if r := query(a, "/nodes", 29); r.Code != api.ErrNotFound.Code {
		t.Fatalf("query at a past height: code %d %s; want %d", r.Code, r.Log, api.ErrNotFound.Code)
	}
	if r := query(a, "/nodes", 31); r.Code != api.ErrNotFound.Code || !strings.Contains(r.Log, "not committed yet") {
		t.Fatalf("query at a future height: code %d %s", r.Code, r.Log)
	}
}

// A query in progress (here: one that holds the view for as long as the
// test likes) delays neither FinalizeBlock, nor Commit, nor CheckTx; the
// queries waiting behind it answer at the latest height once it is done.
func TestSlowQueryDoesNotDelayBlocks(t *testing.T) {
	a := newApp(t, t.TempDir())
	admin := key("admin")
	commitBlock(t, a, 1, [][]byte{signTx(t, admin, register(testChain, 0, "n0", key("n0"), "a"))})
	a.view.mu.Lock() // a slow query
	done := make(chan struct{})
	go func() {
		defer close(done)
		for h := int64(2); h <= 6; h++ {
			id := fmt.Sprintf("n%d", h)
			raw := signTx(t, admin, register(testChain, uint64(h-1), id, key(id), "a"))
			if r := checkTx(t, a, raw); r.Code != 0 {
				t.Errorf("CheckTx: %s", r.Log)
			}
			commitBlock(t, a, h, [][]byte{raw})
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		a.view.mu.Unlock()
		t.Fatal("5 blocks did not commit within 20 s while a query held the view")
	}
	answered := make(chan *abcitypes.QueryResponse)
	go func() { answered <- query(a, "/nodes/n6", 0) }()
	a.view.mu.Unlock()
	select {
	case r := <-answered:
		if r.Code != 0 || r.Height != 6 {
			t.Fatalf("query after the slow one: code %d (%s) height %d; want 0 at 6", r.Code, r.Log, r.Height)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the query did not answer within 20 s of the view's release")
	}
}

// The view's replay must change exactly the records the consensus state
// changed; a difference stops the view, and queries say why.
func TestQueryViewStopsOnDivergence(t *testing.T) {
	a := newApp(t, t.TempDir())
	commitBlock(t, a, 1, nil)
	if r := query(a, "/summary", 0); r.Code != 0 {
		t.Fatalf("summary: %s", r.Log)
	}
	// Block 2 as FinalizeBlock would hand it over, with one changed record
	// that the replay will not produce.
	b := committedBlock{block: app.Block{Height: 2, TimeMs: 1_700_000_002_000, Hash: []byte("h2")},
		changes: []app.KV{{Key: []byte("blockinfo"), Value: []byte("forged")}}}
	a.view.push(b)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := query(a, "/summary", 0)
		if r.Code == api.ErrInternal.Code && strings.Contains(r.Log, "replay of block 2 differs") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a diverging block: code %d %q; want code %d naming block 2", r.Code, r.Log, api.ErrInternal.Code)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
