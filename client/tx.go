package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// Msg is one transaction message: either a message type such as
// *types.RegisterNode or its TxBody oneof wrapper such as
// *types.TxBody_RegisterNode. BuildTx rejects anything else.
type Msg any

// setMsg sets msg as the oneof message of body.
func setMsg(body *types.TxBody, msg Msg) error {
	switch m := msg.(type) {
	case *types.RegisterNode:
		body.Msg = &types.TxBody_RegisterNode{RegisterNode: m}
	case *types.Heartbeat:
		body.Msg = &types.TxBody_Heartbeat{Heartbeat: m}
	case *types.HealthReport:
		body.Msg = &types.TxBody_HealthReport{HealthReport: m}
	case *types.ReportEquivocation:
		body.Msg = &types.TxBody_ReportEquivocation{ReportEquivocation: m}
	case *types.CreateWorkload:
		body.Msg = &types.TxBody_CreateWorkload{CreateWorkload: m}
	case *types.UpdateWorkload:
		body.Msg = &types.TxBody_UpdateWorkload{UpdateWorkload: m}
	case *types.DeleteWorkload:
		body.Msg = &types.TxBody_DeleteWorkload{DeleteWorkload: m}
	case *types.CordonNode:
		body.Msg = &types.TxBody_CordonNode{CordonNode: m}
	case *types.UncordonNode:
		body.Msg = &types.TxBody_UncordonNode{UncordonNode: m}
	case *types.DrainNode:
		body.Msg = &types.TxBody_DrainNode{DrainNode: m}
	case *types.GrantRole:
		body.Msg = &types.TxBody_GrantRole{GrantRole: m}
	case *types.RevokeRole:
		body.Msg = &types.TxBody_RevokeRole{RevokeRole: m}
	case *types.UpdateParams:
		body.Msg = &types.TxBody_UpdateParams{UpdateParams: m}
	case *types.SetValidatorPower:
		body.Msg = &types.TxBody_SetValidatorPower{SetValidatorPower: m}
	case *types.RemoveNode:
		body.Msg = &types.TxBody_RemoveNode{RemoveNode: m}
	case *types.UnjailObserver:
		body.Msg = &types.TxBody_UnjailObserver{UnjailObserver: m}
	case *types.Attest:
		body.Msg = &types.TxBody_Attest{Attest: m}
	case *types.TxBody_RegisterNode:
		body.Msg = m
	case *types.TxBody_Heartbeat:
		body.Msg = m
	case *types.TxBody_HealthReport:
		body.Msg = m
	case *types.TxBody_ReportEquivocation:
		body.Msg = m
	case *types.TxBody_CreateWorkload:
		body.Msg = m
	case *types.TxBody_UpdateWorkload:
		body.Msg = m
	case *types.TxBody_DeleteWorkload:
		body.Msg = m
	case *types.TxBody_CordonNode:
		body.Msg = m
	case *types.TxBody_UncordonNode:
		body.Msg = m
	case *types.TxBody_DrainNode:
		body.Msg = m
	case *types.TxBody_GrantRole:
		body.Msg = m
	case *types.TxBody_RevokeRole:
		body.Msg = m
	case *types.TxBody_UpdateParams:
		body.Msg = m
	case *types.TxBody_SetValidatorPower:
		body.Msg = m
	case *types.TxBody_RemoveNode:
		body.Msg = m
	case *types.TxBody_UnjailObserver:
		body.Msg = m
	case *types.TxBody_Attest:
		body.Msg = m
	default:
		return fmt.Errorf("build tx: %T is not a transaction message; expected a message of package types such as *types.RegisterNode, or its *types.TxBody_ wrapper", msg)
	}
	return nil
}

// BuildTx encodes a TxBody with msg, signs it with priv and returns the
// encoded Tx, ready for Broadcast. It runs no validation beyond the shape
// of its arguments: the node's CheckTx does (api.DecodeTx).
func BuildTx(chainID string, seq uint64, timeoutHeight int64, memo string, msg Msg, priv ed25519.PrivateKey) ([]byte, error) {
	if chainID == "" {
		return nil, errors.New("build tx: chain id is empty")
	}
	if len(priv) != crypto.PrivKeyLen {
		return nil, fmt.Errorf("build tx: private key is %d bytes; expected %d (ed25519)", len(priv), crypto.PrivKeyLen)
	}
	if timeoutHeight < 0 {
		return nil, fmt.Errorf("build tx: timeout height %d is negative; expected 0 (none) or a block height", timeoutHeight)
	}
	body := types.TxBody{ChainId: chainID, Sequence: seq, TimeoutHeight: timeoutHeight, Memo: memo}
	if err := setMsg(&body, msg); err != nil {
		return nil, err
	}
	bodyBytes, err := body.Marshal()
	if err != nil {
		return nil, fmt.Errorf("build tx: encode body: %w", err)
	}
	tx := types.Tx{
		BodyBytes: bodyBytes,
		PubKey:    append([]byte(nil), priv.Public().(ed25519.PublicKey)...),
		Signature: crypto.Sign(priv, bodyBytes),
	}
	raw, err := tx.Marshal()
	if err != nil {
		return nil, fmt.Errorf("build tx: encode tx: %w", err)
	}
	return raw, nil
}

// TxHash is the CometBFT hash of an encoded transaction, upper-case hex:
// the key of the tx RPC and of explorers.
func TxHash(txBytes []byte) string {
	return fmt.Sprintf("%X", cmttypes.Tx(txBytes).Hash())
}

// Attribute is one key/value of an event.
type Attribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Event is an event a transaction emitted (DESIGN §8).
type Event struct {
	Type       string      `json:"type"`
	Attributes []Attribute `json:"attributes"`
}

// Result is the outcome of a committed transaction.
type Result struct {
	Hash   string  `json:"txhash"` // upper-case hex
	Height int64   `json:"height"`
	Code   uint32  `json:"code"`
	Log    string  `json:"log"`
	Events []Event `json:"events"`
}

// TxError is a transaction rejected by the node: by CheckTx (Height 0, not
// in any block) or by the block that included it (Height > 0). Code is one
// of the app's result codes (api/errors.go).
type TxError struct {
	Code   uint32
	Log    string
	Hash   string
	Height int64
}

func (e *TxError) Error() string { return fmt.Sprintf("code %d: %s", e.Code, e.Log) }

// Is makes errors.Is(err, api.ErrSequenceUsed) and the like work.
func (e *TxError) Is(target error) bool {
	t, ok := target.(*api.Error)
	return ok && t.Code == e.Code
}

// ErrCommitTimeout: a broadcast transaction was not seen in a block before
// the deadline, or the wait was interrupted. Its outcome is unknown.
var ErrCommitTimeout = errors.New("transaction not confirmed")

// ErrTxNotFound: no committed transaction has the hash.
var ErrTxNotFound = errors.New("transaction not found")

// ErrTxDropped: a broadcast transaction's timeout_height passed without it
// being included; it will never be.
var ErrTxDropped = errors.New("transaction dropped")

func convertEvents(evs []abcitypes.Event) []Event {
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		ev := Event{Type: e.Type, Attributes: make([]Attribute, 0, len(e.Attributes))}
		for _, a := range e.Attributes {
			ev.Attributes = append(ev.Attributes, Attribute{Key: a.Key, Value: a.Value})
		}
		out = append(out, ev)
	}
	return out
}

// Broadcast submits txBytes with broadcast_tx_sync and waits, at most
// CommitTimeout, until it is committed. A CheckTx or DeliverTx rejection
// is a *TxError; the Result is returned with it when the tx was in a
// block. A deadline passing yields an error wrapping ErrCommitTimeout, or
// ErrTxDropped when the tx's timeout_height is behind the chain.
func (c *Client) Broadcast(ctx context.Context, txBytes []byte) (*Result, error) {
	hash := TxHash(txBytes)
	res, err := c.rpc.BroadcastTxSync(ctx, txBytes)
	if err != nil {
		if strings.Contains(err.Error(), "tx already exists in cache") {
			// The same bytes were broadcast before (a retry): wait for them.
			return c.WaitForTx(ctx, txBytes)
		}
		if code, log, ok := parseInvalidTx(err.Error()); ok {
			// CometBFT v1 reports a CheckTx rejection as an RPC error.
			return nil, &TxError{Code: code, Log: log, Hash: hash}
		}
		return nil, c.rpcError("broadcast_tx_sync", err)
	}
	if res.Code != abcitypes.CodeTypeOK {
		return nil, &TxError{Code: res.Code, Log: res.Log, Hash: hash}
	}
	return c.WaitForTx(ctx, txBytes)
}

// CheckTxRejection reads the code and log of a CheckTx refusal out of the
// error a raw broadcast_tx_sync returned (ok false for any other error:
// connection failures, CometBFT's own "mempool is full", …).
func CheckTxRejection(err error) (code uint32, log string, ok bool) {
	if err == nil {
		return 0, "", false
	}
	return parseInvalidTx(err.Error())
}

// parseInvalidTx extracts the CheckTx code and log from the RPC error
// CometBFT v1 returns for a rejected broadcast_tx_sync (mempool.ErrInvalidTx:
// "tx HASH is invalid: code=N, data=…, log='…', codespace='…'").
func parseInvalidTx(msg string) (code uint32, log string, ok bool) {
	const codeMark, logMark, endMark = "is invalid: code=", ", log='", "', codespace='"
	i := strings.Index(msg, codeMark)
	if i < 0 {
		return 0, "", false
	}
	rest := msg[i+len(codeMark):]
	j := strings.IndexByte(rest, ',')
	if j < 0 {
		return 0, "", false
	}
	n, err := strconv.ParseUint(rest[:j], 10, 32)
	if err != nil || n == 0 {
		return 0, "", false
	}
	if k := strings.Index(rest, logMark); k >= 0 {
		log = rest[k+len(logMark):]
		if e := strings.LastIndex(log, endMark); e >= 0 {
			log = log[:e]
		}
	}
	return uint32(n), log, true
}

// WaitForTx waits, at most CommitTimeout, until txBytes (already broadcast)
// is in a block, and returns its result as Broadcast does. It follows the
// node's tx index, or scans new blocks when the node has no index. It
// stops early, with a definite answer, when the transaction can no longer
// be included: its timeout_height passed (ErrTxDropped), or its sequence
// was consumed by another transaction of the same signer (a *TxError with
// code 7, as if CheckTx had refused it: the transaction was not applied).
func (c *Client) WaitForTx(ctx context.Context, txBytes []byte) (*Result, error) {
	hash := cmttypes.Tx(txBytes).Hash()
	hashHex := fmt.Sprintf("%X", hash)
	var tx types.Tx
	var body types.TxBody
	decoded := tx.Unmarshal(txBytes) == nil && body.Unmarshal(tx.BodyBytes) == nil && len(tx.PubKey) == crypto.PubKeyLen
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommitTimeout)
	defer cancel()

	// Blocks from a little before now on are the ones that can hold the
	// transaction (it was admitted to the mempool just before).
	sc := &blockScanner{c: c, hash: hash}
	var first int64 // the first height that can hold it (0: unknown)
	if h, err := c.LatestHeight(ctx); err == nil {
		first = max(h-2, 1)
		sc.next = first
	}
	useIndex := true
	var found *Result
	var lastErr error
	polls := 0
	err := c.wait(ctx, func() (bool, error) {
		polls++
		if useIndex {
			r, err := c.rpc.Tx(ctx, hash, false)
			if err == nil {
				found = resultOf(hashHex, r.Height, &r.TxResult)
				return true, nil
			}
			switch {
			case strings.Contains(err.Error(), "indexing is disabled"):
				useIndex = false
			case !strings.Contains(err.Error(), ") not found"):
				lastErr = err
			}
		}
		if !useIndex || polls%4 == 0 {
			latest, err := c.LatestHeight(ctx)
			if err != nil {
				lastErr = err
				return false, nil
			}
			if !useIndex {
				if found, err = sc.scan(ctx, latest); found != nil || err != nil {
					lastErr = err
					return found != nil, nil
				}
			}
			if !decoded || polls%4 != 0 {
				return false, nil
			}
			// Can it still be included? If not, make sure it is not in a
			// block the index has not caught up with, and say why.
			var gone error
			if body.TimeoutHeight > 0 && latest > body.TimeoutHeight {
				gone = fmt.Errorf("%w: tx %s was not included by its timeout height %d (chain at %d)", ErrTxDropped, hashHex, body.TimeoutHeight, latest)
			} else if next, err := c.NextSequence(ctx, crypto.Address(tx.PubKey)); err == nil && next > body.Sequence {
				gone = &TxError{Code: api.ErrSequenceUsed.Code, Hash: hashHex, Log: fmt.Sprintf(
					"sequence %d of account %s was used by another transaction (the account's next sequence is %d); tx %s was dropped from the mempool and will never be included",
					body.Sequence, crypto.AddressHex(tx.PubKey), next, hashHex)}
			}
			if gone == nil {
				return false, nil
			}
			// The sequence was read from state committed after latest was
			// read: the block that consumed it may be above latest (and
			// not indexed yet), so scan up to the height as it is now.
			if now, err := c.LatestHeight(ctx); err == nil && now > latest {
				latest = now
			}
			if useIndex {
				sc.next = first // every block since the wait began, not only the unindexed ones
			}
			if found, err = sc.scan(ctx, latest); found != nil {
				return true, nil
			}
			if err != nil {
				lastErr = err
				return false, nil
			}
			return false, gone
		}
		return false, nil
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			how := fmt.Sprintf("not seen in a block within %s", c.cfg.CommitTimeout)
			if errors.Is(err, context.Canceled) {
				how = "interrupted before it was seen in a block"
			}
			msg := fmt.Sprintf("%v: tx %s broadcast to %s, %s; it may still be included (look it up with `phalanxd query tx %s`)", ErrCommitTimeout, hashHex, c.node, how, hashHex)
			if lastErr != nil {
				msg += fmt.Sprintf("; last error: %v", lastErr)
			}
			return nil, &timeoutError{msg: msg}
		}
		return nil, err
	}
	if found.Code != abcitypes.CodeTypeOK {
		return found, &TxError{Code: found.Code, Log: found.Log, Hash: hashHex, Height: found.Height}
	}
	return found, nil
}

func resultOf(hashHex string, height int64, r *abcitypes.ExecTxResult) *Result {
	return &Result{Hash: hashHex, Height: height, Code: r.Code, Log: r.Log, Events: convertEvents(r.Events)}
}

// maxScanBlocks bounds one blockScanner.scan.
const maxScanBlocks = 200

// blockScanner looks for a transaction in blocks, in height order, without
// the tx index.
type blockScanner struct {
	c    *Client
	hash []byte
	next int64 // first height not scanned yet (0: start near the top)
}

// scan looks at blocks next..upTo (at most maxScanBlocks of them, the
// latest) and returns the transaction's result if one holds it.
func (s *blockScanner) scan(ctx context.Context, upTo int64) (*Result, error) {
	if s.next <= 0 || upTo-s.next >= maxScanBlocks {
		s.next = max(upTo-maxScanBlocks+1, 1)
	}
	for ; s.next <= upTo; s.next++ {
		h := s.next
		b, err := s.c.rpc.Block(ctx, &h)
		if err != nil {
			return nil, s.c.rpcError(fmt.Sprintf("block %d", h), err)
		}
		for i, t := range b.Block.Data.Txs {
			if !bytes.Equal(t.Hash(), s.hash) {
				continue
			}
			br, err := s.c.rpc.BlockResults(ctx, &h)
			if err != nil {
				return nil, s.c.rpcError(fmt.Sprintf("block_results %d", h), err)
			}
			if i >= len(br.TxResults) {
				return nil, fmt.Errorf("block_results %d at %s: %d results for %d transactions", h, s.c.node, len(br.TxResults), len(b.Block.Data.Txs))
			}
			return resultOf(fmt.Sprintf("%X", s.hash), h, br.TxResults[i]), nil
		}
	}
	return nil, nil
}

type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }
func (e *timeoutError) Unwrap() error { return ErrCommitTimeout }

// Tx looks up a committed transaction by its hash (hex, either case). A
// transaction that was rejected in its block is returned with its code; it
// is not an error here.
func (c *Client) Tx(ctx context.Context, hashHex string) (*Result, error) {
	hash, err := parseHash(hashHex)
	if err != nil {
		return nil, err
	}
	r, err := c.rpc.Tx(ctx, hash, false)
	if err != nil {
		if strings.Contains(err.Error(), ") not found") {
			return nil, fmt.Errorf("%w: tx %X is not in a block known to %s (it may be pending in the mempool, dropped, or never sent)", ErrTxNotFound, hash, c.node)
		}
		return nil, c.rpcError("tx", err)
	}
	return &Result{
		Hash: fmt.Sprintf("%X", hash), Height: r.Height,
		Code: r.TxResult.Code, Log: r.TxResult.Log,
		Events: convertEvents(r.TxResult.Events),
	}, nil
}

func parseHash(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("tx hash %q is not 64 hex characters (a SHA-256 hash, as `phalanxd tx` prints it)", s)
	}
	return b, nil
}

// TxOptions are the optional parts of a transaction.
type TxOptions struct {
	Memo string
	// TimeoutHeight, if non-zero, makes the transaction invalid in blocks
	// above it.
	TimeoutHeight int64
	// Sequencer, if set, supplies the sequence instead of an account
	// query, and is Reset when the node says the sequence was wrong.
	Sequencer *Sequencer
}

// SignAndBroadcast builds msg for the signer priv with the chain id
// (ChainID) and the signer's next sequence (opts.Sequencer, or an account
// query), broadcasts it and waits for the outcome as Broadcast does. If
// the node rejects the sequence (codes 7, 8: another transaction of the
// signer is pending, or a counted one was dropped) it waits for the next
// block, re-reads the sequence and tries once more; if the signer's
// mempool budget is full (code 32) it waits for the next block and sends
// the same sequence once more.
func (c *Client) SignAndBroadcast(ctx context.Context, priv ed25519.PrivateKey, msg Msg, opts TxOptions) (*Result, error) {
	if len(priv) != crypto.PrivKeyLen {
		return nil, fmt.Errorf("sign: private key is %d bytes; expected %d (ed25519)", len(priv), crypto.PrivKeyLen)
	}
	// With fallbacks: the first node that answers and is in sync reads
	// the chain id and sequence; the signed bytes go to the next node when
	// it stops answering (broadcast.go).
	at, n := 0, c
	if len(c.fallbacks) > 0 {
		i, err := c.live(ctx, 0)
		if err != nil {
			return nil, err
		}
		at, n = i, c.nodes()[i]
	}
	chainID, err := n.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	addr := crypto.Address(priv.Public().(ed25519.PublicKey))
	next := func() (uint64, error) {
		if opts.Sequencer != nil {
			return opts.Sequencer.Next(ctx)
		}
		return n.NextSequence(ctx, addr)
	}
	seq, err := next()
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		raw, err := BuildTx(chainID, seq, opts.TimeoutHeight, opts.Memo, msg, priv)
		if err != nil {
			return nil, err
		}
		res, err := c.broadcastFailover(ctx, at, raw)
		budget := errors.Is(err, api.ErrSignerBudget)
		if attempt > 0 || !(budget || errors.Is(err, api.ErrSequenceUsed) || errors.Is(err, api.ErrSequenceSkipped)) {
			return res, err
		}
		// Wrong sequence: wait for the block that settles the pending
		// transactions, then read the sequence again.
		if h, herr := n.LatestHeight(ctx); herr == nil {
			if werr := n.WaitForHeight(ctx, h+1); werr != nil {
				return res, fmt.Errorf("%w (and retrying failed: %v)", err, werr)
			}
		}
		if budget {
			// Not admitted, and the signer's pending transactions before
			// it still count: the same sequence is still the next one.
			continue
		}
		if opts.Sequencer != nil {
			if rerr := opts.Sequencer.Reset(ctx); rerr != nil {
				return res, fmt.Errorf("%w (and retrying failed: %v)", err, rerr)
			}
		}
		newSeq, rerr := next()
		if rerr != nil {
			return res, fmt.Errorf("%w (and retrying failed: %v)", err, rerr)
		}
		seq = newSeq
	}
}

// CheckMsg runs on msg, locally, the stateless checks the node's CheckTx
// runs first (api.DecodeTx: message validation, memo, sizes), so that a
// malformed message is refused with the chain's own error and code before
// anything is signed or sent. It signs with a throwaway key.
func CheckMsg(chainID string, timeoutHeight int64, memo string, msg Msg) error {
	_, priv, err := crypto.GenerateKey(nil)
	if err != nil {
		return err
	}
	raw, err := BuildTx(chainID, 0, timeoutHeight, memo, msg, priv)
	if err != nil {
		return err
	}
	if _, err := api.DecodeTx(raw, chainID); err != nil {
		return &TxError{Code: api.CodeOf(err), Log: err.Error()}
	}
	return nil
}
