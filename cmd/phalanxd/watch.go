package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/client"
)

func init() { extraCommands = append(extraCommands, watchCmd) }

func watchCmd() *cobra.Command {
	var nodes, types []string
	var output string
	var fromHeight int64
	var quiet, verify bool
	var tf trustFlags
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Stream the cluster's events (node status, placements, evictions, jailings, removals, workloads)",
		Long: `Stream the application's events as blocks commit, one line per event:

  height 42     node_status     node=n1 from=Ready to=Suspect reason=...
  height 43     task_placed     task=web/0 node=n2 generation=2

Events arrive block by block in the order the block produced them. When
the node stops answering, watch reconnects (to the next --node if several
are given) and resumes after the last block it printed, without a gap.

--verify checks every block before printing its events: the transactions'
results (with the digest of their events) against the next header's
last_results_hash, and the events of the block's begin and end passes
against the block info record proven against the next header's app hash,
that header being verified by CometBFT's light client from the root of
trust (below). A block that does not check out stops watch with an error
and a non-zero exit. Events then come one block later, and JSON events
carry "verified": true. Without --verify, watch says so on stderr and
trusts the node.

` + trustHelp,
		Example: `  phalanxd watch --node tcp://127.0.0.1:26601
  phalanxd watch --node tcp://127.0.0.1:26601 --node tcp://127.0.0.1:26611 --type node_status,task_placed
  phalanxd watch --from-height 1 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q; expected text or json", output)
			}
			want := map[string]bool{}
			for _, t := range types {
				for _, x := range strings.Split(t, ",") {
					if x = strings.TrimSpace(x); x == "" {
						continue
					}
					known := false
					for _, k := range client.AppEventTypes {
						known = known || k == x
					}
					if !known {
						return fmt.Errorf("--type %q is not an event type; expected one of %s", x, strings.Join(client.AppEventTypes, ", "))
					}
					want[x] = true
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			opts := client.WatchOptions{Nodes: nodes, FromHeight: fromHeight}
			if !quiet {
				opts.Logf = func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), format+"\n", args...) }
			}
			if verify {
				if len(tf.witnesses) == 0 {
					tf.witnesses = nodes[1:]
				}
				o, err := tf.options(nodes[0], "")
				if err != nil {
					return fmt.Errorf("--verify: %w", err)
				}
				t, err := client.NewTrust(ctx, o)
				if err != nil {
					return fmt.Errorf("--verify: %w", err)
				}
				defer t.Close()
				if note := t.WitnessNote(); note != "" {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+note)
				}
				opts.Trust = t
				if !quiet {
					fmt.Fprintf(cmd.ErrOrStderr(), "watch: verifying every block's events against the next header, verified from %s\n", t.Root())
				}
			} else if !quiet {
				fmt.Fprintln(cmd.ErrOrStderr(), "watch: events are not verified (the node is trusted); --verify checks them against the next header")
			}
			return client.Watch(ctx, opts, func(e client.WatchEvent) error {
				if len(want) > 0 && !want[e.Type] {
					return nil
				}
				if output == "json" {
					return enc.Encode(e)
				}
				_, err := fmt.Fprintln(out, client.FormatEvent(e))
				return err
			})
		},
	}
	cmd.Flags().StringSliceVar(&nodes, "node", []string{"tcp://127.0.0.1:26657"}, "RPC URL of a validator; repeat to give fallbacks")
	cmd.Flags().StringSliceVar(&types, "type", nil, "only these event types (comma-separated): "+strings.Join(client.AppEventTypes, ", "))
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json (one JSON object per line)")
	cmd.Flags().Int64Var(&fromHeight, "from-height", 0, "first replay events from this height (0: only new blocks)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "do not print connection messages on stderr")
	cmd.Flags().BoolVar(&verify, "verify", false, "check every block's events against the next header (light client verified) before printing them")
	tf.register(cmd, nil, "watch")
	return cmd
}
