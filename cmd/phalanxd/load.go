package main

import (
	"context"
	stded25519 "crypto/ed25519"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/loadgen"
	"github.com/phalanx-bft/phalanx/types"
)

func init() { extraCommands = append(extraCommands, loadCmd) }

func loadCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Generate load against validators (floods, for tests and capacity measurements)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(loadFloodCmd(), loadBenchCmd())
	return cmd
}

func loadFloodCmd() *cobra.Command {
	var (
		nodes    []string
		kf       keyringFlags
		from     string
		chainID  string
		nodeID   string
		workload string
		seed     uint64
		size     int
		workers  int
		rate     int
		duration time.Duration
	)
	cmd := &cobra.Command{
		Use:   "flood MODE",
		Short: "Send signed transactions as fast as allowed and count how each was answered",
		Long: `Send signed transactions to the validators (--node, repeatable: round
robin) for --duration and print how many were admitted and how many were
refused, by code. Only point it at a network you run.

Modes:
  junk-evidence     ReportEquivocation of --size random bytes from a fresh
                    key per transaction (keys derived from --seed): an
                    attacker with many identities
  heartbeats        one node's heartbeats, signed by its key (--from,
                    --node-id): a node key gone wild
  workload-updates  UpdateWorkload of --workload, replicas alternating
                    between N and N+1, signed by an operator (--from)

A one-signer mode sends with one worker, in sequence order.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := cmdContext(cmd)
			defer cancel()
			if len(nodes) == 0 {
				nodes = []string{client.DefaultNode}
			}
			c, err := client.New(nodes[0])
			if err != nil {
				return fmt.Errorf("invalid --node: %w", err)
			}
			if chainID == "" {
				if chainID, err = c.ChainID(ctx); err != nil {
					return err
				}
			}
			cfg := loadgen.Config{Nodes: nodes, Workers: workers, Duration: duration, Rate: rate}
			switch mode := args[0]; mode {
			case "junk-evidence":
				cfg.Source = loadgen.JunkEvidence{ChainID: chainID, Seed: seed, Size: size}
				fmt.Fprintf(cmd.ErrOrStderr(), "junk-evidence: seed %d, %d bytes a transaction\n", seed, size)
			case "heartbeats", "workload-updates":
				if from == "" {
					return fmt.Errorf("mode %s signs with one key: give --from KEY", mode)
				}
				kr, err := openKeyring(cmd, kf.home, kf.backend)
				if err != nil {
					return err
				}
				priv, err := kr.Signer(from)
				if err != nil {
					return err
				}
				seq, err := c.NextSequence(ctx, crypto.Address(priv.Public().(stded25519.PublicKey)))
				if err != nil {
					return err
				}
				src := loadgen.Sequenced{ChainID: chainID, Key: priv, Start: seq}
				if src.Msg, err = floodMessages(ctx, c, mode, nodeID, workload); err != nil {
					return err
				}
				cfg.Source, cfg.Workers = src, 1
			default:
				return fmt.Errorf("unknown mode %q; expected junk-evidence, heartbeats or workload-updates", mode)
			}
			res, err := loadgen.Flood(ctx, cfg)
			fmt.Fprintln(cmd.OutOrStdout(), res.String())
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&nodes, "node", nil, "CometBFT RPC address of a validator (repeat for round robin; default "+client.DefaultNode+")")
	fl.StringVar(&kf.home, "home", config.DefaultHome(), "home directory holding the keyring (one-signer modes)")
	fl.StringVar(&kf.backend, "keyring-backend", string(keyring.BackendFile), "keyring backend: file or test")
	fl.StringVar(&from, "from", "", "the signing key (heartbeats: the node's key; workload-updates: an operator)")
	fl.StringVar(&chainID, "chain-id", "", "chain id to sign for (default: the one the node reports)")
	fl.StringVar(&nodeID, "node-id", "", "heartbeats: the node whose heartbeats to send")
	fl.StringVar(&workload, "workload", "", "workload-updates: the workload to update")
	fl.Uint64Var(&seed, "seed", 1, "junk-evidence: the seed the fresh keys and junk derive from")
	fl.IntVar(&size, "size", 120_000, fmt.Sprintf("junk-evidence: junk bytes per transaction (2..%d)", loadgen.MaxJunkBytes))
	fl.IntVar(&workers, "workers", 8, fmt.Sprintf("parallel senders (1..%d; one-signer modes use 1)", loadgen.MaxWorkers))
	fl.IntVar(&rate, "rate", 0, "transactions per second in all (0: as fast as possible)")
	fl.DurationVar(&duration, "duration", 60*time.Second, "how long to send")
	return cmd
}

// floodMessages builds the message of each transaction of a one-signer
// flood from the chain's current state.
func floodMessages(ctx context.Context, c *client.Client, mode, nodeID, workload string) (func(int) client.Msg, error) {
	switch mode {
	case "heartbeats":
		if nodeID == "" {
			return nil, fmt.Errorf("heartbeats: give --node-id")
		}
		var n api.NodeView
		if _, err := c.Query(ctx, client.NodePath(nodeID), &n); err != nil {
			return nil, err
		}
		last := n.LastHeartbeatSeq
		return func(i int) client.Msg {
			return &types.Heartbeat{NodeId: nodeID, Seq: last + 1 + uint64(i)}
		}, nil
	default: // workload-updates
		if workload == "" {
			return nil, fmt.Errorf("workload-updates: give --workload")
		}
		var w api.WorkloadView
		if _, err := c.Query(ctx, client.WorkloadPath(workload), &w); err != nil {
			return nil, err
		}
		spec := w.Spec.Spec()
		if strings.TrimSpace(spec.Name) == "" {
			return nil, fmt.Errorf("workload %s has no spec", workload)
		}
		base := spec.Replicas
		return func(i int) client.Msg {
			s := spec
			s.Replicas = base + uint32(i%2)
			return &types.UpdateWorkload{Spec: s}
		}, nil
	}
}
