package abci

import (
	"context"
	"slices"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/phalanx-bft/phalanx/api"
)

// This file is the mempool and block-composition side of the adapter
// (ADR 0015): CheckTx with per-signer budgets, PrepareProposal (health
// first, a cap on the other transactions' bytes, each signer's
// transactions in sequence order) and ProcessProposal, which rejects a
// block that breaks those rules.

// signerPending is one signer's transactions in this validator's mempool:
// admitted by CheckTx (or kept by the recheck after a Commit) and not
// committed yet.
type signerPending struct {
	// next is the sequence a new transaction must carry: the first one,
	// from the committed next sequence on, that is not pending.
	next  uint64
	seqs  map[uint64]struct{}
	bytes int
}

func (p *signerPending) add(seq uint64, n int) {
	p.seqs[seq] = struct{}{}
	p.bytes += n
	for {
		if _, ok := p.seqs[p.next]; !ok {
			return
		}
		p.next++
	}
}

// CheckTx admits a transaction to the mempool: the same stateless checks
// as blocks (api.DecodeTx), the same ante checks (app.State.CheckTx), the
// signer's budget of pending transactions and bytes (api.ErrSignerBudget),
// and, for a transaction other than a health one, the share of the
// mempool all signers' non-health transactions may hold
// (api.ErrNonHealthShare).
//
// A new transaction (CHECK_TX_TYPE_CHECK) must carry the signer's next
// sequence counting its pending transactions. After each Commit the view
// is empty and CometBFT rechecks the transactions left in the mempool
// (CHECK_TX_TYPE_RECHECK), in the mempool's list order, which may differ
// from sequence order (the mempool appends after CheckTx returns, and
// gossip runs concurrently): a rechecked transaction is kept if its
// sequence is not committed and not pending twice, whatever its order, and
// the view is rebuilt from the ones kept. A sequence gap left in the
// mempool is closed by a new transaction with the missing sequence, and
// the proposer includes nothing past a gap (PrepareProposal).
func (a *Application) CheckTx(_ context.Context, req *abcitypes.CheckTxRequest) (*abcitypes.CheckTxResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state == nil {
		return &abcitypes.CheckTxResponse{Code: api.CodeOf(api.ErrInternal), Log: "chain not initialised yet"}, nil
	}
	if a.halted != "" {
		return &abcitypes.CheckTxResponse{Code: api.CodeOf(api.ErrInternal), Log: "app halted: " + a.halted}, nil
	}
	tx, err := a.decode(req.Tx)
	if err != nil {
		return refuse(err), nil
	}
	addr := string(tx.Address)
	p := a.pending[addr]
	seq := tx.Body.Sequence
	var expected uint64
	switch {
	case req.Type == abcitypes.CHECK_TX_TYPE_RECHECK:
		// Any order: a sequence below the committed one fails the ante
		// check below (code 7); one already pending is a second
		// transaction for the same sequence.
		expected = seq
		if committed := a.state.NextSequence(tx.Address); seq < committed {
			expected = committed
		} else if p != nil {
			if _, dup := p.seqs[seq]; dup {
				return refuse(api.Errorf(api.ErrSequenceUsed, "sequence %d of account %X is already pending in the mempool", seq, tx.Address)), nil
			}
		}
	case p != nil:
		expected = p.next
	default:
		expected = a.state.NextSequence(tx.Address)
	}
	if err := a.state.CheckTx(tx, a.state.Height()+1, expected); err != nil {
		return refuse(err), nil
	}
	if p != nil && (len(p.seqs)+1 > a.cfg.SignerPendingTxs || p.bytes+len(req.Tx) > a.cfg.SignerPendingBytes) {
		return refuse(api.Errorf(api.ErrSignerBudget,
			"account %X has %d transactions (%d bytes) pending; this validator's budget per signer is %d transactions, %d bytes: wait for a block",
			tx.Address, len(p.seqs), p.bytes, a.cfg.SignerPendingTxs, a.cfg.SignerPendingBytes)), nil
	}
	if len(req.Tx) > a.cfg.SignerPendingBytes {
		return refuse(api.Errorf(api.ErrSignerBudget, "tx is %d bytes; this validator's budget per signer is %d bytes", len(req.Tx), a.cfg.SignerPendingBytes)), nil
	}
	health := api.IsHealthMsg(&tx.Body)
	if !health && (a.nonHealthTxs+1 > a.cfg.NonHealthPendingTxs || a.nonHealthBytes+len(req.Tx) > a.cfg.NonHealthPendingBytes) {
		return refuse(api.Errorf(api.ErrNonHealthShare,
			"%d transactions (%d bytes) other than heartbeats, health reports and evidence are pending; this validator keeps at most %d (%d bytes) for them: wait for a block",
			a.nonHealthTxs, a.nonHealthBytes, a.cfg.NonHealthPendingTxs, a.cfg.NonHealthPendingBytes)), nil
	}
	if !health {
		a.nonHealthTxs++
		a.nonHealthBytes += len(req.Tx)
	}
	if p == nil {
		p = &signerPending{next: a.state.NextSequence(tx.Address), seqs: map[uint64]struct{}{}}
		a.pending[addr] = p
	}
	p.add(seq, len(req.Tx))
	return &abcitypes.CheckTxResponse{Code: abcitypes.CodeTypeOK}, nil
}

func refuse(err error) *abcitypes.CheckTxResponse {
	return &abcitypes.CheckTxResponse{Code: api.CodeOf(err), Log: err.Error()}
}

// PrepareProposal arranges the block this validator proposes from the
// transactions CometBFT reaped from its mempool:
//
//  1. transactions that fail api.DecodeTx are dropped;
//  2. each signer's transactions are put in sequence order, each taking the
//     place of one of that signer's transactions in the mempool order
//     (so the signers' interleaving is kept); a transaction whose sequence
//     is already committed or repeated, or that follows a gap, is dropped
//     (it could only fail);
//  3. health transactions (api.IsHealthMsg) go first, except one that
//     follows a non-health transaction of the same signer, which stays
//     behind it; among them, observers' (api.IsObserverMsg: Attest,
//     HealthReport) come before nodes' heartbeats, unless the signer has
//     an earlier health transaction of another kind: when a block's bytes
//     cannot hold every heartbeat, the few observer transactions that
//     keep thousands of nodes attested are not the ones left out (a
//     missed window makes every node fall back to heartbeats);
//  4. the other transactions take at most api.NonHealthBlockSharePercent of
//     req.MaxTxBytes and at most api.MaxNonHealthBlockBytes; a transaction
//     that does not fit is left out with every later one of its signer.
//
// ProcessProposal accepts every block built so (validBlockOrder).
//
// A validator started with Config.TestCensorTxs proposes no transaction.
func (a *Application) PrepareProposal(_ context.Context, req *abcitypes.PrepareProposalRequest) (*abcitypes.PrepareProposalResponse, error) {
	if a.cfg.TestCensorTxs {
		return &abcitypes.PrepareProposalResponse{}, nil
	}
	txs := make([]*api.Tx, 0, len(req.Txs))
	for _, raw := range req.Txs {
		if tx, err := a.decode(raw); err == nil {
			txs = append(txs, tx)
		}
	}
	a.mu.Lock()
	st := a.state
	next := func([]byte) uint64 { return 0 }
	if st != nil {
		next = st.NextSequence
	}
	out := arrangeBlock(txs, next, req.MaxTxBytes)
	a.mu.Unlock()
	return &abcitypes.PrepareProposalResponse{Txs: out}, nil
}

// arrangeBlock is PrepareProposal's decision, from the decoded
// transactions in mempool order, each signer's committed next sequence
// and the block's byte budget.
func arrangeBlock(txs []*api.Tx, nextSeq func(addr []byte) uint64, maxTxBytes int64) [][]byte {
	// Per signer, in order of first appearance: its transactions' indexes.
	bySigner := map[string][]int{}
	var signers []string
	for i, tx := range txs {
		k := string(tx.Address)
		if _, ok := bySigner[k]; !ok {
			signers = append(signers, k)
		}
		bySigner[k] = append(bySigner[k], i)
	}
	// Each signer's slots (its positions in mempool order) get its
	// transactions sorted by sequence; what cannot commit is dropped.
	slot := make([]*api.Tx, len(txs))
	for _, k := range signers {
		idx := bySigner[k]
		sorted := make([]*api.Tx, len(idx))
		for j, i := range idx {
			sorted[j] = txs[i]
		}
		slices.SortStableFunc(sorted, func(x, y *api.Tx) int {
			switch {
			case x.Body.Sequence < y.Body.Sequence:
				return -1
			case x.Body.Sequence > y.Body.Sequence:
				return 1
			}
			return 0
		})
		want := nextSeq(sorted[0].Address)
		n := 0
		for _, tx := range sorted {
			if tx.Body.Sequence != want {
				if tx.Body.Sequence < want {
					continue // committed already, or a second one for a sequence
				}
				break // a gap: nothing after it can commit in this block
			}
			slot[idx[n]] = tx
			n++
			want++
		}
	}
	// Health first, observers' first among it; a signer's health
	// transactions after its first non-health one stay behind it, and
	// its observer transactions after its first other health one stay
	// with the heartbeats.
	var observer, health, rest []*api.Tx
	nonHealthSigner := map[string]bool{}
	otherHealthSigner := map[string]bool{}
	for _, tx := range slot {
		if tx == nil {
			continue
		}
		k := string(tx.Address)
		if api.IsHealthMsg(&tx.Body) && !nonHealthSigner[k] {
			if api.IsObserverMsg(&tx.Body) && !otherHealthSigner[k] {
				observer = append(observer, tx)
				continue
			}
			otherHealthSigner[k] = true
			health = append(health, tx)
			continue
		}
		if !api.IsHealthMsg(&tx.Body) {
			nonHealthSigner[k] = true
		}
		rest = append(rest, tx)
	}
	nonHealthCap := maxTxBytes * api.NonHealthBlockSharePercent / 100
	if nonHealthCap > api.MaxNonHealthBlockBytes {
		nonHealthCap = api.MaxNonHealthBlockBytes
	}
	health = append(observer, health...)
	out := make([][]byte, 0, len(health)+len(rest))
	stopped := map[string]bool{}
	var total, nonHealth int64
	for _, tx := range append(health, rest...) {
		k := string(tx.Address)
		if stopped[k] {
			continue
		}
		size := protoTxSize(len(tx.Raw))
		isHealth := api.IsHealthMsg(&tx.Body)
		if total+size > maxTxBytes || (!isHealth && nonHealth+int64(len(tx.Raw)) > nonHealthCap) {
			stopped[k] = true
			continue
		}
		total += size
		if !isHealth {
			nonHealth += int64(len(tx.Raw))
		}
		out = append(out, tx.Raw)
	}
	return out
}

// protoTxSize is what one transaction adds to a block's data, as
// CometBFT counts it against MaxTxBytes (types.ComputeProtoSizeForTxs): a
// field tag, the length as a varint, the bytes.
func protoTxSize(n int) int64 {
	size := int64(1 + n)
	for v := uint64(n); ; v >>= 7 {
		size++
		if v < 0x80 {
			return size
		}
	}
}

// ProcessProposal rejects a block that no honest proposer builds: one
// that carries a transaction failing api.DecodeTx (too large for its type,
// undecodable, badly signed, for another chain, an invalid message) or
// breaks the block order (validBlockOrder). The signatures its mempool
// did not check are verified first, in batches on all cores
// (sigverify.go). It decides from the
// transactions' bytes alone, runs no stateful check and reads no state,
// so it takes no lock.
func (a *Application) ProcessProposal(_ context.Context, req *abcitypes.ProcessProposalRequest) (*abcitypes.ProcessProposalResponse, error) {
	a.preverify(req.Txs) // signatures not cached: in batches, on all cores
	txs := make([]*api.Tx, len(req.Txs))
	for i, raw := range req.Txs {
		tx, err := a.decode(raw)
		if err != nil {
			a.logger.Info("rejecting proposal", "height", req.Height, "tx", i, "err", err)
			return &abcitypes.ProcessProposalResponse{Status: abcitypes.PROCESS_PROPOSAL_STATUS_REJECT}, nil
		}
		txs[i] = tx
	}
	if i, why := validBlockOrder(txs); i >= 0 {
		a.logger.Info("rejecting proposal", "height", req.Height, "tx", i, "err", why)
		return &abcitypes.ProcessProposalResponse{Status: abcitypes.PROCESS_PROPOSAL_STATUS_REJECT}, nil
	}
	return &abcitypes.ProcessProposalResponse{Status: abcitypes.PROCESS_PROPOSAL_STATUS_ACCEPT}, nil
}

// validBlockOrder checks the block rules of ADR 0015 and returns the
// index of the first transaction that breaks one and why, or -1:
//
//   - each signer's sequences strictly increase through the block;
//   - no health transaction comes after a non-health one, unless its own
//     signer has a non-health transaction before it (a signer's order
//     outranks health first);
//   - the non-health transactions total at most api.MaxNonHealthBlockBytes.
func validBlockOrder(txs []*api.Tx) (int, string) {
	last := make(map[string]uint64, len(txs))
	nonHealthSigner := map[string]bool{}
	nonHealthSeen := false
	nonHealthBytes := 0
	for i, tx := range txs {
		k := string(tx.Address)
		if prev, ok := last[k]; ok && tx.Body.Sequence <= prev {
			return i, "a signer's sequence does not increase"
		}
		last[k] = tx.Body.Sequence
		if api.IsHealthMsg(&tx.Body) {
			if nonHealthSeen && !nonHealthSigner[k] {
				return i, "a health transaction after a non-health one"
			}
			continue
		}
		nonHealthSeen = true
		nonHealthSigner[k] = true
		if nonHealthBytes += len(tx.Raw); nonHealthBytes > api.MaxNonHealthBlockBytes {
			return i, "non-health transactions above api.MaxNonHealthBlockBytes"
		}
	}
	return -1, ""
}
