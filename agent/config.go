package agent

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/phalanx-bft/phalanx/agent/internal/rpcpool"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// Defaults of Config.
const (
	DefaultSyncInterval      = 5 * time.Second
	DefaultHeartbeatInterval = 2 * time.Second // until the chain's params are read
	DefaultRequestTimeout    = 5 * time.Second
	DefaultCommitTimeout     = 20 * time.Second
	DefaultMaxBackoff        = 10 * time.Second
	DefaultZone              = "default"
	// DefaultMaxClockDrift is the bound on how far this machine's clock
	// and the chain's block time may be apart (self-fencing, ADR 0021).
	DefaultMaxClockDrift = time.Second
)

// Limits of Config.
const (
	MinSyncInterval = 100 * time.Millisecond
	MaxSyncInterval = 10 * time.Minute
	// MinHeartbeatInterval bounds a heartbeat interval override from below.
	MinHeartbeatInterval = 100 * time.Millisecond
	MaxTimeout           = 10 * time.Minute
	MaxClockDrift        = time.Minute
)

// Config configures an Agent. Zero durations take the defaults above.
type Config struct {
	// Home holds the agent's state file and its tasks' files (Home/tasks).
	Home string
	// NodeID is the node this agent runs ([a-z0-9][a-z0-9.-]{0,62}).
	NodeID string
	// Key is the node's key: it signs the registration and heartbeats.
	Key ed25519.PrivateKey
	// Nodes are validators' RPC URLs: the first is preferred, the others
	// are fallbacks.
	Nodes []string
	// Zone, Labels and Capacity are registered with the node under open
	// registration; Labels sorted by key.
	Zone     string
	Labels   []types.Label
	Capacity types.Resources
	// Listen is HOST:PORT of the agent's HTTP endpoint (/healthz, /tasks).
	Listen string
	// Endpoint is the HOST:PORT observers probe, registered with the node
	// (default: Listen; set it when Listen is a wildcard address).
	Endpoint string
	// SyncInterval is the period of the placement query that backs up the
	// event subscription.
	SyncInterval time.Duration
	// HeartbeatInterval overrides params.heartbeat_interval_ms (0: follow
	// the chain).
	HeartbeatInterval time.Duration
	// StopGrace is the time a stopped task gets between SIGTERM and SIGKILL.
	StopGrace time.Duration
	// MaxClockDrift bounds how far this machine's clock and the chain's
	// block time (BFT time: the median of the validators' clocks) may be
	// apart. Self-fencing (ADR 0021) stops a stop-first task this much
	// earlier, twice over, than the chain may place its replacement.
	MaxClockDrift time.Duration
	// NoSelfFence turns self-fencing off (ADR 0021): stop-first tasks then
	// run on while the chain cannot be verified, as before issue 14.
	NoSelfFence bool
	// RequestTimeout bounds a query; CommitTimeout the wait for a
	// transaction to be committed.
	RequestTimeout time.Duration
	CommitTimeout  time.Duration
	// MaxBackoff caps the pause between attempts while no validator
	// answers.
	MaxBackoff time.Duration
	// ReaperArgv, if set, starts a reaper process (see reaper.go) so that a
	// task's descendants die with the agent too; ReaperEnv is added to its
	// environment.
	ReaperArgv []string
	ReaperEnv  []string
	// TaskEnv is the environment every task starts with (nil: PATH only;
	// the agent's own environment, which may hold secrets, is not passed).
	TaskEnv []string
	// Trust is the root of trust the agent verifies placements, workload
	// specs and parameters from (docs/adr/0016-trust.md): Genesis, or
	// Height and Hash (with ChainID), and Period. The agent sets Primary
	// (the first of Nodes), Witnesses (the others and any given here) and
	// Dir (Home/light).
	Trust client.TrustOptions
	// Logf receives the agent's messages (nil: discarded).
	Logf func(format string, args ...any)
}

func (c *Config) fillDefaults() {
	if c.Zone == "" {
		c.Zone = DefaultZone
	}
	if c.Endpoint == "" {
		c.Endpoint = c.Listen
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.SyncInterval, DefaultSyncInterval)
	def(&c.StopGrace, DefaultStopGrace)
	def(&c.RequestTimeout, DefaultRequestTimeout)
	def(&c.CommitTimeout, DefaultCommitTimeout)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.MaxClockDrift, DefaultMaxClockDrift)
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if len(c.Nodes) > 0 {
		c.Trust.Primary = c.Nodes[0]
		c.Trust.Witnesses = append(append([]string(nil), c.Nodes[1:]...), c.Trust.Witnesses...)
	}
	if c.Trust.Dir == "" && c.Home != "" {
		c.Trust.Dir = filepath.Join(c.Home, client.TrustStoreDirName)
	}
	if c.Trust.Logf == nil {
		c.Trust.Logf = c.Logf
	}
}

// Validate reports the first impossible setting. It checks the node's
// registration fields with the chain's own rules.
func (c Config) Validate() error {
	c.fillDefaults()
	if c.Home == "" {
		return errors.New("agent config: home directory is empty; expected --home DIR")
	}
	if len(c.Key) != crypto.PrivKeyLen {
		return fmt.Errorf("agent config: key is %d bytes; expected an ed25519 private key (%d bytes)", len(c.Key), crypto.PrivKeyLen)
	}
	if len(c.Nodes) == 0 {
		return errors.New("agent config: no validator RPC URL; expected --node URL")
	}
	if len(c.Nodes) > rpcpool.MaxNodes {
		return fmt.Errorf("agent config: %d RPC URLs; the limit is %d", len(c.Nodes), rpcpool.MaxNodes)
	}
	for _, n := range c.Nodes {
		if _, err := client.NormalizeNode(n); err != nil {
			return fmt.Errorf("agent config: %w", err)
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("agent config: listen address %q is not HOST:PORT (e.g. 127.0.0.1:9100): %v", c.Listen, err)
	}
	if host, port, err := net.SplitHostPort(c.Endpoint); err != nil || host == "" || port == "0" {
		return fmt.Errorf("agent config: endpoint %q is not a HOST:PORT observers can reach; set --endpoint when --listen is a wildcard or port 0", c.Endpoint)
	} else if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("agent config: endpoint %q is a wildcard address; set --endpoint to an address observers can reach", c.Endpoint)
	}
	if c.Trust.Genesis == "" && c.Trust.Height == 0 {
		return errors.New("agent config: no root of trust: the agent runs only what it can verify against the chain's validators; expected --genesis FILE (the chain's genesis.json, default HOME/config/genesis.json) or --trust-height with --trust-hash")
	}
	if c.Trust.Genesis != "" {
		if _, err := os.Stat(c.Trust.Genesis); err != nil {
			return fmt.Errorf("agent config: genesis file: %w; expected the chain's genesis.json (--genesis)", err)
		}
	}
	if err := client.CheckMsg("config-check", 0, "", c.registerMsg()); err != nil {
		return fmt.Errorf("agent config: the node's registration would be refused: %w", err)
	}
	durs := []struct {
		name     string
		v        time.Duration
		min, max time.Duration
	}{
		{"sync interval", c.SyncInterval, MinSyncInterval, MaxSyncInterval},
		{"stop grace", c.StopGrace, time.Millisecond, MaxStopGrace},
		{"request timeout", c.RequestTimeout, time.Millisecond, MaxTimeout},
		{"commit timeout", c.CommitTimeout, time.Millisecond, MaxTimeout},
		{"max backoff", c.MaxBackoff, time.Millisecond, MaxTimeout},
		{"max clock drift", c.MaxClockDrift, time.Millisecond, MaxClockDrift},
	}
	for _, d := range durs {
		if d.v < d.min || d.v > d.max {
			return fmt.Errorf("agent config: %s %s; expected %s to %s", d.name, d.v, d.min, d.max)
		}
	}
	if c.HeartbeatInterval != 0 && (c.HeartbeatInterval < MinHeartbeatInterval || c.HeartbeatInterval > MaxSyncInterval) {
		return fmt.Errorf("agent config: heartbeat interval %s; expected 0 (the chain's) or %s to %s", c.HeartbeatInterval, MinHeartbeatInterval, MaxSyncInterval)
	}
	return nil
}

// registerMsg is the node's self-registration.
func (c Config) registerMsg() *types.RegisterNode {
	var pub []byte
	if len(c.Key) == crypto.PrivKeyLen {
		pub = append([]byte(nil), c.Key.Public().(ed25519.PublicKey)...)
	}
	return &types.RegisterNode{
		NodeId:   c.NodeID,
		PubKey:   pub,
		Zone:     c.Zone,
		Labels:   c.Labels,
		Capacity: c.Capacity,
		Endpoint: c.Endpoint,
	}
}

// DetectCapacity is this machine's capacity as a node registers it: 1000
// millicores per logical CPU and the total memory (0 where unknown).
func DetectCapacity() types.Resources {
	return types.Resources{CpuMillis: int64(runtime.NumCPU()) * 1000, MemoryMb: totalMemoryMB()}
}
