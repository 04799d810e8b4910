package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
)

func init() { extraCommands = append(extraCommands, queryCmd) }

func queryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "query",
		Aliases: []string{"q"},
		Short:   "Read the cluster state from a node (nodes, workloads, tasks, accounts, params, …)",
		Long: `Read the cluster state from a node over CometBFT's RPC (abci_query).

--output text prints tables and key: value lists; --output json prints the
node's JSON answer, pretty-printed. The single-object queries (node,
workload, account, params) take --prove: the answer is then checked against
the stored record with a Merkle proof against the app hash of the next
block's header, and that header is verified by CometBFT's light client
from a root of trust that does not come from the node: the genesis
validator set in your home, or --trust-height/--trust-hash. A failed check
(a forged answer, a node of another chain with the same id, a witness that
disagrees) is an error and a non-zero exit.

` + trustHelp,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(
		queryNodesCmd(), queryNodeCmd(),
		queryWorkloadsCmd(), queryWorkloadCmd(),
		queryTasksCmd(),
		queryAccountCmd(), queryAccountsCmd(), queryObserversCmd(),
		queryParamsCmd(), querySummaryCmd(), queryZonesCmd(), queryValidatorsCmd(),
		queryTxCmd(),
	)
	return cmd
}

// runQuery connects with f and runs fn with a cancellable context.
func runQuery(cmd *cobra.Command, f *nodeFlags, fn func(ctx context.Context, c *client.Client) error) error {
	c, err := f.client(0)
	if err != nil {
		return err
	}
	ctx, cancel := cmdContext(cmd)
	defer cancel()
	return fn(ctx, c)
}

// writeRawJSON pretty-prints a JSON answer as the node returned it.
func writeRawJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("the node's answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// queryList runs a query of a whole answer (summary, zones, validators):
// JSON is printed as returned, text by render.
func queryList[T any](cmd *cobra.Command, f *nodeFlags, path string, render func(w io.Writer, ans *T) error) error {
	return runQuery(cmd, f, func(ctx context.Context, c *client.Client) error {
		raw, _, err := c.QueryRaw(ctx, path)
		if err != nil {
			return err
		}
		if f.output == outputJSON {
			return writeRawJSON(cmd.OutOrStdout(), raw)
		}
		var ans T
		if err := json.Unmarshal(raw, &ans); err != nil {
			return fmt.Errorf("query %s: decode answer: %w", path, err)
		}
		return render(cmd.OutOrStdout(), &ans)
	})
}

// queryOne runs a single-object query, with --prove through proven.
func queryOne[T any](cmd *cobra.Command, f *nodeFlags, tf *trustFlags, prove bool, path string,
	proven func(ctx context.Context, c *client.Client) (T, *client.Proof, error),
	render func(ctx context.Context, c *client.Client, w io.Writer, v *T) error) error {
	return runQuery(cmd, f, func(ctx context.Context, c *client.Client) error {
		out := cmd.OutOrStdout()
		if !prove {
			raw, _, err := c.QueryRaw(ctx, path)
			if err != nil {
				return err
			}
			if f.output == outputJSON {
				return writeRawJSON(out, raw)
			}
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("query %s: decode answer: %w", path, err)
			}
			return render(ctx, c, out, &v)
		}
		t, err := tf.anchor(ctx, c, "", func(w string) { fmt.Fprintln(cmd.ErrOrStderr(), w) })
		if err != nil {
			return fmt.Errorf("--prove: %w", err)
		}
		defer t.Close()
		v, p, err := proven(ctx, c)
		if err != nil {
			return err
		}
		proofLine := fmt.Sprintf("proof: verified against app hash %X at height %d (header verified from %s)", p.AppHash, p.HeaderHeight, t.Root())
		if f.output == outputJSON {
			if err := writeJSON(out, v); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), proofLine)
			return nil
		}
		if err := render(ctx, c, out, &v); err != nil {
			return err
		}
		fmt.Fprintln(out, proofLine)
		return nil
	})
}

// plain adapts a renderer that needs no node to queryOne.
func plain[T any](render func(w io.Writer, v *T) error) func(context.Context, *client.Client, io.Writer, *T) error {
	return func(_ context.Context, _ *client.Client, w io.Writer, v *T) error { return render(w, v) }
}

const proveHelp = "verify the answer with a Merkle proof against the app hash of the next block's header, verified by the light client from the root of trust (see --genesis)"

// ---- nodes ----

func queryNodesCmd() *cobra.Command {
	var f nodeFlags
	var pf pageFlags
	var state, zone string
	cmd := &cobra.Command{
		Use:   "nodes [--state STATE] [--zone ZONE] [--limit N] [--after ID | --all]",
		Short: "List the worker nodes, optionally in one state or zone",
		Long: `List the worker nodes by id, one page at a time (--limit, default 100;
--after the last id shown; --all reads every page). A PHI column (the
failure detector's current phi) appears when the node's answer carries
health; "phalanxd query node ID" always shows it with the node's deadlines
and observer votes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state != "" {
				st, ok := api.ParseNodeState(state)
				if !ok {
					return fmt.Errorf("invalid --state %q: expected Ready, Suspect, Down, Partitioned or Quarantined", state)
				}
				state = api.NodeStateName(st)
			}
			filters := url.Values{"state": {state}, "zone": {zone}}
			return queryPaged(cmd, &f, &pf, "/nodes", filters, mergeNodes, renderNodes)
		},
	}
	f.register(cmd)
	pf.register(cmd)
	cmd.Flags().StringVar(&state, "state", "", "only nodes in this state: Ready, Suspect, Down, Partitioned or Quarantined")
	cmd.Flags().StringVar(&zone, "zone", "", "only nodes in this zone")
	return cmd
}

func queryNodeCmd() *cobra.Command {
	var f nodeFlags
	var prove bool
	var tf trustFlags
	cmd := &cobra.Command{
		Use:   "node ID",
		Short: "Show one worker node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			return queryOne(cmd, &f, &tf, prove, client.NodePath(id),
				func(ctx context.Context, c *client.Client) (api.NodeView, *client.Proof, error) {
					return c.ProvenNode(ctx, id)
				},
				plain(renderNode))
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&prove, "prove", false, proveHelp)
	tf.register(cmd, nil, "cli")
	return cmd
}

func renderNodes(w io.Writer, ans *api.NodesAnswer) error {
	if len(ans.Nodes) == 0 {
		fmt.Fprintf(w, "No nodes registered (height %d).\n", ans.Height)
		return nil
	}
	withPhi := false
	for _, n := range ans.Nodes {
		withPhi = withPhi || n.Health != nil
	}
	tw := newTable(w)
	phiHead := ""
	if withPhi {
		phiHead = "PHI\t"
	}
	fmt.Fprintln(tw, "ID\tSTATE\tZONE\tCPU(alloc/cap)\tMEM(alloc/cap)\tTASKS\tHEARTBEAT\t"+phiHead+"LABELS")
	for _, n := range ans.Nodes {
		phi := ""
		if withPhi {
			phi = "-\t"
			if n.Health != nil {
				phi = fmt.Sprintf("%.1f\t", n.Health.Phi)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%dm/%dm\t%dMB/%dMB\t%d\t%s\t%s%s\n",
			n.ID, nodeStatus(&n), n.Zone,
			n.Allocated.CPUMillis, n.Capacity.CPUMillis,
			n.Allocated.MemoryMB, n.Capacity.MemoryMB,
			len(n.Tasks), heartbeatText(&n), phi, labelsMapText(n.Labels))
	}
	return tw.Flush()
}

func renderNode(w io.Writer, n *api.NodeView) error {
	kv := newKV(w)
	kv.add("id", n.ID)
	kv.add("state", nodeStatus(n))
	kv.add("reason", orNone(n.Reason))
	if n.StateSince > 0 {
		kv.add("state since", msTime(n.StateSince))
	}
	kv.add("zone", n.Zone)
	kv.add("labels", labelsMapText(n.Labels))
	kv.add("endpoint", orNone(n.Endpoint))
	kv.add("address", n.Address)
	kv.add("capacity", resText(n.Capacity))
	kv.add("allocated", resText(n.Allocated))
	kv.add("usage", resText(n.Usage))
	kv.add("registered at", fmt.Sprintf("height %d", n.RegisteredHeight))
	kv.add("last heartbeat", fmt.Sprintf("seq %d, %s", n.LastHeartbeatSeq, heartbeatText(n)))
	kv.add("strikes", fmt.Sprint(n.Strikes))
	kv.add("tasks", listText(n.Tasks))
	if d := n.Drain; d != nil {
		text := fmt.Sprintf("%d active tasks left", d.Remaining)
		if d.Deadline > 0 {
			text += ", the rest evicted at " + msTime(d.Deadline)
		} else {
			text += ", evicted at once"
		}
		if d.Waiting != "" {
			text += "; " + d.Waiting
		}
		kv.add("drain", text)
	}
	if err := kv.flush(); err != nil {
		return err
	}
	if n.Health == nil {
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "health:")
	return renderNodeHealth(w, n)
}

// renderNodeHealth prints the failure detector's view of n (n.Health is
// set), indented under "health:". Deadlines are shown relative to the
// answer's block time when the view allows computing it, else as times.
func renderNodeHealth(w io.Writer, n *api.NodeView) error {
	h := n.Health
	now, haveNow := answerTimeMs(n)
	at := func(ms int64) string {
		if haveNow {
			return relMs(ms, now)
		}
		return msTime(ms)
	}
	kv := newKV(w)
	state := nodeStatus(n)
	if n.Reason != "" {
		state += " (" + n.Reason + ")"
	}
	kv.add("  state", state)
	threshold := formatMilli(uint32(math.Round(h.PhiThreshold * 1000)))
	if h.Phi >= h.PhiThreshold {
		threshold += ", reached"
	}
	stats := "no samples yet: bootstrap mean and deviation"
	if h.Samples > 0 {
		stats = fmt.Sprintf("%d samples, mean interval %s, std dev %s", h.Samples, floatMsText(h.MeanIntervalMs), floatMsText(h.StdDevMs))
	}
	kv.add("  phi", fmt.Sprintf("%.1f (threshold %s; %s)", h.Phi, threshold, stats))
	if n.LastHeartbeat == 0 {
		kv.add("  last heartbeat", "never")
	} else {
		kv.add("  last heartbeat", fmt.Sprintf("%s ago (seq %d)", secText(n.LastHeartbeatAgeMs), n.LastHeartbeatSeq))
	}
	kv.add("  suspect at", fmt.Sprintf("%s (by %s)", at(h.SuspectAt), h.SuspectBy))
	kv.add("  down at", at(h.DownAt)+" (down_after)")
	verdict := h.Verdict
	if h.VerdictWindow > 0 {
		verdict += fmt.Sprintf(" (window %d)", h.VerdictWindow)
	}
	kv.add("  verdict", verdict)
	quorum := fmt.Sprintf("quorum %d of %d active observers", h.Quorum, h.ActiveObservers)
	if h.ActiveObservers == 0 {
		quorum = "no active observers: observers decide nothing"
	}
	kv.add("  reports", fmt.Sprintf("window %d: %d for, %d against; %s", h.Window, h.ReportsFor, h.ReportsAgainst, quorum))
	for _, t := range h.Windows { // the open windows: this one and the previous
		if t.Window == h.Window {
			continue
		}
		line := fmt.Sprintf("%d: %d for, %d against, ", t.Window, t.Reachable, t.Unreachable)
		if t.Outcome != "" && t.Outcome != "none" {
			line += "decided " + t.Outcome
		} else {
			line += "undecided"
		}
		if t.Struck {
			line += ", strike"
		}
		kv.add("  previous window", line)
	}
	return kv.flush()
}

// answerTimeMs is the block time of the state a node view is from: the
// last heartbeat's block time plus its age (both block times).
func answerTimeMs(n *api.NodeView) (int64, bool) {
	if n.LastHeartbeat <= 0 {
		return 0, false
	}
	return n.LastHeartbeat + n.LastHeartbeatAgeMs, true
}

// relMs shows the block time at relative to now: "in 3.2s", "4.0s ago",
// "now".
func relMs(at, now int64) string {
	switch d := at - now; {
	case d == 0:
		return "now"
	case d > 0:
		return "in " + secText(d)
	default:
		return secText(-d) + " ago"
	}
}

// secText shows milliseconds as seconds with one decimal below a minute
// (3.2s), as humanMs above.
func secText(ms int64) string {
	if ms < 60_000 {
		return fmt.Sprintf("%.1fs", float64(max(ms, 0))/1000)
	}
	return humanMs(ms)
}

// floatMsText shows fractional milliseconds as a duration rounded to the
// millisecond (2.003s, 500ms).
func floatMsText(ms float64) string {
	return (time.Duration(math.Round(ms)) * time.Millisecond).String()
}

// nodeStatus is the state with cordoned/draining flags, kubectl style.
func nodeStatus(n *api.NodeView) string {
	s := n.State
	if n.Draining {
		s += ",Draining"
	} else if n.Cordoned {
		s += ",Cordoned"
	}
	return s
}

func heartbeatText(n *api.NodeView) string {
	if n.LastHeartbeat == 0 {
		return "never"
	}
	return humanMs(n.LastHeartbeatAgeMs) + " ago"
}

func resText(r api.ResourcesView) string {
	return fmt.Sprintf("cpu %dm, memory %dMB", r.CPUMillis, r.MemoryMB)
}

// ---- workloads ----

func queryWorkloadsCmd() *cobra.Command {
	var f nodeFlags
	var pf pageFlags
	cmd := &cobra.Command{
		Use:   "workloads [--limit N] [--after NAME | --all]",
		Short: "List the workloads by name, one page at a time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return queryPaged(cmd, &f, &pf, "/workloads", nil, mergeWorkloads, func(w io.Writer, ans *api.WorkloadsAnswer) error {
				if len(ans.Workloads) == 0 {
					fmt.Fprintf(w, "No workloads (height %d).\n", ans.Height)
					return nil
				}
				tw := newTable(w)
				fmt.Fprintln(tw, "NAME\tREADY\tPENDING\tASSIGNED\tFAILED\tCOMPLETED\tCPU\tMEM\tVERSION\tCOMMAND")
				for _, wl := range ans.Workloads {
					fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%d\t%d\t%d\t%dm\t%dMB\t%d\t%s\n",
						wl.Name, wl.Running, wl.Replicas, wl.Pending, wl.Assigned, wl.Failed, wl.Completed,
						wl.Spec.Resources.CPUMillis, wl.Spec.Resources.MemoryMB, wl.Version,
						truncate(commandText(wl.Spec), 40))
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd)
	pf.register(cmd)
	return cmd
}

func queryWorkloadCmd() *cobra.Command {
	var f nodeFlags
	var prove bool
	var tf trustFlags
	cmd := &cobra.Command{
		Use:   "workload NAME",
		Short: "Show one workload, its spec and its tasks",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return queryOne(cmd, &f, &tf, prove, client.WorkloadPath(name),
				func(cctx context.Context, cc *client.Client) (api.WorkloadView, *client.Proof, error) {
					return cc.ProvenWorkload(cctx, name)
				},
				func(ctx context.Context, c *client.Client, w io.Writer, wl *api.WorkloadView) error {
					s := wl.Spec
					kv := newKV(w)
					kv.add("name", wl.Name)
					kv.add("version", fmt.Sprint(wl.Version))
					kv.add("created at", fmt.Sprintf("height %d", wl.CreatedHeight))
					kv.add("command", commandText(s))
					if len(s.Env) > 0 {
						kv.add("env", labelsMapText(s.Env))
					}
					kv.add("type", orDefault(s.Type, api.TypeService))
					kv.add("replicas", fmt.Sprintf("%d (running %d, assigned %d, pending %d, failed %d, completed %d)",
						wl.Replicas, wl.Running, wl.Assigned, wl.Pending, wl.Failed, wl.Completed))
					if b := wl.Batch; b != nil {
						status := fmt.Sprintf("%s: %d of %d completed, %d active, parallelism %s", b.Status, b.Succeeded, b.Completions, b.Active, limitText(b.Parallelism))
						if b.FinishedHeight > 0 {
							status += fmt.Sprintf(", at height %d", b.FinishedHeight)
						}
						if b.Reason != "" && b.Status == api.BatchFailed {
							status += " (" + b.Reason + ")"
						}
						kv.add("batch", status)
					}
					kv.add("resources", resText(s.Resources)+" per task")
					cons := make([]string, len(s.Constraints))
					for i, c := range s.Constraints {
						cons[i] = c.Label + c.Op + c.Value
					}
					kv.add("constraints", listText(cons))
					if s.SpreadKey != "" {
						spread := "by " + s.SpreadKey
						if s.MaxPerDomain > 0 {
							spread += fmt.Sprintf(", at most %d per domain", s.MaxPerDomain)
						}
						if s.MaxSkew > 0 {
							spread += fmt.Sprintf(", max skew %d", s.MaxSkew)
						}
						kv.add("spread", spread)
					}
					kv.add("max per node", limitText(s.MaxPerNode))
					kv.add("max unavailable", limitText(s.MaxUnavailable))
					kv.add("rank", orDefault(s.Rank, "binpack"))
					kv.add("priority", fmt.Sprint(s.Priority))
					kv.add("restart policy", fmt.Sprintf("at most %d restarts, backoff %s to %s",
						s.RestartPolicy.MaxRestarts, formatMs(s.RestartPolicy.BackoffBaseMs), formatMs(s.RestartPolicy.BackoffMaxMs)))
					if r := wl.Rollout; r != nil {
						kv.add("rollout", fmt.Sprintf("to template %d: %d updated, %d outdated, %d available (at least %d kept)",
							r.TemplateVersion, r.Updated, r.Outdated, r.Available, r.MinAvailable))
					}
					if u := wl.Unschedulable; u != nil {
						// Like kubectl describe's FailedScheduling event.
						kv.add("unschedulable", fmt.Sprintf("%d pending since height %d: %s", u.Pending, u.SinceHeight, u.Reason))
					}
					if err := kv.flush(); err != nil {
						return err
					}
					// The tasks, as a table below the spec.
					tasks, err := c.Tasks(ctx, url.Values{"workload": {wl.Name}})
					if err != nil {
						return fmt.Errorf("list tasks of %s: %w", wl.Name, err)
					}
					fmt.Fprintln(w)
					return renderTasks(w, tasks.Tasks)
				})
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&prove, "prove", false, proveHelp+" (the spec and version; the task list is not proven)")
	tf.register(cmd, nil, "cli")
	return cmd
}

func commandText(s api.SpecView) string {
	parts := append([]string{s.Command}, s.Args...)
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, " \t\"'") {
			parts[i] = fmt.Sprintf("%q", p)
		}
	}
	return strings.Join(parts, " ")
}

func limitText(n uint32) string {
	if n == 0 {
		return "no limit"
	}
	return fmt.Sprint(n)
}

// ---- tasks ----

func queryTasksCmd() *cobra.Command {
	var f nodeFlags
	var pf pageFlags
	var workload, nodeID, state string
	cmd := &cobra.Command{
		Use:   "tasks [--workload NAME] [--node-id ID] [--state STATE] [--limit N] [--after TASK | --all]",
		Short: "List tasks (by workload, then index), optionally of one workload, on one node, or in one state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state != "" {
				st, ok := api.ParseTaskState(state)
				if !ok {
					return fmt.Errorf("invalid --state %q: expected Pending, Assigned, Running, Failed or Completed", state)
				}
				state = api.TaskStateName(st)
			}
			filters := url.Values{"workload": {workload}, "node": {nodeID}, "state": {state}}
			return queryPaged(cmd, &f, &pf, "/tasks", filters, mergeTasks, func(w io.Writer, ans *api.TasksAnswer) error {
				if len(ans.Tasks) == 0 {
					fmt.Fprintf(w, "No tasks (height %d).\n", ans.Height)
					return nil
				}
				return renderTasks(w, ans.Tasks)
			})
		},
	}
	f.register(cmd)
	pf.register(cmd)
	cmd.Flags().StringVar(&workload, "workload", "", "only the tasks of this workload")
	cmd.Flags().StringVar(&nodeID, "node-id", "", "only the tasks placed on this node")
	cmd.Flags().StringVar(&state, "state", "", "only tasks in this state: Pending, Assigned, Running, Failed or Completed")
	return cmd
}

func renderTasks(w io.Writer, tasks []api.TaskView) error {
	if len(tasks) == 0 {
		fmt.Fprintln(w, "No tasks.")
		return nil
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "TASK\tNODE\tGEN\tSTATE\tRESTARTS\tEXIT\tVERSION\tREASON")
	for _, t := range tasks {
		exit := "-"
		if t.State == "Failed" || t.State == "Completed" {
			exit = fmt.Sprint(t.ExitCode)
		}
		state := t.State
		if t.NextAttemptAt > 0 && t.State == "Failed" {
			state += " (retry " + msTime(t.NextAttemptAt) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%d\t%s\n",
			t.ID, dashIfEmpty(t.Node), t.Generation, state, t.Restarts, exit, t.SpecVersion, truncate(dashIfEmpty(t.Reason), 60))
	}
	return tw.Flush()
}

// ---- accounts ----

func queryAccountCmd() *cobra.Command {
	var f nodeFlags
	var kf keyringFlags
	var prove bool
	var tf trustFlags
	cmd := &cobra.Command{
		Use:   "account ADDRESS|KEY",
		Short: "Show an account: roles, sequence, jail status, reputation",
		Long: `Show an account. ADDRESS is 40 hex characters; the name of a key in the
local keyring (--home, --keyring-backend) works too.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := crypto.ParseAddress(args[0])
			if err != nil {
				var kr *keyring.Keyring
				if keyring.ValidateName(args[0]) == nil {
					kr, _ = keyring.New(kf.home, keyring.Backend(kf.backend), nil)
				}
				if addr, err = resolveAddress(kr, args[0]); err != nil {
					return err
				}
			}
			return queryOne(cmd, &f, &tf, prove, client.AccountPath(addr),
				func(ctx context.Context, c *client.Client) (api.AccountView, *client.Proof, error) {
					return c.ProvenAccount(ctx, addr)
				},
				plain(func(w io.Writer, a *api.AccountView) error {
					kv := newKV(w)
					kv.add("address", a.Address)
					if len(a.PubKey) > 0 {
						kv.add("pub_key", base64.StdEncoding.EncodeToString(a.PubKey))
					} else {
						kv.add("pub_key", "(not known yet: set by the account's first transaction)")
					}
					kv.add("roles", listText(a.Roles))
					kv.add("sequence", fmt.Sprint(a.Sequence))
					if a.Jailed {
						kv.add("jailed", "yes: "+a.JailReason)
					} else {
						kv.add("jailed", "no")
					}
					kv.add("reputation", fmt.Sprintf("%d (%d agreements, %d disagreements)", a.Reputation, a.Agreements, a.Disagreements))
					return kv.flush()
				}))
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&prove, "prove", false, proveHelp)
	cmd.Flags().StringVar(&kf.home, "home", config.DefaultHome(), "home directory holding the keyring (for KEY names), the genesis file and the light client's headers (for --prove)")
	tf.register(cmd, &kf.home, "cli")
	cmd.Flags().StringVar(&kf.backend, "keyring-backend", string(keyring.BackendFile), "keyring backend: file or test (for KEY names)")
	return cmd
}

func queryObserversCmd() *cobra.Command {
	var f nodeFlags
	var pf pageFlags
	cmd := &cobra.Command{
		Use:   "observers [--limit N] [--after ADDR | --all]",
		Short: "List the observer accounts, their reputation, whether their votes count, and the quorum",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return queryPaged(cmd, &f, &pf, "/observers", nil, mergeObservers, renderObservers)
		},
	}
	f.register(cmd)
	pf.register(cmd)
	return cmd
}

func queryAccountsCmd() *cobra.Command {
	var f nodeFlags
	var pf pageFlags
	var role string
	cmd := &cobra.Command{
		Use:   "accounts [--role ROLE] [--limit N] [--after ADDR | --all]",
		Short: "List the accounts by address, optionally those holding one role",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if role != "" {
				r, ok := api.ParseRole(role)
				if !ok {
					return fmt.Errorf("invalid --role %q: expected admin, operator, observer or node", role)
				}
				role = api.RoleName(r)
			}
			return queryPaged(cmd, &f, &pf, "/accounts", url.Values{"role": {role}}, mergeAccounts, func(w io.Writer, ans *api.AccountsAnswer) error {
				if len(ans.Accounts) == 0 {
					fmt.Fprintf(w, "No accounts (height %d).\n", ans.Height)
					return nil
				}
				tw := newTable(w)
				fmt.Fprintln(tw, "ADDRESS\tROLES\tSEQUENCE\tJAILED\tREPUTATION")
				for _, a := range ans.Accounts {
					jailed := "no"
					if a.Jailed {
						jailed = "yes: " + truncate(a.JailReason, 40)
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\n", a.Address, listText(a.Roles), a.Sequence, jailed, a.Reputation)
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd)
	pf.register(cmd)
	cmd.Flags().StringVar(&role, "role", "", "only accounts holding this role: admin, operator, observer or node")
	return cmd
}

func renderObservers(w io.Writer, ans *api.ObserversAnswer) error {
	if len(ans.Observers) == 0 {
		fmt.Fprintf(w, "No observers (height %d).\n", ans.Height)
		return nil
	}
	if ans.Active == 0 {
		fmt.Fprintln(w, "active observers: 0, quorum: none (observers decide nothing until one is active)")
	} else {
		fmt.Fprintf(w, "active observers: %d, quorum: %d\n", ans.Active, ans.Quorum)
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "ADDRESS\tACTIVE\tVALIDATOR\tROLES\tJAILED\tREPUTATION\tAGREED\tDISAGREED")
	for _, a := range ans.Observers {
		jailed := "no"
		if a.Jailed {
			jailed = "yes: " + truncate(a.JailReason, 40)
		}
		active := "no"
		if a.Active {
			active = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", a.Address, active, dashIfEmpty(a.ValidatorAddress),
			strings.Join(a.Roles, ","), jailed, a.Reputation, a.Agreements, a.Disagreements)
	}
	return tw.Flush()
}

// ---- params, summary, validators ----

func queryParamsCmd() *cobra.Command {
	var f nodeFlags
	var prove bool
	var tf trustFlags
	cmd := &cobra.Command{
		Use:   "params",
		Short: "Show the chain's parameters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return queryOne(cmd, &f, &tf, prove, "/params",
				func(ctx context.Context, c *client.Client) (api.ParamsView, *client.Proof, error) {
					return c.ProvenParams(ctx)
				},
				plain(func(w io.Writer, p *api.ParamsView) error {
					kv := newKV(w)
					for _, pair := range paramsText(p.Params()) {
						kv.add(pair[0], pair[1])
					}
					return kv.flush()
				}))
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&prove, "prove", false, proveHelp)
	tf.register(cmd, nil, "cli")
	return cmd
}

func querySummaryCmd() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "summary",
		Short: "Show counts of nodes, workloads and tasks by state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return queryList(cmd, &f, "/summary", func(w io.Writer, s *api.SummaryView) error {
				kv := newKV(w)
				kv.add("height", fmt.Sprint(s.Height))
				if s.Time > 0 {
					kv.add("block time", msTime(s.Time))
				}
				kv.add("nodes", fmt.Sprintf("%d%s", s.Nodes, countsText(s.NodesByState)))
				kv.add("workloads", fmt.Sprint(s.Workloads))
				kv.add("tasks", fmt.Sprintf("%d%s", s.Tasks, countsText(s.TasksByState)))
				kv.add("pending", fmt.Sprint(s.Pending))
				kv.add("accounts", fmt.Sprint(s.Accounts))
				kv.add("validators", fmt.Sprint(s.Validators))
				kv.add("eviction backlog", fmt.Sprintf("%d nodes", s.EvictionBacklog))
				kv.add("zones disrupted", fmt.Sprint(s.ZonesDisrupted))
				return kv.flush()
			})
		},
	}
	f.register(cmd)
	return cmd
}

func queryZonesCmd() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "zones",
		Short: "Show each zone's state, eviction rate and eviction backlog (eviction pacing, ADR 0012)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return queryList(cmd, &f, "/zones", func(w io.Writer, ans *api.ZonesAnswer) error {
				switch {
				case ans.EvictionsStopped:
					fmt.Fprintln(w, "Every zone is FullDisruption: no failed node's tasks are evicted.")
				case ans.EvictionsResumeAt > 0:
					fmt.Fprintf(w, "Every zone was dark: failed nodes' evictions resume at %s.\n", msTime(ans.EvictionsResumeAt))
				}
				tw := newTable(w)
				fmt.Fprintln(tw, "ZONE\tSTATE\tNODES\tNOT READY\tRATE\tBUCKET\tEVICTING\tWAITING")
				for _, z := range ans.Zones {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s/s\t%s\t%s\t%s\n", z.Zone, z.State, z.Nodes, z.NotReady,
						formatMilli(uint32(z.RateMilli)), fmt.Sprintf("%d.%02d", z.TokensMicro/1_000_000, z.TokensMicro%1_000_000/10_000),
						orDash(strings.Join(z.Evicting, ",")), orDash(strings.Join(z.Waiting, ",")))
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func countsText(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func queryValidatorsCmd() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "validators",
		Short: "List the validators and their voting power, as the application records them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return queryList(cmd, &f, "/validators", func(w io.Writer, ans *api.ValidatorsAnswer) error {
				if len(ans.Validators) == 0 {
					fmt.Fprintf(w, "No validators (height %d).\n", ans.Height)
					return nil
				}
				var total int64
				for _, v := range ans.Validators {
					total += v.Power
				}
				tw := newTable(w)
				fmt.Fprintln(tw, "ADDRESS\tPUB KEY\tPOWER\tSHARE")
				for _, v := range ans.Validators {
					share := 0.0
					if total > 0 {
						share = 100 * float64(v.Power) / float64(total)
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f%%\n", v.Address, base64.StdEncoding.EncodeToString(v.PubKey), v.Power, share)
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd)
	return cmd
}

// ---- tx ----

func queryTxCmd() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "tx HASH",
		Short: "Show the result of a committed transaction",
		Long: `Show the result of a committed transaction by its hash (as "phalanxd tx …"
prints it): height, code, log and events. A transaction still in the
mempool, or dropped, is not found.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuery(cmd, &f, func(ctx context.Context, c *client.Client) error {
				r, err := c.Tx(ctx, args[0])
				if err != nil {
					return err
				}
				return printResult(cmd.OutOrStdout(), f.output, r)
			})
		},
	}
	f.register(cmd)
	return cmd
}

// ---- text helpers ----

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 3, ' ', 0) }

// kv prints aligned "key: value" lines.
type kv struct {
	tw *tabwriter.Writer
}

func newKV(w io.Writer) *kv         { return &kv{tw: tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)} }
func (k *kv) add(key, value string) { fmt.Fprintf(k.tw, "%s:\t%s\n", key, value) }
func (k *kv) flush() error          { return k.tw.Flush() }

func listText(items []string) string {
	if len(items) == 0 {
		return "(none)"
	}
	return strings.Join(items, ", ")
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// msTime shows a Unix-millisecond block time in UTC.
func msTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000Z")
}

// humanMs shows a duration compactly: 850ms, 12s, 3m4s, 5h2m, 3d4h.
func humanMs(ms int64) string {
	if ms < 0 {
		ms = 0
	}
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", ms)
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}
