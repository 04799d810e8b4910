package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// AppEventTypes are the event types the Phalanx application emits
// (DESIGN §8); Watch passes on only these.
var AppEventTypes = []string{
	api.EventNodeStatus, api.EventNodeStrike, api.EventTaskPlaced,
	api.EventTaskEvicted, api.EventTaskFailed, api.EventTaskStop,
	api.EventAccountJailed, api.EventWorkload, api.EventZoneStatus,
	api.EventEvictionDeferred, api.EventNodeRemoved, api.EventAccountUnjailed,
	api.EventTaskPreempted,
}

// WatchEvent is one application event as Watch delivers it.
type WatchEvent struct {
	Height int64 `json:"height"`
	// TxIndex is the event's transaction within the block, or -1 for
	// events of the block's end-of-block pass.
	TxIndex    int         `json:"tx_index"`
	Type       string      `json:"type"`
	Attributes []Attribute `json:"attributes"`
	// Verified: the event was checked against the next block's header,
	// verified from the root of trust (WatchOptions.Trust).
	Verified bool `json:"verified"`
}

// Attr returns the value of key, or "".
func (e WatchEvent) Attr(key string) string {
	for _, a := range e.Attributes {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

// WatchOptions configures Watch.
type WatchOptions struct {
	// Nodes are RPC URLs tried in turn; Watch moves to the next one when
	// its node stops answering.
	Nodes []string
	// FromHeight > 0 first replays the events of blocks from that height;
	// 0 starts with the next block.
	FromHeight int64
	// HealthInterval is how often the node is probed (default 2s); a probe
	// that fails ends the connection and Watch reconnects.
	HealthInterval time.Duration
	// MaxBackoff caps the wait between reconnection attempts (default 5s).
	MaxBackoff time.Duration
	// Logf receives connection messages (may be nil).
	Logf func(format string, args ...any)
	// Trust, if set, checks every block before its events are delivered
	// (verifyBlock): its transactions' results against the next header's
	// last_results_hash and its begin and end passes' events against the
	// block info record proven at its height; a block that does not check
	// out ends Watch with an error wrapping ErrProofInvalid. Delivery then
	// waits for the next block's header.
	Trust *Trust
	// Progress, if set (and Trust is), is called after the events of each
	// verified block were emitted, with the block's height and the time
	// of the next header, which verified it: the state after that block
	// held at least until then, since the next block's changes bear that
	// time. Heights come in order without a gap from the first block
	// Watch delivers (agent self-fencing, ADR 0021).
	Progress func(height int64, heldUntil time.Time)
}

// Watch streams the application's events, block by block and in order,
// until ctx is done. A websocket subscription to NewBlockEvents tells it
// a block was committed; it then reads that block's results, so events are
// delivered once each, in the order the block produced them, and a
// reconnection (to the same node or the next) resumes after the last
// block delivered without a gap.
func Watch(ctx context.Context, opts WatchOptions, emit func(WatchEvent) error) error {
	if len(opts.Nodes) == 0 {
		return errors.New("watch: no node URL; expected at least one --node")
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 2 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	last := opts.FromHeight - 1 // last height delivered; -1: not started
	if opts.FromHeight <= 0 {
		last = -1
	}
	backoff := 250 * time.Millisecond
	for i := 0; ; i++ {
		url := opts.Nodes[i%len(opts.Nodes)]
		started := time.Now()
		err := watchOnce(ctx, url, opts, &last, emit, logf)
		if ctx.Err() != nil {
			return nil
		}
		var emitErr *emitError
		if errors.As(err, &emitErr) {
			return emitErr.err
		}
		if errors.Is(err, ErrProofInvalid) {
			return err
		}
		if time.Since(started) > 10*time.Second {
			backoff = 250 * time.Millisecond
		}
		logf("watch: %s: %v; reconnecting in %s", url, err, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, opts.MaxBackoff)
	}
}

type emitError struct{ err error }

// errResultsNotYet: a block's results are not stored yet.
var errResultsNotYet = errors.New("block results not stored yet")

func (e *emitError) Error() string { return e.err.Error() }

func watchOnce(ctx context.Context, url string, opts WatchOptions, last *int64, emit func(WatchEvent) error, logf func(string, ...any)) error {
	health, trust := opts.HealthInterval, opts.Trust
	c, err := rpchttp.New(url)
	if err != nil {
		return err
	}
	var verify *Client
	if trust != nil {
		if verify, err = New(url); err != nil {
			return err
		}
		verify.SetTrust(trust)
	}
	probe := func() (int64, error) {
		pctx, cancel := context.WithTimeout(ctx, health)
		defer cancel()
		st, err := c.Status(pctx)
		if err != nil {
			return 0, err
		}
		return st.SyncInfo.LatestBlockHeight, nil
	}
	if _, err := probe(); err != nil {
		return err
	}
	feed, err := subscribeBlocks(ctx, url, health)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer feed.stop()
	height, err := probe()
	if err != nil {
		return err
	}
	if *last < 0 {
		*last = height
	}
	logf("watch: connected to %s at height %d", url, height)
	// A block's delivery is bounded, and ends with the connection: a node
	// that dies while Watch waits for its next header (verify waits for
	// it to reach that height) must not hold Watch for the client's whole
	// commit timeout.
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	go func() {
		select {
		case <-feed.done:
			ccancel()
		case <-cctx.Done():
		}
	}()
	catchUp := func(to int64) error {
		for h := *last + 1; h <= to; h++ {
			bctx, bcancel := context.WithTimeout(cctx, 3*health)
			heldUntil, err := deliverBlock(bctx, c, verify, h, emit)
			bcancel()
			if err != nil && ctx.Err() == nil && cctx.Err() != nil {
				return fmt.Errorf("block subscription ended: %w", feed.err)
			}
			if errors.Is(err, errResultsNotYet) {
				return nil // the next notification or probe goes on from here
			}
			if err != nil {
				return err
			}
			*last = h
			if verify != nil && opts.Progress != nil {
				opts.Progress(h, heldUntil)
			}
		}
		return nil
	}
	if err := catchUp(height); err != nil {
		return err
	}
	tick := time.NewTicker(health)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-feed.notify:
			if err := catchUp(feed.height.Load()); err != nil {
				return err
			}
		case <-feed.done:
			return fmt.Errorf("block subscription ended: %w", feed.err)
		case <-tick.C:
			h, err := probe()
			if err != nil {
				return fmt.Errorf("node stopped answering: %w", err)
			}
			if err := catchUp(h); err != nil { // a missed notification
				return err
			}
		}
	}
}

// deliverBlock reads one block's results, checks them when verify is not
// nil (verifyBlock), and emits its app events: those of each transaction
// in order, then those of the end-of-block pass. Verified, it returns the
// time of the header that verified the block.
func deliverBlock(ctx context.Context, c *rpchttp.HTTP, verify *Client, height int64, emit func(WatchEvent) error) (time.Time, error) {
	res, err := c.BlockResults(ctx, &height)
	if err != nil {
		if strings.Contains(err.Error(), "could not find results for height") {
			// Announced, not stored yet: CometBFT publishes the block's
			// events before it saves its results.
			return time.Time{}, errResultsNotYet
		}
		return time.Time{}, fmt.Errorf("block results %d: %w", height, err)
	}
	var heldUntil time.Time
	verified := verify != nil
	if verified {
		if heldUntil, err = verify.verifyBlock(ctx, height, res); err != nil {
			return time.Time{}, err
		}
	}
	for i, tx := range res.TxResults {
		if tx.Code != 0 {
			continue
		}
		if err := emitAll(height, i, tx.Events, verified, emit); err != nil {
			return time.Time{}, err
		}
	}
	return heldUntil, emitAll(height, -1, res.FinalizeBlockEvents, verified, emit)
}

// verifyBlock checks block height's results against what headers cover:
// the header of height+1 (verified by the client's trust anchor) carries
// last_results_hash, the merkle root of the transactions' codes and data,
// and each transaction's data is the digest of its events
// (api.EventsDigest); the block info record, proven at height against the
// same header's app hash, holds the digest of the begin and end passes'
// events.
func (c *Client) verifyBlock(ctx context.Context, height int64, res *ctypes.ResultBlockResults) (time.Time, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: block %d from %s: %s", ErrProofInvalid, height, c.node, fmt.Sprintf(format, args...))
	}
	sh, err := c.verifiedHeader(ctx, height+1)
	if err != nil {
		return time.Time{}, fmt.Errorf("verify block %d: header %d: %w", height, height+1, err)
	}
	if got := cmttypes.NewResults(res.TxResults).Hash(); !bytes.Equal(got, sh.LastResultsHash) {
		return time.Time{}, bad("its transaction results hash to %X; header %d's last_results_hash is %X", got, height+1, []byte(sh.LastResultsHash))
	}
	for i, tx := range res.TxResults {
		if want := api.EventsDigest(eventData(tx.Events)); !bytes.Equal(tx.Data, want) {
			return time.Time{}, bad("the events of transaction %d do not match the digest its result carries", i)
		}
	}
	p, err := c.QueryProofAt(ctx, "/blockinfo", height)
	if err != nil {
		return time.Time{}, fmt.Errorf("verify block %d: %w", height, err)
	}
	var bi types.BlockInfo
	if p.Value == nil || bi.Unmarshal(p.Value) != nil || bi.Height != height {
		return time.Time{}, bad("the proven block info record is not that of height %d", height)
	}
	if want := api.EventsDigest(eventData(res.FinalizeBlockEvents)); !bytes.Equal(bi.EventsDigest, want) {
		return time.Time{}, bad("its begin and end passes' events do not match the digest proven in the block info record")
	}
	return sh.Time, nil
}

func eventData(evs []abcitypes.Event) []api.EventData {
	out := make([]api.EventData, len(evs))
	for i, e := range evs {
		out[i].Type = e.Type
		out[i].Attributes = make([]api.EventAttr, len(e.Attributes))
		for j, a := range e.Attributes {
			out[i].Attributes[j] = api.EventAttr{Key: a.Key, Value: a.Value}
		}
	}
	return out
}

func emitAll(height int64, txIndex int, evs []abcitypes.Event, verified bool, emit func(WatchEvent) error) error {
	for _, e := range evs {
		if !isAppEvent(e.Type) {
			continue
		}
		ev := WatchEvent{Height: height, TxIndex: txIndex, Type: e.Type, Verified: verified}
		for _, a := range e.Attributes {
			ev.Attributes = append(ev.Attributes, Attribute{Key: a.Key, Value: a.Value})
		}
		if err := emit(ev); err != nil {
			return &emitError{err}
		}
	}
	return nil
}

func isAppEvent(t string) bool {
	for _, a := range AppEventTypes {
		if a == t {
			return true
		}
	}
	return false
}

// FormatEvent renders an event as one line a person can read.
func FormatEvent(e WatchEvent) string {
	s := fmt.Sprintf("height %-6d %-15s", e.Height, e.Type)
	for _, a := range e.Attributes {
		v := a.Value
		if v == "" || needsQuote(v) {
			v = strconv.Quote(v)
		}
		s += " " + a.Key + "=" + v
	}
	return s
}

func needsQuote(s string) bool {
	for _, r := range s {
		if r == ' ' || r == '"' || r == '=' || r < 0x20 {
			return true
		}
	}
	return false
}
