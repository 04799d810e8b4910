package app

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// Golden scripts: testdata/*.txt hold commands and, after "----", the
// output they must produce (until a blank line). `go test ./app -run
// Golden -rewrite` regenerates the outputs. Lines starting with '#' are
// comments. A command may carry input lines (an inline JSON spec) between
// its line and "----".
//
// Commands (NAME is a key name: keys come from testKey(NAME); addresses in
// output are shown as <NAME>):
//
//	genesis [open-registration] [placements=N] [validators=v1,v2] NAME=role,role[@VALNAME] ...
//	    (@VALNAME: the account observes for validator VALNAME: validator_address)
//	block [t=MS] [evidence=VALNAME,...]     begin a block (t defaults to last+1000)
//	end-block [t=MS]                        end the open block (begins one if none)
//	advance to=MS [step=MS] [hb=NODE:GAP[,GAP...]]... [report=OBS=OBSERVATION[,OBSERVATION...]]...
//	    [fail=TASK[:EXIT]]... [quiet=true]
//	    empty blocks every step (1000) ms up to t=MS; each hb node heartbeats
//	    (next seq, its tasks reported Running, Failed ones Failed, fail
//	    tasks Failed with exit code EXIT (1)) once GAP ms passed since its
//	    last heartbeat, cycling through the GAPs; each report observer sends
//	    its report (NODE:up|down[:TASK+TASK]) once per report window, in the
//	    window's first block; prints blocks with events (quiet: only the
//	    blocks' end-block events); an open block is ended first
//	register-node ID [key=NAME] cpu=N mem=N zone=Z [label=k=v]... [endpoint=h:p]
//	heartbeat ID seq=N [cpu=N mem=N] [task=ID:GEN:STATE[:RESTARTS[:CHECKPOINT[:EXIT]]]]...
//	health-report window=N|cur|prev [obs=NODE:up|down[:TASK+TASK...]]...  (signer obs)
//	health ID                               the failure detector's view of a node
//	observers                               observers: active, reputation, jail
//	create-workload NAME replicas=N cpu=N mem=N [priority=N] [max-per-node=N]
//	    [constraint=k=v | constraint=k!=v]... [spread=KEY max-per-domain=N]
//	    [max-skew=N] [rank=R] [max-unavailable=N] [max-restarts=N]
//	    [backoff=BASE_MS:MAX_MS] [cmd=C]
//	    (or: create-workload followed by an inline JSON spec)
//	update-workload ... (same arguments)
//	delete-workload NAME
//	cordon ID [reason=R] | uncordon ID | drain ID [reason=R]
//	grant-role NAME role=R | revoke-role NAME role=R
//	update-params key=value...              (ParamsView JSON names)
//	set-validator-power NAME power=N
//	equivocate NAME node=ID seq=N           ReportEquivocation with two heartbeats by NAME
//	equivocate NAME kind=report window=N node=ID [same=true]
//	                                        ... with two health reports by NAME
//	every tx command also takes: signer=NAME seq-override: tx-seq=N,
//	    timeout=H, chain=ID, memo=TEXT, corrupt=sig|pubkey|body|garbage|size|nomsg
//	nodes | tasks [workload=W] [node=N] | workloads | accounts | validators
//	describe NAME                           a workload as /workloads/{name} shows it
//	pass                                    what the last reconcile pass did
//	query PATH                              the JSON answer, indented
//	changes                                 keys returned by TakeChanges
//
// After every command the state's invariants are checked.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of golden scripts")

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden scripts in testdata/")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runGoldenFile(t, f) })
	}
}

func runGoldenFile(t *testing.T, path string) {
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(src), "\n"), "\n")
	h := &harness{t: t, names: map[string]string{}}
	var out []string
	for i := 0; i < len(lines); {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out = append(out, line)
			i++
			continue
		}
		cmdLine := line
		pos := fmt.Sprintf("%s:%d", path, i+1)
		out = append(out, line)
		i++
		var input []string
		for i < len(lines) && lines[i] != "----" {
			input = append(input, lines[i])
			out = append(out, lines[i])
			i++
		}
		if i == len(lines) {
			t.Fatalf("%s: command %q has no ---- line", pos, cmdLine)
		}
		out = append(out, "----")
		i++
		var expected []string
		for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
			expected = append(expected, lines[i])
			i++
		}
		actual := h.run(pos, cmdLine, strings.Join(input, "\n"))
		if err := h.s.verifyIfAny(); err != nil {
			t.Fatalf("%s: %s: invariant broken: %v", pos, cmdLine, err)
		}
		var actualLines []string
		if actual != "" {
			actualLines = strings.Split(actual, "\n")
		}
		for _, l := range actualLines {
			if strings.TrimSpace(l) == "" {
				t.Fatalf("%s: output of %q contains a blank line", pos, cmdLine)
			}
		}
		out = append(out, actualLines...)
		if !*rewrite && strings.Join(expected, "\n") != actual {
			t.Errorf("%s: %s\n--- expected\n%s\n--- actual\n%s", pos, cmdLine, strings.Join(expected, "\n"), actual)
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// verifyIfAny checks invariants of a state that may not exist yet.
func (s *State) verifyIfAny() error {
	if s == nil {
		return nil
	}
	return s.verify()
}

type harness struct {
	t      *testing.T
	s      *State
	names  map[string]string // ADDRHEX -> name
	lastMs int64
	// advance's heartbeat schedules: the gap index per node; the last
	// window each observer reported in.
	hbTurn   map[string]int
	reported map[string]uint64
}

// args are a command's tokens: positionals and key=value pairs (a key may
// repeat).
type args struct {
	pos  []string
	kv   map[string][]string
	used map[string]bool
}

func parseArgs(tokens []string) *args {
	a := &args{kv: map[string][]string{}, used: map[string]bool{}}
	for _, tok := range tokens {
		if k, v, ok := strings.Cut(tok, "="); ok {
			a.kv[k] = append(a.kv[k], v)
		} else {
			a.pos = append(a.pos, tok)
		}
	}
	return a
}

func (a *args) str(key, def string) string {
	a.used[key] = true
	if v := a.kv[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return def
}

func (a *args) has(key string) bool { a.used[key] = true; return len(a.kv[key]) > 0 }

func (a *args) list(key string) []string { a.used[key] = true; return a.kv[key] }

func (a *args) int(key string, def int64) int64 {
	s := a.str(key, "")
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("argument %s=%q is not a number", key, s))
	}
	return v
}

func (a *args) arg(i int) string {
	if i >= len(a.pos) {
		panic(fmt.Sprintf("missing positional argument %d", i+1))
	}
	return a.pos[i]
}

func (a *args) unused() []string {
	var out []string
	for _, k := range sortedKeys(a.kv) {
		if !a.used[k] {
			out = append(out, k)
		}
	}
	return out
}

// tokenize splits on spaces, keeping "double quoted" parts together.
func tokenize(line string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range line {
		switch {
		case r == '"':
			inQuote = !inQuote
			have = true
		case r == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

func (h *harness) run(pos, line, input string) (out string) {
	defer func() {
		if r := recover(); r != nil {
			h.t.Fatalf("%s: %s: %v", pos, line, r)
		}
	}()
	tokens := tokenize(line)
	if tokens[0] == "query" && h.s != nil {
		return h.query(strings.TrimSpace(strings.TrimPrefix(line, "query")))
	}
	cmd, a := tokens[0], parseArgs(tokens[1:])
	defer func() {
		if u := a.unused(); len(u) > 0 {
			h.t.Fatalf("%s: %s: unknown arguments %v", pos, line, u)
		}
	}()
	if cmd != "genesis" && h.s == nil {
		panic("run genesis first")
	}
	switch cmd {
	case "genesis":
		return h.genesis(a)
	case "block":
		return h.beginBlock(a)
	case "end-block":
		return h.endBlock(a)
	case "nodes":
		return h.printNodes()
	case "tasks":
		return h.printTasks(a.str("workload", ""), a.str("node", ""))
	case "workloads":
		return h.printWorkloads()
	case "describe":
		return h.describe(a.arg(0))
	case "pass":
		p := h.s.LastPass()
		return fmt.Sprintf("evicted=%d restarted=%d moved=%d replaced=%d place=%v requests=%d examined=%d placed=%d unplaced=%d pending=%d epoch=%d",
			p.Evicted, p.Restarted, p.Moved, p.Replaced, p.PlaceRan, p.Requests, p.Examined, p.Placed, p.Unplaced, h.s.pendingCount, h.s.schedEpoch)
	case "accounts":
		return h.printAccounts()
	case "validators":
		return h.query("/validators")
	case "advance":
		return h.advance(a)
	case "health":
		return h.printHealth(a.arg(0))
	case "observers":
		return h.printObservers()
	case "changes":
		var lines []string
		for _, kv := range h.s.TakeChanges() {
			if kv.Value == nil {
				lines = append(lines, h.names2(string(kv.Key))+" deleted")
			} else {
				lines = append(lines, h.names2(string(kv.Key)))
			}
		}
		return strings.Join(lines, "\n")
	}
	body, signer := h.txBody(cmd, a, input)
	return h.deliver(a, body, signer)
}

func (h *harness) name(name string) []byte {
	addr := testAddr(name)
	h.names[addrHex(addr)] = name
	return addr
}

// names2 replaces known addresses with <name>.
func (h *harness) names2(s string) string {
	for _, hexAddr := range sortedKeys(h.names) {
		s = strings.ReplaceAll(s, hexAddr, "<"+h.names[hexAddr]+">")
	}
	return s
}

func (h *harness) genesis(a *args) string {
	g := &api.Genesis{Params: api.DefaultParams()}
	g.Params.OpenRegistration = a.has("open-registration") || contains(a.pos, "open-registration")
	g.Params.MaxPlacementsPerBlock = uint32(a.int("placements", int64(g.Params.MaxPlacementsPerBlock)))
	var vals []ValidatorUpdate
	if v := a.str("validators", ""); v != "" {
		for _, name := range strings.Split(v, ",") {
			h.name(name)
			vals = append(vals, ValidatorUpdate{PubKey: testPub(name), Power: 10})
		}
	}
	for _, k := range sortedKeys(a.kv) {
		if k == "placements" || k == "validators" || k == "open-registration" {
			continue
		}
		a.used[k] = true
		ga := types.GenesisAccount{Address: h.name(k)}
		roles, val, linked := strings.Cut(a.kv[k][0], "@")
		if linked {
			ga.ValidatorAddress = h.name(val)
		}
		for _, r := range strings.Split(roles, ",") {
			role, ok := api.ParseRole(r)
			if !ok {
				panic("unknown role " + r)
			}
			ga.Roles = append(ga.Roles, role)
		}
		g.Accounts = append(g.Accounts, ga)
	}
	// Through the JSON form, as phalanxd init and InitChain would.
	js, err := g.MarshalJSON()
	if err != nil {
		panic(err)
	}
	g2, err := api.ParseGenesis(js)
	if err != nil {
		panic(err)
	}
	s, err := NewState(testChainID, g2)
	if err != nil {
		panic(err)
	}
	s.SetValidators(vals)
	h.s = s
	n := len(s.TakeChanges())
	return fmt.Sprintf("ok: %d accounts, %d validators, %d records", len(g2.Accounts), len(vals), n)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (h *harness) beginBlock(a *args) string {
	if h.s.inBlock {
		panic("a block is already open")
	}
	t := a.int("t", h.lastMs+1000)
	var evidence []Misbehavior
	for _, name := range a.list("evidence") {
		evidence = append(evidence, Misbehavior{Type: "duplicate_vote", ValidatorAddress: h.name(name), Height: h.s.height})
	}
	h.lastMs = t
	events := h.s.BeginBlock(Block{Height: h.s.height + 1, TimeMs: t, Hash: []byte("hash")}, evidence)
	lines := []string{fmt.Sprintf("block %d t=%d", h.s.height, t)}
	lines = append(lines, h.eventLines(events)...)
	return strings.Join(lines, "\n")
}

func (h *harness) ensureBlock() {
	if !h.s.inBlock {
		h.lastMs += 1000
		h.s.BeginBlock(Block{Height: h.s.height + 1, TimeMs: h.lastMs, Hash: []byte("hash")}, nil)
	}
}

func (h *harness) endBlock(a *args) string {
	if t := a.int("t", 0); t != 0 {
		if h.s.inBlock && t != h.lastMs {
			panic(fmt.Sprintf("end-block t=%d but the open block has t=%d", t, h.lastMs))
		}
		if !h.s.inBlock {
			h.lastMs = t - 1000
		}
	}
	h.ensureBlock()
	res := h.s.EndBlock()
	lines := []string{fmt.Sprintf("end-block %d t=%d", h.s.height, h.lastMs)}
	lines = append(lines, h.eventLines(res.Events)...)
	for _, u := range res.ValidatorUpdates {
		lines = append(lines, h.names2(fmt.Sprintf("validator-update %s power=%d", addrHex(addressOf(u.PubKey)), u.Power)))
	}
	return strings.Join(lines, "\n")
}

func (h *harness) eventLines(events []Event) []string {
	var lines []string
	for _, e := range events {
		parts := []string{"event", e.Type}
		for _, at := range e.Attributes {
			parts = append(parts, at.Key+"="+at.Value)
		}
		lines = append(lines, h.names2(strings.Join(parts, " ")))
	}
	return lines
}

func parseLabels(list []string) []types.Label {
	var out []types.Label
	for _, l := range list {
		k, v, _ := strings.Cut(l, "=")
		out = append(out, types.Label{Key: k, Value: v})
	}
	return out
}

// txBody builds the message of a tx command and names its default signer.
func (h *harness) txBody(cmd string, a *args, input string) (*types.TxBody, string) {
	body := &types.TxBody{}
	signer := "ops"
	switch cmd {
	case "register-node":
		id := a.arg(0)
		key := a.str("key", id)
		h.name(key)
		body.Msg = &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
			NodeId:   id,
			PubKey:   testPub(key),
			Zone:     a.str("zone", "a"),
			Labels:   parseLabels(a.list("label")),
			Capacity: types.Resources{CpuMillis: a.int("cpu", 4000), MemoryMb: a.int("mem", 8192)},
			Endpoint: a.str("endpoint", ""),
		}}
	case "heartbeat":
		id := a.arg(0)
		signer = id
		hb := &types.Heartbeat{NodeId: id, Seq: uint64(a.int("seq", 1)),
			Usage: types.Resources{CpuMillis: a.int("cpu", 0), MemoryMb: a.int("mem", 0)}}
		for _, spec := range a.list("task") {
			f := strings.Split(spec, ":")
			gen, _ := strconv.ParseUint(f[1], 10, 64)
			st, ok := api.ParseTaskState(f[2])
			if !ok {
				panic("unknown task state " + f[2])
			}
			r := types.TaskReport{TaskId: f[0], Generation: gen, State: st}
			if len(f) > 3 {
				n, _ := strconv.ParseUint(f[3], 10, 32)
				r.Restarts = uint32(n)
			}
			if len(f) > 4 {
				r.Checkpoint = []byte(f[4])
			}
			if len(f) > 5 {
				code, _ := strconv.ParseInt(f[5], 10, 32)
				r.ExitCode = int32(code)
			}
			hb.Tasks = append(hb.Tasks, r)
		}
		body.Msg = &types.TxBody_Heartbeat{Heartbeat: hb}
	case "health-report":
		signer = "obs"
		hr := &types.HealthReport{Window: h.window(a.str("window", "cur"))}
		for _, o := range a.list("obs") {
			hr.Observations = append(hr.Observations, parseObservation(o))
		}
		body.Msg = &types.TxBody_HealthReport{HealthReport: hr}
	case "create-workload", "update-workload":
		spec := h.spec(a, input)
		if cmd == "create-workload" {
			body.Msg = &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: spec}}
		} else {
			body.Msg = &types.TxBody_UpdateWorkload{UpdateWorkload: &types.UpdateWorkload{Spec: spec}}
		}
	case "delete-workload":
		body.Msg = &types.TxBody_DeleteWorkload{DeleteWorkload: &types.DeleteWorkload{Name: a.arg(0)}}
	case "cordon":
		body.Msg = &types.TxBody_CordonNode{CordonNode: &types.CordonNode{NodeId: a.arg(0), Reason: a.str("reason", "")}}
	case "uncordon":
		body.Msg = &types.TxBody_UncordonNode{UncordonNode: &types.UncordonNode{NodeId: a.arg(0)}}
	case "drain":
		body.Msg = &types.TxBody_DrainNode{DrainNode: &types.DrainNode{NodeId: a.arg(0), Reason: a.str("reason", "")}}
	case "grant-role", "revoke-role":
		signer = "admin"
		role, ok := api.ParseRole(a.str("role", ""))
		if !ok && a.str("role", "") != "none" {
			panic("unknown role")
		}
		addr := h.name(a.arg(0))
		if cmd == "grant-role" {
			body.Msg = &types.TxBody_GrantRole{GrantRole: &types.GrantRole{Address: addr, Role: role}}
		} else {
			body.Msg = &types.TxBody_RevokeRole{RevokeRole: &types.RevokeRole{Address: addr, Role: role}}
		}
	case "update-params":
		signer = "admin"
		pv := api.NewParamsView(h.s.params)
		m := map[string]json.RawMessage{}
		for _, k := range sortedKeys(a.kv) {
			if k == "signer" || k == "tx-seq" || k == "timeout" || k == "chain" || k == "memo" || k == "corrupt" {
				continue
			}
			a.used[k] = true
			v := a.kv[k][0]
			if !json.Valid([]byte(v)) {
				v = strconv.Quote(v) // a bare word: a JSON string
			}
			m[k] = json.RawMessage(v)
		}
		js, _ := json.Marshal(m)
		if err := api.DecodeStrict(js, &pv); err != nil {
			panic(err)
		}
		body.Msg = &types.TxBody_UpdateParams{UpdateParams: &types.UpdateParams{Params: pv.Params()}}
	case "set-validator-power":
		signer = "admin"
		body.Msg = &types.TxBody_SetValidatorPower{SetValidatorPower: &types.SetValidatorPower{
			PubKey: testPub(a.arg(0)), Power: a.int("power", 10)}}
		h.name(a.arg(0))
	case "equivocate":
		signer = "anyone"
		who := a.arg(0)
		h.name(who)
		if a.str("kind", "heartbeat") == "report" {
			node, window := a.str("node", "n1"), h.window(a.str("window", "cur"))
			mk := func(up bool) []byte {
				return encodeTx(testKey(who), &types.TxBody{ChainId: testChainID, Sequence: 1000, Msg: &types.TxBody_HealthReport{HealthReport: &types.HealthReport{
					Window: window, Observations: []types.Observation{{NodeId: "other"}, {NodeId: node, Reachable: up}}}}})
			}
			other := mk(false)
			if a.str("same", "") == "true" {
				other = encodeTx(testKey(who), &types.TxBody{ChainId: testChainID, Sequence: 1001, Msg: &types.TxBody_HealthReport{HealthReport: &types.HealthReport{
					Window: window, Observations: []types.Observation{{NodeId: node, Reachable: true}}}}})
			}
			body.Msg = &types.TxBody_ReportEquivocation{ReportEquivocation: &types.ReportEquivocation{TxA: mk(true), TxB: other}}
			break
		}
		mk := func(cpu int64) []byte {
			b := &types.TxBody{ChainId: testChainID, Sequence: 1000, Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{
				NodeId: a.str("node", who), Seq: uint64(a.int("seq", 1)), Usage: types.Resources{CpuMillis: cpu}}}}
			return encodeTx(testKey(who), b)
		}
		other := mk(2)
		if a.str("same", "") == "true" {
			other = mk(1)
		}
		body.Msg = &types.TxBody_ReportEquivocation{ReportEquivocation: &types.ReportEquivocation{TxA: mk(1), TxB: other}}
	default:
		panic("unknown command " + cmd)
	}
	return body, a.str("signer", signer)
}

// window reads a report window: a number, "cur" or "prev" (of the open
// block, or of the next one if none is open).
func (h *harness) window(s string) uint64 {
	t := h.lastMs
	if !h.s.inBlock {
		t += 1000
	}
	cur := uint64(t / h.s.params.ReportWindowMs)
	switch s {
	case "cur":
		return cur
	case "prev":
		return cur - 1
	}
	w, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("window %q: want a number, cur or prev", s))
	}
	return w
}

// parseObservation reads NODE:up|down[:TASK+TASK...].
func parseObservation(s string) types.Observation {
	f := strings.Split(s, ":")
	if len(f) < 2 || f[1] != "up" && f[1] != "down" {
		panic(fmt.Sprintf("observation %q: want NODE:up|down[:TASK+TASK...]", s))
	}
	o := types.Observation{NodeId: f[0], Reachable: f[1] == "up"}
	if len(f) > 2 {
		o.FailingTaskIds = strings.Split(f[2], "+")
	}
	return o
}

// advance runs empty blocks (but for scheduled heartbeats) up to to=MS and
// prints the blocks that had events.
func (h *harness) advance(a *args) string {
	var lines []string
	if h.s.inBlock {
		lines = append(lines, h.endBlock(parseArgs(nil))) // the open block ends first
	}
	to, step := a.int("to", 0), a.int("step", 1000)
	type sched struct {
		node string
		gaps []int64
	}
	var hbs []sched
	for _, spec := range a.list("hb") {
		node, gaps, _ := strings.Cut(spec, ":")
		sc := sched{node: node}
		for _, g := range strings.Split(gaps, ",") {
			v, err := strconv.ParseInt(g, 10, 64)
			if err != nil || v <= 0 {
				panic(fmt.Sprintf("hb=%s: gaps must be positive ms", spec))
			}
			sc.gaps = append(sc.gaps, v)
		}
		hbs = append(hbs, sc)
	}
	type reportSpec struct {
		observer string
		obs      []types.Observation
	}
	var reports []reportSpec
	for _, spec := range a.list("report") {
		observer, list, _ := strings.Cut(spec, "=")
		rs := reportSpec{observer: observer}
		for _, o := range strings.Split(list, ",") {
			rs.obs = append(rs.obs, parseObservation(o))
		}
		reports = append(reports, rs)
	}
	fails := map[string]int32{}
	for _, f := range a.list("fail") {
		id, code, ok := strings.Cut(f, ":")
		fails[id] = 1
		if ok {
			c, _ := strconv.ParseInt(code, 10, 32)
			fails[id] = int32(c)
		}
	}
	quiet := a.str("quiet", "") == "true"
	if h.hbTurn == nil {
		h.hbTurn, h.reported = map[string]int{}, map[string]uint64{}
	}
	blocks := 0
	for h.lastMs+step <= to {
		h.lastMs += step
		blocks++
		events := h.s.BeginBlock(Block{Height: h.s.height + 1, TimeMs: h.lastMs, Hash: []byte("hash")}, nil)
		var txLines []string
		for _, sc := range hbs {
			n := h.s.nodes[sc.node]
			gap := sc.gaps[h.hbTurn[sc.node]%len(sc.gaps)]
			if n == nil || h.lastMs-n.LastHeartbeatMs < gap {
				continue
			}
			h.hbTurn[sc.node]++
			hb := &types.Heartbeat{NodeId: n.Id, Seq: n.LastHeartbeatSeq + 1}
			for _, t := range h.s.tasksOn(n.Id) {
				if !taskActive(t) {
					continue
				}
				r := types.TaskReport{TaskId: t.Id, Generation: t.Generation, State: types.TASK_RUNNING, ExitCode: t.ExitCode}
				if code, ok := fails[t.Id]; ok || t.State == types.TASK_FAILED {
					r.State = types.TASK_FAILED
					if ok {
						r.ExitCode = code
					}
				}
				hb.Tasks = append(hb.Tasks, r)
			}
			body := &types.TxBody{ChainId: testChainID, Sequence: h.s.NextSequence(testAddr(n.Id)), Msg: &types.TxBody_Heartbeat{Heartbeat: hb}}
			tx, err := api.DecodeTx(encodeTx(testKey(n.Id), body), testChainID)
			if err != nil {
				panic(err)
			}
			res := h.s.DeliverTx(tx)
			if res.Code != 0 {
				txLines = append(txLines, fmt.Sprintf("heartbeat %s seq=%d: error code %d: %s", n.Id, hb.Seq, res.Code, res.Log))
			} else if len(res.Events) > 0 {
				txLines = append(txLines, fmt.Sprintf("heartbeat %s seq=%d", n.Id, hb.Seq))
			}
			txLines = append(txLines, h.eventLines(res.Events)...)
		}
		window := uint64(h.lastMs / h.s.params.ReportWindowMs)
		for _, rs := range reports {
			if last, ok := h.reported[rs.observer]; ok && last == window {
				continue
			}
			h.reported[rs.observer] = window
			h.name(rs.observer)
			body := &types.TxBody{ChainId: testChainID, Sequence: h.s.NextSequence(testAddr(rs.observer)),
				Msg: &types.TxBody_HealthReport{HealthReport: &types.HealthReport{Window: window, Observations: rs.obs}}}
			tx, err := api.DecodeTx(encodeTx(testKey(rs.observer), body), testChainID)
			if err != nil {
				panic(err)
			}
			res := h.s.DeliverTx(tx)
			if res.Code != 0 {
				txLines = append(txLines, fmt.Sprintf("report %s window %d: error code %d: %s", rs.observer, window, res.Code, res.Log))
			} else if len(res.Events) > 0 {
				txLines = append(txLines, fmt.Sprintf("report %s window %d", rs.observer, window))
			}
			txLines = append(txLines, h.eventLines(res.Events)...)
		}
		end := h.s.EndBlock()
		events = append(events, end.Events...)
		if quiet {
			events, txLines = end.Events, nil
		}
		if len(events) > 0 || len(txLines) > 0 {
			lines = append(lines, fmt.Sprintf("block %d t=%d", h.s.height, h.lastMs))
			for _, l := range txLines {
				lines = append(lines, h.names2(l))
			}
			lines = append(lines, h.eventLines(events)...)
		}
	}
	lines = append(lines, fmt.Sprintf("advanced %d blocks to t=%d (height %d)", blocks, h.lastMs, h.s.height))
	return strings.Join(lines, "\n")
}

// printHealth shows the failure detector's view of a node (/nodes/{id}).
func (h *harness) printHealth(id string) string {
	b, err := h.s.Query("/nodes/" + id)
	if err != nil {
		return fmt.Sprintf("error code %d: %v", api.CodeOf(err), err)
	}
	var v api.NodeView
	if err := json.Unmarshal(b, &v); err != nil {
		panic(err)
	}
	hv := v.Health
	lines := []string{
		fmt.Sprintf("%s %s reason=%q strikes=%d", v.ID, nodeStatusText(&v), v.Reason, v.Strikes),
		fmt.Sprintf("  heartbeat: last t=%d (age %d ms) samples=%d mean=%.0fms sd=%.0fms phi=%.2f (threshold %g)",
			v.LastHeartbeat, v.LastHeartbeatAgeMs, hv.Samples, hv.MeanIntervalMs, hv.StdDevMs, hv.Phi, hv.PhiThreshold),
		fmt.Sprintf("  deadlines: suspect t=%d (%s) down t=%d", hv.SuspectAt, hv.SuspectBy, hv.DownAt),
		fmt.Sprintf("  observers: verdict=%s (window %d) window=%d for=%d against=%d active=%d quorum=%d",
			hv.Verdict, hv.VerdictWindow, hv.Window, hv.ReportsFor, hv.ReportsAgainst, hv.ActiveObservers, hv.Quorum),
	}
	for _, w := range hv.Windows {
		var votes []string
		for _, vote := range w.Votes {
			s := h.names2(vote.Observer) + ":" + map[bool]string{true: "up", false: "down"}[vote.Reachable]
			if len(vote.FailingTaskIDs) > 0 {
				s += ":" + strings.Join(vote.FailingTaskIDs, "+")
			}
			if !vote.Counted {
				s += "(not counted)"
			}
			votes = append(votes, s)
		}
		line := fmt.Sprintf("  window %d: reachable=%d unreachable=%d outcome=%s", w.Window, w.Reachable, w.Unreachable, w.Outcome)
		if w.Struck {
			line += " struck"
		}
		lines = append(lines, line+" votes="+strings.Join(votes, ","))
	}
	return strings.Join(lines, "\n")
}

func nodeStatusText(v *api.NodeView) string {
	s := v.State
	if v.Draining {
		s += ",Draining"
	} else if v.Cordoned {
		s += ",Cordoned"
	}
	return s
}

// printObservers shows /observers compactly.
func (h *harness) printObservers() string {
	b, err := h.s.Query("/observers")
	if err != nil {
		panic(err)
	}
	var ans api.ObserversAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		panic(err)
	}
	lines := []string{fmt.Sprintf("active=%d quorum=%d", ans.Active, ans.Quorum)}
	for _, o := range ans.Observers {
		state := "active"
		switch {
		case o.Jailed:
			state = fmt.Sprintf("jailed (%s)", o.JailReason)
		case !o.Active:
			state = "inactive (below reputation_floor)"
		}
		line := fmt.Sprintf("%s reputation=%d agreements=%d disagreements=%d %s", o.Address, o.Reputation, o.Agreements, o.Disagreements, state)
		if o.ValidatorAddress != "" {
			line += " validator=" + o.ValidatorAddress
		}
		lines = append(lines, h.names2(line))
	}
	return strings.Join(lines, "\n")
}

func (h *harness) spec(a *args, input string) types.WorkloadSpec {
	if strings.TrimSpace(input) != "" {
		spec, err := api.ParseWorkloadSpecJSON([]byte(input))
		if err != nil {
			panic(fmt.Sprintf("spec: %v", err))
		}
		return spec
	}
	spec := types.WorkloadSpec{
		Name:       a.arg(0),
		Command:    a.str("cmd", "sleep"),
		Args:       []string{"3600"},
		Replicas:   uint32(a.int("replicas", 1)),
		Resources:  types.Resources{CpuMillis: a.int("cpu", 1000), MemoryMb: a.int("mem", 512)},
		MaxPerNode: uint32(a.int("max-per-node", 0)),
		Priority:   int32(a.int("priority", 0)),
		SpreadKey:  a.str("spread", ""),
	}
	spec.MaxPerDomain = uint32(a.int("max-per-domain", 0))
	spec.MaxSkew = uint32(a.int("max-skew", 0))
	spec.Rank = a.str("rank", "")
	spec.MaxUnavailable = uint32(a.int("max-unavailable", 0))
	spec.RestartPolicy.MaxRestarts = uint32(a.int("max-restarts", 0))
	if b := a.str("backoff", ""); b != "" {
		base, ceil, _ := strings.Cut(b, ":")
		spec.RestartPolicy.BackoffBaseMs, _ = strconv.ParseInt(base, 10, 64)
		spec.RestartPolicy.BackoffMaxMs, _ = strconv.ParseInt(ceil, 10, 64)
	}
	for _, c := range a.list("constraint") {
		if k, v, ok := strings.Cut(c, "!="); ok {
			spec.Constraints = append(spec.Constraints, types.Constraint{Label: k, Op: "!=", Value: v})
		} else {
			k, v, _ := strings.Cut(c, "=")
			spec.Constraints = append(spec.Constraints, types.Constraint{Label: k, Op: "=", Value: v})
		}
	}
	return spec
}

// deliver signs and sends a tx the way a client would, through DecodeTx
// and DeliverTx in the open block (one is begun if needed).
func (h *harness) deliver(a *args, body *types.TxBody, signer string) string {
	h.ensureBlock()
	h.name(signer)
	priv := testKey(signer)
	body.ChainId = a.str("chain", testChainID)
	body.Sequence = uint64(a.int("tx-seq", int64(h.s.NextSequence(testAddr(signer)))))
	body.TimeoutHeight = a.int("timeout", 0)
	body.Memo = a.str("memo", "")
	corrupt := a.str("corrupt", "")
	if corrupt == "nomsg" {
		body.Msg = nil
	}
	raw := encodeTx(priv, body)
	switch corrupt {
	case "", "nomsg":
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
	default:
		panic("unknown corruption")
	}
	tx, err := api.DecodeTx(raw, testChainID)
	if err != nil {
		return h.names2(fmt.Sprintf("rejected by DecodeTx: code %d (%s): %v", api.CodeOf(err), sentinelOf(err).Desc, err))
	}
	res := h.s.DeliverTx(tx)
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

func (h *harness) printNodes() string {
	var lines []string
	for _, id := range h.s.nodeIDs {
		n := h.s.nodes[id]
		parts := []string{n.Id, api.NodeStateName(n.State), "zone=" + n.Zone,
			fmt.Sprintf("cpu=%d/%d", n.Allocated.CpuMillis, n.Capacity.CpuMillis),
			fmt.Sprintf("mem=%d/%d", n.Allocated.MemoryMb, n.Capacity.MemoryMb),
			fmt.Sprintf("hb=%d#%d", n.LastHeartbeatMs, n.LastHeartbeatSeq)}
		if len(n.Labels) > 0 {
			parts = append(parts, "labels="+labelsString(n.Labels))
		}
		if len(n.IntervalsMs) > 0 {
			parts = append(parts, fmt.Sprintf("intervals=%v", n.IntervalsMs))
		}
		if n.Cordoned {
			parts = append(parts, "cordoned")
		}
		if n.Draining {
			parts = append(parts, "draining")
		}
		var ids []string
		for _, t := range h.s.tasksOn(id) {
			ids = append(ids, t.Id)
		}
		if len(ids) > 0 {
			parts = append(parts, "tasks="+strings.Join(ids, ","))
		}
		parts = append(parts, fmt.Sprintf("reason=%q", n.Reason))
		lines = append(lines, strings.Join(parts, " "))
	}
	if len(lines) == 0 {
		return "(no nodes)"
	}
	return strings.Join(lines, "\n")
}

func (h *harness) printTasks(workload, node string) string {
	q := "/tasks?workload=" + workload + "&node=" + node
	b, err := h.s.Query(q)
	if err != nil {
		panic(err)
	}
	var ans api.TasksAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		panic(err)
	}
	var lines []string
	for _, t := range ans.Tasks {
		parts := []string{t.ID, t.State}
		if t.Node != "" {
			parts = append(parts, "node="+t.Node)
		}
		parts = append(parts, fmt.Sprintf("gen=%d", t.Generation))
		if t.Restarts > 0 {
			parts = append(parts, fmt.Sprintf("restarts=%d", t.Restarts))
		}
		if t.SpecVersion > 1 {
			parts = append(parts, fmt.Sprintf("v%d", t.SpecVersion))
		}
		if t.AvoidNode != "" {
			parts = append(parts, "avoid="+t.AvoidNode)
		}
		if len(t.LastCheckpoint) > 0 {
			parts = append(parts, fmt.Sprintf("checkpoint=%q", t.LastCheckpoint))
		}
		if t.Reason != "" {
			parts = append(parts, fmt.Sprintf("reason=%q", t.Reason))
		}
		lines = append(lines, strings.Join(parts, " "))
	}
	if len(lines) == 0 {
		return "(no tasks)"
	}
	return strings.Join(lines, "\n")
}

func (h *harness) printWorkloads() string {
	var lines []string
	for _, name := range sortedKeys(h.s.workloads) {
		v := h.s.workloadView(h.s.workloads[name])
		lines = append(lines, fmt.Sprintf("%s v%d replicas=%d pending=%d assigned=%d running=%d failed=%d completed=%d",
			v.Name, v.Version, v.Replicas, v.Pending, v.Assigned, v.Running, v.Failed, v.Completed))
	}
	if len(lines) == 0 {
		return "(no workloads)"
	}
	return strings.Join(lines, "\n")
}

// describe shows a workload as /workloads/{name} has it, compactly: the
// counts, the rollout, the scheduler's explanation.
func (h *harness) describe(name string) string {
	b, err := h.s.Query("/workloads/" + name)
	if err != nil {
		return fmt.Sprintf("error code %d: %v", api.CodeOf(err), err)
	}
	var v api.WorkloadView
	if err := json.Unmarshal(b, &v); err != nil {
		panic(err)
	}
	lines := []string{fmt.Sprintf("%s v%d (template v%d) replicas=%d pending=%d assigned=%d running=%d failed=%d completed=%d",
		v.Name, v.Version, v.TemplateVersion, v.Replicas, v.Pending, v.Assigned, v.Running, v.Failed, v.Completed)}
	if r := v.Rollout; r != nil {
		lines = append(lines, fmt.Sprintf("  rollout to v%d: updated=%d outdated=%d available=%d min_available=%d",
			r.TemplateVersion, r.Updated, r.Outdated, r.Available, r.MinAvailable))
	}
	if u := v.Unschedulable; u != nil {
		lines = append(lines, fmt.Sprintf("  unschedulable since height %d: %d pending: %s", u.SinceHeight, u.Pending, u.Reason))
	}
	return strings.Join(lines, "\n")
}

func (h *harness) printAccounts() string {
	var lines []string
	for _, k := range sortedKeys(h.s.accounts) {
		v := api.AccountRecordView(h.s.accounts[k])
		line := fmt.Sprintf("%s roles=%s seq=%d", v.Address, strings.Join(v.Roles, ","), v.Sequence)
		if len(v.PubKey) == 0 {
			line += " no-pubkey"
		}
		if v.Jailed {
			line += fmt.Sprintf(" jailed=%q", v.JailReason)
		}
		lines = append(lines, h.names2(line))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (h *harness) query(path string) string {
	b, err := h.s.Query(path)
	if err != nil {
		return h.names2(fmt.Sprintf("error code %d: %v", api.CodeOf(err), err))
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		panic(err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return h.names2(strings.TrimRight(out.String(), "\n"))
}
