package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	jsonrpcclient "github.com/cometbft/cometbft/rpc/jsonrpc/client"
	cmttypes "github.com/cometbft/cometbft/types"
)

// errNoRedial is what a block feed's websocket gets when it tries to
// dial a second time.
var errNoRedial = errors.New("block feed: the websocket does not redial; Watch reconnects by itself")

// blockFeed tells Watch that blocks were committed. It owns one
// websocket connection and never redials it: CometBFT v1.0.1's WSClient
// starts a new reader after a successful redial even when Stop has
// already closed its ResponsesCh, and that reader's next message panics
// the process ("send on closed channel"). An agent crashed on it in CI
// when its node restarted while Watch was moving on. Here a broken
// connection ends the feed instead (done), and Watch, which probes the
// node and replays missed heights, reconnects the way it does for any
// other failure.
type blockFeed struct {
	ws *jsonrpcclient.WSClient
	// height is the highest committed height the feed has seen; notify
	// (capacity 1) is signalled when it rises, so notifications coalesce
	// and the websocket reader never waits on Watch.
	height atomic.Int64
	notify chan struct{}
	// done is closed when the connection has ended; err says why.
	done chan struct{}
	err  error
}

func subscribeBlocks(ctx context.Context, url string, timeout time.Duration) (*blockFeed, error) {
	dial, err := jsonrpcclient.MakeHTTPDialer(url)
	if err != nil {
		return nil, err
	}
	var dialed atomic.Bool
	ws, err := jsonrpcclient.NewWS(url, "/websocket", jsonrpcclient.MaxReconnectAttempts(0))
	if err != nil {
		return nil, err
	}
	ws.Dialer = func(network, addr string) (net.Conn, error) {
		if dialed.Swap(true) {
			return nil, errNoRedial
		}
		return dial(network, addr)
	}
	if err := ws.Start(); err != nil {
		return nil, err
	}
	f := &blockFeed{ws: ws, notify: make(chan struct{}, 1), done: make(chan struct{})}
	go f.read()
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := ws.Subscribe(sctx, cmttypes.EventQueryNewBlockEvents.String()); err != nil {
		f.stop()
		return nil, err
	}
	return f, nil
}

// read drains the websocket's responses until the client closes them:
// when the connection breaks (its one redial fails and it stops itself)
// or when stop is called.
func (f *blockFeed) read() {
	defer close(f.done)
	f.err = errors.New("connection closed")
	for resp := range f.ws.ResponsesCh {
		if resp.Error != nil {
			f.err = fmt.Errorf("node answered: %w", resp.Error)
			go f.stop() // Stop waits for this reader's sender, not for read
			continue
		}
		var ev ctypes.ResultEvent
		if err := cmtjson.Unmarshal(resp.Result, &ev); err != nil {
			continue // the subscription's acknowledgement has no event
		}
		data, ok := ev.Data.(cmttypes.EventDataNewBlockEvents)
		if !ok || data.Height <= f.height.Load() {
			continue
		}
		f.height.Store(data.Height)
		select {
		case f.notify <- struct{}{}:
		default:
		}
	}
}

// stop closes the connection; it is safe to call more than once and
// concurrently with the client stopping itself.
func (f *blockFeed) stop() {
	_ = f.ws.Stop()
}
