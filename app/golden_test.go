package app

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
//	    [attest=OBS]... [fail=TASK[:EXIT]]... [quiet=true]
//	    empty blocks every step (1000) ms up to t=MS; each hb node heartbeats
//	    (next seq, its tasks reported Running, Failed ones Failed, fail
//	    tasks Failed with exit code EXIT (1)) once GAP ms passed since its
//	    last heartbeat, cycling through the GAPs; each report observer sends
//	    its report (NODE:up|down[:TASK+TASK]) once per report window, in the
//	    window's first block; each attest observer sends an empty Attest
//	    (keeping its attestations fresh) once per window, after the
//	    reports; prints blocks with events (quiet: only the
//	    blocks' end-block events); an open block is ended first
//	register-node ID [key=NAME] cpu=N mem=N zone=Z [label=k=v]... [endpoint=h:p]
//	heartbeat ID seq=N [cpu=N mem=N] [task=ID:GEN:STATE[:RESTARTS[:CHECKPOINT[:EXIT]]]]...
//	health-report window=N|cur|prev [obs=NODE:up|down[:TASK+TASK...]]...  (signer obs)
//	attest [up=NODE,...] [withdraw=NODE,...] [window=N|cur|prev]  (signer obs)
//	health ID                               the failure detector's view of a node
//	observers                               observers: active, reputation, jail
//	create-workload NAME replicas=N cpu=N mem=N [priority=N] [max-per-node=N]
//	    [constraint=k=v | constraint=k!=v]... [spread=KEY max-per-domain=N]
//	    [max-skew=N] [rank=R] [max-unavailable=N] [max-restarts=N]
//	    [backoff=BASE_MS:MAX_MS] [cmd=C] [order=O] [lost-after=MS reconcile=R]
//	    (or: create-workload followed by an inline JSON spec)
//	update-workload ... (same arguments)
//	delete-workload NAME
//	cordon ID [reason=R] | uncordon ID | drain ID [reason=R]
//	remove-node ID [force=true] [reason=R] | unjail-observer NAME
//	grant-role NAME role=R | revoke-role NAME role=R
//	update-params key=value...              (ParamsView JSON names)
//	set-validator-power NAME power=N
//	equivocate NAME node=ID seq=N           ReportEquivocation with two heartbeats by NAME
//	equivocate NAME kind=report window=N node=ID [same=true]
//	                                        ... with two health reports by NAME
//	evidence a=INNER b=INNER                ReportEquivocation of two inner txs of any shape
//	    (INNER: hb:KEY:NODE:SEQ:CPU | report:KEY:WINDOW:NODE:up|down |
//	    cordon:KEY:NODE | junk, optionally !sig or !chain;
//	    golden_handler_admission_test.go)
//	every tx command also takes: signer=NAME seq-override: tx-seq=N,
//	    timeout=H, chain=ID, memo=TEXT, corrupt=sig|pubkey|body|garbage|size|nomsg
//	nodes | tasks [workload=W] [node=N] | workloads | accounts | validators
//	describe NAME                           a workload as /workloads/{name} shows it
//	pass                                    what the last reconcile pass did
//	query PATH                              the JSON answer, indented
//	changes [bytes=true]                    keys returned by TakeChanges (bytes: with each record's size)
//
// After every command the state's invariants are checked.
//
// Parsing is strict: an unknown command, an unknown or repeated argument, a
// missing or extra positional argument, input lines for a command that
// takes none, and a value that does not parse (a number, a task report's
// fields, a label, a window, a role, …) each stop the test with the
// script's file:line and the bad argument (TestGoldenStrictParsing holds
// one case of each). Only an absent optional argument takes its default.
//
// Each command has its own handler, found by name in goldenCommands: the
// chain's clock in golden_handler_chain_test.go (genesis, block, end-block,
// advance), transactions in golden_handler_tx_test.go, and the printed
// views in golden_handler_view_test.go.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of golden scripts")

// goldenCommand is one scripted command: its handler, and whether it
// takes input lines (between its line and "----").
type goldenCommand struct {
	run   func(h *harness, a *args, input string) string
	input bool
}

// goldenCommands maps a command's name to its handler.
var goldenCommands = map[string]goldenCommand{
	// golden_handler_chain_test.go
	"genesis":   {run: (*harness).handleGenesis},
	"block":     {run: (*harness).handleBlock},
	"end-block": {run: (*harness).handleEndBlock},
	"advance":   {run: (*harness).handleAdvance},
	// golden_handler_tx_test.go
	"register-node":       {run: (*harness).handleRegisterNode},
	"heartbeat":           {run: (*harness).handleHeartbeat},
	"health-report":       {run: (*harness).handleHealthReport},
	"attest":              {run: (*harness).handleAttest},
	"create-workload":     {run: (*harness).handleCreateWorkload, input: true},
	"update-workload":     {run: (*harness).handleUpdateWorkload, input: true},
	"delete-workload":     {run: (*harness).handleDeleteWorkload},
	"cordon":              {run: (*harness).handleCordon},
	"uncordon":            {run: (*harness).handleUncordon},
	"drain":               {run: (*harness).handleDrain},
	"grant-role":          {run: (*harness).handleGrantRole},
	"revoke-role":         {run: (*harness).handleRevokeRole},
	"update-params":       {run: (*harness).handleUpdateParams},
	"set-validator-power": {run: (*harness).handleSetValidatorPower},
	"equivocate":          {run: (*harness).handleEquivocate},
	// golden_handler_lifecycle_test.go
	"remove-node":     {run: (*harness).handleRemoveNode},
	"unjail-observer": {run: (*harness).handleUnjailObserver},
	// golden_handler_view_test.go
	"nodes":      {run: (*harness).handleNodes},
	"tasks":      {run: (*harness).handleTasks},
	"workloads":  {run: (*harness).handleWorkloads},
	"describe":   {run: (*harness).handleDescribe},
	"pass":       {run: (*harness).handlePass},
	"accounts":   {run: (*harness).handleAccounts},
	"validators": {run: (*harness).handleValidators},
	"health":     {run: (*harness).handleHealth},
	"observers":  {run: (*harness).handleObservers},
	"changes":    {run: (*harness).handleChanges},
	"query":      {run: (*harness).handleQuery},
}

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
	h := newHarness(t)
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
		actual := h.run(pos, cmdLine, input)
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
	t *testing.T
	// fatalf stops the script: t.Fatalf, but for TestGoldenStrictParsing.
	fatalf func(format string, v ...any)
	s      *State
	names  map[string]string // ADDRHEX -> name
	lastMs int64
	// advance's heartbeat schedules: the gap index per node; the last
	// window each observer reported in.
	hbTurn   map[string]int
	reported map[string]uint64
	attested map[string]uint64 // the last window each attest= observer attested in
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, fatalf: t.Fatalf, names: map[string]string{}}
}

// run looks the command of line up in goldenCommands, parses its
// arguments and runs its handler. Every parse error fails the test with
// pos (the script's file:line); so does a panic (a broken invariant).
func (h *harness) run(pos, line string, input []string) (out string) {
	defer func() {
		if r := recover(); r != nil {
			h.fatalf("%s: %s: %v", pos, line, r)
		}
	}()
	tokens := tokenize(line)
	name := tokens[0]
	a := parseArgs(tokens[1:], func(format string, v ...any) {
		h.t.Helper()
		h.fatalf("%s: %s: %s", pos, line, fmt.Sprintf(format, v...))
	})
	a.rest = strings.TrimSpace(strings.TrimPrefix(line, name))
	cmd, ok := goldenCommands[name]
	if !ok {
		a.fail("unknown command %q", name)
	}
	if len(input) > 0 && !cmd.input {
		a.fail("%s takes no input lines; got %d (%q…)", name, len(input), input[0])
	}
	if name != "genesis" && h.s == nil {
		a.fail("run genesis first")
	}
	out = cmd.run(h, a, strings.Join(input, "\n"))
	a.finish()
	return out
}

// args are a command's tokens: positionals and key=value pairs (a key may
// repeat where the command takes a list). Every accessor fails the test
// (through fail) on a value that does not parse; finish fails it on an
// argument no accessor asked for.
type args struct {
	pos     []string
	posUsed []bool
	kv      map[string][]string
	used    map[string]bool
	rest    string // the line after the command's name, for query
	fail    func(format string, v ...any)
}

func parseArgs(tokens []string, fail func(format string, v ...any)) *args {
	a := &args{kv: map[string][]string{}, used: map[string]bool{}, fail: fail}
	for _, tok := range tokens {
		if k, v, ok := strings.Cut(tok, "="); ok {
			if k == "" {
				fail("argument %q has no key", tok)
			}
			a.kv[k] = append(a.kv[k], v)
		} else {
			a.pos = append(a.pos, tok)
		}
	}
	a.posUsed = make([]bool, len(a.pos))
	return a
}

// noArgs are the arguments of a command run by another (advance ends an
// open block with end-block's handler).
func noArgs(fail func(format string, v ...any)) *args { return parseArgs(nil, fail) }

// str is the value of key, def if absent; a key given twice fails.
func (a *args) str(key, def string) string {
	a.used[key] = true
	switch v := a.kv[key]; len(v) {
	case 0:
		return def
	case 1:
		return v[0]
	default:
		a.fail("argument %s given %d times (%s=%s); it takes one value", key, len(v), key, strings.Join(v, " "+key+"="))
		return ""
	}
}

// nonEmpty is str for a key whose value, if given, may not be empty.
func (a *args) nonEmpty(key, def string) string {
	if a.has(key) {
		if v := a.str(key, def); v != "" {
			return v
		}
		a.fail("argument %s= has an empty value", key)
	}
	return def
}

func (a *args) has(key string) bool { a.used[key] = true; return len(a.kv[key]) > 0 }

// list is every value of a repeatable key; an empty one fails.
func (a *args) list(key string) []string {
	a.used[key] = true
	for _, v := range a.kv[key] {
		if v == "" {
			a.fail("argument %s= has an empty value", key)
		}
	}
	return a.kv[key]
}

// int is key's value as a signed integer of bits bits, def if absent.
func (a *args) int(key string, def int64) int64 { return a.intN(key, def, 64) }

func (a *args) intN(key string, def int64, bits int) int64 {
	if !a.has(key) {
		return def
	}
	s := a.str(key, "")
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		a.fail("argument %s=%q: want an integer (%d bits): %v", key, s, bits, err)
	}
	return v
}

// uint is key's value as an unsigned integer of bits bits, def if absent.
func (a *args) uint(key string, def uint64, bits int) uint64 {
	if !a.has(key) {
		return def
	}
	s := a.str(key, "")
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		a.fail("argument %s=%q: want an unsigned integer (%d bits): %v", key, s, bits, err)
	}
	return v
}

// u32 is uint for the uint32 fields of specs and params.
func (a *args) u32(key string, def uint32) uint32 { return uint32(a.uint(key, uint64(def), 32)) }

// bool is key's value: true or false, false if absent.
func (a *args) bool(key string) bool {
	switch s := a.str(key, "false"); s {
	case "true":
		return true
	case "false":
		return false
	default:
		a.fail("argument %s=%q: want true or false", key, s)
		return false
	}
}

// oneOf is key's value, which must be one of options; def if absent.
func (a *args) oneOf(key, def string, options ...string) string {
	s := a.str(key, def)
	for _, o := range options {
		if s == o {
			return s
		}
	}
	a.fail("argument %s=%q: want one of %s", key, s, strings.Join(options, ", "))
	return ""
}

// arg is positional argument i, what it stands for named by what.
func (a *args) arg(i int, what string) string {
	if i >= len(a.pos) {
		a.fail("missing positional argument %d (%s)", i+1, what)
	}
	a.posUsed[i] = true
	return a.pos[i]
}

// word reports whether the positional word w is present (a flag).
func (a *args) word(w string) bool {
	for i, p := range a.pos {
		if p == w {
			a.posUsed[i] = true
			return true
		}
	}
	return false
}

// raw is the whole line after the command's name, unparsed (query's
// path); every token counts as used.
func (a *args) raw() string {
	for _, k := range sortedKeys(a.kv) {
		a.used[k] = true
	}
	for i := range a.posUsed {
		a.posUsed[i] = true
	}
	return a.rest
}

// finish fails on arguments no accessor asked for: unknown keys, extra
// positionals.
func (a *args) finish() {
	var unknown []string
	for _, k := range sortedKeys(a.kv) {
		if !a.used[k] {
			unknown = append(unknown, k+"="+strings.Join(a.kv[k], ","))
		}
	}
	for i, p := range a.pos {
		if !a.posUsed[i] {
			unknown = append(unknown, p)
		}
	}
	if len(unknown) > 0 {
		a.fail("unknown arguments %v", unknown)
	}
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

// ---- helpers shared by the handlers ----

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

// window reads a report window: a number, "cur" or "prev" (of the open
// block, or of the next one if none is open).
func (h *harness) window(a *args, s string) uint64 {
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
		a.fail("window %q: want a number, cur or prev", s)
	}
	return w
}

// parseObservation reads NODE:up|down[:TASK+TASK...].
func parseObservation(a *args, s string) types.Observation {
	f := strings.Split(s, ":")
	if len(f) < 2 || len(f) > 3 || f[0] == "" || f[1] != "up" && f[1] != "down" {
		a.fail("observation %q: want NODE:up|down[:TASK+TASK...]", s)
	}
	o := types.Observation{NodeId: f[0], Reachable: f[1] == "up"}
	if len(f) > 2 {
		o.FailingTaskIds = strings.Split(f[2], "+")
		for _, id := range o.FailingTaskIds {
			if id == "" {
				a.fail("observation %q: an empty task id", s)
			}
		}
	}
	return o
}

// uintField parses one field of a structured argument value.
func uintField(a *args, arg, field, s string, bits int) uint64 {
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		a.fail("argument %s: %s %q: want an unsigned integer (%d bits)", arg, field, s, bits)
	}
	return v
}

func intField(a *args, arg, field, s string, bits int) int64 {
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		a.fail("argument %s: %s %q: want an integer (%d bits)", arg, field, s, bits)
	}
	return v
}
