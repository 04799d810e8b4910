package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	jsonrpcclient "github.com/cometbft/cometbft/rpc/jsonrpc/client"
)

// DefaultNode is the RPC address of a validator started with the default
// configuration.
const DefaultNode = "tcp://127.0.0.1:26657"

// Defaults of Config.
const (
	DefaultCommitTimeout = 30 * time.Second
	DefaultPollInterval  = 250 * time.Millisecond
)

// Config configures a Client.
type Config struct {
	// Node is the CometBFT RPC address: tcp://HOST:PORT, http(s)://HOST:PORT
	// or HOST:PORT. Empty means DefaultNode.
	Node string
	// CommitTimeout bounds how long Broadcast waits for a transaction to be
	// committed, and how long QueryProven waits for the next header.
	// 0 means DefaultCommitTimeout.
	CommitTimeout time.Duration
	// PollInterval is the pause between two polls while waiting.
	// 0 means DefaultPollInterval.
	PollInterval time.Duration
	// MaxIdleConnsPerHost is how many idle connections to the node are
	// kept for reuse; 0 means Go's default (2). A process that sends from
	// many goroutines at once (the fleet simulator, docs/fleet.md) keeps
	// more, so that its requests do not each open a connection. At most
	// MaxIdleConnsPerHostLimit.
	MaxIdleConnsPerHost int
}

// MaxIdleConnsPerHostLimit bounds Config.MaxIdleConnsPerHost.
const MaxIdleConnsPerHostLimit = 1024

// Validate reports an impossible setting.
func (c Config) Validate() error {
	if c.CommitTimeout < 0 {
		return fmt.Errorf("client config: commit timeout %s is negative; expected 0 (default %s) or more", c.CommitTimeout, DefaultCommitTimeout)
	}
	if c.PollInterval < 0 {
		return fmt.Errorf("client config: poll interval %s is negative; expected 0 (default %s) or more", c.PollInterval, DefaultPollInterval)
	}
	if c.MaxIdleConnsPerHost < 0 || c.MaxIdleConnsPerHost > MaxIdleConnsPerHostLimit {
		return fmt.Errorf("client config: %d idle connections per host; expected 0 (Go's default) to %d", c.MaxIdleConnsPerHost, MaxIdleConnsPerHostLimit)
	}
	if _, err := NormalizeNode(c.Node); err != nil {
		return fmt.Errorf("client config: %w", err)
	}
	return nil
}

// NormalizeNode checks an RPC address and returns it with a scheme:
// "" becomes DefaultNode, "HOST:PORT" becomes "tcp://HOST:PORT".
func NormalizeNode(node string) (string, error) {
	node = strings.TrimSpace(node)
	if node == "" {
		return DefaultNode, nil
	}
	if !strings.Contains(node, "://") {
		node = "tcp://" + node
	}
	scheme, rest, _ := strings.Cut(node, "://")
	switch scheme {
	case "tcp", "http", "https", "unix":
	default:
		return "", fmt.Errorf("node address %q: scheme %q is not supported; expected tcp://HOST:PORT, http(s)://HOST:PORT or unix://PATH", node, scheme)
	}
	if rest == "" {
		return "", fmt.Errorf("node address %q has no host; expected tcp://HOST:PORT", node)
	}
	return node, nil
}

// Client is a connection to one node's RPC. It is safe for concurrent use.
type Client struct {
	rpc  *rpchttp.HTTP
	node string
	cfg  Config

	mu      sync.Mutex
	chainID string // cached after the first ChainID call
	trust   *Trust // nil: proofs cannot be checked

	fallbacks []*Client // WithFallbacks (broadcast.go)
}

// SetTrust anchors the client in t: proofs are checked against headers t
// verified, and the chain id is t's, whatever the node says. A nil t
// removes the anchor.
func (c *Client) SetTrust(t *Trust) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trust = t
	if t != nil {
		c.chainID = t.ChainID()
	}
}

// Trust is the client's trust anchor, or nil.
func (c *Client) Trust() *Trust {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trust
}

// New connects to nodeURL (see Config.Node) with the default settings.
// No request is made until a method is called.
func New(nodeURL string) (*Client, error) {
	return NewWithConfig(Config{Node: nodeURL})
}

// NewWithConfig connects with the given settings.
func NewWithConfig(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	node, _ := NormalizeNode(cfg.Node)
	cfg.Node = node
	if cfg.CommitTimeout == 0 {
		cfg.CommitTimeout = DefaultCommitTimeout
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	hc, err := jsonrpcclient.DefaultHTTPClient(node)
	if err != nil {
		return nil, fmt.Errorf("node address %q: %w", node, err)
	}
	if tr, ok := hc.Transport.(*http.Transport); ok && cfg.MaxIdleConnsPerHost > 0 {
		tr.MaxIdleConnsPerHost = cfg.MaxIdleConnsPerHost
	}
	rpc, err := rpchttp.NewWithClient(node, hc)
	if err != nil {
		return nil, fmt.Errorf("node address %q: %w", node, err)
	}
	return &Client{rpc: rpc, node: node, cfg: cfg}, nil
}

// Node is the RPC address the client talks to.
func (c *Client) Node() string { return c.node }

// RPC exposes the underlying CometBFT RPC client for calls this package
// does not wrap (blocks, tx_search, subscriptions).
func (c *Client) RPC() *rpchttp.HTTP { return c.rpc }

// SetChainID makes ChainID return id without asking the node (for a
// --chain-id flag). An empty id clears the cache. A client with a trust
// anchor keeps the anchor's chain id.
func (c *Client) SetChainID(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trust == nil {
		c.chainID = id
	}
}

// ChainID returns the trust anchor's chain id, the one set by SetChainID,
// or else the one the node reports in /status (cached after the first
// call).
func (c *Client) ChainID(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.chainID
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	st, err := c.Status(ctx)
	if err != nil {
		return "", err
	}
	id = st.NodeInfo.Network
	if id == "" {
		return "", fmt.Errorf("node %s reports an empty chain id", c.node)
	}
	c.SetChainID(id)
	return id, nil
}

// Status is the node's /status.
func (c *Client) Status(ctx context.Context) (*ctypes.ResultStatus, error) {
	st, err := c.rpc.Status(ctx)
	if err != nil {
		return nil, c.rpcError("status", err)
	}
	return st, nil
}

// LatestHeight is the height of the node's latest committed block.
func (c *Client) LatestHeight(ctx context.Context) (int64, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

// ErrUnreachable wraps errors of requests that did not reach the node.
var ErrUnreachable = errors.New("node unreachable")

// rpcError wraps an RPC failure with the node address and, for connection
// failures, a hint.
func (c *Client) rpcError(method string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s at %s: %w", method, c.node, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") ||
		strings.Contains(msg, "dial tcp") || strings.Contains(msg, "dial unix") || strings.Contains(msg, "connection reset") {
		return fmt.Errorf("%w: %s at %s: %v (is a node running there? set it with --node)", ErrUnreachable, method, c.node, err)
	}
	if i := strings.Index(msg, "RPC error "); i >= 0 {
		// Drop the HTTP metadata CometBFT's client puts in front.
		return fmt.Errorf("%s at %s: %s", method, c.node, msg[i:])
	}
	return fmt.Errorf("%s at %s: %w", method, c.node, err)
}

// wait calls poll every PollInterval until it reports done, returns an
// error, or ctx ends. poll is called once at once.
func (c *Client) wait(ctx context.Context, poll func() (done bool, err error)) error {
	return c.waitEvery(ctx, c.cfg.PollInterval, poll)
}

// waitEvery is wait with its own pause between polls.
func (c *Client) waitEvery(ctx context.Context, every time.Duration, poll func() (done bool, err error)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		done, err := poll()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// WaitForHeight waits until the node has committed height h, at most
// CommitTimeout.
func (c *Client) WaitForHeight(ctx context.Context, h int64) error {
	return c.waitForHeight(ctx, h, c.cfg.PollInterval)
}

// headerPoll is how often a proof waiting for the next header asks for
// the height: that header closes the wait of everything verified (an agent
// starts a task one header after its placement), and a poll is one status
// call, made only while a proof waits.
const headerPoll = 25 * time.Millisecond

func (c *Client) waitForHeight(ctx context.Context, h int64, every time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommitTimeout)
	defer cancel()
	var last int64
	var lastErr error
	err := c.waitEvery(ctx, every, func() (bool, error) {
		st, err := c.rpc.Status(ctx)
		if err != nil {
			lastErr = err
			return false, nil
		}
		last = st.SyncInfo.LatestBlockHeight
		return last >= h, nil
	})
	if err != nil {
		if lastErr != nil {
			return fmt.Errorf("waiting for height %d at %s: %w (last error: %v)", h, c.node, err, c.rpcError("status", lastErr))
		}
		return fmt.Errorf("waiting for height %d at %s (latest %d): %w", h, c.node, last, err)
	}
	return nil
}
