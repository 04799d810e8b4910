package app

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestGoldenStrictParsing: a malformed command stops a golden script with
// the script's position and the bad argument; nothing defaults to zero.
// Each case runs a valid prelude, then one bad command, which must fail
// with a message containing want.
func TestGoldenStrictParsing(t *testing.T) {
	prelude := []string{
		"genesis admin=admin ops=operator",
		"register-node n1 cpu=4000 mem=8192 zone=a",
		"create-workload web replicas=1 cpu=1000 mem=512",
	}
	cases := []struct {
		line  string
		input []string
		want  string
	}{
		{line: "heartbeat n1 seq=2 task=web/0:x:Running", want: `task=web/0:x:Running: generation "x"`},
		{line: "heartbeat n1 seq=2 task=web/0:1", want: "want ID:GEN:STATE"},
		{line: "heartbeat n1 seq=2 task=web/0:1:Sleeping", want: `unknown task state "Sleeping"`},
		{line: "heartbeat n1 seq=2 task=web/0:1:Running:many", want: `restarts "many"`},
		{line: "heartbeat n1 seq=2 task=web/0:1:Failed:0:ck:boom", want: `exit code "boom"`},
		{line: "heartbeat n1 seq=two", want: `seq="two"`},
		{line: "heartbeat n1 seq=", want: `seq=""`},
		{line: "heartbeat", want: "missing positional argument 1 (ID)"},
		{line: "register-node n2 cpu=4k", want: `cpu="4k"`},
		{line: "register-node n2 colour=red", want: "unknown arguments [colour=red]"},
		{line: "register-node n2 zone=a zone=b", want: "argument zone given 2 times"},
		{line: "register-node n2 label=ssd", want: "label=ssd: want KEY=VALUE"},
		{line: "register-node n2 extra", want: "unknown arguments [extra]"},
		{line: "register-node n2 corrupt=sometimes", want: `corrupt="sometimes"`},
		{line: "register-node n2 tx-seq=-1", want: `tx-seq="-1"`},
		{line: "create-workload api replicas=-1", want: `replicas="-1"`},
		{line: "create-workload api backoff=100", want: "backoff=100: want BASE_MS:MAX_MS"},
		{line: "create-workload api constraint=disk", want: "constraint=disk: want LABEL=VALUE"},
		{line: "create-workload api priority=99999999999", want: `priority="99999999999"`},
		{line: "create-workload", input: []string{"{not json"}, want: "the input spec"},
		{line: "nodes", input: []string{"stray"}, want: "nodes takes no input lines"},
		{line: "nodes n1", want: "unknown arguments [n1]"},
		{line: "tasks workload=web state=Running", want: "unknown arguments [state=Running]"},
		{line: "frobnicate n1", want: `unknown command "frobnicate"`},
		{line: "end-block t=soon", want: `t="soon"`},
		{line: "block t=1", want: "a block is already open"},
		{line: "advance", want: "advance needs to=MS"},
		{line: "advance to=5000 step=0", want: "step=0: want a positive number"},
		{line: "advance to=5000 hb=n1", want: "hb=n1: want NODE:GAP"},
		{line: "advance to=5000 hb=n1:1s", want: `gap "1s"`},
		{line: "advance to=5000 fail=web/0:x", want: `exit code "x"`},
		{line: "advance to=5000 quiet=yes", want: `quiet="yes": want true or false`},
		{line: "advance to=5000 report=obs=n1:sideways", want: `observation "n1:sideways"`},
		{line: "health-report window=soon", want: `window "soon"`},
		{line: "grant-role bob role=emperor", want: `role="emperor": unknown role`},
		{line: "equivocate n1 kind=vote", want: `kind="vote": want one of heartbeat, report`},
		{line: "equivocate n1 same=1", want: `same="1": want true or false`},
		{line: "update-params down_after_ms=soon", want: "params"},
		{line: "update-params", want: "update-params needs at least one key=value"},
		{line: "query", want: "query needs a PATH"},
	}
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			h := newHarness(t)
			var failed string
			h.fatalf = func(format string, v ...any) {
				failed = fmt.Sprintf(format, v...)
				runtime.Goexit()
			}
			step := 0
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i, line := range prelude {
					step = i
					h.run(fmt.Sprintf("strict.txt:%d", i+1), line, nil)
				}
				step = len(prelude)
				h.run(fmt.Sprintf("strict.txt:%d", len(prelude)+1), c.line, c.input)
			}()
			<-done
			pos := fmt.Sprintf("strict.txt:%d: %s: ", len(prelude)+1, c.line)
			switch {
			case failed == "":
				t.Fatalf("%q ran without an error; want one containing %q", c.line, c.want)
			case step < len(prelude):
				t.Fatalf("the prelude failed at %q: %s", prelude[step], failed)
			case !strings.HasPrefix(failed, pos) || !strings.Contains(failed, c.want):
				t.Fatalf("%q failed with\n  %s\nwant the position %q and %q", c.line, failed, pos, c.want)
			}
		})
	}
}
