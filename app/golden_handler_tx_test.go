package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// Transactions in golden scripts: each handler builds its message, names
// its default signer and hands it to deliver, which reads the arguments
// every tx command takes (signer=NAME tx-seq=N timeout=H chain=ID
// memo=TEXT corrupt=…).

// handleRegisterNode: register-node ID [key=NAME] cpu=N mem=N zone=Z
// [label=k=v]... [endpoint=h:p]
func (h *harness) handleRegisterNode(a *args, _ string) string {
	id := a.arg(0, "ID")
	key := a.nonEmpty("key", id)
	h.name(key)
	var labels []types.Label
	for _, l := range a.list("label") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			a.fail("label=%s: want KEY=VALUE", l)
		}
		labels = append(labels, types.Label{Key: k, Value: v})
	}
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
		NodeId:   id,
		PubKey:   testPub(key),
		Zone:     a.str("zone", "a"),
		Labels:   labels,
		Capacity: types.Resources{CpuMillis: a.int("cpu", 4000), MemoryMb: a.int("mem", 8192)},
		Endpoint: a.str("endpoint", ""),
	}}}, "ops")
}

// handleHeartbeat: heartbeat ID seq=N [cpu=N mem=N]
// [task=ID:GEN:STATE[:RESTARTS[:CHECKPOINT[:EXIT]]]]... [stopped=ID:GEN]...
func (h *harness) handleHeartbeat(a *args, _ string) string {
	id := a.arg(0, "ID")
	hb := &types.Heartbeat{NodeId: id, Seq: a.uint("seq", 1, 64),
		Usage: types.Resources{CpuMillis: a.int("cpu", 0), MemoryMb: a.int("mem", 0)}}
	for _, spec := range a.list("task") {
		arg := "task=" + spec
		f := strings.Split(spec, ":")
		if len(f) < 3 || len(f) > 6 || f[0] == "" {
			a.fail("%s: want ID:GEN:STATE[:RESTARTS[:CHECKPOINT[:EXIT]]]", arg)
		}
		st, ok := api.ParseTaskState(f[2])
		if !ok {
			a.fail("%s: unknown task state %q", arg, f[2])
		}
		r := types.TaskReport{TaskId: f[0], Generation: uintField(a, arg, "generation", f[1], 64), State: st}
		if len(f) > 3 {
			r.Restarts = uint32(uintField(a, arg, "restarts", f[3], 32))
		}
		if len(f) > 4 {
			r.Checkpoint = []byte(f[4])
		}
		if len(f) > 5 {
			r.ExitCode = int32(intField(a, arg, "exit code", f[5], 32))
		}
		hb.Tasks = append(hb.Tasks, r)
	}
	for _, id := range a.list("ready") {
		found := false
		for k := range hb.Tasks {
			if hb.Tasks[k].TaskId == id {
				hb.Tasks[k].Ready, found = true, true
			}
		}
		if !found {
			a.fail("ready=%s: no task=%s:... in this heartbeat", id, id)
		}
	}
	for _, spec := range a.list("stopped") {
		id, gen, ok := strings.Cut(spec, ":")
		if !ok || id == "" {
			a.fail("stopped=%s: want ID:GEN", spec)
		}
		hb.Stopped = append(hb.Stopped, types.StoppedTask{TaskId: id, Generation: uintField(a, "stopped="+spec, "generation", gen, 64)})
	}
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_Heartbeat{Heartbeat: hb}}, id)
}

// handleHealthReport: health-report window=N|cur|prev
// [obs=NODE:up|down[:TASK+TASK...]]... (signer obs)
func (h *harness) handleHealthReport(a *args, _ string) string {
	hr := &types.HealthReport{Window: h.window(a, a.str("window", "cur"))}
	for _, o := range a.list("obs") {
		hr.Observations = append(hr.Observations, parseObservation(a, o))
	}
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_HealthReport{HealthReport: hr}}, "obs")
}

// handleAttest: attest [up=NODE,...] [withdraw=NODE,...] [window=cur|prev|N]
// (signer obs by default).
func (h *harness) handleAttest(a *args, _ string) string {
	ids := func(key string) []string {
		var out []string
		for _, v := range a.list(key) {
			out = append(out, strings.Split(v, ",")...)
		}
		return out
	}
	m := &types.Attest{Window: h.window(a, a.str("window", "cur")), Up: ids("up"), Withdraw: ids("withdraw")}
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_Attest{Attest: m}}, "obs")
}

// handleCreateWorkload: create-workload NAME replicas=N cpu=N mem=N …, or
// create-workload followed by an inline JSON spec.
func (h *harness) handleCreateWorkload(a *args, input string) string {
	spec := h.spec(a, input)
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: spec}}}, "ops")
}

// handleUpdateWorkload: update-workload, with create-workload's arguments.
func (h *harness) handleUpdateWorkload(a *args, input string) string {
	spec := h.spec(a, input)
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_UpdateWorkload{UpdateWorkload: &types.UpdateWorkload{Spec: spec}}}, "ops")
}

// spec reads a workload spec: the input lines as JSON, or the arguments
// NAME replicas=N cpu=N mem=N [priority=N] [max-per-node=N]
// [constraint=k=v | constraint=k!=v]... [spread=KEY max-per-domain=N]
// [max-skew=N] [rank=R] [max-unavailable=N] [max-restarts=N]
// [backoff=BASE_MS:MAX_MS] [cmd=C] [type=T parallelism=N] [order=O]
// [lost-after=MS] [reconcile=R].
func (h *harness) spec(a *args, input string) types.WorkloadSpec {
	if strings.TrimSpace(input) != "" {
		spec, err := api.ParseWorkloadSpecJSON([]byte(input))
		if err != nil {
			a.fail("the input spec: %v", err)
		}
		return spec
	}
	spec := types.WorkloadSpec{
		Name:       a.arg(0, "NAME"),
		Command:    a.nonEmpty("cmd", "sleep"),
		Args:       []string{"3600"},
		Replicas:   a.u32("replicas", 1),
		Resources:  types.Resources{CpuMillis: a.int("cpu", 1000), MemoryMb: a.int("mem", 512)},
		MaxPerNode: a.u32("max-per-node", 0),
		Priority:   int32(a.intN("priority", 0, 32)),
		SpreadKey:  a.str("spread", ""),
	}
	spec.MaxPerDomain = a.u32("max-per-domain", 0)
	spec.MaxSkew = a.u32("max-skew", 0)
	spec.Rank = a.str("rank", "")
	spec.MaxUnavailable = a.u32("max-unavailable", 0)
	spec.Type = a.str("type", "")
	spec.Parallelism = a.u32("parallelism", 0)
	spec.ReplaceOrder = a.str("order", "")
	spec.Disconnect.LostAfterMs = a.int("lost-after", 0)
	spec.Disconnect.Reconcile = a.str("reconcile", "")
	spec.RestartPolicy.MaxRestarts = a.u32("max-restarts", 0)
	if b := a.nonEmpty("backoff", ""); b != "" {
		base, ceil, ok := strings.Cut(b, ":")
		if !ok {
			a.fail("backoff=%s: want BASE_MS:MAX_MS", b)
		}
		spec.RestartPolicy.BackoffBaseMs = intField(a, "backoff="+b, "base", base, 64)
		spec.RestartPolicy.BackoffMaxMs = intField(a, "backoff="+b, "max", ceil, 64)
	}
	for _, c := range a.list("constraint") {
		k, v, op := "", "", ""
		if kk, vv, ok := strings.Cut(c, "!="); ok {
			k, v, op = kk, vv, "!="
		} else if kk, vv, ok := strings.Cut(c, "="); ok {
			k, v, op = kk, vv, "="
		}
		if op == "" || k == "" {
			a.fail("constraint=%s: want LABEL=VALUE or LABEL!=VALUE", c)
		}
		spec.Constraints = append(spec.Constraints, types.Constraint{Label: k, Op: op, Value: v})
	}
	return spec
}

// handleDeleteWorkload: delete-workload NAME
func (h *harness) handleDeleteWorkload(a *args, _ string) string {
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_DeleteWorkload{DeleteWorkload: &types.DeleteWorkload{Name: a.arg(0, "NAME")}}}, "ops")
}

// handleCordon: cordon ID [reason=R]
func (h *harness) handleCordon(a *args, _ string) string {
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_CordonNode{CordonNode: &types.CordonNode{
		NodeId: a.arg(0, "ID"), Reason: a.str("reason", "")}}}, "ops")
}

// handleUncordon: uncordon ID
func (h *harness) handleUncordon(a *args, _ string) string {
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_UncordonNode{UncordonNode: &types.UncordonNode{NodeId: a.arg(0, "ID")}}}, "ops")
}

// handleDrain: drain ID [reason=R] [deadline=MS]
func (h *harness) handleDrain(a *args, _ string) string {
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_DrainNode{DrainNode: &types.DrainNode{
		NodeId: a.arg(0, "ID"), Reason: a.str("reason", ""), DeadlineMs: a.int("deadline", 0)}}}, "ops")
}

// roleArg reads role=R: a role's name, or none (no role: rejected by the
// state machine, which is what a script tests with it).
func roleArg(a *args) types.Role {
	s := a.str("role", "")
	role, ok := api.ParseRole(s)
	if !ok && s != "none" {
		a.fail("role=%q: unknown role", s)
	}
	return role
}

// handleGrantRole: grant-role NAME role=R
func (h *harness) handleGrantRole(a *args, _ string) string {
	addr := h.name(a.arg(0, "NAME"))
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_GrantRole{GrantRole: &types.GrantRole{Address: addr, Role: roleArg(a)}}}, "admin")
}

// handleRevokeRole: revoke-role NAME role=R
func (h *harness) handleRevokeRole(a *args, _ string) string {
	addr := h.name(a.arg(0, "NAME"))
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_RevokeRole{RevokeRole: &types.RevokeRole{Address: addr, Role: roleArg(a)}}}, "admin")
}

// txArgs are the arguments deliver reads, common to every tx command.
var txArgs = []string{"signer", "tx-seq", "timeout", "chain", "memo", "corrupt"}

// handleUpdateParams: update-params key=value... (ParamsView JSON names;
// a value that is not JSON is a string).
func (h *harness) handleUpdateParams(a *args, _ string) string {
	pv := api.NewParamsView(h.s.params)
	m := map[string]json.RawMessage{}
	for _, k := range sortedKeys(a.kv) {
		if contains(txArgs, k) {
			continue
		}
		v := a.str(k, "")
		if !json.Valid([]byte(v)) {
			v = strconv.Quote(v) // a bare word: a JSON string
		}
		m[k] = json.RawMessage(v)
	}
	if len(m) == 0 {
		a.fail("update-params needs at least one key=value")
	}
	js, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	if err := api.DecodeStrict(js, &pv); err != nil {
		a.fail("params %s: %v", js, err)
	}
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_UpdateParams{UpdateParams: &types.UpdateParams{Params: pv.Params()}}}, "admin")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// handleSetValidatorPower: set-validator-power NAME power=N
func (h *harness) handleSetValidatorPower(a *args, _ string) string {
	name := a.arg(0, "NAME")
	h.name(name)
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_SetValidatorPower{SetValidatorPower: &types.SetValidatorPower{
		PubKey: testPub(name), Power: a.int("power", 10)}}}, "admin")
}

// handleEquivocate: equivocate NAME node=ID seq=N [same=true]
// (ReportEquivocation with two heartbeats signed by NAME), or
// equivocate NAME kind=report window=N node=ID [same=true] (with two
// health reports).
func (h *harness) handleEquivocate(a *args, _ string) string {
	who := a.arg(0, "NAME")
	h.name(who)
	same := a.bool("same")
	var msg *types.ReportEquivocation
	switch a.oneOf("kind", "heartbeat", "heartbeat", "report") {
	case "report":
		node, window := a.nonEmpty("node", "n1"), h.window(a, a.str("window", "cur"))
		mk := func(up bool) []byte {
			return encodeTx(testKey(who), &types.TxBody{ChainId: testChainID, Sequence: 1000, Msg: &types.TxBody_HealthReport{HealthReport: &types.HealthReport{
				Window: window, Observations: []types.Observation{{NodeId: "other"}, {NodeId: node, Reachable: up}}}}})
		}
		other := mk(false)
		if same {
			other = encodeTx(testKey(who), &types.TxBody{ChainId: testChainID, Sequence: 1001, Msg: &types.TxBody_HealthReport{HealthReport: &types.HealthReport{
				Window: window, Observations: []types.Observation{{NodeId: node, Reachable: true}}}}})
		}
		msg = &types.ReportEquivocation{TxA: mk(true), TxB: other}
	default:
		node, seq := a.nonEmpty("node", who), a.uint("seq", 1, 64)
		mk := func(cpu int64) []byte {
			b := &types.TxBody{ChainId: testChainID, Sequence: 1000, Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{
				NodeId: node, Seq: seq, Usage: types.Resources{CpuMillis: cpu}}}}
			return encodeTx(testKey(who), b)
		}
		other := mk(2)
		if same {
			other = mk(1)
		}
		msg = &types.ReportEquivocation{TxA: mk(1), TxB: other}
	}
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_ReportEquivocation{ReportEquivocation: msg}}, "ops")
}

// deliver signs and sends a tx the way a client would, through DecodeTx
// and DeliverTx in the open block (one is begun if needed). It reads the
// arguments every tx command takes: signer=NAME (default defaultSigner),
// tx-seq=N, timeout=H, chain=ID, memo=TEXT,
// corrupt=sig|pubkey|body|garbage|size|nomsg.
func (h *harness) deliver(a *args, body *types.TxBody, defaultSigner string) string {
	signer := a.nonEmpty("signer", defaultSigner)
	corrupt := a.oneOf("corrupt", "", "", "sig", "pubkey", "body", "garbage", "size", "nomsg")
	h.ensureBlock()
	h.name(signer)
	priv := testKey(signer)
	body.ChainId = a.str("chain", testChainID)
	body.Sequence = a.uint("tx-seq", h.s.NextSequence(testAddr(signer)), 64)
	body.TimeoutHeight = a.int("timeout", 0)
	body.Memo = a.str("memo", "")
	if corrupt == "nomsg" {
		body.Msg = nil
	}
	raw := encodeTx(priv, body)
	switch corrupt {
	case "sig":
		var tx types.Tx
		_ = tx.Unmarshal(raw)
		tx.Signature[0] ^= 1
		raw, _ = tx.Marshal()
	case "pubkey":
		var tx types.Tx
		_ = tx.Unmarshal(raw)
		tx.PubKey = tx.PubKey[:31]
		raw, _ = tx.Marshal()
	case "body":
		var tx types.Tx
		_ = tx.Unmarshal(raw)
		tx.BodyBytes = []byte{0xff, 0xff, 0xff}
		tx.Signature = crypto.Sign(testKey(signer), tx.BodyBytes)
		raw, _ = tx.Marshal()
	case "garbage":
		raw = []byte{0x0a, 0xff, 0x01}
	case "size":
		raw = append(raw, bytes.Repeat([]byte{0}, api.MaxTxBytes)...)
	}
	tx, err := api.DecodeTx(raw, testChainID)
	if err != nil {
		return h.names2(fmt.Sprintf("rejected by DecodeTx: code %d (%s): %v", api.CodeOf(err), sentinelOf(err).Desc, err))
	}
	before := h.s.beforeTx(tx)
	res := h.s.DeliverTx(tx)
	if res.Code != 0 {
		// No state from failed transactions (ADR 0014): every rejection
		// of every script is checked.
		if err := h.s.afterFailedTx(before); err != nil {
			h.fatalf("a failed transaction (code %d: %s) changed the state: %v", res.Code, res.Log, err)
		}
	}
	var lines []string
	if res.Code == 0 {
		lines = append(lines, "ok: "+res.Log)
	} else {
		lines = append(lines, fmt.Sprintf("error code %d (%s): %s", res.Code, descOf(res.Code), res.Log))
	}
	lines = append(lines, h.eventLines(res.Events)...)
	return h.names2(strings.Join(lines, "\n"))
}

func sentinelOf(err error) *api.Error {
	for _, e := range api.AllErrors() {
		if e.Code == api.CodeOf(err) {
			return e
		}
	}
	return api.ErrInternal
}

func descOf(code uint32) string {
	for _, e := range api.AllErrors() {
		if e.Code == code {
			return e.Desc
		}
	}
	return "?"
}
