package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/agent/fleet"
	"github.com/phalanx-bft/phalanx/networks"
	"github.com/phalanx-bft/phalanx/types"
)

func init() { extraCommands = append(extraCommands, fleetCmd) }

// DefaultFleetListen is where the fleet serves its nodes' endpoints.
const DefaultFleetListen = "0.0.0.0:9200"

func fleetCmd() *cobra.Command {
	var (
		home, output, listen, prefix string
		nodes                        []string
		cfg                          fleet.Config
		cpu, memory                  int64
	)
	cmd := &cobra.Command{
		Use:   "fleet --home TESTNET_DIR --nodes N --duration D",
		Short: "Simulate N worker nodes in one process: heartbeats, probes, crashes; report false verdicts and detection times",
		Long: `Simulate N worker nodes against a running network, in one process, and
report how the chain judged them (docs/fleet.md).

Each node has its own key, derived from --seed (the same seed plays the
same nodes: a second run adopts them), its id PREFIX-NNNNN and its own
endpoint 127.A.B.C:PORT, all served by one listener on --listen (Linux
routes all of 127.0.0.0/8 to loopback; the listener binds 0.0.0.0 to
receive them and answers loopback peers only). The fleet registers its
nodes itself (the network needs open registration: testnet init --fleet),
at most --register-rate (and params.max_self_registrations_per_block) a
second and while fewer than --max-unattested of them wait for their attestation. Like an agent, it
heartbeats a node (every params.heartbeat_interval_ms, ± --jitter) only
while no observer quorum attests it or a task the chain placed on it is
not Running on the chain yet; it answers the observers' /healthz and
/tasks for every alive node. It reads the node list once per interval
(one paged read, unproven: a simulator measures the chain, it does not
defend against it) and follows node_status events.

--crash-fraction F crashes that share of the nodes, once each, at seeded
times spread over the run once every node is registered and attested (or
a third of the run passed): a crashed node neither heartbeats nor answers.
It is revived (heartbeats again) once its Down verdict was seen and
--down-for passed. Progress goes to stderr every --progress; the summary
(text, or one JSON object with -o json) to stdout: false Suspect and
Down verdicts (nodes kept alive), detection p50/p99 (crash → Down event),
the fleet's transactions per second and the chain's.`,
		Example: `  phalanxd testnet init --validators 4 --fleet --output ./fleetnet
  phalanxd testnet start ./fleetnet --detach
  phalanxd fleet --home ./fleetnet --nodes 1000 --duration 3m --crash-fraction 0.01
  phalanxd fleet --home ./fleetnet --nodes 300 --duration 40s --crash-fraction 0.02 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != outputText && output != outputJSON {
				return fmt.Errorf("-o %q: expected text or json", output)
			}
			cfg.Validators = nodes
			if home != "" {
				m, err := networks.LoadManifest(home)
				if err != nil {
					return err
				}
				if len(nodes) == 0 {
					for _, v := range m.Validators {
						cfg.Validators = append(cfg.Validators, v.RPC)
					}
				}
			}
			if len(cfg.Validators) == 0 {
				return errors.New("no validator: expected --home TESTNET_DIR or --node URL")
			}
			cfg.Listen, cfg.Prefix = listen, prefix
			cfg.Capacity = types.Resources{CpuMillis: cpu, MemoryMb: memory}
			logger := log.New(cmd.ErrOrStderr(), "", log.LstdFlags)
			cfg.Logf = logger.Printf
			cfg.OnProgress = func(p fleet.Progress) { logger.Print(p.String()) }
			f, err := fleet.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := cmdContext(cmd)
			defer stop()
			s, err := f.Run(ctx)
			if err != nil {
				return err
			}
			if output == outputJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				return enc.Encode(s)
			}
			s.WriteText(cmd.OutOrStdout())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&home, "home", "", "a network made by `testnet init --fleet`: its validators' RPC addresses")
	fl.StringArrayVar(&nodes, "node", nil, "RPC address of a validator (repeatable; instead of --home's)")
	fl.IntVar(&cfg.Nodes, "nodes", 100, fmt.Sprintf("number of simulated nodes, 1 to %d", fleet.MaxNodes))
	fl.DurationVar(&cfg.Duration, "duration", time.Minute, "how long to run, registration included")
	fl.Float64Var(&cfg.CrashFraction, "crash-fraction", 0, "share of the nodes crashed once each and revived after their Down verdict (0 to 1)")
	fl.DurationVar(&cfg.DownFor, "down-for", 0, "least time a crashed node stays crashed (default: params.down_after_ms plus two report windows)")
	fl.Uint64Var(&cfg.Seed, "seed", 1, "seed of the node keys and the crash schedule")
	fl.StringVar(&prefix, "prefix", fleet.DefaultPrefix, "node id prefix: nodes are PREFIX-00000, PREFIX-00001, …")
	fl.StringVar(&listen, "listen", DefaultFleetListen, "the one listener of every node's /healthz and /tasks (0.0.0.0:PORT; port 0: a free one)")
	fl.Int64Var(&cpu, "cpu", fleet.DefaultCPUMillis, "CPU capacity each node registers, in millicores")
	fl.Int64Var(&memory, "memory", fleet.DefaultMemoryMB, "memory capacity each node registers, in MB")
	fl.IntVar(&cfg.Senders, "senders", fleet.DefaultSenders, fmt.Sprintf("transactions submitted at once, 1 to %d", fleet.MaxSenders))
	fl.IntVar(&cfg.MaxUnattested, "max-unattested", fleet.DefaultMaxUnattested, "most nodes registered or registering that no observer quorum attests yet (each heartbeats every interval)")
	fl.IntVar(&cfg.RegisterRate, "register-rate", fleet.DefaultRegisterRate, fmt.Sprintf("most registrations sent per second, 1 to %d (params.max_self_registrations_per_block bounds them too)", fleet.MaxRegisterRate))
	fl.IntVar(&cfg.JitterPercent, "jitter", fleet.DefaultJitterPercent, fmt.Sprintf("heartbeat jitter, ± percent of the interval, 0 to %d", fleet.MaxJitterPercent))
	fl.DurationVar(&cfg.Timeout, "timeout", fleet.DefaultTimeout, "bound on each request to a validator")
	fl.DurationVar(&cfg.Progress, "progress", fleet.DefaultProgress, "period of the progress line on stderr")
	fl.StringVarP(&output, "output", "o", outputText, "summary format: text or json (one JSON object)")
	return cmd
}
