package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/networks"
	"github.com/phalanx-bft/phalanx/node"
	"github.com/phalanx-bft/phalanx/types"
)

func init() { extraCommands = append(extraCommands, testnetCmd) }

// testnetCmd is `phalanxd testnet`: generate a network and run it as local
// processes (package networks).
func testnetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "testnet",
		Short: "Generate a multi-validator network and run it on this machine",
		Long: `Generate the homes, genesis, peers and keys of an N-validator network
(testnet init), run it as local processes (testnet start), look at it
(testnet status) and stop it (testnet stop, testnet kill).

A loopback network runs every validator on 127.0.0.1 with its own ports:
validator I listens on BASE+10I (p2p), BASE+10I+1 (RPC) and BASE+10I+2
(Prometheus), BASE being --base-port (default 26600). A network made with
--agents K also runs one observer per validator and K worker agents, agent
I serving on BASE+10N+I: a cluster that heals itself when an agent is
killed. With --hostname or --starting-ip, init writes homes for one
validator per host instead; see docs/networks.md for deploying them.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(testnetInitCmd(), testnetStartCmd(), testnetStopCmd(), testnetKillCmd(), testnetStatusCmd())
	return cmd
}

func testnetInitCmd() *cobra.Command {
	var o networks.InitOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write validator homes, one genesis, peers and test keys for an N-validator network",
		Long: `Write DIR/val0 … DIR/val{N-1} (CometBFT config, keys, app.toml), one genesis
copied into every home, persistent_peers naming every other validator, the
keys "admin" (roles admin, operator) and observer0 … observer{N-1}
(role observer) in the unencrypted test keyring DIR/keyring-test, and the
manifest DIR/testnet.json. An existing DIR/testnet.json is replaced only
with --force.

With --agents K (loopback only) it also writes DIR/agent0 … DIR/agent{K-1}:
each a worker agent's home with its node key "agentI" in its own test
keyring. Agent I runs node agentI in zone-a, zone-b or zone-c (round-robin),
serves its endpoint on 127.0.0.1:BASE+10N+I and talks to validator I mod N
first. The genesis then allows open registration, so each agent registers
its node when it first starts. "testnet start" then runs, besides the
validators, one observer per validator (observerI, key observerI, reporting
through valI) and the agents; init prints their command lines.`,
		Example: `  phalanxd testnet init --output ./mynet
  phalanxd testnet init --validators 4 --output /tmp/net --chain-id demo --block-time 200ms --base-port 30000
  phalanxd testnet init --output ./deploy --hostname v0.example.net --hostname v1.example.net \
    --hostname v2.example.net --hostname v3.example.net
  phalanxd testnet init --validators 4 --output ./deploy --starting-ip 192.168.10.2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("validators") {
				o.Validators = 0 // let the host list decide in multi-host mode
			}
			if !cmd.Flags().Changed("base-port") {
				o.BasePort = 0
			}
			m, err := networks.InitTestnet(o)
			if err != nil {
				return err
			}
			printTestnetInit(cmd.OutOrStdout(), m)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&o.Validators, "validators", "n", networks.DefaultValidators, "number of validators (tolerates f = (N-1)/3 faults)")
	fl.StringVarP(&o.Dir, "output", "o", "testnet", "directory to write the network into")
	fl.StringVar(&o.ChainID, "chain-id", networks.DefaultChainID, "chain id")
	fl.IntVar(&o.BasePort, "base-port", networks.DefaultBasePort, "first loopback port: validator I uses BASE+10I (p2p), +1 (rpc), +2 (prometheus)")
	fl.DurationVar(&o.BlockTime, "block-time", networks.DefaultBlockTime, "consensus timeout_commit: the pause after each block")
	fl.StringArrayVar(&o.Hostnames, "hostname", nil, "multi-host: host name or IPv4 address of validator I (repeat once per validator, in order)")
	fl.StringVar(&o.StartingIP, "starting-ip", "", "multi-host: IPv4 address of val0; validator I gets this address + I")
	fl.BoolVar(&o.PublicRPC, "public-rpc", false, "multi-host: serve RPC on all interfaces (0.0.0.0:26657) instead of 127.0.0.1; firewall it")
	fl.BoolVar(&o.PublicMetrics, "public-metrics", false, "multi-host: serve Prometheus metrics on all interfaces (0.0.0.0:26660) instead of 127.0.0.1; firewall it")
	fl.BoolVar(&o.NoMetrics, "no-metrics", false, "turn off Prometheus metrics")
	fl.BoolVar(&o.Force, "force", false, "replace an existing network in --output (deletes its homes and chain data; keeps the keyring)")
	fl.BoolVar(&o.Fleet, "fleet", false, fmt.Sprintf("a network for `phalanxd fleet` (docs/fleet.md): open registration, %d self-registrations per block, and testnet start runs one observer per validator even without agents", api.MaxSelfRegistrationsPerBlockLimit))
	fl.IntVar(&o.Agents, "agents", 0, "also write the homes of K worker agents agent0…agentK-1 (zones round-robin over zone-a, zone-b, zone-c; genesis then allows open registration); testnet start then runs them and one observer per validator")
	// Hidden: the load bench's baseline (phalanxd load bench).
	fl.StringVar(&o.TestApp, "test-app", "", "BENCHMARK ONLY: every validator runs CometBFT's example application "+node.TestAppKVStore+" instead of Phalanx")
	_ = fl.MarkHidden("test-app")
	return cmd
}

func printTestnetInit(w io.Writer, m *networks.Manifest) {
	fmt.Fprintf(w, "Initialised a %d-validator %s network in %s (chain %s, block time %s)\n\n", len(m.Validators), m.Mode, m.Dir, m.ChainID, m.BlockTime)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VALIDATOR\tHOME\tRPC\tP2P\tPROMETHEUS\tOBSERVER")
	for _, v := range m.Validators {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Home, v.RPC, v.P2P, tnDash(v.Prometheus), v.Observer)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nKeys in %s: %q %s (admin, operator) and observer0…observer%d (observer).\n", m.KeyringDir, m.AdminKey, m.AdminAddress, len(m.Validators)-1)
	fmt.Fprintf(w, "Use them with: --keyring-backend test --home %s\n", m.Dir)
	if len(m.Agents) > 0 {
		fmt.Fprintf(w, "\n`testnet start` also runs the worker agents (open registration is on) and one observer per\nvalidator. Their command lines, to run one by hand instead (never beside it: two observers\nwith one key sign conflicting reports, which jails the key):\n")
		for _, a := range m.Agents {
			fmt.Fprintf(w, "  phalanxd %s\n", strings.Join(a.Args(), " "))
		}
		fmt.Fprintf(w, "Observers, one per validator:\n")
		for _, v := range m.Validators {
			fmt.Fprintf(w, "  phalanxd %s\n", strings.Join(m.ObserverArgs(v), " "))
		}
	}
	if m.Mode == networks.ModeLoopback {
		fmt.Fprintf(w, "\nStart it with: phalanxd testnet start %s\n", m.Dir)
		return
	}
	fmt.Fprintf(w, "\nDeploy: copy %s to host I (e.g. rsync -a %s/ HOST:~/.phalanx/),\n", filepath.Join(m.Dir, "valI"), filepath.Join(m.Dir, "val0"))
	fmt.Fprintf(w, "then run `phalanxd start --home ~/.phalanx` on every host (see docs/networks.md).\n")
}

func testnetStartCmd() *cobra.Command {
	var detach bool
	var only []string
	var timeout time.Duration
	var waitHeight int64
	var workload string
	cmd := &cobra.Command{
		Use:   "start DIR",
		Short: "Run a loopback network's validators, observers and agents as local processes",
		Long: `Run every validator of the loopback network in DIR as its own process,
"phalanxd start --home DIR/valI", with output in DIR/valI/node.log and its
pid in DIR/valI/phalanxd.pid, and wait until each has committed
--wait-height blocks. In a network made with --agents, then run one
observer per validator (observerI: "phalanxd observer" with key observerI
through valI's RPC; DIR/valI/observer.log and observer.pid) and the agents
(agentI: "phalanxd agent --home DIR/agentI …"; DIR/agentI/agent.log and
agent.pid), and wait until every agent has registered its node and
heartbeats. --only starts just the processes named.

--workload FILE then creates that workload (signed by the admin key),
unless a workload of its name exists.

Then it prints the endpoints and stays in the foreground, reporting
processes that exit: Ctrl-C (or SIGTERM) stops what it started, agents
first, then observers, then validators (SIGTERM, then SIGKILL after 30s).
With --detach it returns once the network is up and leaves everything
running; stop it with "phalanxd testnet stop DIR".

Starting a process that is already running is an error.`,
		Example: `  phalanxd testnet start ./mynet
  phalanxd testnet start ./mynet --detach --workload examples/localnet.json
  phalanxd testnet kill ./mynet val2 && phalanxd testnet start ./mynet --only val2 --detach
  phalanxd testnet kill ./mynet agent1 && phalanxd testnet start ./mynet --only agent1 --detach`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := networks.LoadManifest(args[0])
			if err != nil {
				return err
			}
			var spec *types.WorkloadSpec
			if workload != "" {
				s, err := readSpecFile(cmd.InOrStdin(), workload)
				if err != nil {
					return err
				}
				spec = &s
			}
			ctx, stop := cmdContext(cmd)
			defer stop()
			out := cmd.OutOrStdout()
			n, err := networks.Start(ctx, m, networks.StartOptions{Only: only, WaitHeight: waitHeight, Timeout: timeout, Progress: out})
			if err != nil {
				return err
			}
			if spec != nil {
				created, wv, err := networks.CreateWorkload(ctx, m, *spec)
				switch {
				case err != nil && !detach:
					// The network is up: say so, and keep it running.
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
				case err != nil:
					return err
				case created:
					fmt.Fprintf(out, "created workload %s (%d replicas of %s)\n", wv.Name, wv.Spec.Replicas, wv.Spec.Command)
				default:
					fmt.Fprintf(out, "workload %s exists already (version %d); not created again\n", wv.Name, wv.Version)
				}
			}
			printTestnetStarted(out, n, len(only) == 0, detach, spec)
			if detach {
				return nil
			}
			res, err := n.Supervise(ctx, out)
			printTestnetStopped(out, res)
			return err
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&detach, "detach", "d", false, "return once the network is up, leaving its processes running")
	fl.StringSliceVar(&only, "only", nil, "start only these processes (e.g. --only val2, --only agent1 or --only val1,observer1)")
	fl.StringVar(&workload, "workload", "", "once the network is up, create this workload (JSON spec file) unless it exists")
	fl.DurationVar(&timeout, "timeout", networks.DefaultStartTimeout, "how long to wait for the validators to commit --wait-height, and again for the agents to heartbeat")
	fl.Int64Var(&waitHeight, "wait-height", networks.DefaultWaitHeight, "height every started validator must reach before start returns")
	return cmd
}

// printTestnetStarted prints the started processes and, when all were
// started, what to try next.
func printTestnetStarted(w io.Writer, n *networks.Network, all, detach bool, spec *types.WorkloadSpec) {
	m := n.Manifest
	fmt.Fprintf(w, "\n%d process(es) of chain %s ready after %s.\n", len(n.Started), m.ChainID, n.Elapsed.Round(10*time.Millisecond))
	var observers, agents []networks.Process
	for _, p := range n.Started {
		switch p.Kind {
		case networks.KindObserver:
			observers = append(observers, p)
		case networks.KindAgent:
			agents = append(agents, p)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if vals := n.Validators(); len(vals) > 0 {
		fmt.Fprintln(tw, "\nVALIDATOR\tRPC\tP2P\tPROMETHEUS\tLOG")
		for _, v := range vals {
			_, p2p, _ := strings.Cut(v.P2P, "@")
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, v.RPC, p2p, tnDash(v.Prometheus), networks.LogPath(v))
		}
	}
	if len(observers) > 0 {
		fmt.Fprintln(tw, "\nOBSERVER\tREPORTS THROUGH\tLOG")
		for _, p := range observers {
			fmt.Fprintf(tw, "%s\t%s (%s)\t%s\n", p.Name, p.Validator.Name, p.Validator.RPC, p.LogFile)
		}
	}
	if len(agents) > 0 {
		fmt.Fprintln(tw, "\nAGENT\tZONE\tENDPOINT\tLOG")
		for _, p := range agents {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Agent.Zone, p.Agent.Listen, p.LogFile)
		}
	}
	_ = tw.Flush()
	rpc := m.Validators[0].RPC
	switch {
	case !all:
		// A restart of some processes: the user knows the network.
	case len(m.Agents) > 0:
		printHealingTry(w, m, spec)
	default:
		kr := fmt.Sprintf("--keyring-backend test --home %s", m.Dir)
		fmt.Fprint(w, withSelf(`
Try:
  phalanxd query summary --node %[1]s
  phalanxd keys add n1 %[2]s
  phalanxd tx node register n1 --cpu 4000 --memory 8192 --zone z1 --node-key n1 --from %[3]s %[2]s --node %[1]s --yes
  phalanxd watch --node %[1]s
  phalanxd testnet status %[4]s
  phalanxd testnet kill %[4]s val1 && phalanxd testnet start %[4]s --only val1 --detach   (crash and restart one)
`, rpc, kr, m.AdminKey, m.Dir))
	}
	if detach {
		fmt.Fprintf(w, "\nThe processes keep running. Stop them with: phalanxd testnet stop %s\n", m.Dir)
	} else {
		fmt.Fprintf(w, "\nPress Ctrl-C to stop them all (or run `phalanxd testnet stop %s` elsewhere).\n", m.Dir)
	}
}

// printHealingTry tells how to watch a network with agents heal itself.
func printHealingTry(w io.Writer, m *networks.Manifest, spec *types.WorkloadSpec) {
	rpc := m.Validators[0].RPC
	victim := m.Agents[min(1, len(m.Agents)-1)].Name
	if spec == nil {
		fmt.Fprint(w, withSelf(`
Give the agents work (a spec file such as examples/localnet.json):
  phalanxd tx workload create -f examples/localnet.json --from %s --keyring-backend test --home %s --node %s --yes
`, m.AdminKey, m.Dir, rpc))
	}
	fmt.Fprint(w, withSelf(`
Watch the cluster heal itself, from another terminal:
  phalanxd watch --node %[1]s
  phalanxd query tasks --node %[1]s
  phalanxd testnet kill %[2]s %[3]s
%[3]s dies with its tasks (SIGKILL). Within seconds watch shows node_status %[3]s → Down,
task_evicted for each task it ran and task_placed on another agent with a higher generation;
query tasks shows them Running there. Bring %[3]s back (its node is Ready again within ~10s):
  phalanxd testnet start %[2]s --only %[3]s --detach
  phalanxd testnet status %[2]s
`, rpc, m.Dir, victim))
}

// withSelf formats a block of example command lines ("  phalanxd …") so
// that they run this phalanxd: by the path it was started with when that
// names a directory (build/phalanxd under make localnet).
func withSelf(format string, args ...any) string {
	s := fmt.Sprintf(format, args...)
	if self := os.Args[0]; strings.ContainsRune(self, filepath.Separator) {
		s = strings.ReplaceAll(s, "\n  phalanxd ", "\n  "+self+" ")
	}
	return s
}

func printTestnetStopped(w io.Writer, res []networks.StopResult) {
	for _, r := range res {
		switch {
		case !r.WasRunning:
			fmt.Fprintf(w, "%s was not running\n", r.Name)
		case r.Killed:
			fmt.Fprintf(w, "killed %s (pid %d)\n", r.Name, r.PID)
		default:
			fmt.Fprintf(w, "stopped %s (pid %d)\n", r.Name, r.PID)
		}
	}
}

func testnetStopCmd() *cobra.Command {
	var only []string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "stop DIR",
		Short: "Stop the running processes of a loopback network",
		Long: `Stop the processes of the network in DIR (or those named with --only)
through their pid files: the agents first (each stops its tasks), then
the observers, then the validators. Each gets SIGTERM, then SIGKILL if it
has not exited within --timeout. Processes that were not running are
reported, and their stale pid files removed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := networks.LoadManifest(args[0])
			if err != nil {
				return err
			}
			res, err := networks.Stop(context.Background(), m, networks.StopOptions{Only: only, Timeout: timeout})
			printTestnetStopped(cmd.OutOrStdout(), res)
			return err
		},
	}
	cmd.Flags().StringSliceVar(&only, "only", nil, "stop only these processes (e.g. --only val2 or --only agent1)")
	cmd.Flags().DurationVar(&timeout, "timeout", networks.DefaultStopTimeout, "how long a process gets to exit after SIGTERM before SIGKILL")
	return cmd
}

func testnetKillCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "kill DIR NAME...",
		Short: "Crash validators, observers or agents of a loopback network with SIGKILL",
		Long: `Send SIGKILL to the named processes (val2, observer2, agent1) of the network
in DIR and wait until they are gone: a crash, for fault-injection tests. A
killed agent's tasks die with it (docs/agent.md); the observers then see
its node unreachable and the chain moves its tasks to other agents.
Restart one with "phalanxd testnet start DIR --only NAME". Exits non-zero
if a named process was not running.`,
		Example: `  phalanxd testnet kill ./mynet val2
  phalanxd testnet kill ./mynet agent1`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := networks.LoadManifest(args[0])
			if err != nil {
				return err
			}
			res, err := networks.Kill(context.Background(), m, args[1:]...)
			printTestnetStopped(cmd.OutOrStdout(), res)
			if err != nil {
				return err
			}
			var idle []string
			for _, r := range res {
				if !r.WasRunning {
					idle = append(idle, r.Name)
				}
			}
			if len(idle) > 0 {
				return fmt.Errorf("not running: %s", strings.Join(idle, ", "))
			}
			return nil
		},
	}
}

func testnetStatusCmd() *cobra.Command {
	var output string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status DIR",
		Short: "Show each validator's state, height, app hash and peers, and the observers and agents",
		Long: `Ask every validator of the network in DIR for /status and /net_info over
RPC (each call bounded by --timeout) and show one line per validator,
then whether the up validators hold the same app hash for the highest
block they all have. In a network with agents, also one line per
observer (its process and the last report window it signed for) and per
agent (its process, its endpoint's /healthz: node id and tasks running,
the validator it talks to, and its node's state on the chain).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			m, err := networks.LoadManifest(args[0])
			if err != nil {
				return err
			}
			ns, err := networks.Status(cmd.Context(), m, networks.StatusOptions{Timeout: timeout})
			if err != nil {
				return err
			}
			if output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), ns)
			}
			printTestnetStatus(cmd.OutOrStdout(), ns)
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().DurationVar(&timeout, "timeout", networks.DefaultStatusTimeout, "bound on each RPC call")
	return cmd
}

func printTestnetStatus(w io.Writer, ns *networks.NetworkStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VALIDATOR\tSTATE\tPID\tHEIGHT\tAPP HASH\tPEERS\tRPC")
	for _, v := range ns.Validators {
		if !v.Up {
			state := "down"
			if v.PID > 0 {
				state = "no rpc"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t%s (%s)\n", v.Name, state, tnPID(v.PID), v.RPC, v.Error)
			continue
		}
		state := "up"
		if v.CatchingUp {
			state = "syncing"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\n", v.Name, state, tnPID(v.PID), v.Height, tnShortHash(v.AppHash), v.Peers, v.RPC)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%d of %d up", ns.Up, len(ns.Validators))
	switch {
	case ns.Up == 0:
		fmt.Fprintln(w, ".")
	case ns.CommonHeight < 1:
		fmt.Fprintln(w, "; no block committed yet.")
	case ns.Agree:
		fmt.Fprintf(w, "; block %d: app hash %s on every up validator.\n", ns.CommonHeight, tnShortHash(ns.Validators[tnFirstUp(ns)].HeaderAppHash))
	default:
		fmt.Fprintf(w, "; block %d: app hashes DIFFER:", ns.CommonHeight)
		for _, v := range ns.Validators {
			if v.Up {
				fmt.Fprintf(w, " %s=%s", v.Name, tnDash(tnShortHash(v.HeaderAppHash)))
			}
		}
		fmt.Fprintln(w)
	}
	if len(ns.Observers) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "OBSERVER\tSTATE\tPID\tVALIDATOR\tLAST WINDOW")
		for _, o := range ns.Observers {
			state := "down"
			if o.PID > 0 {
				state = "up"
			}
			window := "-"
			if o.LastWindow > 0 {
				window = fmt.Sprint(o.LastWindow)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Name, state, tnPID(o.PID), o.Validator, window)
		}
		_ = tw.Flush()
	}
	if len(ns.Agents) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "AGENT\tSTATE\tPID\tZONE\tNODE\tTASKS\tRUNNING\tVIA\tENDPOINT")
		for _, a := range ns.Agents {
			state := "down"
			switch {
			case a.Up && a.Connected:
				state = "up"
			case a.Up:
				state = "no validator"
			case a.PID > 0:
				state = "no endpoint"
			}
			node := tnDash(a.NodeState)
			if a.NodeID != "" && a.NodeID != a.Name {
				node = a.NodeID + " " + node
			}
			tasks, running := "-", "-"
			if a.Up {
				tasks, running = fmt.Sprint(a.Tasks), fmt.Sprint(a.Running)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, state, tnPID(a.PID), a.Zone, node, tasks, running, tnDash(a.Via), a.Listen)
		}
		_ = tw.Flush()
	}
}

func tnPID(pid int) string {
	if pid > 0 {
		return fmt.Sprint(pid)
	}
	return "-"
}

func tnFirstUp(ns *networks.NetworkStatus) int {
	for i, v := range ns.Validators {
		if v.Up {
			return i
		}
	}
	return 0
}

// tnShortHash is the first 12 hex digits of a hash.
func tnShortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func tnDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
