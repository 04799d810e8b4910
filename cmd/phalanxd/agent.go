package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/agent"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/types"
)

func init() { extraCommands = append(extraCommands, agentCmd) }

// DefaultAgentListen is where the agent serves /healthz and /tasks.
const DefaultAgentListen = "127.0.0.1:9100"

func agentCmd() *cobra.Command {
	var (
		home, nodeID, key, backend, node, zone, listen, endpoint string
		fallbacks, labels                                        []string
		cpu, memory                                              int64
		syncInterval, hbInterval, stopGrace, commitTimeout       time.Duration
		clockDrift                                               time.Duration
		maxBackoff                                               time.Duration
		noReaper, noSelfFence                                    bool
		tf                                                       trustFlags
	)
	capacity := agent.DetectCapacity()
	cmd := &cobra.Command{
		Use:   "agent --node-id ID --key NAME --node URL",
		Short: "Run the worker agent: register, heartbeat, run the tasks placed on this node",
		Long: `Run the worker agent of node ID. It registers the node (self-signed, when the
chain's params.open_registration allows it; otherwise the node must be
registered already, with the public key of --key), heartbeats every
params.heartbeat_interval_ms, follows the placements of its node (event
subscription plus a query every --sync-interval) and runs each task as an
OS process from the workload's command, args and env, in its own process
group, with stdout and stderr in HOME/tasks/<workload>_<index>-g<generation>.log.

Fencing: a task runs here only at the generation the chain places it here;
a process of an older generation, or of a task no longer placed here, is
stopped (SIGTERM to its process group, SIGKILL after --stop-grace) before
the new generation starts. An exit is reported (Failed with its exit code,
or Completed); the agent never restarts a task by itself.

Trust: the agent starts or stops a process only on the chain's proven
state: the task's record and its workload's spec are checked with Merkle
proofs against a header CometBFT's light client verified from the genesis
validator set (--genesis, default HOME/config/genesis.json) or from
--trust-height/--trust-hash, cross-checked with the other validators
(--rpc-fallback, --witness). Lists and events only say where to look; an
answer that does not verify changes nothing (the agent logs it and asks
another validator). Verified headers are kept in HOME/light.

The agent serves GET /healthz, /tasks and /tasks/{workload}/{index} on
--listen for observers. It sends each heartbeat (and its registration) to
--node and every --rpc-fallback at once, each call bounded by the
heartbeat interval (at least 1 s): one validator admitting it is enough,
and the next heartbeat never waits for the previous one's block. Queries
go to one validator, and to the next --rpc-fallback when it does not
answer; when none answers it backs off (at most --max-backoff between
rounds); its tasks keep running meanwhile. On SIGTERM or Ctrl-C it stops its tasks
and exits; if it is killed, its tasks die with it. See docs/agent.md.`,
		Example: `  phalanxd agent --home ~/.phalanx-agent --node-id n1 --key n1 --node tcp://10.0.0.1:26657 \
    --rpc-fallback tcp://10.0.0.2:26657 --genesis genesis.json --zone eu-1a --label disk=ssd --listen 10.0.1.5:9100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodeID == "" || key == "" {
				return errors.New("--node-id and --key are required")
			}
			lbls, err := parseLabels(labels)
			if err != nil {
				return fmt.Errorf("invalid --label: %w", err)
			}
			kr, err := openKeyring(cmd, home, backend)
			if err != nil {
				return err
			}
			priv, err := kr.Signer(key)
			if err != nil {
				return fmt.Errorf("--key %q: %w", key, err)
			}
			logger := log.New(cmd.ErrOrStderr(), "agent ", log.LstdFlags|log.Lmicroseconds)
			trust, err := tf.options(node, "")
			if err != nil {
				return fmt.Errorf("the agent acts only on placements it can verify: %w", err)
			}
			cfg := agent.Config{
				Trust:             trust,
				Home:              home,
				NodeID:            nodeID,
				Key:               priv,
				Nodes:             append([]string{node}, fallbacks...),
				Zone:              zone,
				Labels:            lbls,
				Capacity:          types.Resources{CpuMillis: orDetected(cpu, capacity.CpuMillis), MemoryMb: orDetected(memory, capacity.MemoryMb)},
				Listen:            listen,
				Endpoint:          endpoint,
				SyncInterval:      syncInterval,
				HeartbeatInterval: hbInterval,
				StopGrace:         stopGrace,
				MaxClockDrift:     clockDrift,
				NoSelfFence:       noSelfFence,
				CommitTimeout:     commitTimeout,
				MaxBackoff:        maxBackoff,
				Logf:              logger.Printf,
			}
			if !noReaper {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("locating the phalanxd binary for the reaper: %w (or pass --no-reaper)", err)
				}
				cfg.ReaperArgv = []string{exe, "agent", "reaper"}
			}
			a, err := agent.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := cmdContext(cmd)
			defer stop()
			return a.Run(ctx)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&home, "home", filepath.Join(config.DefaultHome(), "agent"), "agent home: its keyring, state file and task files")
	fl.StringVar(&nodeID, "node-id", "", "the node this agent runs (required)")
	fl.StringVar(&key, "key", "", "keyring name of the node's key, which signs its registration and heartbeats (required)")
	fl.StringVar(&backend, "keyring-backend", string(keyring.BackendFile),
		"keyring backend: file (passphrase from $"+keyring.EnvPassphrase+" or the terminal) or test (unencrypted, local networks only)")
	fl.StringVar(&node, "node", client.DefaultNode, "CometBFT RPC address of a validator")
	fl.StringArrayVar(&fallbacks, "rpc-fallback", nil, "RPC address of another validator, used when the previous ones do not answer (repeatable)")
	fl.StringVar(&zone, "zone", agent.DefaultZone, "the node's zone (failure domain), registered with it")
	fl.StringArrayVar(&labels, "label", nil, "a node label key=value, registered with it (repeatable)")
	// 0 means "detect": the defaults depend on the machine, so they are not
	// flag defaults (the generated CLI reference must not depend on it).
	fl.Int64Var(&cpu, "cpu", 0, "CPU capacity to register, in millicores (default: 1000 per CPU of this machine)")
	fl.Int64Var(&memory, "memory", 0, "memory capacity to register, in MB (default: this machine's)")
	fl.StringVar(&listen, "listen", DefaultAgentListen, "HOST:PORT of the agent's HTTP endpoint (/healthz, /tasks) for observers")
	fl.StringVar(&endpoint, "endpoint", "", "HOST:PORT observers reach --listen at, registered with the node (default: --listen)")
	fl.DurationVar(&syncInterval, "sync-interval", agent.DefaultSyncInterval, "period of the placement query that backs up the event subscription")
	fl.DurationVar(&hbInterval, "heartbeat-interval", 0, "heartbeat period (default: the chain's params.heartbeat_interval_ms)")
	fl.DurationVar(&stopGrace, "stop-grace", agent.DefaultStopGrace, "time a stopped task gets between SIGTERM and SIGKILL")
	fl.BoolVar(&noSelfFence, "no-self-fence", false, "do not stop stop-first tasks when the chain cannot be verified (ADR 0021); a replacement may then run beside them after fence_timeout_ms")
	fl.DurationVar(&clockDrift, "max-clock-drift", agent.DefaultMaxClockDrift, "bound on how far this machine's clock and the chain's block time may be apart; self-fencing stops a stop-first task 2x this before the chain may replace it")
	fl.DurationVar(&commitTimeout, "commit-timeout", agent.DefaultCommitTimeout, "how long to follow a heartbeat (or the registration) until its block; the heartbeat loop does not wait for it")
	fl.DurationVar(&maxBackoff, "max-backoff", agent.DefaultMaxBackoff, "longest pause between attempts while no validator answers")
	fl.BoolVar(&noReaper, "no-reaper", false, "do not start the reaper process; then only a task's first process dies with a killed agent (Linux), not its children")
	tf.register(cmd, &home, "agent")
	cmd.AddCommand(agentReaperCmd())
	return cmd
}

// agentReaperCmd is the reaper process the agent starts (agent/reaper.go).
func agentReaperCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "reaper",
		Short:  "Internal: kill an agent's tasks when the agent dies",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return agent.RunReaper(os.Stdin, cmd.OutOrStdout())
		},
	}
}

// orDetected is v, or the detected value when v is 0 (not given).
func orDetected(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}
