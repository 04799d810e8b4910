package networks

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
)

func TestInitAgents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	m := initNet(t, InitOptions{Dir: dir, Validators: 4, BasePort: 40000, Agents: 4})
	if len(m.Agents) != 4 {
		t.Fatalf("%d agents in the manifest", len(m.Agents))
	}
	for i, a := range m.Agents {
		wantZone := AgentZones[i%len(AgentZones)]
		wantListen := "127.0.0.1:" + []string{"40040", "40041", "40042", "40043"}[i]
		if a.Name != AgentName(i) || a.Zone != wantZone || a.Listen != wantListen || a.Home != filepath.Join(dir, a.Name) {
			t.Errorf("agent %d: %+v; expected %s in %s on %s", i, a, AgentName(i), wantZone, wantListen)
		}
		// Its own validator first, then every other one.
		if len(a.Nodes) != 4 || a.Nodes[0] != m.Validators[i%4].RPC {
			t.Errorf("agent %d talks to %v first; expected %s", i, a.Nodes, m.Validators[i%4].RPC)
		}
		kr, err := keyring.New(a.Home, keyring.BackendTest, nil)
		if err != nil {
			t.Fatal(err)
		}
		k, err := kr.Show(a.Name)
		if err != nil || k.Address != a.Address {
			t.Errorf("agent %d key: %+v %v; manifest says %s", i, k, err, a.Address)
		}
		args := strings.Join(a.Args(), " ")
		for _, want := range []string{"agent --home " + a.Home, "--node-id " + a.Name, "--key " + a.Name, "--node " + a.Nodes[0], "--rpc-fallback " + a.Nodes[3]} {
			if !strings.Contains(args, want) {
				t.Errorf("agent %d command line %q lacks %q", i, args, want)
			}
		}
	}
	if got := strings.Join(m.ObserverArgs(m.Validators[2]), " "); !strings.Contains(got, "--key observer2") || !strings.Contains(got, "--node "+m.Validators[2].RPC) {
		t.Errorf("observer command line: %s", got)
	}
	// Every other validator is a fallback, the next one first.
	want := "--node " + m.Validators[2].RPC + " --breaker-cooldown " + TestnetBreakerCooldown +
		" --rpc-fallback " + m.Validators[3].RPC + " --rpc-fallback " + m.Validators[0].RPC + " --rpc-fallback " + m.Validators[1].RPC
	if got := strings.Join(m.ObserverArgs(m.Validators[2]), " "); !strings.HasSuffix(got, want) {
		t.Errorf("observer command line %q; want it to end with %q", got, want)
	}
	// Agents register themselves: open registration in genesis.
	b, err := os.ReadFile(filepath.Join(m.Validators[0].Home, "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cmttypes.GenesisDocFromJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	g, err := api.ParseGenesis(doc.AppState)
	if err != nil || !g.Params.OpenRegistration {
		t.Fatalf("genesis of a network with agents: open_registration %v, err %v", g != nil && g.Params.OpenRegistration, err)
	}
	// The manifest round-trips.
	loaded, err := LoadManifest(dir)
	if err != nil || !slices.EqualFunc(loaded.Agents, m.Agents, func(a, b Agent) bool { return a.Name == b.Name && a.Listen == b.Listen && a.Address == b.Address }) {
		t.Fatalf("reloaded agents %+v, err %v", loaded.Agents, err)
	}

	// --force: the agents' state goes, their keys stay.
	state := filepath.Join(m.Agents[0].Home, "agent-state.json")
	if err := os.WriteFile(state, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	m2 := initNet(t, InitOptions{Dir: dir, Validators: 4, BasePort: 40000, Agents: 2, Force: true})
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("agent state kept by --force: %v", err)
	}
	if m2.Agents[0].Address != m.Agents[0].Address {
		t.Errorf("agent0's key changed across --force: %s, then %s", m.Agents[0].Address, m2.Agents[0].Address)
	}
}

func TestInitAgentErrors(t *testing.T) {
	for _, o := range []InitOptions{
		{Agents: -1},
		{Agents: MaxAgents + 1},
		{Agents: 1, Hostnames: []string{"a.example", "b.example", "c.example", "d.example"}},
		{Agents: 100, Validators: 1, BasePort: 65500},
	} {
		o.Dir = filepath.Join(t.TempDir(), "net")
		if _, err := InitTestnet(o); err == nil || !strings.Contains(err.Error(), "--agents") {
			t.Errorf("%+v: %v; expected an error about --agents", o, err)
		}
	}
}

func TestProcesses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	m := initNet(t, InitOptions{Dir: dir, Validators: 4, BasePort: 40000, Agents: 3})
	var names []string
	for _, p := range m.Processes() {
		names = append(names, p.Kind+":"+p.Name)
	}
	want := "validator:val0 validator:val1 validator:val2 validator:val3 observer:observer0 observer:observer1 observer:observer2 observer:observer3 agent:agent0 agent:agent1 agent:agent2"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("processes:\n got %s\nwant %s", got, want)
	}
	obs := m.ObserverProcess(m.Validators[2])
	if obs.PIDFile != filepath.Join(m.Validators[2].Home, ObserverPIDFile) || obs.LogFile != filepath.Join(m.Validators[2].Home, ObserverLogFile) {
		t.Errorf("observer2 files: %s %s", obs.PIDFile, obs.LogFile)
	}
	ag := AgentProcess(m.Agents[1])
	if ag.PIDFile != filepath.Join(m.Agents[1].Home, AgentPIDFile) || ag.LogFile != filepath.Join(m.Agents[1].Home, AgentLogFile) {
		t.Errorf("agent1 files: %s %s", ag.PIDFile, ag.LogFile)
	}

	sel, err := m.SelectProcesses([]string{"agent1", "val2", "observer2"})
	if err != nil || strings.Join(processNames(sel), ",") != "val2,observer2,agent1" {
		t.Errorf("SelectProcesses = %v, %v; want val2, observer2, agent1 in start order", processNames(sel), err)
	}
	if _, err := m.SelectProcesses([]string{"agent7"}); !errors.Is(err, ErrUnknownName) || !strings.Contains(err.Error(), "observer3, agent0") {
		t.Errorf("unknown name: %v", err)
	}

	// Without agents, nothing to observe: validators only.
	plain := initNet(t, InitOptions{Validators: 2})
	if got := processNames(plain.Processes()); strings.Join(got, ",") != "val0,val1" {
		t.Errorf("processes of a network without agents: %v", got)
	}
}

// TestMatchesCmdline: a pid counts as a process only if /proc shows its
// subcommand, --home and --key, so that a recycled pid, or the observer of
// another validator (all share one --home), is never signalled.
func TestMatchesCmdline(t *testing.T) {
	m := &Manifest{Dir: "/net", Validators: []Validator{{Name: "val0", Home: "/net/val0", RPC: "tcp://127.0.0.1:1", Observer: "observer0"}},
		Agents: []Agent{{Name: "agent0", Home: "/net/agent0", Listen: "127.0.0.1:2", Nodes: []string{"tcp://127.0.0.1:1"}, Zone: "zone-a"}}}
	val := ValidatorProcess(m.Validators[0])
	obs := m.ObserverProcess(m.Validators[0])
	ag := AgentProcess(m.Agents[0])
	for _, c := range []struct {
		p    Process
		argv string
		want bool
	}{
		{val, "phalanxd start --home /net/val0", true},
		{val, "/bin/phalanxd start --home=/net/val0/", true},
		{val, "phalanxd start --home /net/val1", false},
		{val, "phalanxd rollback --home /net/val0", false},
		{obs, "phalanxd observer --home /net --key observer0 --keyring-backend test --node tcp://127.0.0.1:1", true},
		{obs, "phalanxd observer --home /net --key observer1 --node tcp://127.0.0.1:1", false},
		{obs, "phalanxd observer --home /other --key observer0", false},
		{ag, "phalanxd " + strings.Join(ag.Args, " "), true},
		{ag, "phalanxd agent reaper", false},
		{ag, "phalanxd agent --home /net/agent0 --key agent1", false},
		{ag, "sleep 3600", false},
	} {
		if got := c.p.matchesCmdline(strings.Fields(c.argv)); got != c.want {
			t.Errorf("%s vs %q: %v, want %v", c.p.Name, c.argv, got, c.want)
		}
	}
}
