package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/networks"
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
(Prometheus), BASE being --base-port (default 26600). With --hostname or
--starting-ip, init writes homes for one validator per host instead; see
docs/networks.md for deploying them.`,
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
keys "admin" (roles admin, operator, observer) and observer0 … observer{N-1}
(role observer) in the unencrypted test keyring DIR/keyring-test, and the
manifest DIR/testnet.json. An existing DIR/testnet.json is replaced only
with --force.

With --agents K (loopback only) it also writes DIR/agent0 … DIR/agent{K-1}:
each a worker agent's home with its node key "agentI" in its own test
keyring. Agent I runs node agentI in zone-a, zone-b or zone-c (round-robin),
serves its endpoint on 127.0.0.1:BASE+10N+I and talks to validator I mod N
first. The genesis then allows open registration, so each agent registers
its node when it first starts; init prints the agent and observer command
lines.`,
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
	fl.BoolVar(&o.NoMetrics, "no-metrics", false, "turn off Prometheus metrics")
	fl.BoolVar(&o.Force, "force", false, "replace an existing network in --output (deletes its homes and chain data; keeps the keyring)")
	fl.IntVar(&o.Agents, "agents", 0, "also write the homes of K worker agents agent0…agentK-1 (zones round-robin over zone-a, zone-b, zone-c; genesis then allows open registration)")
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
	fmt.Fprintf(w, "\nKeys in %s: %q %s (admin, operator, observer) and observer0…observer%d.\n", m.KeyringDir, m.AdminKey, m.AdminAddress, len(m.Validators)-1)
	fmt.Fprintf(w, "Use them with: --keyring-backend test --home %s\n", m.Dir)
	if len(m.Agents) > 0 {
		fmt.Fprintf(w, "\nWorker agents (open registration is on), one command line each:\n")
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
	cmd := &cobra.Command{
		Use:   "start DIR",
		Short: "Run a loopback network's validators as local processes",
		Long: `Run every validator of the loopback network in DIR (or those named with
--only) as its own process, "phalanxd start --home DIR/valI", with output
in DIR/valI/node.log and its pid in DIR/valI/phalanxd.pid. Waits until
each has committed --wait-height blocks, prints the endpoints, then stays
in the foreground: Ctrl-C (or SIGTERM) stops the validators it started
(SIGTERM, then SIGKILL after 30s). With --detach it returns once the
network is up and leaves the validators running; stop them with
"phalanxd testnet stop DIR".

Starting a validator that is already running is an error.`,
		Example: `  phalanxd testnet start ./mynet
  phalanxd testnet start ./mynet --detach
  phalanxd testnet kill ./mynet val2 && phalanxd testnet start ./mynet --only val2 --detach`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := networks.LoadManifest(args[0])
			if err != nil {
				return err
			}
			ctx, stop := cmdContext(cmd)
			defer stop()
			out := cmd.OutOrStdout()
			n, err := networks.Start(ctx, m, networks.StartOptions{Only: only, WaitHeight: waitHeight, Timeout: timeout, Progress: out})
			if err != nil {
				return err
			}
			printTestnetStarted(out, n, detach)
			if detach {
				return nil
			}
			res, err := n.Supervise(ctx, out)
			printTestnetStopped(out, res)
			return err
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&detach, "detach", "d", false, "return once the network is up, leaving the validators running")
	fl.StringSliceVar(&only, "only", nil, "start only these validators (e.g. --only val2 or --only val1,val2)")
	fl.DurationVar(&timeout, "timeout", networks.DefaultStartTimeout, "how long to wait for the validators to commit --wait-height")
	fl.Int64Var(&waitHeight, "wait-height", networks.DefaultWaitHeight, "height every started validator must reach before start returns")
	return cmd
}

func printTestnetStarted(w io.Writer, n *networks.Network, detach bool) {
	m := n.Manifest
	fmt.Fprintf(w, "\n%d validator(s) of chain %s committing after %s.\n\n", len(n.Started), m.ChainID, n.Elapsed.Round(10*time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VALIDATOR\tRPC\tP2P\tPROMETHEUS\tLOG")
	for _, v := range n.Started {
		_, p2p, _ := strings.Cut(v.P2P, "@")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, v.RPC, p2p, tnDash(v.Prometheus), networks.LogPath(v))
	}
	_ = tw.Flush()
	rpc := n.Started[0].RPC
	kr := fmt.Sprintf("--keyring-backend test --home %s", m.Dir)
	fmt.Fprintf(w, `
Try:
  phalanxd query summary --node %[1]s
  phalanxd keys add n1 %[2]s
  phalanxd tx node register n1 --cpu 4000 --memory 8192 --zone z1 --node-key n1 --from %[3]s %[2]s --node %[1]s --yes
  phalanxd watch --node %[1]s
  phalanxd testnet status %[4]s
  phalanxd testnet kill %[4]s val1 && phalanxd testnet start %[4]s --only val1 --detach   (crash and restart one)
`, rpc, kr, m.AdminKey, m.Dir)
	if detach {
		fmt.Fprintf(w, "\nThe validators keep running. Stop them with: phalanxd testnet stop %s\n", m.Dir)
	} else {
		fmt.Fprintf(w, "\nPress Ctrl-C to stop the validators (or run `phalanxd testnet stop %s` elsewhere).\n", m.Dir)
	}
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
		Short: "Stop the running validators of a loopback network",
		Long: `Stop the validators of the network in DIR (or those named with --only)
through their pid files: SIGTERM, then SIGKILL if a validator has not
exited within --timeout. Validators that were not running are reported,
and their stale pid files removed.`,
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
	cmd.Flags().StringSliceVar(&only, "only", nil, "stop only these validators (e.g. --only val2)")
	cmd.Flags().DurationVar(&timeout, "timeout", networks.DefaultStopTimeout, "how long a validator gets to exit after SIGTERM before SIGKILL")
	return cmd
}

func testnetKillCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "kill DIR NAME...",
		Short: "Crash validators of a loopback network with SIGKILL",
		Long: `Send SIGKILL to the named validators of the network in DIR and wait until
they are gone: a crash, for fault-injection tests. Restart one with
"phalanxd testnet start DIR --only NAME". Exits non-zero if a named
validator was not running.`,
		Example: `  phalanxd testnet kill ./mynet val2`,
		Args:    cobra.MinimumNArgs(2),
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
		Short: "Show each validator's state, height, app hash and peers",
		Long: `Ask every validator of the network in DIR for /status and /net_info over
RPC (each call bounded by --timeout) and show one line per validator,
then whether the up validators hold the same app hash for the highest
block they all have.`,
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
		pid := "-"
		if v.PID > 0 {
			pid = fmt.Sprint(v.PID)
		}
		if !v.Up {
			state := "down"
			if v.PID > 0 {
				state = "no rpc"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t%s (%s)\n", v.Name, state, pid, v.RPC, v.Error)
			continue
		}
		state := "up"
		if v.CatchingUp {
			state = "syncing"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\n", v.Name, state, pid, v.Height, tnShortHash(v.AppHash), v.Peers, v.RPC)
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
