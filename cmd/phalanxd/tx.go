package main

import (
	"time"

	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/types"
)

func init() { extraCommands = append(extraCommands, txCmd) }

const txLong = `Every transaction is signed with a key of the local keyring (--from) and
carries the signer's next sequence, read from the node. Without --yes the
transaction is shown and you are asked to confirm; when standard input is
not a terminal, --yes is required.

The command waits until the transaction is in a block (at most
--commit-timeout) and prints its hash, height, result code, log and events.

Failover: with --rpc-fallback URL (repeatable) the transaction goes through
the first of --node and the fallbacks that answers /status within 5 s and is
not catching up; when that node stops answering before the commit is seen,
the same signed bytes (same hash: counted once) are sent through the next
one. When --home holds a test network's testnet.json that lists --node and
no --rpc-fallback is given, the network's other validators are the
fallbacks.

Exit status: 0 committed; 1 rejected by the node (the error names the code,
e.g. "code 7: sequence 12 already used …") or any other error; 2 broadcast
but not seen in a block before --commit-timeout (the outcome is unknown:
look it up with "phalanxd query tx HASH").`

// txSeeAlso ends the help of every tx subcommand.
const txSeeAlso = "Signing, confirmation (--yes), waiting and exit statuses: see `phalanxd tx --help`."

func txCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tx",
		Short: "Sign and broadcast transactions (nodes, workloads, roles, params, validators, observers)",
		Long:  txLong,
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(txNodeCmd(), txWorkloadCmd(), txRoleCmd(), txParamsCmd(), txValidatorCmd(), txObserverCmd())
	return cmd
}

// txBuild produces a command's message and the lines that describe it in
// the confirmation summary. It may query the node (c).
type txBuild func(ctx context.Context, c *client.Client, kr *keyring.Keyring) (msg client.Msg, summary []string, err error)

// runTx is the common path of every tx command: check flags, open the
// keyring, build the message, check it like the node would, confirm,
// unlock the key, sign, broadcast, wait and print.
func runTx(cmd *cobra.Command, f *txFlags, from string, build txBuild) error {
	if err := f.check(); err != nil {
		return err
	}
	if from == "" {
		return errors.New("no signer: pass --from KEY, the name of a key in the keyring (see `phalanxd keys list`)")
	}
	c, err := f.client(f.commitTimeout)
	if err != nil {
		return err
	}
	if f.chainID != "" {
		c.SetChainID(f.chainID)
	} else if id := (&trustFlags{home: &f.home}).chainID(); id != "" {
		// Sign for the chain of the home's genesis, not for whatever id
		// the node names.
		c.SetChainID(id)
	}
	kr, err := openKeyring(cmd, f.home, f.backend)
	if err != nil {
		return err
	}
	info, err := kr.Show(from)
	if err != nil {
		return fmt.Errorf("--from %q: %w", from, err)
	}
	ctx, cancel := cmdContext(cmd)
	defer cancel()
	if c, err = f.withFallbacks(ctx, c); err != nil {
		return err
	}

	msg, lines, err := build(ctx, c, kr)
	if err != nil {
		return err
	}
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return err
	}
	if err := client.CheckMsg(chainID, f.timeoutHeight, f.memo, msg); err != nil {
		return fmt.Errorf("invalid transaction, not sent: %w", err)
	}
	summary := []string{
		"Transaction to sign:",
		"  chain id:   " + chainID,
		"  node:       " + c.Node(),
		fmt.Sprintf("  signer:     %s (%s)", info.Name, info.Address),
	}
	for _, l := range lines {
		summary = append(summary, "  "+l)
	}
	if f.memo != "" {
		summary = append(summary, "  memo:       "+strconv.Quote(f.memo))
	}
	if f.timeoutHeight > 0 {
		summary = append(summary, fmt.Sprintf("  timeout:    height %d", f.timeoutHeight))
	}
	if err := confirm(cmd, f.yes, summary); err != nil {
		return err
	}
	priv, err := kr.Signer(from)
	if err != nil {
		return err
	}
	res, err := c.SignAndBroadcast(ctx, priv, msg, client.TxOptions{Memo: f.memo, TimeoutHeight: f.timeoutHeight})
	if res != nil {
		if perr := printResult(cmd.OutOrStdout(), f.output, res); perr != nil && err == nil {
			err = perr
		}
	}
	if err != nil {
		return txExitError(err)
	}
	return nil
}

const fromHelp = "name of the keyring key that signs (required)"

// ---- tx node ----

func txNodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Register worker nodes, send heartbeats, cordon, uncordon, drain and remove nodes",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(txNodeRegisterCmd(), txNodeHeartbeatCmd(), txNodeReportCmd(),
		txNodeCordonCmd("cordon"), txNodeCordonCmd("uncordon"), txNodeCordonCmd("drain"), txNodeRemoveCmd())
	return cmd
}

func txNodeRegisterCmd() *cobra.Command {
	var f txFlags
	var cpu, memory int64
	var zone, endpoint, nodeKey, nodePubKey string
	var labels []string
	cmd := &cobra.Command{
		Use:   "register NODE_ID --cpu MILLIS --memory MB --zone ZONE (--node-key KEY | --node-pubkey PUBKEY)",
		Short: "Register a worker node (RegisterNode)",
		Long: `Register a worker node. NODE_ID is 1-63 characters from [a-z0-9.-], starting
with a letter or digit. The node signs its heartbeats with its own key: give
its keyring name (--node-key) or, when the key lives on the node's machine,
its public key (--node-pubkey, base64 or hex).

The signer (--from) is an operator. Under open registration
(params.open_registration) a node may register itself: --from defaults to
--node-key then. At most params.max_self_registrations_per_block nodes
register themselves per block; one refused for that (code 30) may be sent
again.

` + txSeeAlso,
		Example: `  phalanxd tx node register n1 --cpu 4000 --memory 8192 --zone eu-1 \
    --label disk=ssd --label arch=amd64 --endpoint 10.0.0.5:7000 \
    --node-key n1 --from operator`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			from := f.from
			if from == "" && nodeKey != "" {
				from = nodeKey
			}
			if from == "" {
				return errors.New("no signer: pass --from KEY (an operator's key), or --node-key KEY alone to let the node register itself under open registration")
			}
			return runTx(cmd, &f, from, func(_ context.Context, _ *client.Client, kr *keyring.Keyring) (client.Msg, []string, error) {
				if (nodeKey == "") == (nodePubKey == "") {
					return nil, nil, errors.New("give the node's public key with exactly one of --node-key KEY (a keyring name) or --node-pubkey PUBKEY (base64 or hex)")
				}
				var pub []byte
				keyDesc := ""
				if nodeKey != "" {
					info, err := kr.Show(nodeKey)
					if err != nil {
						return nil, nil, fmt.Errorf("--node-key %q: %w", nodeKey, err)
					}
					pub = info.PubKey
					keyDesc = fmt.Sprintf("%s (%s)", nodeKey, info.Address)
				} else {
					var err error
					if pub, err = parsePubKey("--node-pubkey", nodePubKey); err != nil {
						return nil, nil, err
					}
					keyDesc = crypto.AddressHex(pub)
				}
				ls, err := parseLabels(labels)
				if err != nil {
					return nil, nil, err
				}
				msg := &types.RegisterNode{
					NodeId: args[0], PubKey: pub, Zone: zone, Labels: ls,
					Capacity: types.Resources{CpuMillis: cpu, MemoryMb: memory},
					Endpoint: endpoint,
				}
				return msg, []string{
					"message:    RegisterNode",
					"node id:    " + args[0],
					"node key:   " + keyDesc,
					"zone:       " + zone,
					"labels:     " + labelsText(ls),
					fmt.Sprintf("capacity:   cpu %dm, memory %dMB", cpu, memory),
					"endpoint:   " + orNone(endpoint),
				}, nil
			})
		},
	}
	f.register(cmd, "name of the keyring key that signs: an operator, or the node itself under open registration (default: --node-key)")
	fl := cmd.Flags()
	fl.Int64Var(&cpu, "cpu", 0, "CPU capacity in millicores (1000 = one core) (required)")
	fl.Int64Var(&memory, "memory", 0, "memory capacity in MB (required)")
	fl.StringVar(&zone, "zone", "", "failure domain of the node, e.g. a rack or availability zone (required)")
	fl.StringArrayVar(&labels, "label", nil, "node label KEY=VALUE for placement constraints (repeatable)")
	fl.StringVar(&endpoint, "endpoint", "", "HOST:PORT where observers probe the node (default: none)")
	fl.StringVar(&nodeKey, "node-key", "", "keyring name of the node's own key (the key it heartbeats with)")
	fl.StringVar(&nodePubKey, "node-pubkey", "", "the node's ed25519 public key, base64 or hex (instead of --node-key)")
	for _, name := range []string{"cpu", "memory", "zone"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func txNodeHeartbeatCmd() *cobra.Command {
	var f txFlags
	var seq uint64
	var tasks []string
	var cpuUsed, memUsed int64
	cmd := &cobra.Command{
		Use:   "heartbeat NODE_ID [--task TASK_ID:GEN:STATE]...",
		Short: "Send one heartbeat for a node, signed by the node's key (Heartbeat)",
		Long: `Send one heartbeat for a node, with its resource usage and the state of
the tasks it runs. The worker agent (phalanxd agent) does this on its own;
this command is for testing and for nodes run by hand.

--seq defaults to the node's last accepted heartbeat seq + 1, read from the
node. Each --task reports one task as TASK_ID:GENERATION:STATE, e.g.
web/0:3:running; STATE is assigned, running, failed or completed.

` + txSeeAlso,
		Example: `  phalanxd tx node heartbeat n1 --task web/0:1:running --cpu-used 900 --memory-used 400 --from n1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTx(cmd, &f, f.from, func(ctx context.Context, c *client.Client, _ *keyring.Keyring) (client.Msg, []string, error) {
				reports := make([]types.TaskReport, 0, len(tasks))
				for _, t := range tasks {
					r, err := parseTaskReport(t)
					if err != nil {
						return nil, nil, fmt.Errorf("--task: %w", err)
					}
					reports = append(reports, r)
				}
				if cpuUsed < 0 || memUsed < 0 {
					return nil, nil, fmt.Errorf("--cpu-used %d and --memory-used %d must not be negative", cpuUsed, memUsed)
				}
				s := seq
				if s == 0 {
					var nv api.NodeView
					if _, err := c.Query(ctx, client.NodePath(args[0]), &nv); err != nil {
						return nil, nil, fmt.Errorf("read node %s for its heartbeat seq (or pass --seq): %w", args[0], err)
					}
					s = nv.LastHeartbeatSeq + 1
				}
				msg := &types.Heartbeat{
					NodeId: args[0], Seq: s,
					Usage: types.Resources{CpuMillis: cpuUsed, MemoryMb: memUsed},
					Tasks: reports,
				}
				lines := []string{
					"message:    Heartbeat",
					"node id:    " + args[0],
					fmt.Sprintf("seq:        %d", s),
					fmt.Sprintf("usage:      cpu %dm, memory %dMB", cpuUsed, memUsed),
				}
				for _, r := range reports {
					lines = append(lines, fmt.Sprintf("task:       %s generation %d %s", r.TaskId, r.Generation, api.TaskStateName(r.State)))
				}
				return msg, lines, nil
			})
		},
	}
	f.register(cmd, "name of the node's keyring key, the key it registered with (required)")
	fl := cmd.Flags()
	fl.Uint64Var(&seq, "seq", 0, "heartbeat seq (default: the node's last accepted seq + 1)")
	fl.StringArrayVar(&tasks, "task", nil, "task report TASK_ID:GENERATION:STATE, e.g. web/0:3:running (repeatable)")
	fl.Int64Var(&cpuUsed, "cpu-used", 0, "CPU in use, in millicores")
	fl.Int64Var(&memUsed, "memory-used", 0, "memory in use, in MB")
	return cmd
}

func txNodeCordonCmd(verb string) *cobra.Command {
	var f txFlags
	var reason string
	var deadline time.Duration
	short := map[string]string{
		"cordon":   "Stop placing new tasks on a node; its tasks keep running (CordonNode)",
		"uncordon": "Allow placements on a cordoned or quarantined node again (UncordonNode)",
		"drain":    "Cordon a node and move its tasks elsewhere (DrainNode)",
	}[verb]
	cmd := &cobra.Command{
		Use:     verb + " NODE_ID",
		Short:   short,
		Long:    short + ". The signer must be an operator.\n\n" + txSeeAlso,
		Example: fmt.Sprintf("  phalanxd tx node %s n7 --from operator", verb),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTx(cmd, &f, f.from, func(context.Context, *client.Client, *keyring.Keyring) (client.Msg, []string, error) {
				id := args[0]
				var msg client.Msg
				name := ""
				switch verb {
				case "cordon":
					msg, name = &types.CordonNode{NodeId: id, Reason: reason}, "CordonNode"
				case "uncordon":
					msg, name = &types.UncordonNode{NodeId: id}, "UncordonNode"
				default:
					if deadline < 0 || deadline%time.Millisecond != 0 {
						return nil, nil, fmt.Errorf("--deadline %s; want 0 (evict every task at once) or a positive duration in whole milliseconds", deadline)
					}
					msg, name = &types.DrainNode{NodeId: id, Reason: reason, DeadlineMs: deadline.Milliseconds()}, "DrainNode"
				}
				lines := []string{"message:    " + name, "node id:    " + id}
				if verb == "drain" {
					lines = append(lines, "deadline:   "+deadline.String())
				}
				if verb != "uncordon" {
					lines = append(lines, "reason:     "+orNone(reason))
				}
				return msg, lines, nil
			})
		},
	}
	f.register(cmd, "name of the keyring key that signs: an operator (required)")
	if verb != "uncordon" {
		cmd.Flags().StringVar(&reason, "reason", "", fmt.Sprintf("why, shown in queries (at most %d bytes)", api.MaxReasonLen))
	}
	if verb == "drain" {
		cmd.Flags().DurationVar(&deadline, "deadline", time.Hour, "how long the drain may take (block time): until then a service's Running task leaves only while its workload keeps replicas - max_unavailable Running; then the rest are evicted. 0 evicts every task at once")
		cmd.Long = short + `. The signer must be an operator.

The drain respects each service's max_unavailable, as a rolling update
does: a Running task leaves the node only while its workload keeps at
least replicas - max_unavailable tasks Running (max_unavailable 0 counts
as 1), so each move waits for the previous replacement to run. When
--deadline (block time since the drain) passes, the remaining tasks are
evicted whatever that costs; --deadline 0 evicts them all at once. Batch
tasks and tasks that are not Running leave at once, and a system
workload's task is removed. ` + "`phalanxd query node ID`" + ` shows the drain's
progress: its deadline, the tasks left and what they wait for.

` + txSeeAlso
	}
	return cmd
}

// ---- tx workload ----

func txWorkloadCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workload",
		Short: "Create, update and delete workloads",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(txWorkloadSpecCmd("create"), txWorkloadSpecCmd("update"), txWorkloadDeleteCmd())
	return cmd
}

const specFileHelp = `The spec file is JSON (DESIGN §3):

  {
    "name": "web",
    "command": "sleep", "args": ["3600"], "env": {"MODE": "prod"},
    "replicas": 3,
    "resources": {"cpu_millis": 1000, "memory_mb": 512},
    "constraints": [{"label": "disk", "op": "=", "value": "ssd"}],
    "spread_key": "zone", "max_per_domain": 1, "max_per_node": 1,
    "restart_policy": {"max_restarts": 5, "backoff_base_ms": 1000, "backoff_max_ms": 60000},
    "max_unavailable": 1,
    "priority": 0
  }

"type" is "service" (the default: every exit is restarted), "batch":
each task runs once to completion, "completions" of them (in place of
"replicas"), at most "parallelism" at once (0: all); see
examples/batch.json; or "system": one task on every eligible node (not
cordoned or draining, matching the constraints), created and removed with
the nodes, no "replicas"; see examples/system.json. docs/scheduling.md,
"Workload types", says more. The type of a workload cannot change.

"replace_order" is "stop-first" (the default: a task moved or replaced is
started again only once its old process has stopped) or "start-first"
(at once; two generations may run together for a while); see
docs/scheduling.md, "Stop before start".

"disconnect" is what happens to the tasks of a lost node (Down,
Partitioned), for a stop-first workload:
  "disconnect": {"lost_after_ms": 60000, "reconcile": "keep_original"}
lost_after_ms (0: the chain's fence_timeout_ms; else 2000 to 86400000) is
how long after their eviction a replacement waits unless the node reports
them stopped (its agent stops them before that); with a policy, tasks
leave a Partitioned node under partition_policy keep too. "reconcile" is
"keep_replacement" (the default: the task moves) or "keep_original": if
the node is Ready again before the replacement is placed, the task goes
back to it and its agent runs on with the original process. See
docs/scheduling.md, "Disconnected nodes".

Unknown fields are rejected; the spec is checked locally as the chain
would check it. "-f -" reads the spec from standard input (then --yes is
needed, as there is no terminal left to confirm on).`

func txWorkloadSpecCmd(verb string) *cobra.Command {
	var f txFlags
	var file string
	short := "Create a workload from a JSON spec file (CreateWorkload)"
	long := `Create a workload. Creating a workload that exists with the same spec does
nothing; with another spec it is an error that names the difference (use
update).`
	if verb == "update" {
		short = "Replace the spec of an existing workload (UpdateWorkload)"
		long = `Replace the spec of an existing workload; its tasks are rolled to the new
version at most max_unavailable at a time.`
	}
	cmd := &cobra.Command{
		Use:     verb + " -f SPEC.json",
		Short:   short,
		Long:    long + " The signer must be an operator.\n\n" + specFileHelp + "\n\n" + txSeeAlso,
		Example: fmt.Sprintf("  phalanxd tx workload %s -f web.json --from operator", verb),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTx(cmd, &f, f.from, func(context.Context, *client.Client, *keyring.Keyring) (client.Msg, []string, error) {
				if file == "" {
					return nil, nil, errors.New("no spec: pass -f SPEC.json (or -f - for standard input)")
				}
				spec, err := readSpecFile(cmd.InOrStdin(), file)
				if err != nil {
					return nil, nil, err
				}
				lines := []string{
					"message:    " + map[string]string{"create": "CreateWorkload", "update": "UpdateWorkload"}[verb],
					"workload:   " + spec.Name,
					fmt.Sprintf("command:    %s", strings.Join(append([]string{strconv.Quote(spec.Command)}, quoteAll(spec.Args)...), " ")),
					fmt.Sprintf("replicas:   %d × cpu %dm, memory %dMB", spec.Replicas, spec.Resources.CpuMillis, spec.Resources.MemoryMb),
				}
				if spec.Type == api.TypeBatch {
					lines = append(lines, fmt.Sprintf("type:       batch: %d completions, parallelism %s", spec.Replicas, limitText(spec.Parallelism)))
				}
				if verb == "create" {
					return &types.CreateWorkload{Spec: spec}, lines, nil
				}
				return &types.UpdateWorkload{Spec: spec}, lines, nil
			})
		},
	}
	f.register(cmd, fromHelp)
	cmd.Flags().StringVarP(&file, "file", "f", "", "workload spec JSON file, or - for standard input (required)")
	return cmd
}

// readSpecFile reads and checks a workload spec file ("-": in).
func readSpecFile(in io.Reader, file string) (types.WorkloadSpec, error) {
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(io.LimitReader(in, api.MaxTxBytes+1))
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return types.WorkloadSpec{}, fmt.Errorf("read spec: %w", err)
	}
	spec, err := api.ParseWorkloadSpecJSON(b)
	if err != nil {
		return types.WorkloadSpec{}, fmt.Errorf("spec %s: %w", file, err)
	}
	return spec, nil
}

func txWorkloadDeleteCmd() *cobra.Command {
	var f txFlags
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a workload and stop its tasks (DeleteWorkload)",
		Long:    "Delete a workload; its tasks are stopped. The signer must be an operator.\n\n" + txSeeAlso,
		Example: "  phalanxd tx workload delete web --from operator",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTx(cmd, &f, f.from, func(context.Context, *client.Client, *keyring.Keyring) (client.Msg, []string, error) {
				return &types.DeleteWorkload{Name: args[0]}, []string{"message:    DeleteWorkload", "workload:   " + args[0]}, nil
			})
		},
	}
	f.register(cmd, fromHelp)
	return cmd
}

// ---- tx role ----

func txRoleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "role",
		Short: "Grant and revoke account roles (admin, operator, observer, node)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(txRoleVerbCmd("grant"), txRoleVerbCmd("revoke"))
	return cmd
}

func txRoleVerbCmd(verb string) *cobra.Command {
	var f txFlags
	cmd := &cobra.Command{
		Use:   verb + " ADDRESS ROLE",
		Short: map[string]string{"grant": "Grant a role to an account (GrantRole)", "revoke": "Revoke a role from an account (RevokeRole)"}[verb],
		Long: `ADDRESS is an account address (40 hex characters) or the name of a key in
the local keyring. ROLE is admin, operator, observer or node. The signer
must be an admin; the last active admin cannot be revoked.

` + txSeeAlso,
		Example: fmt.Sprintf("  phalanxd tx role %s 3F9A0C…E1 operator --from admin", verb),
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTx(cmd, &f, f.from, func(_ context.Context, _ *client.Client, kr *keyring.Keyring) (client.Msg, []string, error) {
				addr, err := resolveAddress(kr, args[0])
				if err != nil {
					return nil, nil, err
				}
				role, ok := api.ParseRole(args[1])
				if !ok {
					return nil, nil, fmt.Errorf("role %q is not one of admin, operator, observer, node", args[1])
				}
				lines := []string{
					"message:    " + map[string]string{"grant": "GrantRole", "revoke": "RevokeRole"}[verb],
					"account:    " + strings.ToUpper(fmt.Sprintf("%x", addr)),
					"role:       " + api.RoleName(role),
				}
				if verb == "grant" {
					return &types.GrantRole{Address: addr, Role: role}, lines, nil
				}
				return &types.RevokeRole{Address: addr, Role: role}, lines, nil
			})
		},
	}
	f.register(cmd, "name of the keyring key that signs: an admin (required)")
	return cmd
}

// ---- tx params ----

// paramFlag is one --flag of `tx params update`. typ names the value's
// form in --help.
type paramFlag struct {
	name, typ, help string
	apply           func(p *types.Params, value string) error
}

// typedString is a string flag whose --help shows typ as its type.
type typedString struct {
	v   *string
	typ string
}

func (t typedString) String() string     { return *t.v }
func (t typedString) Set(s string) error { *t.v = s; return nil }
func (t typedString) Type() string       { return t.typ }

func durationParam(name, help string, field func(*types.Params) *int64) paramFlag {
	return paramFlag{name: name, typ: "duration", help: help + " (a duration such as 5s)", apply: func(p *types.Params, v string) error {
		ms, err := parseDurationMs(name, v)
		if err != nil {
			return err
		}
		*field(p) = ms
		return nil
	}}
}

func uintParam(name, help string, field func(*types.Params) *uint32) paramFlag {
	return paramFlag{name: name, typ: "uint", help: help, apply: func(p *types.Params, v string) error {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return fmt.Errorf("invalid --%s %q: expected a non-negative integer", name, v)
		}
		*field(p) = uint32(n)
		return nil
	}}
}

// paramFlags lists the flags of `tx params update`, in help order.
func paramFlags() []paramFlag {
	return append([]paramFlag{
		durationParam("heartbeat-interval", "how often nodes send heartbeats", func(p *types.Params) *int64 { return &p.HeartbeatIntervalMs }),
		durationParam("suspect-after", "silence after which a node is Suspect", func(p *types.Params) *int64 { return &p.SuspectAfterMs }),
		durationParam("down-after", "silence after which a node is Down and its tasks are moved", func(p *types.Params) *int64 { return &p.DownAfterMs }),
		{name: "phi-threshold", typ: "decimal", help: phiThresholdHelp, apply: func(p *types.Params, v string) error {
			m, err := parsePhiThreshold(v)
			p.PhiThresholdMilli = m
			return err
		}},
		uintParam("phi-window", "heartbeat intervals kept per node for phi", func(p *types.Params) *uint32 { return &p.PhiWindow }),
		durationParam("phi-min-std-dev", "lower bound of the interval standard deviation used by phi", func(p *types.Params) *int64 { return &p.PhiMinStdDevMs }),
		{name: "phi-acceptable-pause", typ: "duration", help: "pause phi tolerates on top of the mean interval (a duration such as 3s; 0 allowed)", apply: func(p *types.Params, v string) error {
			ms, err := parseDurationMsAllowZero("phi-acceptable-pause", v)
			p.PhiAcceptablePauseMs = ms
			return err
		}},
		{name: "observer-quorum", typ: "fraction", help: "fraction of active observers a health decision needs more than, NUM/DEN such as 2/3", apply: func(p *types.Params, v string) error {
			n, d, err := parseFraction("observer-quorum", v)
			p.ObserverQuorumNum, p.ObserverQuorumDen = n, d
			return err
		}},
		durationParam("report-window", "length of an observer reporting window", func(p *types.Params) *int64 { return &p.ReportWindowMs }),
		{name: "partition-policy", typ: "keep|evict", help: "what happens to the tasks of a Partitioned node: keep or evict", apply: func(p *types.Params, v string) error {
			if v != api.PartitionKeep && v != api.PartitionEvict {
				return fmt.Errorf("invalid --partition-policy %q: expected %s or %s", v, api.PartitionKeep, api.PartitionEvict)
			}
			p.PartitionPolicy = v
			return nil
		}},
		uintParam("max-placements-per-block", "tasks placed at most per block", func(p *types.Params) *uint32 { return &p.MaxPlacementsPerBlock }),
		{name: "open-registration", typ: "bool", help: "let nodes register themselves: true or false (alone: true)", apply: func(p *types.Params, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("invalid --open-registration %q: expected true or false", v)
			}
			p.OpenRegistration = b
			return nil
		}},
		{name: "attested-liveness", typ: "bool", help: "accept observers' attestations, so that nodes an observer quorum attests need no heartbeat transactions (ADR 0018): true or false (alone: true)", apply: func(p *types.Params, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("invalid --attested-liveness %q: expected true or false", v)
			}
			p.AttestedLiveness = b
			return nil
		}},
		{name: "fence-timeout", typ: "duration", help: "how long an evicted task waits for its old node to report the old generation stopped before it is placed anyway (stop before start, ADR 0020; a duration such as 30s, the default; 0 turns the wait off)", apply: func(p *types.Params, v string) error {
			ms, err := parseDurationMsAllowZero("fence-timeout", v)
			p.FenceTimeoutMs = ms
			return err
		}},
		durationParam("backoff-base", "first restart delay of a failed task", func(p *types.Params) *int64 { return &p.BackoffBaseMs }),
		durationParam("backoff-max", "largest restart delay of a failed task", func(p *types.Params) *int64 { return &p.BackoffMaxMs }),
		uintParam("quarantine-strikes", "contradicted self-reports after which a node is Quarantined", func(p *types.Params) *uint32 { return &p.QuarantineStrikes }),
		{name: "reputation-floor", typ: "int", help: "reputation below which an observer's reports are ignored (0 or negative)", apply: func(p *types.Params, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return fmt.Errorf("invalid --reputation-floor %q: expected an integer (0 or negative)", v)
			}
			p.ReputationFloor = n
			return nil
		}},
	}, append(append(detectorParamFlags(), evictionParamFlags()...), admissionParamFlags()...)...)
}

func txParamsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "params",
		Short: "Change the chain's parameters",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(txParamsUpdateCmd())
	return cmd
}

func txParamsUpdateCmd() *cobra.Command {
	var f txFlags
	var tf trustFlags
	var file string
	pfs := paramFlags()
	values := make([]string, len(pfs))
	cmd := &cobra.Command{
		Use:   "update [--FLAG VALUE]... [-f params.json]",
		Short: "Change some parameters, keeping the others (UpdateParams)",
		Long: `Read the current parameters from the node, proven (as query params
--prove does: a Merkle proof against a header the light client verified
from the root of trust, see below), change those given, check the result
locally as the chain would, and submit UpdateParams. A node that forges
the current parameters is refused, so an admin never signs values in
fields they did not touch. The signer must be an admin.

-f params.json sets the fields the file names (the JSON of "phalanxd query
params --output json"; durations there are in milliseconds); flags are
applied after the file. Durations on the command line take a unit: 500ms,
5s, 1m.

` + txSeeAlso,
		Example: `  phalanxd tx params update --heartbeat-interval 2s --suspect-after 6s --down-after 20s --from admin
  phalanxd tx params update --partition-policy evict --open-registration=true --from admin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTx(cmd, &f, f.from, func(ctx context.Context, c *client.Client, _ *keyring.Keyring) (client.Msg, []string, error) {
				changed := file != ""
				for _, pf := range pfs {
					changed = changed || cmd.Flags().Changed(pf.name)
				}
				if !changed {
					return nil, nil, errors.New("nothing to change: give at least one parameter flag (see --help) or -f params.json")
				}
				// The change is merged into the parameters proven to be
				// the chain's: a lying node cannot slip values in.
				t, err := tf.anchor(ctx, c, f.chainID, func(w string) { fmt.Fprintln(cmd.ErrOrStderr(), w) })
				if err != nil {
					return nil, nil, fmt.Errorf("read current params: %w", err)
				}
				defer t.Close()
				cur, _, err := c.ProvenParams(ctx)
				if err != nil {
					return nil, nil, fmt.Errorf("read current params (proven): %w", err)
				}
				next, err := applyParamChanges(cur, cmd.InOrStdin(), file, func(p *types.Params) error {
					for i, pf := range pfs {
						if cmd.Flags().Changed(pf.name) {
							if err := pf.apply(p, values[i]); err != nil {
								return err
							}
						}
					}
					return nil
				})
				if err != nil {
					return nil, nil, err
				}
				diff := paramsDiff(cur.Params(), next)
				if len(diff) == 0 {
					return nil, nil, errors.New("nothing to change: the given values equal the current parameters")
				}
				lines := append([]string{"message:    UpdateParams"}, diff...)
				return &types.UpdateParams{Params: next}, lines, nil
			})
		},
	}
	f.register(cmd, "name of the keyring key that signs: an admin (required)")
	tf.register(cmd, &f.home, "cli")
	for i, pf := range pfs {
		fl := cmd.Flags().VarPF(typedString{v: &values[i], typ: pf.typ}, pf.name, "", pf.help)
		if pf.typ == "bool" {
			fl.NoOptDefVal = "true"
		}
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "JSON file of parameters to set (- for standard input)")
	return cmd
}

// applyParamChanges applies the file (if any) and then the flags to cur,
// and validates the result as the chain does.
func applyParamChanges(cur api.ParamsView, in io.Reader, file string, flags func(*types.Params) error) (types.Params, error) {
	if file != "" {
		var b []byte
		var err error
		if file == "-" {
			b, err = io.ReadAll(io.LimitReader(in, 1<<20))
		} else {
			b, err = os.ReadFile(file)
		}
		if err != nil {
			return types.Params{}, fmt.Errorf("read params file: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cur); err != nil {
			return types.Params{}, fmt.Errorf("params file %s: %v; expected a JSON object with the fields of `phalanxd query params --output json`", file, err)
		}
	}
	p := cur.Params()
	if err := flags(&p); err != nil {
		return types.Params{}, err
	}
	if err := api.ValidateParams(p); err != nil {
		return types.Params{}, err
	}
	return p, nil
}

// paramsDiff describes the changed parameters as "name: old → new".
func paramsDiff(old, next types.Params) []string {
	a, b := paramsText(old), paramsText(next)
	var out []string
	for _, kv := range b {
		for _, okv := range a {
			if okv[0] == kv[0] && okv[1] != kv[1] {
				out = append(out, fmt.Sprintf("%-25s %s → %s", kv[0]+":", okv[1], kv[1]))
			}
		}
	}
	return out
}

// paramsText lists the parameters as (name, human value) pairs.
func paramsText(p types.Params) [][2]string {
	return [][2]string{
		{"heartbeat_interval", formatMs(p.HeartbeatIntervalMs)},
		{"suspect_after", formatMs(p.SuspectAfterMs)},
		{"down_after", formatMs(p.DownAfterMs)},
		{"phi_threshold", formatMilli(p.PhiThresholdMilli)},
		{"phi_window", strconv.FormatUint(uint64(p.PhiWindow), 10)},
		{"phi_min_std_dev", formatMs(p.PhiMinStdDevMs)},
		{"phi_acceptable_pause", formatMs(p.PhiAcceptablePauseMs)},
		{"observer_quorum", fmt.Sprintf("%d/%d", p.ObserverQuorumNum, p.ObserverQuorumDen)},
		{"report_window", formatMs(p.ReportWindowMs)},
		{"partition_policy", p.PartitionPolicy},
		{"max_placements_per_block", strconv.FormatUint(uint64(p.MaxPlacementsPerBlock), 10)},
		{"open_registration", strconv.FormatBool(p.OpenRegistration)},
		{"attested_liveness", strconv.FormatBool(p.AttestedLiveness)},
		{"backoff_base", formatMs(p.BackoffBaseMs)},
		{"backoff_max", formatMs(p.BackoffMaxMs)},
		{"quarantine_strikes", strconv.FormatUint(uint64(p.QuarantineStrikes), 10)},
		{"reputation_floor", strconv.FormatInt(p.ReputationFloor, 10)},
		{"max_clock_step", formatMs(p.MaxClockStepMs)},
		{"reputation_max", strconv.FormatInt(p.ReputationMax, 10)},
		{"reputation_penalty", strconv.FormatInt(p.ReputationPenalty, 10)},
		{"max_evictions_per_block", strconv.FormatUint(uint64(p.MaxEvictionsPerBlock), 10)},
		{"node_eviction_rate", formatMilli(p.NodeEvictionRateMilli) + "/s"},
		{"secondary_node_eviction_rate", formatMilli(p.SecondaryNodeEvictionRateMilli) + "/s"},
		{"unhealthy_zone_threshold", formatMilli(p.UnhealthyZoneThresholdMilli)},
		{"large_zone_size_threshold", strconv.FormatUint(uint64(p.LargeZoneSizeThreshold), 10)},
		{"max_self_registrations_per_block", strconv.FormatUint(uint64(p.MaxSelfRegistrationsPerBlock), 10)},
	}
}

// ---- tx validator ----

func txValidatorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validator",
		Short: "Change the CometBFT validator set",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(txValidatorSetPowerCmd())
	return cmd
}

func txValidatorSetPowerCmd() *cobra.Command {
	var f txFlags
	cmd := &cobra.Command{
		Use:   "set-power PUBKEY POWER",
		Short: "Add, re-weight or remove (POWER 0) a validator (SetValidatorPower)",
		Long: `Add a validator (POWER > 0), change its voting power, or remove it
(POWER 0). PUBKEY is the validator's ed25519 consensus key, base64 (as
"phalanxd comet show-validator --home HOME" prints in "value"), hex, or that
whole JSON. The change takes effect two blocks after the transaction's. The
signer must be an admin.

` + txSeeAlso,
		Example: `  phalanxd tx validator set-power "$(phalanxd comet show-validator --home /tmp/v5)" 10 --from admin
  phalanxd tx validator set-power 1B2x…Q= 0 --from admin`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTx(cmd, &f, f.from, func(context.Context, *client.Client, *keyring.Keyring) (client.Msg, []string, error) {
				pub, err := parsePubKey("PUBKEY", args[0])
				if err != nil {
					return nil, nil, err
				}
				power, err := strconv.ParseInt(args[1], 10, 64)
				if err != nil || power < 0 {
					return nil, nil, fmt.Errorf("POWER %q is not a non-negative integer (0 removes the validator)", args[1])
				}
				return &types.SetValidatorPower{PubKey: pub, Power: power}, []string{
					"message:    SetValidatorPower",
					fmt.Sprintf("validator:  %s (%s)", base64.StdEncoding.EncodeToString(pub), crypto.AddressHex(pub)),
					fmt.Sprintf("power:      %d", power),
				}, nil
			})
		},
	}
	f.register(cmd, "name of the keyring key that signs: an admin (required)")
	return cmd
}

// ---- small text helpers ----

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func labelsText(ls []types.Label) string {
	if len(ls) == 0 {
		return "(none)"
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.Key + "=" + l.Value
	}
	return strings.Join(parts, ", ")
}

func labelsMapText(m map[string]string) string {
	if len(m) == 0 {
		return "(none)"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
