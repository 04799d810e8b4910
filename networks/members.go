package networks

import (
	"fmt"
	"path/filepath"
	"strings"
)

// The processes of a loopback network. Every validator runs as
// `phalanxd start`; a network made with --agents also runs one observer
// per validator (`phalanxd observer` with that validator's observer key,
// reporting through that validator's RPC) and its agents (`phalanxd
// agent`). Start, Stop, Kill and Status handle all three kinds by name:
// "val2", "observer2" (val2's observer), "agent1".

// Kinds of process.
const (
	KindValidator = "validator"
	KindObserver  = "observer"
	KindAgent     = "agent"
)

// Files of observers (in their validator's home) and agents (in the
// agent's home) that the supervisor owns.
const (
	ObserverPIDFile = "observer.pid"
	ObserverLogFile = "observer.log"
	AgentPIDFile    = "agent.pid"
	AgentLogFile    = "agent.log"
)

// TestnetBreakerCooldown is the circuit-breaker cool-down of a test
// network's observers: a restarted agent is probed again, and its node
// back to Ready, within this plus one or two report windows (the
// observer's default, 15s, suits real clusters, where a dead machine
// rarely comes back within seconds).
const TestnetBreakerCooldown = "5s"

// Process is one OS process of a loopback network.
type Process struct {
	// Name is "valI", "observerI" or "agentI".
	Name string
	Kind string
	// Validator is the validator itself (KindValidator) or the one the
	// observer reports through (KindObserver).
	Validator Validator
	// Agent is set for KindAgent.
	Agent Agent
	// Args is the command line without the program name. Its subcommand
	// and its --home and --key values identify the process in /proc.
	Args []string
	// PIDFile and LogFile are written by Start.
	PIDFile string
	LogFile string
}

// ValidatorProcess is validator v's process: `start --home HOME` (and
// `--test-app APP` for a benchmark baseline), with HOME/phalanxd.pid and
// HOME/node.log.
func ValidatorProcess(v Validator) Process {
	args := []string{"start", "--home", v.Home}
	if v.TestApp != "" {
		args = append(args, "--test-app", v.TestApp)
	}
	return Process{Name: v.Name, Kind: KindValidator, Validator: v,
		Args:    args,
		PIDFile: filepath.Join(v.Home, PIDFile), LogFile: filepath.Join(v.Home, LogFile)}
}

// ObserverProcess is validator v's observer: ObserverArgs(v), with
// observer.pid and observer.log in v's home.
func (m *Manifest) ObserverProcess(v Validator) Process {
	return Process{Name: v.Observer, Kind: KindObserver, Validator: v,
		Args:    m.ObserverArgs(v),
		PIDFile: filepath.Join(v.Home, ObserverPIDFile), LogFile: filepath.Join(v.Home, ObserverLogFile)}
}

// AgentProcess is agent a's process: a.Args(), with agent.pid and
// agent.log in its home.
func AgentProcess(a Agent) Process {
	return Process{Name: a.Name, Kind: KindAgent, Agent: a,
		Args:    a.Args(),
		PIDFile: filepath.Join(a.Home, AgentPIDFile), LogFile: filepath.Join(a.Home, AgentLogFile)}
}

// Processes are the network's processes in start order: the validators,
// then, in a network with agents, one observer per validator and the
// agents. (Without agents there is nothing to observe; the observer keys
// are then free for `phalanxd tx node report`.)
func (m *Manifest) Processes() []Process {
	var out []Process
	for _, v := range m.Validators {
		out = append(out, ValidatorProcess(v))
	}
	if len(m.Agents) == 0 && !m.Observers {
		return out
	}
	for _, v := range m.Validators {
		out = append(out, m.ObserverProcess(v))
	}
	for _, a := range m.Agents {
		out = append(out, AgentProcess(a))
	}
	return out
}

// SelectProcesses returns the processes named in names, in start order;
// no names means all of them. An unknown name is an error that lists the
// known ones.
func (m *Manifest) SelectProcesses(names []string) ([]Process, error) {
	all := m.Processes()
	if len(names) == 0 {
		return all, nil
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var out []Process
	for _, p := range all {
		if want[p.Name] {
			out = append(out, p)
			delete(want, p.Name)
		}
	}
	for _, n := range names {
		if want[n] {
			known := make([]string, len(all))
			for i, p := range all {
				known[i] = p.Name
			}
			return nil, fmt.Errorf("%w %q in %s: want one of %s", ErrUnknownName, n, Path(m.Dir), strings.Join(known, ", "))
		}
	}
	return out, nil
}

// identity is what /proc must show for pid to be p: the subcommand and
// the values of --home and --key on p's command line.
func (p Process) identity() (sub string, flags map[string]string) {
	flags = map[string]string{}
	if len(p.Args) > 0 {
		sub = p.Args[0]
	}
	for i := 0; i+1 < len(p.Args); i++ {
		if a := p.Args[i]; a == "--home" || a == "--key" {
			flags[a] = p.Args[i+1]
		}
	}
	return sub, flags
}

// matchesCmdline reports whether argv (program first) is p's command line:
// the same subcommand, and the same --home (compared as clean paths) and
// --key values, in either "--flag value" or "--flag=value" form.
func (p Process) matchesCmdline(argv []string) bool {
	sub, want := p.identity()
	if len(argv) < 2 || argv[1] != sub {
		return false
	}
	for flag, val := range want {
		found := false
		for i := 1; i < len(argv); i++ {
			got, ok := "", false
			if argv[i] == flag && i+1 < len(argv) {
				got, ok = argv[i+1], true
			} else if v, cut := strings.CutPrefix(argv[i], flag+"="); cut {
				got, ok = v, true
			}
			if ok && (got == val || flag == "--home" && filepath.Clean(got) == filepath.Clean(val)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// byKind splits processes into validators and the rest, keeping order.
func byKind(ps []Process) (validators, others []Process) {
	for _, p := range ps {
		if p.Kind == KindValidator {
			validators = append(validators, p)
		} else {
			others = append(others, p)
		}
	}
	return validators, others
}

func processNames(ps []Process) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}
