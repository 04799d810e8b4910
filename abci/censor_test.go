package abci

import (
	"context"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
)

// TestCensoringValidatorProposesNothing: with TestCensorTxs the validator
// proposes none of the transactions an honest one proposes; the empty
// block is valid to every other validator (ProcessProposal). (That it
// still admits them is tested end to end: tests/fault_test.go.)
func TestCensoringValidatorProposesNothing(t *testing.T) {
	a := newApp(t, t.TempDir())
	txs := proposalTxs(t, 5)
	ctx := context.Background()
	req := &abcitypes.PrepareProposalRequest{Txs: txs, MaxTxBytes: 4 << 20, Height: 2}
	if r, _ := a.PrepareProposal(ctx, req); len(r.Txs) != len(txs) {
		t.Fatalf("honest proposal holds %d of %d transactions", len(r.Txs), len(txs))
	}
	a.cfg.TestCensorTxs = true
	r, err := a.PrepareProposal(ctx, req)
	if err != nil || len(r.Txs) != 0 {
		t.Fatalf("censoring proposal: %d transactions, %v; want none", len(r.Txs), err)
	}
	a.cfg.TestCensorTxs = false
	pr, err := a.ProcessProposal(ctx, &abcitypes.ProcessProposalRequest{Height: 2})
	if err != nil || pr.Status != abcitypes.PROCESS_PROPOSAL_STATUS_ACCEPT {
		t.Fatalf("an honest validator's ProcessProposal of the empty block: %v %v; want accept", pr, err)
	}
}
