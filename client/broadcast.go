package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
)

// This file is the submission side that survives one faulty validator:
// BroadcastSync hands a transaction to one node without waiting for the
// commit (callers broadcast the same bytes to several nodes), and a
// Client with fallbacks (WithFallbacks) sends a transaction through the
// first node that answers and is not catching up, and re-broadcasts the
// same signed bytes to the next one when a node stops answering. The same
// bytes have the same hash: the mempools dedupe them and the signer's
// sequence makes them count once.

// DefaultFailoverTimeout bounds one request to one node of a Client with
// fallbacks before the next node is tried.
const DefaultFailoverTimeout = 5 * time.Second

// ErrCatchingUp: the node is still syncing blocks (/status catching_up);
// its answers about the chain are old.
var ErrCatchingUp = errors.New("node is catching up")

// BroadcastSync hands txBytes to the node's mempool (broadcast_tx_sync)
// and returns without waiting for a block: nil when the node admitted it
// (or already had it), a *TxError when its CheckTx refused it, and any
// other error when the node did not answer.
func (c *Client) BroadcastSync(ctx context.Context, txBytes []byte) error {
	res, err := c.rpc.BroadcastTxSync(ctx, txBytes)
	if err != nil {
		if strings.Contains(err.Error(), "tx already exists in cache") {
			return nil
		}
		if code, log, ok := parseInvalidTx(err.Error()); ok {
			return &TxError{Code: code, Log: log, Hash: TxHash(txBytes)}
		}
		return c.rpcError("broadcast_tx_sync", err)
	}
	if res.Code != abcitypes.CodeTypeOK {
		return &TxError{Code: res.Code, Log: res.Log, Hash: TxHash(txBytes)}
	}
	return nil
}

// ExpectedSequence reads the sequence a node expected out of its refusal
// of a transaction with code 7 or 8 ("…; next is N"); ok is false for any
// other error.
func ExpectedSequence(err error) (next uint64, ok bool) {
	var te *TxError
	if !errors.As(err, &te) {
		return 0, false
	}
	const mark = "; next is "
	i := strings.LastIndex(te.Log, mark)
	if i < 0 {
		return 0, false
	}
	rest := te.Log[i+len(mark):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, perr := strconv.ParseUint(rest[:j], 10, 64)
	return n, perr == nil
}

// WithFallbacks returns a client for the same node whose SignAndBroadcast
// also uses the nodes urls, in order, when this one does not answer
// (within DefaultFailoverTimeout per request) or is catching up. Other
// methods still talk to this node only.
func (c *Client) WithFallbacks(urls ...string) (*Client, error) {
	out := &Client{rpc: c.rpc, node: c.node, cfg: c.cfg, chainID: c.cachedChainID()}
	seen := map[string]bool{c.node: true}
	for _, u := range urls {
		cfg := c.cfg
		cfg.Node = u
		f, err := NewWithConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("fallback %w", err)
		}
		if seen[f.node] {
			continue
		}
		seen[f.node] = true
		out.fallbacks = append(out.fallbacks, f)
	}
	return out, nil
}

// Fallbacks are the RPC addresses WithFallbacks added, in order.
func (c *Client) Fallbacks() []string {
	out := make([]string, len(c.fallbacks))
	for i, f := range c.fallbacks {
		out[i] = f.node
	}
	return out
}

// nodes is this node followed by its fallbacks.
func (c *Client) nodes() []*Client {
	return append([]*Client{c}, c.fallbacks...)
}

// answered reports whether err is a node's answer (see rpcpool.Answered):
// nil, an application refusal or a known drop.
func answered(err error) bool {
	if err == nil {
		return true
	}
	var te *TxError
	var qe *QueryError
	return errors.As(err, &te) || errors.As(err, &qe) || errors.Is(err, ErrTxDropped) || IsNotFound(err)
}

// live returns the first node, from this one on, that answers /status
// within DefaultFailoverTimeout and is not catching up, with the reasons
// the nodes before it were skipped.
func (c *Client) live(ctx context.Context, from int) (int, error) {
	nodes := c.nodes()
	var why []string
	for i := from; i < len(nodes); i++ {
		n := nodes[i]
		sctx, cancel := context.WithTimeout(ctx, DefaultFailoverTimeout)
		st, err := n.Status(sctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return -1, ctx.Err()
		case err != nil:
			why = append(why, err.Error())
		case st.SyncInfo.CatchingUp:
			why = append(why, fmt.Sprintf("%v: %s is at height %d and still syncing", ErrCatchingUp, n.node, st.SyncInfo.LatestBlockHeight))
		default:
			return i, nil
		}
	}
	return -1, fmt.Errorf("%w: none of the %d validators tried answers and is in sync (%s); expected one reachable validator that is not catching up (check --node and --rpc-fallback)",
		ErrUnreachable, len(nodes)-from, strings.Join(why, "; "))
}

// broadcastFailover broadcasts txBytes through node i and waits for its
// commit; while the node does not answer it sends the same bytes through
// the next live node.
func (c *Client) broadcastFailover(ctx context.Context, i int, txBytes []byte) (*Result, error) {
	nodes := c.nodes()
	for {
		res, err := nodes[i].Broadcast(ctx, txBytes)
		if answered(err) || ctx.Err() != nil || i+1 >= len(nodes) {
			return res, err
		}
		next, lerr := c.live(ctx, i+1)
		if lerr != nil {
			return nil, fmt.Errorf("%w; and then: %v", err, lerr)
		}
		i = next
	}
}

// FirstLive returns a client for the first of this node and its fallbacks
// that answers and is not catching up, with all the others as its
// fallbacks (in order); c itself when it has no fallbacks.
func (c *Client) FirstLive(ctx context.Context) (*Client, error) {
	if len(c.fallbacks) == 0 {
		return c, nil
	}
	i, err := c.live(ctx, 0)
	if err != nil {
		return nil, err
	}
	if i == 0 {
		return c, nil
	}
	nodes := c.nodes()
	n := nodes[i]
	out := &Client{rpc: n.rpc, node: n.node, cfg: n.cfg, chainID: c.cachedChainID()}
	for j, o := range nodes {
		if j != i {
			out.fallbacks = append(out.fallbacks, o)
		}
	}
	return out, nil
}

func (c *Client) cachedChainID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.chainID
}
