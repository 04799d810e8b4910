package loadgen

import (
	"strings"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Nodes: []string{"tcp://127.0.0.1:26657"}, Source: JunkEvidence{ChainID: "c", Size: 10}, Workers: 2, Duration: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{
		"no nodes":          {Source: ok.Source, Workers: 1, Duration: time.Second},
		"no source":         {Nodes: ok.Nodes, Workers: 1, Duration: time.Second},
		"zero workers":      {Nodes: ok.Nodes, Source: ok.Source, Duration: time.Second},
		"too many workers":  {Nodes: ok.Nodes, Source: ok.Source, Workers: MaxWorkers + 1, Duration: time.Second},
		"ordered, parallel": {Nodes: ok.Nodes, Source: Sequenced{}, Workers: 2, Duration: time.Second},
		"no duration":       {Nodes: ok.Nodes, Source: ok.Source, Workers: 1},
		"negative rate":     {Nodes: ok.Nodes, Source: ok.Source, Workers: 1, Duration: time.Second, Rate: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
}

// Junk evidence is well-formed on the wire (a signed ReportEquivocation
// from a fresh key each time, the same for the same seed and index) and
// its content is junk.
func TestJunkEvidence(t *testing.T) {
	j := JunkEvidence{ChainID: "c", Seed: 7, Size: 200}
	a, err := j.Next(3)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := j.Next(3)
	c, _ := j.Next(4)
	if string(a) != string(b) || string(a) == string(c) {
		t.Fatal("junk is not a function of (seed, index)")
	}
	tx, err := api.DecodeTx(a, "c")
	if err == nil {
		if tx.Body.GetReportEquivocation() == nil {
			t.Fatalf("junk decodes to %s", api.MsgName(&tx.Body))
		}
	} else if api.CodeOf(err) == api.ErrBadSignature.Code || api.CodeOf(err) == api.ErrTxUndecodable.Code {
		t.Fatalf("junk evidence is not even a signed tx: %v", err)
	}
	if _, err := (JunkEvidence{ChainID: "c", Size: MaxJunkBytes + 1}).Next(0); err == nil {
		t.Error("oversized junk accepted")
	}
}

func TestRejectionsAndSummary(t *testing.T) {
	if m := mempoolRejection("error: mempool is full: number of txs 5000"); m != "mempool is full" {
		t.Errorf("mempool rejection %q", m)
	}
	r := Result{Sent: 3, Admitted: 1, Refused: map[uint32]int{8: 1, 4: 1}, Elapsed: time.Second}
	if s := r.String(); !strings.Contains(s, "code 4: 1, code 8: 1") {
		t.Errorf("summary %q", s)
	}
}

func TestResequence(t *testing.T) {
	src := Sequenced{Start: 10}
	next := 7
	resequence(src, "sequence 17 skips ahead for account AB; next is 12", &next)
	if next != 2 {
		t.Fatalf("next index %d; want 2 (sequence 12)", next)
	}
	resequence(src, "sequence 3 already used; next is 5", &next) // before Start: unknown
	if next != 2 {
		t.Fatalf("next index %d after a sequence before the flood's start", next)
	}
	resequence(JunkEvidence{}, "next is 12", &next) // not a Resequencer
	if next != 2 {
		t.Fatal("a source without sequences was resequenced")
	}
}
