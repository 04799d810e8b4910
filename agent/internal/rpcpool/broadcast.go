package rpcpool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
)

// Broadcast hands txBytes to every node of the pool at once
// (broadcast_tx_sync), each call bounded by timeout, and returns as soon as
// one node admitted it: one validator that is down, stopped, slow or
// censoring then costs nothing. The calls still in flight go on in the
// background until their own deadline (the mempools dedupe the same bytes
// by hash). When no node admitted it, it returns the refusal of a node
// that answered (a *client.TxError; a sequence refusal, code 7 or 8, is
// preferred, since it tells the caller what to fix) or, when none
// answered, the transport errors wrapped with ErrAllUnreachable.
func (p *Pool) Broadcast(ctx context.Context, timeout time.Duration, txBytes []byte) error {
	if timeout <= 0 {
		return fmt.Errorf("rpc pool: broadcast timeout %s; expected a positive deadline", timeout)
	}
	type answer struct {
		node string
		err  error
	}
	answers := make(chan answer, len(p.clients))
	// The calls outlive an early return, not the caller's cancellation.
	bctx := context.WithoutCancel(ctx)
	for _, c := range p.clients {
		go func() {
			cctx, cancel := context.WithTimeout(bctx, timeout)
			defer cancel()
			answers <- answer{c.Node(), c.BroadcastSync(cctx, txBytes)}
		}()
	}
	var refusal error
	var unreachable []string
	for range p.clients {
		var a answer
		select {
		case a = <-answers:
		case <-ctx.Done():
			return ctx.Err()
		}
		switch {
		case a.err == nil:
			return nil
		case Answered(a.err):
			if refusal == nil || moreTelling(a.err, refusal) {
				refusal = a.err
			}
		default:
			unreachable = append(unreachable, a.err.Error())
		}
	}
	if refusal != nil {
		return refusal
	}
	return fmt.Errorf("%w (broadcast to all %d, each within %s): %s", ErrAllUnreachable, len(p.clients), timeout, strings.Join(unreachable, "; "))
}

// moreTelling reports whether refusal a says more about the sequence to
// use than b: a sequence refusal beats any other; "already used" (code 7:
// some mempool is ahead of the sender) beats "skipped" (code 8); among
// code 7 the highest expected sequence wins (the node that saw the most
// pending transactions), among code 8 the lowest (the first gap).
func moreTelling(a, b error) bool {
	ca, cb := seqCode(a), seqCode(b)
	switch {
	case ca == 0:
		return false
	case cb == 0 || ca != cb:
		return cb == 0 || ca == api.ErrSequenceUsed.Code
	}
	na, oka := client.ExpectedSequence(a)
	nb, okb := client.ExpectedSequence(b)
	if !oka || !okb {
		return oka
	}
	if ca == api.ErrSequenceUsed.Code {
		return na > nb
	}
	return na < nb
}

// seqCode is err's code if it is a sequence refusal (7 or 8), else 0.
func seqCode(err error) uint32 {
	var te *client.TxError
	if errors.As(err, &te) && (te.Code == api.ErrSequenceUsed.Code || te.Code == api.ErrSequenceSkipped.Code) {
		return te.Code
	}
	return 0
}
