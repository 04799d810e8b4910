package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/types"
)

// The node and observer lifecycle: tx node remove, tx observer unjail.

func txNodeRemoveCmd() *cobra.Command {
	var f txFlags
	var reason string
	var force bool
	short := "Remove a node from the cluster, freeing its slot (RemoveNode)"
	cmd := &cobra.Command{
		Use:   "remove NODE_ID [--force]",
		Short: short,
		Long: short + `. The signer must be an operator.

Refused (code 34) while tasks that hold resources (Assigned, Running,
Failed) are placed on the node: drain it first and wait until its tasks
have moved, or pass --force to evict them in the same transaction. They
are then rescheduled as from a drained node (Pending with a new
generation, placed elsewhere at the end of the block), at once: an
operator's decision is not paced by zone. A Completed task keeps its
outcome and loses its node.

The node's record, its failure-detection state and observer reports are
deleted and its slot under the node limit is free. The account of its
key stays (its sequence is never reused) but loses role node; the same id
or key can be registered again, as a new node.

` + txSeeAlso,
		Example: `  phalanxd tx node drain n7 --from operator   # then, once its tasks moved:
  phalanxd tx node remove n7 --from operator
  phalanxd tx node remove n7 --force --reason "hardware retired" --from operator`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTx(cmd, &f, f.from, func(context.Context, *client.Client, *keyring.Keyring) (client.Msg, []string, error) {
				id := args[0]
				lines := []string{"message:    RemoveNode", "node id:    " + id,
					fmt.Sprintf("force:      %v", force), "reason:     " + orNone(reason)}
				return &types.RemoveNode{NodeId: id, Force: force, Reason: reason}, lines, nil
			})
		},
	}
	f.register(cmd, "name of the keyring key that signs: an operator (required)")
	cmd.Flags().BoolVar(&force, "force", false, "evict the node's tasks now instead of refusing while it has any")
	cmd.Flags().StringVar(&reason, "reason", "", fmt.Sprintf("why, shown in the node_removed event (at most %d bytes)", api.MaxReasonLen))
	return cmd
}

func txObserverCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "observer",
		Short: "Restore jailed observers",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(txObserverUnjailCmd())
	return cmd
}

func txObserverUnjailCmd() *cobra.Command {
	var f txFlags
	short := "Restore a jailed observer after review (UnjailObserver)"
	cmd := &cobra.Command{
		Use:   "unjail ADDRESS",
		Short: short,
		Long: short + `. ADDRESS is an account address (40 hex
characters) or the name of a key in the local keyring. The signer must be
an admin.

The account's jail is lifted (jailed and its reason cleared) and its
reputation starts over at 0, where a new observer starts, so its votes
count again from its next report. Refused (code 35) for an account that
is not jailed or has no role observer, and (code 22) for an unknown
account. A validator removed for misbehaviour stays removed: add it back
with "phalanxd tx validator set-power".

` + txSeeAlso,
		Example: "  phalanxd tx observer unjail 3F9A0C…E1 --from admin",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTx(cmd, &f, f.from, func(_ context.Context, _ *client.Client, kr *keyring.Keyring) (client.Msg, []string, error) {
				addr, err := resolveAddress(kr, args[0])
				if err != nil {
					return nil, nil, err
				}
				lines := []string{"message:    UnjailObserver", "account:    " + strings.ToUpper(fmt.Sprintf("%x", addr))}
				return &types.UnjailObserver{Address: addr}, lines, nil
			})
		},
	}
	f.register(cmd, "name of the keyring key that signs: an admin (required)")
	return cmd
}
