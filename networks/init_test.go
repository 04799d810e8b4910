package networks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/types"
)

func initNet(t *testing.T, o InitOptions) *Manifest {
	t.Helper()
	if o.Dir == "" {
		o.Dir = filepath.Join(t.TempDir(), "net")
	}
	m, err := InitTestnet(o)
	if err != nil {
		t.Fatalf("InitTestnet: %v", err)
	}
	return m
}

func loadConfig(t *testing.T, home string) *config.Config {
	t.Helper()
	c, err := config.Load(home)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInitLoopback(t *testing.T) {
	m := initNet(t, InitOptions{Validators: 4, ChainID: "px-unit", BasePort: 40000, BlockTime: 200 * time.Millisecond})
	if m.Mode != ModeLoopback || m.ChainID != "px-unit" || len(m.Validators) != 4 {
		t.Fatalf("manifest: mode %q chain %q validators %d", m.Mode, m.ChainID, len(m.Validators))
	}
	ports := map[string]string{}
	for i, v := range m.Validators {
		if v.Name != ValidatorName(i) || v.Home != filepath.Join(m.Dir, v.Name) {
			t.Errorf("validator %d: name %q home %q", i, v.Name, v.Home)
		}
		c := loadConfig(t, v.Home).Comet
		want := PortsOf(40000, i)
		for what, got := range map[string]string{
			"p2p laddr":  c.P2P.ListenAddress,
			"rpc laddr":  c.RPC.ListenAddress,
			"prometheus": c.Instrumentation.PrometheusListenAddr,
		} {
			if other, dup := ports[got]; dup {
				t.Errorf("%s %s %s also used as %s", v.Name, what, got, other)
			}
			ports[got] = v.Name + " " + what
		}
		if c.P2P.ListenAddress != fmt.Sprintf("tcp://127.0.0.1:%d", want.P2P) ||
			c.RPC.ListenAddress != fmt.Sprintf("tcp://127.0.0.1:%d", want.RPC) ||
			c.Instrumentation.PrometheusListenAddr != fmt.Sprintf("127.0.0.1:%d", want.Prometheus) {
			t.Errorf("%s: laddrs p2p %s rpc %s prometheus %s; want ports %+v on 127.0.0.1", v.Name,
				c.P2P.ListenAddress, c.RPC.ListenAddress, c.Instrumentation.PrometheusListenAddr, want)
		}
		if v.RPC != c.RPC.ListenAddress || v.P2P != fmt.Sprintf("%s@127.0.0.1:%d", v.NodeID, want.P2P) || v.Prometheus != c.Instrumentation.PrometheusListenAddr {
			t.Errorf("%s: manifest rpc %s p2p %s prometheus %s disagree with its config", v.Name, v.RPC, v.P2P, v.Prometheus)
		}
		if c.Mempool.Size != 20_000 || c.Mempool.MaxTxBytes != api.MaxTxBytes || !c.Mempool.Recheck {
			t.Errorf("%s: [mempool] size %d max_tx_bytes %d recheck %v; want node.DefaultCometConfig's 20000 %d true (ADR 0015)",
				v.Name, c.Mempool.Size, c.Mempool.MaxTxBytes, c.Mempool.Recheck, api.MaxTxBytes)
		}
		if !c.P2P.AllowDuplicateIP || c.P2P.AddrBookStrict || !c.Instrumentation.Prometheus {
			t.Errorf("%s: allow_duplicate_ip %v addr_book_strict %v prometheus %v; want true false true", v.Name,
				c.P2P.AllowDuplicateIP, c.P2P.AddrBookStrict, c.Instrumentation.Prometheus)
		}
		if c.Consensus.TimeoutCommit != 200*time.Millisecond || c.Consensus.TimeoutPropose != 600*time.Millisecond || c.Consensus.PeerGossipSleepDuration != 20*time.Millisecond {
			t.Errorf("%s: timeout_commit %s timeout_propose %s peer_gossip_sleep_duration %s; want 200ms 600ms 20ms",
				v.Name, c.Consensus.TimeoutCommit, c.Consensus.TimeoutPropose, c.Consensus.PeerGossipSleepDuration)
		}
		if c.Moniker != v.Name {
			t.Errorf("%s: moniker %q", v.Name, c.Moniker)
		}
		// Peers: every other validator, never itself.
		peers := strings.Split(c.P2P.PersistentPeers, ",")
		var want2 []string
		for j, o := range m.Validators {
			if j != i {
				want2 = append(want2, o.P2P)
			}
		}
		slices.Sort(peers)
		slices.Sort(want2)
		if !slices.Equal(peers, want2) {
			t.Errorf("%s: persistent_peers %v; want %v", v.Name, peers, want2)
		}
		if strings.Contains(c.P2P.PersistentPeers, v.NodeID) {
			t.Errorf("%s: persistent_peers names itself", v.Name)
		}
	}
}

func TestInitGenesisAndKeys(t *testing.T) {
	m := initNet(t, InitOptions{Validators: 4})
	if m.ChainID != DefaultChainID || m.BlockTime != "1s" {
		t.Errorf("defaults: chain %q block time %q", m.ChainID, m.BlockTime)
	}
	first, err := os.ReadFile(filepath.Join(m.Validators[0].Home, "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m.Validators[1:] {
		b, err := os.ReadFile(filepath.Join(v.Home, "config", "genesis.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, first) {
			t.Errorf("%s: genesis differs from val0's", v.Name)
		}
	}
	doc, err := cmttypes.GenesisDocFromJSON(first)
	if err != nil {
		t.Fatal(err)
	}
	if doc.ChainID != m.ChainID || len(doc.Validators) != 4 {
		t.Fatalf("genesis: chain %q, %d validators", doc.ChainID, len(doc.Validators))
	}
	for i, gv := range doc.Validators {
		if gv.Address.String() != m.Validators[i].Address || gv.Name != m.Validators[i].Name {
			t.Errorf("genesis validator %d: %s %q; manifest says %s %q", i, gv.Address, gv.Name, m.Validators[i].Address, m.Validators[i].Name)
		}
	}

	g, err := api.ParseGenesis(doc.AppState)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string][]types.Role{}
	linked := map[string]string{} // observer address -> validator address
	for _, a := range g.Accounts {
		roles[crypto.AddressHex(a.PubKey)] = a.Roles
		if len(a.ValidatorAddress) > 0 {
			linked[crypto.AddressHex(a.PubKey)] = fmt.Sprintf("%X", a.ValidatorAddress)
		}
		if !bytes.Equal(crypto.Address(a.PubKey), a.Address) {
			t.Errorf("genesis account %X: pub key of another address", a.Address)
		}
	}
	if len(g.Accounts) != 5 {
		t.Errorf("genesis has %d accounts; want admin + 4 observers", len(g.Accounts))
	}

	kr, err := keyring.New(m.Dir, keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if kr.Dir() != m.KeyringDir {
		t.Errorf("keyring dir %s; manifest says %s", kr.Dir(), m.KeyringDir)
	}
	admin, err := kr.Show(AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	if admin.Address != m.AdminAddress {
		t.Errorf("admin %s; manifest says %s", admin.Address, m.AdminAddress)
	}
	if got, want := roles[admin.Address], []types.Role{types.ROLE_ADMIN, types.ROLE_OPERATOR}; !slices.Equal(got, want) {
		t.Errorf("admin roles %v; want %v", got, want)
	}
	for i, v := range m.Validators {
		k, err := kr.Show(ObserverKey(i))
		if err != nil {
			t.Fatal(err)
		}
		if k.Address != v.ObserverAddress || v.Observer != ObserverKey(i) {
			t.Errorf("%s: observer %q %s; keyring has %s", v.Name, v.Observer, v.ObserverAddress, k.Address)
		}
		if linked[k.Address] != v.Address {
			t.Errorf("%s: observer linked to validator %q; want %s", v.Name, linked[k.Address], v.Address)
		}
		if got := roles[k.Address]; !slices.Equal(got, []types.Role{types.ROLE_OBSERVER}) {
			t.Errorf("%s: observer roles %v; want [observer]", v.Name, got)
		}
		if _, err := kr.Signer(ObserverKey(i)); err != nil {
			t.Errorf("observer key unusable: %v", err)
		}
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := initNet(t, InitOptions{Validators: 3, BasePort: 41000, NoMetrics: true})
	got, err := LoadManifest(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("LoadManifest:\n%+v\nInitTestnet returned:\n%+v", got, m)
	}
	for _, v := range m.Validators {
		if v.Prometheus != "" || loadConfig(t, v.Home).Comet.Instrumentation.Prometheus {
			t.Errorf("%s: prometheus on with NoMetrics", v.Name)
		}
	}

	// Relative homes are read relative to the directory.
	rel := *m
	rel.Validators = slices.Clone(m.Validators)
	rel.Validators[0].Home = "val0"
	if err := rel.Save(); err != nil {
		t.Fatal(err)
	}
	got, err = LoadManifest(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Validators[0].Home != m.Validators[0].Home {
		t.Errorf("relative home read as %s; want %s", got.Validators[0].Home, m.Validators[0].Home)
	}

	if _, err := LoadManifest(t.TempDir()); !errors.Is(err, ErrNoManifest) {
		t.Errorf("empty dir: %v; want ErrNoManifest", err)
	}
	bad := t.TempDir()
	os.WriteFile(Path(bad), []byte(`{"version": 1, "chain_id": "x", "mode": "loopback", "validators": [], "extra": 1}`), 0o600)
	if _, err := LoadManifest(bad); !errors.Is(err, ErrBadManifest) {
		t.Errorf("bad manifest: %v; want ErrBadManifest", err)
	}
}

func TestInitRefusesOverwrite(t *testing.T) {
	o := InitOptions{Dir: filepath.Join(t.TempDir(), "net"), Validators: 2, BasePort: 42000}
	m1 := initNet(t, o)
	if _, err := InitTestnet(o); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second init: %v; want ErrExists mentioning --force", err)
	}
	// An unrelated file in DIR survives --force; the keyring is reused.
	keep := filepath.Join(o.Dir, "notes.txt")
	os.WriteFile(keep, []byte("mine"), 0o600)
	o.Force = true
	o.Validators = 3
	m2 := initNet(t, o)
	if len(m2.Validators) != 3 || m2.Validators[0].NodeID == m1.Validators[0].NodeID {
		t.Errorf("--force did not make a new network: %d validators, val0 node id %s (was %s)", len(m2.Validators), m2.Validators[0].NodeID, m1.Validators[0].NodeID)
	}
	if m2.AdminAddress != m1.AdminAddress {
		t.Errorf("--force replaced the admin key")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("--force removed an unrelated file: %v", err)
	}

	// Homes without a manifest (an interrupted init) are refused too.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "val0"), 0o700)
	if _, err := InitTestnet(InitOptions{Dir: dir}); !errors.Is(err, ErrExists) {
		t.Errorf("leftover home: %v; want ErrExists", err)
	}
}

func TestInitMultiHost(t *testing.T) {
	hosts := []string{"v0.example.net", "v1.example.net", "v2.example.net", "v3.example.net"}
	m := initNet(t, InitOptions{Hostnames: hosts})
	if m.Mode != ModeMultiHost || len(m.Validators) != 4 {
		t.Fatalf("mode %q, %d validators", m.Mode, len(m.Validators))
	}
	for i, v := range m.Validators {
		c := loadConfig(t, v.Home).Comet
		if c.P2P.ListenAddress != "tcp://0.0.0.0:26656" || c.P2P.ExternalAddress != hosts[i]+":26656" {
			t.Errorf("%s: p2p laddr %s external %s", v.Name, c.P2P.ListenAddress, c.P2P.ExternalAddress)
		}
		if c.RPC.ListenAddress != "tcp://127.0.0.1:26657" || v.RPC != "tcp://127.0.0.1:26657" {
			t.Errorf("%s: rpc laddr %s manifest %s; want loopback 26657", v.Name, c.RPC.ListenAddress, v.RPC)
		}
		if c.P2P.AllowDuplicateIP || c.P2P.AddrBookStrict {
			t.Errorf("%s: allow_duplicate_ip %v addr_book_strict %v; want false false (host names)", v.Name, c.P2P.AllowDuplicateIP, c.P2P.AddrBookStrict)
		}
		if v.P2P != v.NodeID+"@"+hosts[i]+":26656" || v.Host != hosts[i] {
			t.Errorf("%s: p2p %s host %s", v.Name, v.P2P, v.Host)
		}
		// Metrics stay on the validator's loopback unless --public-metrics.
		if c.Instrumentation.PrometheusListenAddr != "127.0.0.1:26660" || v.Prometheus != "127.0.0.1:26660" {
			t.Errorf("%s: prometheus laddr %s manifest %s; want loopback 26660", v.Name, c.Instrumentation.PrometheusListenAddr, v.Prometheus)
		}
		for j, h := range hosts {
			if has := strings.Contains(c.P2P.PersistentPeers, m.Validators[j].NodeID+"@"+h+":26656"); has != (i != j) {
				t.Errorf("%s: persistent_peers %q: has %s = %v", v.Name, c.P2P.PersistentPeers, h, has)
			}
		}
	}
	ctx := context.Background()
	if _, err := Start(ctx, m, StartOptions{}); !errors.Is(err, ErrNotLocal) {
		t.Errorf("Start of a multi-host network: %v; want ErrNotLocal", err)
	}
	if _, err := Stop(ctx, m, StopOptions{}); !errors.Is(err, ErrNotLocal) {
		t.Errorf("Stop of a multi-host network: %v; want ErrNotLocal", err)
	}
	if _, err := Status(ctx, m, StatusOptions{}); !errors.Is(err, ErrNotLocal) {
		t.Errorf("Status of a multi-host network with loopback RPC: %v; want ErrNotLocal", err)
	}

	// Starting IP, public addresses, public RPC.
	m = initNet(t, InitOptions{Validators: 3, StartingIP: "203.0.113.254", PublicRPC: true})
	wantIPs := []string{"203.0.113.254", "203.0.113.255", "203.0.114.0"}
	for i, v := range m.Validators {
		c := loadConfig(t, v.Home).Comet
		if v.Host != wantIPs[i] || v.RPC != "tcp://"+wantIPs[i]+":26657" || c.RPC.ListenAddress != "tcp://0.0.0.0:26657" {
			t.Errorf("%s: host %s rpc %s laddr %s; want %s", v.Name, v.Host, v.RPC, c.RPC.ListenAddress, wantIPs[i])
		}
		if !c.P2P.AddrBookStrict {
			t.Errorf("%s: addr_book_strict false with public IPs", v.Name)
		}
	}
	m = initNet(t, InitOptions{Validators: 2, StartingIP: "10.0.0.1"})
	if c := loadConfig(t, m.Validators[0].Home).Comet; c.P2P.AddrBookStrict {
		t.Errorf("addr_book_strict true with private IPs")
	}
}

func TestInitOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    InitOptions
		want string
	}{
		{"too many", InitOptions{Validators: MaxValidators + 1}, "expected 1 to 100"},
		{"negative", InitOptions{Validators: -1}, "expected 1 to 100"},
		{"block time", InitOptions{BlockTime: -time.Second}, "positive duration"},
		{"ports past 65535", InitOptions{BasePort: 65520}, "within 1024-65535"},
		{"low port", InitOptions{BasePort: 80}, "within 1024-65535"},
		{"chain id", InitOptions{ChainID: "a b"}, "without white space"},
		{"host count", InitOptions{Validators: 4, Hostnames: []string{"a", "b"}}, "2 --hostname values for 4 validators"},
		{"both", InitOptions{Hostnames: []string{"a"}, StartingIP: "10.0.0.1"}, "both --hostname and --starting-ip"},
		{"base port multi-host", InitOptions{Hostnames: []string{"a"}, BasePort: 30000}, "loopback networks only"},
		{"public rpc loopback", InitOptions{PublicRPC: true}, "multi-host networks only"},
		{"bad host", InitOptions{Hostnames: []string{"a_b"}}, "not a host name"},
		{"ipv6", InitOptions{Hostnames: []string{"::1"}}, "IPv6"},
		{"duplicate host", InitOptions{Hostnames: []string{"a", "A"}}, "listed twice"},
		{"bad ip", InitOptions{StartingIP: "10.0.0"}, "expected an IPv4 address"},
		{"ip overflow", InitOptions{Validators: 4, StartingIP: "255.255.255.254"}, "run past 255.255.255.255"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Dir = filepath.Join(t.TempDir(), "net")
			_, err := InitTestnet(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want it to contain %q", err, tc.want)
			}
			if _, serr := os.Stat(tc.o.Dir); serr == nil {
				t.Errorf("a rejected init created %s", tc.o.Dir)
			}
		})
	}
	if _, err := InitTestnet(InitOptions{}); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("no dir: %v", err)
	}
}

func TestSelect(t *testing.T) {
	m := &Manifest{Dir: "/x", Validators: []Validator{{Name: "val0"}, {Name: "val1"}, {Name: "val2"}}}
	got, err := m.Select([]string{"val2", "val0"})
	if err != nil || len(got) != 2 || got[0].Name != "val0" || got[1].Name != "val2" {
		t.Errorf("Select = %v, %v; want val0, val2 in manifest order", got, err)
	}
	if _, err := m.Select([]string{"val9"}); !errors.Is(err, ErrUnknownName) || !strings.Contains(err.Error(), "val0, val1, val2") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestPortsAndFreeBase(t *testing.T) {
	if p := PortsOf(26600, 2); p != (Ports{26620, 26621, 26622}) {
		t.Errorf("PortsOf(26600, 2) = %+v", p)
	}
	base, err := FindFreeBasePort(4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if base < freeBaseMin || AgentPort(base, 4, 2) >= freeBaseMax {
		t.Errorf("base %d outside %d-%d", base, freeBaseMin, freeBaseMax)
	}
	if !portsFree(base, 4, 3) {
		t.Errorf("ports of base %d not free right after FindFreeBasePort", base)
	}
	if _, err := FindFreeBasePort(4, MaxAgents+1); err == nil {
		t.Errorf("FindFreeBasePort accepted %d agents", MaxAgents+1)
	}
}

func TestScaleConsensusTimings(t *testing.T) {
	m := initNet(t, InitOptions{Validators: 1, BlockTime: 2 * time.Second})
	c := loadConfig(t, m.Validators[0].Home).Comet.Consensus
	if c.TimeoutPropose != 3*time.Second || c.TimeoutPrevote != time.Second || c.PeerGossipSleepDuration != 100*time.Millisecond || c.TimeoutCommit != 2*time.Second {
		t.Errorf("2s blocks: propose %s prevote %s gossip sleep %s commit %s; want CometBFT's defaults 3s 1s 100ms and 2s",
			c.TimeoutPropose, c.TimeoutPrevote, c.PeerGossipSleepDuration, c.TimeoutCommit)
	}
	m = initNet(t, InitOptions{Validators: 1, BlockTime: 50 * time.Millisecond})
	c = loadConfig(t, m.Validators[0].Home).Comet.Consensus
	if c.TimeoutPropose != minTimeoutPropose || c.TimeoutPrevote != minTimeoutVote || c.TimeoutPrecommitDelta != minTimeoutVote || c.PeerGossipSleepDuration != minGossipSleep {
		t.Errorf("50ms blocks: propose %s prevote %s precommit delta %s gossip sleep %s; want the floors",
			c.TimeoutPropose, c.TimeoutPrevote, c.TimeoutPrecommitDelta, c.PeerGossipSleepDuration)
	}
	if c.PeerGossipSleepDuration >= 100*time.Millisecond {
		t.Errorf("gossip sleep not scaled")
	}
}

// --public-metrics serves a multi-host validator's metrics on every
// interface, and the manifest names them by host.
func TestInitMultiHostPublicMetrics(t *testing.T) {
	hosts := []string{"v0.example.net", "v1.example.net", "v2.example.net", "v3.example.net"}
	m := initNet(t, InitOptions{Hostnames: hosts, PublicMetrics: true})
	for i, v := range m.Validators {
		c := loadConfig(t, v.Home).Comet
		if c.Instrumentation.PrometheusListenAddr != "0.0.0.0:26660" || v.Prometheus != hosts[i]+":26660" {
			t.Errorf("%s: prometheus laddr %s manifest %s; want 0.0.0.0:26660 and %s:26660", v.Name, c.Instrumentation.PrometheusListenAddr, v.Prometheus, hosts[i])
		}
	}
}
