package networks

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phalanx-bft/phalanx/app"
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
	// Agents register themselves: open registration in genesis.
	b, err := os.ReadFile(filepath.Join(m.Validators[0].Home, "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cmttypes.GenesisDocFromJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	g, err := app.ParseGenesis(doc.AppState)
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
