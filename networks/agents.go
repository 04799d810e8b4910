package networks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/phalanx-bft/phalanx/crypto/keyring"
)

// Worker agents of a loopback network (testnet init --agents K).
//
// Agent i is node "agentI" with its home in DIR/agentI: the node's key
// "agentI" in the home's test keyring, and the agent's state and task
// files. Zones go round-robin over AgentZones. Agent i serves its
// endpoint on 127.0.0.1:BASE+10N+i (N validators: the ports right after
// theirs) and talks to validator i mod N first, the others as fallbacks.
// The genesis of a network with agents allows open registration, so each
// agent registers its node itself on first start.

// MaxAgents bounds --agents.
const MaxAgents = 100

// AgentZones are the zones agents are spread over, round-robin.
var AgentZones = []string{"zone-a", "zone-b", "zone-c"}

// AgentName is agent i's name: its node id, key name and home directory.
func AgentName(i int) string { return "agent" + strconv.Itoa(i) }

var agentDirRE = regexp.MustCompile(`^agent[0-9]+$`)

// AgentPort is agent i's endpoint port in a loopback network of n
// validators with base port base.
func AgentPort(base, n, i int) int { return base + PortStride*n + i }

// Agent is one worker agent of a Manifest.
type Agent struct {
	// Name is "agentI": the node id and the key's name.
	Name    string `json:"name"`
	Home    string `json:"home"`
	Address string `json:"address"` // the node key's account, upper-case hex
	Zone    string `json:"zone"`
	// Listen is the agent's endpoint (HOST:PORT), registered with the node.
	Listen string `json:"listen"`
	// Nodes are the validators' RPC addresses, the agent's own first.
	Nodes []string `json:"nodes"`
	// ExtraArgs are appended to the agent's command line (tests).
	ExtraArgs []string `json:"extra_args,omitempty"`
}

// Args is the agent's command line, without the program name.
func (a Agent) Args() []string {
	args := []string{"agent", "--home", a.Home, "--node-id", a.Name, "--key", a.Name,
		"--keyring-backend", string(keyring.BackendTest), "--zone", a.Zone, "--listen", a.Listen}
	for i, n := range a.Nodes {
		if i == 0 {
			args = append(args, "--node", n)
		} else {
			args = append(args, "--rpc-fallback", n)
		}
	}
	return append(args, a.ExtraArgs...)
}

// ObserverArgs is the command line, without the program name, of
// validator v's observer: its observer key from the network's keyring,
// reporting through v's RPC and every other validator's (--rpc-fallback,
// in the manifest's order after v: a dead validator does not silence its
// observer), its state under DIR/observer, and the breaker cool-down of a
// test network (TestnetBreakerCooldown).
func (m *Manifest) ObserverArgs(v Validator) []string {
	args := []string{"observer", "--home", m.Dir, "--key", v.Observer,
		"--keyring-backend", string(keyring.BackendTest), "--node", v.RPC,
		"--breaker-cooldown", TestnetBreakerCooldown}
	at := 0
	for i, o := range m.Validators {
		if o.Name == v.Name {
			at = i
		}
	}
	for j := 1; j < len(m.Validators); j++ {
		if o := m.Validators[(at+j)%len(m.Validators)]; o.RPC != v.RPC {
			args = append(args, "--rpc-fallback", o.RPC)
		}
	}
	return args
}

// initAgents creates the homes and keys of opts.Agents agents.
func initAgents(m *Manifest, opts *InitOptions, dir string) error {
	for i := range opts.Agents {
		name := AgentName(i)
		home := filepath.Join(dir, name)
		if err := os.MkdirAll(home, 0o700); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		kr, err := keyring.New(home, keyring.BackendTest, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		k, err := showOrAdd(kr, name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		a := Agent{
			Name:    name,
			Home:    home,
			Address: k.Address,
			Zone:    AgentZones[i%len(AgentZones)],
			Listen:  fmt.Sprintf("127.0.0.1:%d", AgentPort(opts.BasePort, opts.Validators, i)),
		}
		n := len(m.Validators)
		for j := range n {
			a.Nodes = append(a.Nodes, m.Validators[(i+j)%n].RPC)
		}
		m.Agents = append(m.Agents, a)
	}
	return nil
}

// checkAgentOptions validates --agents against the other options.
func checkAgentOptions(o *InitOptions) error {
	if o.Agents == 0 {
		return nil
	}
	if o.Agents < 0 || o.Agents > MaxAgents {
		return fmt.Errorf("--agents %d: expected 0 to %d", o.Agents, MaxAgents)
	}
	if o.multiHost() {
		return errors.New("--agents applies to loopback networks only; on real hosts run `phalanxd agent` on each worker (docs/agent.md)")
	}
	if last := AgentPort(o.BasePort, o.Validators, o.Agents-1); last > 65535 {
		return fmt.Errorf("--agents %d with --base-port %d: agent ports run to %d, above 65535", o.Agents, o.BasePort, last)
	}
	return nil
}

// removeAgentState deletes an agent home's state and task files, keeping
// its keyring, so that a re-initialised network starts its agents afresh
// with the same keys.
func removeAgentState(home string) {
	entries, _ := os.ReadDir(home)
	for _, e := range entries {
		if e.Name() != "keyring-"+string(keyring.BackendTest) {
			_ = os.RemoveAll(filepath.Join(home, e.Name()))
		}
	}
}

func validateAgents(m *Manifest) error {
	seen := map[string]bool{}
	for i, a := range m.Agents {
		switch {
		case !agentDirRE.MatchString(a.Name):
			return fmt.Errorf("%w: agent %d: name %q is not agentN", ErrBadManifest, i, a.Name)
		case seen[a.Name]:
			return fmt.Errorf("%w: agent %q listed twice", ErrBadManifest, a.Name)
		case a.Home == "" || a.Listen == "" || len(a.Nodes) == 0:
			return fmt.Errorf("%w: agent %s lacks its home, listen address or validators", ErrBadManifest, a.Name)
		}
		seen[a.Name] = true
	}
	return nil
}
