package networks

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/node"
	"github.com/phalanx-bft/phalanx/types"
)

// Defaults and limits of InitTestnet.
const (
	DefaultValidators = 4
	DefaultChainID    = "phalanx-testnet"
	DefaultBlockTime  = time.Second
	// DefaultBasePort is the first loopback port: validator i uses
	// DefaultBasePort+PortStride*i and the next two (see PortsOf).
	DefaultBasePort = 26600
	// PortStride is the gap between two loopback validators' ports.
	PortStride = 10
	// MaxValidators bounds a generated network.
	MaxValidators = 100

	// Ports of a multi-host validator (CometBFT's defaults).
	MultiHostP2PPort        = 26656
	MultiHostRPCPort        = 26657
	MultiHostPrometheusPort = 26660

	// AdminKey is the keyring name of the genesis admin account.
	AdminKey = "admin"
)

// ObserverKey is the keyring name of validator i's observer account.
func ObserverKey(i int) string { return "observer" + strconv.Itoa(i) }

// ValidatorName is the name (and moniker, and home directory) of
// validator i.
func ValidatorName(i int) string { return "val" + strconv.Itoa(i) }

var valDirRE = regexp.MustCompile(`^val[0-9]+$`)

// Ports are one loopback validator's ports.
type Ports struct {
	P2P, RPC, Prometheus int
}

// PortsOf returns validator i's loopback ports for base port base:
// p2p base+10i, rpc base+10i+1, prometheus base+10i+2.
func PortsOf(base, i int) Ports {
	p := base + PortStride*i
	return Ports{P2P: p, RPC: p + 1, Prometheus: p + 2}
}

// InitOptions are the arguments of InitTestnet. Zero values take the
// defaults named in the field comments.
type InitOptions struct {
	// Dir receives val0 … val{N-1}, keyring-test and testnet.json.
	Dir string
	// ChainID defaults to DefaultChainID.
	ChainID string
	// Validators is N; 0 means len(Hostnames) in multi-host mode, else
	// DefaultValidators.
	Validators int
	// BasePort is the first loopback port (default DefaultBasePort). It
	// does not apply to multi-host networks.
	BasePort int
	// BlockTime is consensus timeout_commit (default DefaultBlockTime).
	BlockTime time.Duration
	// Hostnames, one per validator, or StartingIP (validator i gets
	// StartingIP+i) select a multi-host network; neither means loopback.
	Hostnames  []string
	StartingIP string
	// PublicRPC makes multi-host validators serve RPC on all interfaces
	// (0.0.0.0:26657) instead of their own loopback.
	PublicRPC bool
	// PublicMetrics makes multi-host validators serve Prometheus metrics on
	// all interfaces (0.0.0.0:26660) instead of their own loopback.
	PublicMetrics bool
	// NoMetrics turns Prometheus metrics off.
	NoMetrics bool
	// Force replaces an existing network in Dir (its homes and manifest;
	// keys in the keyring are kept and reused).
	Force bool
	// Agents is the number of worker agents to write homes for (loopback
	// networks only; see agents.go). With agents, genesis allows open
	// registration.
	Agents int
	// TestApp, for benchmarks only, makes every validator run another
	// ABCI application than Phalanx (node.TestAppKVStore: CometBFT's
	// kvstore) with the same config, ports and keys; loopback networks
	// without agents only.
	TestApp string
	// Fleet prepares the network for `phalanxd fleet` (docs/fleet.md):
	// open registration, max_self_registrations_per_block at
	// api.MaxSelfRegistrationsPerBlockLimit so thousands of simulated nodes
	// register in seconds, and one observer per validator run by
	// `testnet start` even with no agents.
	Fleet bool
}

// multiHost reports whether the options describe a multi-host network.
func (o *InitOptions) multiHost() bool { return len(o.Hostnames) > 0 || o.StartingIP != "" }

// normalize fills defaults and checks the options.
func (o *InitOptions) normalize() error {
	if o.Dir == "" {
		return errors.New("output directory is empty; expected --output DIR")
	}
	if o.ChainID == "" {
		o.ChainID = DefaultChainID
	}
	if strings.ContainsAny(o.ChainID, " \t\n") || len(o.ChainID) > cmtMaxChainIDLen {
		return fmt.Errorf("chain id %q: want at most %d characters without white space", o.ChainID, cmtMaxChainIDLen)
	}
	if o.TestApp != "" && o.multiHost() {
		return fmt.Errorf("--test-app %s applies to loopback networks only (a benchmark baseline)", o.TestApp)
	}
	if len(o.Hostnames) > 0 && o.StartingIP != "" {
		return errors.New("both --hostname and --starting-ip given; expected one of them (or neither for a loopback network)")
	}
	if o.Validators == 0 {
		o.Validators = DefaultValidators
		if len(o.Hostnames) > 0 {
			o.Validators = len(o.Hostnames)
		}
	}
	if o.Validators < 1 || o.Validators > MaxValidators {
		return fmt.Errorf("--validators %d: expected 1 to %d", o.Validators, MaxValidators)
	}
	if o.BlockTime == 0 {
		o.BlockTime = DefaultBlockTime
	}
	if o.BlockTime < 0 {
		return fmt.Errorf("--block-time %s: expected a positive duration such as 1s or 200ms", o.BlockTime)
	}
	if o.multiHost() {
		if o.Fleet {
			return errors.New("--fleet applies to loopback networks only: the fleet simulator serves its nodes on 127.0.0.0/8")
		}
		if o.BasePort != 0 {
			return fmt.Errorf("--base-port %d applies to loopback networks only; multi-host validators use ports %d (p2p), %d (rpc), %d (prometheus)",
				o.BasePort, MultiHostP2PPort, MultiHostRPCPort, MultiHostPrometheusPort)
		}
		if len(o.Hostnames) > 0 && len(o.Hostnames) != o.Validators {
			return fmt.Errorf("%d --hostname values for %d validators; expected one per validator", len(o.Hostnames), o.Validators)
		}
		seen := map[string]bool{}
		for i, h := range o.Hostnames {
			if err := validHost(h); err != nil {
				return fmt.Errorf("--hostname %d: %w", i, err)
			}
			if seen[strings.ToLower(h)] {
				return fmt.Errorf("--hostname %q listed twice; expected one distinct host per validator", h)
			}
			seen[strings.ToLower(h)] = true
		}
		if o.StartingIP != "" {
			hosts, err := ipRange(o.StartingIP, o.Validators)
			if err != nil {
				return err
			}
			o.Hostnames = hosts
		}
		return checkAgentOptions(o)
	}
	if o.PublicRPC {
		return errors.New("--public-rpc applies to multi-host networks only; loopback validators serve RPC on 127.0.0.1")
	}
	if err := node.ValidTestApp(o.TestApp); err != nil {
		return fmt.Errorf("--test-app: %w", err)
	}
	if o.TestApp != "" && o.Agents > 0 {
		return fmt.Errorf("--test-app %s runs no Phalanx application: agents need one; drop --agents", o.TestApp)
	}
	if o.TestApp != "" && o.Fleet {
		return fmt.Errorf("--test-app %s runs no Phalanx application: a fleet needs one; drop --fleet", o.TestApp)
	}
	if o.BasePort == 0 {
		o.BasePort = DefaultBasePort
	}
	if last := PortsOf(o.BasePort, o.Validators-1).Prometheus; o.BasePort < 1024 || last > 65535 {
		return fmt.Errorf("--base-port %d for %d validators uses ports %d-%d; expected them within 1024-65535", o.BasePort, o.Validators, o.BasePort, last)
	}
	return checkAgentOptions(o)
}

// cmtMaxChainIDLen is CometBFT's limit on a chain id.
const cmtMaxChainIDLen = 50

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

func validHost(h string) error {
	if ip := net.ParseIP(h); ip != nil {
		if ip.To4() == nil {
			return fmt.Errorf("%q is an IPv6 address; expected a host name or an IPv4 address", h)
		}
		return nil
	}
	if len(h) > 253 || !hostnameRE.MatchString(h) {
		return fmt.Errorf("%q is not a host name; expected letters, digits, '-' and '.' (e.g. node1.example.com) or an IPv4 address", h)
	}
	return nil
}

// ipRange returns n consecutive IPv4 addresses from start.
func ipRange(start string, n int) ([]string, error) {
	ip := net.ParseIP(start).To4()
	if ip == nil {
		return nil, fmt.Errorf("--starting-ip %q: expected an IPv4 address such as 192.168.10.2", start)
	}
	first := uint64(ip[0])<<24 | uint64(ip[1])<<16 | uint64(ip[2])<<8 | uint64(ip[3])
	if first+uint64(n)-1 > 0xFFFFFFFF {
		return nil, fmt.Errorf("--starting-ip %s: %d validators run past 255.255.255.255", start, n)
	}
	out := make([]string, n)
	for i := range out {
		v := first + uint64(i)
		out[i] = net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).String()
	}
	return out, nil
}

// publicHost reports whether h is an IP address routable on the internet.
// Host names count as not public: they usually resolve to private
// addresses in the networks this tool generates.
func publicHost(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsGlobalUnicast() && !ip.IsPrivate()
}

// InitTestnet writes a network of opts.Validators validators into opts.Dir:
// one home per validator (DIR/valI, CometBFT config, keys, app.toml), one
// genesis copied into every home, persistent_peers naming every other
// validator, an admin account and one observer account per validator in
// the test keyring DIR/keyring-test, and the manifest DIR/testnet.json,
// written last. It refuses an existing network unless opts.Force.
func InitTestnet(opts InitOptions) (*Manifest, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, opts.Force); err != nil {
		return nil, err
	}
	m := &Manifest{
		Version:        manifestVersion,
		ChainID:        opts.ChainID,
		Mode:           ModeLoopback,
		BlockTime:      opts.BlockTime.String(),
		AdminKey:       AdminKey,
		KeyringBackend: string(keyring.BackendTest),
		Dir:            dir,
	}
	if opts.multiHost() {
		m.Mode = ModeMultiHost
	}

	created := false
	defer func() {
		if !created {
			removeHomes(dir)
		}
	}()

	cfgs := make([]*cmtcfg.Config, opts.Validators)
	vals := make([]node.Validator, opts.Validators)
	for i := range opts.Validators {
		name := ValidatorName(i)
		home := filepath.Join(dir, name)
		c := node.DefaultCometConfig(home, name)
		v := Validator{Name: name, Home: home, TestApp: opts.TestApp}
		configure(c, &v, &opts, i)
		val, err := node.InitFiles(home, c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		v.NodeID = val.NodeID
		v.Address = crypto.AddressHex(val.PubKey)
		v.P2P = val.NodeID + "@" + v.P2P
		cfgs[i], vals[i] = c, val
		m.Validators = append(m.Validators, v)
	}
	for i, c := range cfgs {
		c.P2P.PersistentPeers = peersOf(m.Validators, i)
		cmtcfg.WriteConfigFile(config.CometFile(c.RootDir), c)
	}

	kr, err := keyring.New(dir, keyring.BackendTest, nil)
	if err != nil {
		return nil, err
	}
	m.KeyringDir = kr.Dir()
	g := &api.Genesis{Params: api.DefaultParams()}
	admin, err := showOrAdd(kr, AdminKey)
	if err != nil {
		return nil, err
	}
	m.AdminAddress = admin.Address
	// The admin is not an observer here: every validator has its own, and
	// an observer that never reports would only raise the quorum.
	g.Accounts = append(g.Accounts, types.GenesisAccount{
		Address: crypto.Address(admin.PubKey),
		PubKey:  admin.PubKey,
		Roles:   []types.Role{types.ROLE_ADMIN, types.ROLE_OPERATOR},
	})
	for i := range m.Validators {
		obs, err := showOrAdd(kr, ObserverKey(i))
		if err != nil {
			return nil, err
		}
		m.Validators[i].Observer, m.Validators[i].ObserverAddress = obs.Name, obs.Address
		// validator_address links the observer to its validator: evidence
		// of that validator's misbehaviour jails this account.
		valAddr, err := crypto.ParseAddress(m.Validators[i].Address)
		if err != nil {
			return nil, fmt.Errorf("validator %s address: %w", m.Validators[i].Name, err)
		}
		g.Accounts = append(g.Accounts, types.GenesisAccount{
			Address:          crypto.Address(obs.PubKey),
			PubKey:           obs.PubKey,
			Roles:            []types.Role{types.ROLE_OBSERVER},
			ValidatorAddress: valAddr,
		})
	}

	if opts.Agents > 0 {
		if err := initAgents(m, &opts, dir); err != nil {
			return nil, err
		}
		g.Params.OpenRegistration = true
	}
	if opts.Fleet {
		m.Observers = true
		g.Params.OpenRegistration = true
		g.Params.MaxSelfRegistrationsPerBlock = api.MaxSelfRegistrationsPerBlockLimit
	}

	genesis := cfgs[0].GenesisFile()
	if err := node.WriteGenesis(genesis, opts.ChainID, vals, g); err != nil {
		return nil, err
	}
	doc, err := os.ReadFile(genesis)
	if err != nil {
		return nil, err
	}
	for _, c := range cfgs[1:] {
		if err := os.WriteFile(c.GenesisFile(), doc, 0o600); err != nil {
			return nil, fmt.Errorf("copy genesis: %w", err)
		}
	}
	// The agents, and the CLI and observers with --home DIR, verify what
	// they act on from the genesis validator set (docs/adr/0016-trust.md).
	for _, home := range append([]string{dir}, agentHomes(m)...) {
		if err := os.MkdirAll(filepath.Join(home, "config"), 0o700); err != nil {
			return nil, fmt.Errorf("copy genesis: %w", err)
		}
		if err := os.WriteFile(filepath.Join(home, "config", "genesis.json"), doc, 0o600); err != nil {
			return nil, fmt.Errorf("copy genesis: %w", err)
		}
	}
	if err := m.Save(); err != nil {
		return nil, err
	}
	created = true
	return m, nil
}

func agentHomes(m *Manifest) []string {
	var out []string
	for _, a := range m.Agents {
		out = append(out, a.Home)
	}
	return out
}

// configure sets validator i's listen addresses, peers' view of it,
// metrics and block time in c, and its addresses in v (v.P2P without the
// node id, which InitFiles has not made yet).
func configure(c *cmtcfg.Config, v *Validator, o *InitOptions, i int) {
	c.Consensus.TimeoutCommit = o.BlockTime
	scaleConsensusTimings(c.Consensus, o.BlockTime)
	c.Instrumentation.Prometheus = !o.NoMetrics
	if !o.multiHost() {
		p := PortsOf(o.BasePort, i)
		v.Host = "127.0.0.1"
		c.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", p.P2P)
		c.P2P.AllowDuplicateIP = true
		c.P2P.AddrBookStrict = false
		c.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", p.RPC)
		c.Instrumentation.PrometheusListenAddr = fmt.Sprintf("127.0.0.1:%d", p.Prometheus)
		v.RPC = c.RPC.ListenAddress
		v.P2P = fmt.Sprintf("127.0.0.1:%d", p.P2P)
		if !o.NoMetrics {
			v.Prometheus = c.Instrumentation.PrometheusListenAddr
		}
		return
	}
	host := o.Hostnames[i]
	v.Host = host
	hostPort := func(port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
	c.P2P.ListenAddress = fmt.Sprintf("tcp://0.0.0.0:%d", MultiHostP2PPort)
	c.P2P.ExternalAddress = hostPort(MultiHostP2PPort)
	c.P2P.AllowDuplicateIP = false
	c.P2P.AddrBookStrict = true
	for _, h := range o.Hostnames {
		if !publicHost(h) {
			c.P2P.AddrBookStrict = false
		}
	}
	c.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", MultiHostRPCPort)
	v.RPC = c.RPC.ListenAddress
	if o.PublicRPC {
		c.RPC.ListenAddress = fmt.Sprintf("tcp://0.0.0.0:%d", MultiHostRPCPort)
		v.RPC = "tcp://" + hostPort(MultiHostRPCPort)
	}
	// Metrics on the validator's own loopback unless asked otherwise: they
	// tell anyone who reaches them the validator's peers, heights and load.
	c.Instrumentation.PrometheusListenAddr = fmt.Sprintf("127.0.0.1:%d", MultiHostPrometheusPort)
	v.P2P = hostPort(MultiHostP2PPort)
	if !o.NoMetrics {
		v.Prometheus = c.Instrumentation.PrometheusListenAddr
		if o.PublicMetrics {
			c.Instrumentation.PrometheusListenAddr = fmt.Sprintf("0.0.0.0:%d", MultiHostPrometheusPort)
			v.Prometheus = hostPort(MultiHostPrometheusPort)
		}
	}
}

// Floors of the scaled consensus timings.
const (
	minTimeoutPropose = 300 * time.Millisecond
	minTimeoutVote    = 100 * time.Millisecond
	minGossipSleep    = 10 * time.Millisecond
)

// scaleConsensusTimings shortens, in proportion, CometBFT's consensus
// timings that are tuned for one-second blocks when the block time is
// shorter (200ms: scale 0.2):
//
//   - the round timeouts (propose, prevote, precommit and their per-round
//     increments; timeout_propose 3s becomes 600ms). They only matter when
//     a round fails, typically because its proposer is down: with the
//     defaults each height a dead validator should propose stalls for 3s,
//     which at 200ms blocks halves the throughput. The per-round increments
//     keep consensus live if a timeout is too short.
//   - peer_gossip_sleep_duration (100ms becomes 20ms), the pause of the
//     gossip routines when they have nothing to send: at 100ms it adds
//     about 300ms to every block (measured: 200ms timeout_commit gave
//     ~500ms blocks, with 20ms ~250ms).
//
// Block times of a second or more keep CometBFT's defaults.
func scaleConsensusTimings(c *cmtcfg.ConsensusConfig, blockTime time.Duration) {
	if blockTime >= time.Second {
		return
	}
	scale := func(d, floor time.Duration) time.Duration {
		return max(d*blockTime/time.Second, floor)
	}
	c.TimeoutPropose = scale(c.TimeoutPropose, minTimeoutPropose)
	c.TimeoutProposeDelta = scale(c.TimeoutProposeDelta, minTimeoutVote)
	c.TimeoutPrevote = scale(c.TimeoutPrevote, minTimeoutVote)
	c.TimeoutPrevoteDelta = scale(c.TimeoutPrevoteDelta, minTimeoutVote)
	c.TimeoutPrecommit = scale(c.TimeoutPrecommit, minTimeoutVote)
	c.TimeoutPrecommitDelta = scale(c.TimeoutPrecommitDelta, minTimeoutVote)
	c.PeerGossipSleepDuration = scale(c.PeerGossipSleepDuration, minGossipSleep)
}

// peersOf is validator i's persistent_peers: every other validator.
func peersOf(vals []Validator, i int) string {
	var peers []string
	for j, v := range vals {
		if j != i {
			peers = append(peers, v.P2P)
		}
	}
	return strings.Join(peers, ",")
}

func showOrAdd(kr *keyring.Keyring, name string) (keyring.KeyInfo, error) {
	k, err := kr.Show(name)
	if errors.Is(err, keyring.ErrKeyNotFound) {
		k, err = kr.Add(name)
	}
	if err != nil {
		return keyring.KeyInfo{}, fmt.Errorf("key %q: %w", name, err)
	}
	return k, nil
}

// prepareDir makes dir, refusing (unless force) a directory that already
// holds a network; with force it removes the old homes and manifest, but
// only when none of its processes is running.
func prepareDir(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	var homes []string
	for _, e := range entries {
		if e.IsDir() && valDirRE.MatchString(e.Name()) {
			homes = append(homes, e.Name())
		}
	}
	_, statErr := os.Stat(Path(dir))
	hasManifest := statErr == nil
	if !force {
		if hasManifest {
			return fmt.Errorf("%w: %s exists; pass --force to replace that network (its chain data is deleted), or choose another --output", ErrExists, Path(dir))
		}
		if len(homes) > 0 {
			return fmt.Errorf("%w: %s holds validator homes (%s) but no %s, perhaps from an interrupted init; pass --force to replace them, or choose another --output",
				ErrExists, dir, strings.Join(homes, ", "), ManifestFile)
		}
		return nil
	}
	if hasManifest {
		if old, err := LoadManifest(dir); err == nil && old.Mode == ModeLoopback {
			var running []string
			for _, p := range old.Processes() {
				if pid, ok := runningPID(p); ok {
					running = append(running, fmt.Sprintf("%s (pid %d)", p.Name, pid))
				}
			}
			if len(running) > 0 {
				return fmt.Errorf("%w: %s; stop the network first with `phalanxd testnet stop %s`",
					ErrAlreadyRunning, strings.Join(running, ", "), dir)
			}
		}
	}
	removeHomes(dir)
	return nil
}

// removeHomes deletes dir's validator homes, its agents' state (not their
// keys), its genesis copy and light client store, and the manifest,
// nothing else.
func removeHomes(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() && valDirRE.MatchString(e.Name()) {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
		if e.IsDir() && agentDirRE.MatchString(e.Name()) {
			removeAgentState(filepath.Join(dir, e.Name()))
		}
	}
	// The old chain's genesis and the headers verified from it.
	_ = os.RemoveAll(filepath.Join(dir, "config"))
	_ = os.RemoveAll(filepath.Join(dir, "light"))
	_ = os.Remove(Path(dir))
}
