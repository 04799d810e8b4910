package abci

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/phalanx-bft/phalanx/api"
)

// TestPanicInFinalizeBlockHalts checks what a panic of the state machine
// (a broken invariant) does to the application: FinalizeBlock panics again
// for CometBFT to halt on, and from then on nothing is applied to the
// half-applied state and CheckTx refuses; JSON queries still answer from
// the query view at the last committed height. The panic is provoked with a block
// at height 0, which BeginBlock refuses the same way.
func TestPanicInFinalizeBlockHalts(t *testing.T) {
	a := newApp(t, t.TempDir()) // at height 0, FinalizeBlock takes any height
	ctx := context.Background()
	recovered := func() (r any) {
		defer func() { r = recover() }()
		_, _ = a.FinalizeBlock(ctx, &abcitypes.FinalizeBlockRequest{Height: 0, Time: time.Unix(1_700_000_100, 0)})
		return nil
	}()
	if want := "app: BeginBlock(0) after height 0"; fmt.Sprint(recovered) != want {
		t.Fatalf("FinalizeBlock panicked with %v; want %q", recovered, want)
	}
	if q, err := a.Query(ctx, &abcitypes.QueryRequest{Path: "/summary"}); err != nil || q.Code != 0 || q.Height != 0 {
		t.Errorf("query after the halt: code %d, log %q, height %d, err %v; want the view's answer at height 0", q.Code, q.Log, q.Height, err)
	}
	if c := checkTx(t, a, []byte("x")); c.Code != api.CodeOf(api.ErrInternal) || !strings.Contains(c.Log, "app halted") {
		t.Errorf("CheckTx after the halt: code %d, log %q", c.Code, c.Log)
	}
	if _, err := a.FinalizeBlock(ctx, &abcitypes.FinalizeBlockRequest{Height: 1, Time: time.Unix(1_700_000_100, 0)}); err == nil || !strings.Contains(err.Error(), "app halted") {
		t.Errorf("FinalizeBlock after the halt: %v; want an app halted error", err)
	}
	if _, err := a.Commit(ctx, &abcitypes.CommitRequest{}); err == nil {
		t.Error("Commit after the halt succeeded")
	}
	if info, _ := a.Info(ctx, &abcitypes.InfoRequest{}); info.LastBlockHeight != 0 {
		t.Errorf("store at height %d after the halt; want the last commit, 0", info.LastBlockHeight)
	}
}
