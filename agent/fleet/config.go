package fleet

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/types"
)

// Limits and defaults of Config.
const (
	// MaxNodes bounds Config.Nodes: the chain's own limit.
	MaxNodes = api.MaxNodes
	// MaxDuration bounds Config.Duration.
	MaxDuration = 24 * time.Hour
	// MaxSenders bounds Config.Senders, the goroutines that submit.
	MaxSenders = 1024
	// MaxUnattestedLimit bounds Config.MaxUnattested.
	MaxUnattestedLimit = MaxNodes
	// MaxJitterPercent bounds Config.JitterPercent.
	MaxJitterPercent = 50
	// MaxPrefixLen leaves room in a node id (api.MaxNodeIDLen) for "-" and
	// five digits.
	MaxPrefixLen = api.MaxNodeIDLen - 6

	DefaultPrefix        = "fleet"
	DefaultSenders       = 64
	DefaultMaxUnattested = 500
	DefaultRegisterRate  = 100
	// MaxRegisterRate bounds Config.RegisterRate: the chain's own bound on
	// self-registrations per block.
	MaxRegisterRate      = api.MaxSelfRegistrationsPerBlockLimit
	DefaultJitterPercent = 10
	DefaultProgress      = 5 * time.Second
	DefaultTimeout       = 5 * time.Second
	DefaultCPUMillis     = 4000
	DefaultMemoryMB      = 8192
	// idleConnsPerValidator is the client connections kept to each
	// validator: enough for every sender.
	idleConnsPerValidator = 128
)

// Zones the simulated nodes are spread over, round-robin (as testnet
// init's agents).
var Zones = []string{"zone-a", "zone-b", "zone-c"}

// Config configures a Fleet. Zero values take the defaults above.
type Config struct {
	// Validators are the RPC URLs the fleet submits to (all at once, as
	// agents do) and reads from (the first that answers).
	Validators []string
	// Nodes is how many nodes the fleet plays.
	Nodes int
	// Duration is how long Run runs, from its start (registration
	// included).
	Duration time.Duration
	// CrashFraction of the nodes is crashed once each during the run and
	// revived after its Down verdict (0 to 1).
	CrashFraction float64
	// DownFor is the least time a crashed node stays crashed (0: the
	// chain's down_after plus two report windows). A crashed node is
	// revived only once the fleet saw its Down verdict.
	DownFor time.Duration
	// Seed derives the node keys and the crash schedule: the same seed
	// plays the same nodes (a second run adopts them) and crashes the same
	// ones at the same offsets.
	Seed uint64
	// Prefix names the nodes PREFIX-00000 … (default DefaultPrefix).
	Prefix string
	// Listen is the address of the one HTTP listener that serves every
	// node's /healthz and /tasks, e.g. 0.0.0.0:20100 (a port of 0 takes a
	// free one). Node i's endpoint is EndpointOf(i, port): the listener
	// must accept connections to all of 127.0.0.0/8, so its host is
	// 0.0.0.0 or empty; connections from beyond loopback are refused.
	Listen string
	// Capacity every node registers (default DefaultCPUMillis,
	// DefaultMemoryMB).
	Capacity types.Resources
	// Senders is how many transactions are submitted at once.
	Senders int
	// MaxUnattested bounds the nodes registered (or registering) that no
	// observer quorum attests yet: each of them heartbeats every interval,
	// so this is the fleet's heartbeat load while it grows (default
	// DefaultMaxUnattested: 250 tx/s at a 2 s interval).
	MaxUnattested int
	// RegisterRate bounds the registrations sent per second (and
	// params.max_self_registrations_per_block does too): each is a new
	// account and a node record, and each new node costs every observer a
	// proof before its first probe.
	RegisterRate int
	// JitterPercent spreads each heartbeat by ± this share of the
	// interval.
	JitterPercent int
	// Timeout bounds each request to a validator.
	Timeout time.Duration
	// Progress is the period of the progress callback (OnProgress).
	Progress time.Duration
	// OnProgress receives a snapshot every Progress (may be nil).
	OnProgress func(Progress)
	// Logf receives the fleet's messages (may be nil).
	Logf func(format string, args ...any)
}

func (c *Config) fillDefaults() {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Capacity.CpuMillis == 0 {
		c.Capacity.CpuMillis = DefaultCPUMillis
	}
	if c.Capacity.MemoryMb == 0 {
		c.Capacity.MemoryMb = DefaultMemoryMB
	}
	if c.Senders == 0 {
		c.Senders = DefaultSenders
	}
	if c.MaxUnattested == 0 {
		c.MaxUnattested = DefaultMaxUnattested
	}
	if c.RegisterRate == 0 {
		c.RegisterRate = DefaultRegisterRate
	}
	if c.JitterPercent == 0 {
		c.JitterPercent = DefaultJitterPercent
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Progress == 0 {
		c.Progress = DefaultProgress
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Validate reports the first impossible setting; Run changes nothing
// before it passes.
func (c Config) Validate() error {
	c.fillDefaults()
	if len(c.Validators) == 0 {
		return errors.New("fleet config: no validator RPC URL; expected --home TESTNET_DIR or --node URL")
	}
	for _, v := range c.Validators {
		if _, err := client.NormalizeNode(v); err != nil {
			return fmt.Errorf("fleet config: %w", err)
		}
	}
	if c.Nodes < 1 || c.Nodes > MaxNodes {
		return fmt.Errorf("fleet config: %d nodes; expected 1 to %d", c.Nodes, MaxNodes)
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		return fmt.Errorf("fleet config: duration %s; expected more than 0 and at most %s", c.Duration, MaxDuration)
	}
	if !(c.CrashFraction >= 0 && c.CrashFraction <= 1) {
		return fmt.Errorf("fleet config: crash fraction %v; expected 0 to 1", c.CrashFraction)
	}
	if c.DownFor < 0 || c.DownFor > MaxDuration {
		return fmt.Errorf("fleet config: down-for %s; expected 0 (the chain's down_after plus two report windows) to %s", c.DownFor, MaxDuration)
	}
	if len(c.Prefix) > MaxPrefixLen {
		return fmt.Errorf("fleet config: prefix %q is %d characters; expected at most %d", c.Prefix, len(c.Prefix), MaxPrefixLen)
	}
	if err := api.ValidName("node id prefix", c.Prefix, MaxPrefixLen); err != nil {
		return fmt.Errorf("fleet config: %w", err)
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("fleet config: listen address %q: %v; expected 0.0.0.0:PORT", c.Listen, err)
	}
	if host != "" && host != "0.0.0.0" {
		return fmt.Errorf("fleet config: listen address %q: the one listener serves every node on its own 127.x.y.z address, so its host must be 0.0.0.0 (or empty)", c.Listen)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("fleet config: listen port %q; expected 0 (a free one) to 65535", port)
	}
	last := c.Nodes - 1
	if err := client.CheckMsg("config-check", 0, "", registerMsg(c, last, KeyOf(c.Seed, last), EndpointOf(last, 1))); err != nil {
		return fmt.Errorf("fleet config: a node's registration would be refused: %w", err)
	}
	if c.Senders < 1 || c.Senders > MaxSenders {
		return fmt.Errorf("fleet config: %d senders; expected 1 to %d", c.Senders, MaxSenders)
	}
	if c.MaxUnattested < 1 || c.MaxUnattested > MaxUnattestedLimit {
		return fmt.Errorf("fleet config: max unattested %d; expected 1 to %d", c.MaxUnattested, MaxUnattestedLimit)
	}
	if c.RegisterRate < 1 || c.RegisterRate > MaxRegisterRate {
		return fmt.Errorf("fleet config: register rate %d/s; expected 1 to %d", c.RegisterRate, MaxRegisterRate)
	}
	if c.JitterPercent < 0 || c.JitterPercent > MaxJitterPercent {
		return fmt.Errorf("fleet config: jitter %d%%; expected 0 to %d", c.JitterPercent, MaxJitterPercent)
	}
	if c.Timeout < 0 || c.Timeout > time.Minute {
		return fmt.Errorf("fleet config: timeout %s; expected up to 1m", c.Timeout)
	}
	if c.Progress < 0 || c.Progress > time.Hour {
		return fmt.Errorf("fleet config: progress period %s; expected up to 1h", c.Progress)
	}
	return nil
}
