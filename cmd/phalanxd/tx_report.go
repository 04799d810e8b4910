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

// txNodeReportCmd sends one observer HealthReport by hand. The observer
// loop (phalanxd observer) does this on its own; the command is for tests
// and for trying the quorum rules.
func txNodeReportCmd() *cobra.Command {
	var f txFlags
	var unreachable bool
	var rttMs uint32
	var failing []string
	var window uint64
	cmd := &cobra.Command{
		Use:   "report NODE_ID... [--unreachable] [--failing-task TASK_ID]...",
		Short: "Report what an observer sees of nodes (HealthReport), signed by an observer key",
		Long: `Send one observer HealthReport about one or more nodes: reachable (the
default) or --unreachable, with tasks seen failing (--failing-task). A node's
status changes only when more than observer_quorum of the active observers
agree within one report window (see docs/failure-detection.md); one report
is one vote.

--window defaults to the current report window: the latest block time
divided by params.report_window_ms. Two reports by one observer that
disagree about a node in the same window are equivocation: the observer is
jailed.

` + txSeeAlso,
		Example: `  phalanxd tx node report n7 --unreachable --from observer0
  phalanxd tx node report n1 n2 --failing-task web/0 --from observer1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTx(cmd, &f, f.from, func(ctx context.Context, c *client.Client, _ *keyring.Keyring) (client.Msg, []string, error) {
				w := window
				if w == 0 {
					var err error
					if w, err = currentReportWindow(ctx, c); err != nil {
						return nil, nil, err
					}
				}
				msg := &types.HealthReport{Window: w}
				for _, id := range args {
					msg.Observations = append(msg.Observations, types.Observation{
						NodeId: id, Reachable: !unreachable, RttMs: rttMs, FailingTaskIds: failing,
					})
				}
				seen := "reachable"
				if unreachable {
					seen = "unreachable"
				}
				lines := []string{
					"message:    HealthReport",
					fmt.Sprintf("window:     %d", w),
					"nodes:      " + strings.Join(args, ", ") + " " + seen,
				}
				if len(failing) > 0 {
					lines = append(lines, "failing:    "+strings.Join(failing, ", "))
				}
				return msg, lines, nil
			})
		},
	}
	f.register(cmd, "name of an observer's keyring key (required)")
	fl := cmd.Flags()
	fl.BoolVar(&unreachable, "unreachable", false, "report the nodes unreachable (default: reachable)")
	fl.Uint32Var(&rttMs, "rtt-ms", 0, "measured round-trip time in milliseconds")
	fl.StringArrayVar(&failing, "failing-task", nil, "a task seen failing on the node, as WORKLOAD/INDEX (repeatable)")
	fl.Uint64Var(&window, "window", 0, "report window (default: the current one, latest block time / report_window_ms)")
	return cmd
}

// currentReportWindow is the report window of the latest block.
func currentReportWindow(ctx context.Context, c *client.Client) (uint64, error) {
	var p api.ParamsView
	if _, err := c.Query(ctx, "/params", &p); err != nil {
		return 0, fmt.Errorf("read params for the report window (or pass --window): %w", err)
	}
	if p.ReportWindowMs <= 0 {
		return 0, fmt.Errorf("params.report_window_ms is %d; expected a positive duration", p.ReportWindowMs)
	}
	st, err := c.Status(ctx)
	if err != nil {
		return 0, err
	}
	return uint64(st.SyncInfo.LatestBlockTime.UnixMilli() / p.ReportWindowMs), nil
}
