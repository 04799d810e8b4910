package agent

import (
	"strings"
	"testing"
)

// TestHeartbeatSeqNeverReused: seqs increase across restarts of the home,
// even when the agent died without saving after using some.
func TestHeartbeatSeqNeverReused(t *testing.T) {
	home := t.TempDir()
	s, err := openStore(home, "n1", "ADDR")
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for range heartbeatSeqLease + 5 {
		seq, err := s.nextHeartbeatSeq()
		if err != nil {
			t.Fatal(err)
		}
		if seq <= last {
			t.Fatalf("seq %d after %d", seq, last)
		}
		last = seq
	}
	// A restart (the process died: nothing more was saved).
	s2, err := openStore(home, "n1", "ADDR")
	if err != nil {
		t.Fatal(err)
	}
	seq, err := s2.nextHeartbeatSeq()
	if err != nil {
		t.Fatal(err)
	}
	if seq <= last {
		t.Fatalf("after a restart seq %d; %d was already signed", seq, last)
	}
	// The chain's last seq moves it further up, never down.
	s2.seqAtLeast(1000)
	if seq, _ := s2.nextHeartbeatSeq(); seq != 1000 {
		t.Fatalf("seq %d after seqAtLeast(1000)", seq)
	}
	s2.seqAtLeast(5)
	if seq, _ := s2.nextHeartbeatSeq(); seq != 1001 {
		t.Fatalf("seqAtLeast moved the seq down: %d", seq)
	}
	// One home serves one node and one key.
	if _, err := openStore(home, "n2", "ADDR"); err == nil || !strings.Contains(err.Error(), "belongs to node n1") {
		t.Fatalf("home of n1 opened for n2: %v", err)
	}
	if _, err := openStore(home, "n1", "OTHER"); err == nil {
		t.Fatal("home opened with another key")
	}
}

func TestJournal(t *testing.T) {
	home := t.TempDir()
	s, err := openStore(home, "n1", "ADDR")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.started("web/0", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.started("web/1", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.exited("web/1", 1, 2); err != nil {
		t.Fatal(err)
	}
	s, err = openStore(home, "n1", "ADDR")
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := s.lookup("web/0", 3); !ok || e.Exited {
		t.Fatalf("web/0 g3: %+v %v; expected started, not exited", e, ok)
	}
	if e, ok := s.lookup("web/1", 1); !ok || !e.Exited || e.ExitCode != 2 {
		t.Fatalf("web/1 g1: %+v %v; expected exit code 2", e, ok)
	}
	if _, ok := s.lookup("web/0", 2); ok {
		t.Fatal("an unknown generation is in the journal")
	}
	if err := s.prune(func(id string, gen uint64) bool { return id == "web/1" }); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.lookup("web/0", 3); ok {
		t.Fatal("prune kept web/0")
	}
	if err := s.unstart("web/1", 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.lookup("web/1", 1); ok {
		t.Fatal("unstart kept web/1")
	}
}
