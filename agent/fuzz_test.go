package agent

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzAgentState writes bytes as a home's agent-state.json and opens the
// home as the node and key the file names (so that a well-formed file
// belongs to it). Checks: no panic; a refusal says the state is corrupt;
// a loaded state re-saves and re-loads equal, its file stable; the next
// heartbeat seq is above every seq the file reserved (none is signed
// twice), and the file reserves it before it is used.
func FuzzAgentState(f *testing.F) {
	f.Add([]byte(`{"node_id":"n1","address":"ADDR","heartbeat_seq_reserved":64,"placements":[]}`))
	f.Add([]byte(`{"node_id":"n1","address":"ADDR","heartbeat_seq_reserved":128,"placements":[` +
		`{"task":"web/1","generation":3,"exited":true,"exit_code":2},{"task":"web/0","generation":1,"exited":false,"exit_code":0}]}`))
	f.Add([]byte(`{"node_id":"n1","address":"ADDR","heartbeat_seq_reserved":-1}`))
	f.Add([]byte(`{"node_id":"n1"`))
	f.Add([]byte(`null`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		nodeID, address := "n1", "ADDR"
		var named homeState
		if json.Unmarshal(b, &named) == nil {
			nodeID, address = named.NodeID, named.Address
		}
		home := t.TempDir()
		path := filepath.Join(home, StateFile)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := openStore(home, nodeID, address)
		if err != nil {
			if !strings.Contains(err.Error(), "corrupt") {
				t.Fatalf("refusal %q does not say the state is corrupt", err)
			}
			return
		}
		loaded := s.st
		loaded.Placements = append([]journalEntry(nil), s.st.Placements...)
		s.mu.Lock()
		err = s.saveLocked()
		saved := s.st
		s.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if len(loaded.Placements) != len(saved.Placements) || loaded.HeartbeatSeqReserved != saved.HeartbeatSeqReserved ||
			loaded.NodeID != saved.NodeID || loaded.Address != saved.Address {
			t.Fatalf("saving changed the state:\n%+v\n%+v", loaded, saved)
		}
		file1, _ := os.ReadFile(path)
		s2, err := openStore(home, nodeID, address)
		if err != nil {
			t.Fatalf("the re-saved state does not load: %v\n%s", err, file1)
		}
		if !reflect.DeepEqual(s2.st, saved) {
			t.Fatalf("re-loaded state differs:\n%+v\n%+v", saved, s2.st)
		}
		s2.mu.Lock()
		err = s2.saveLocked()
		s2.mu.Unlock()
		if file2, _ := os.ReadFile(path); err != nil || string(file1) != string(file2) {
			t.Fatalf("the state file is not stable (%v):\n%s\n%s", err, file1, file2)
		}
		seq, err := s2.nextHeartbeatSeq()
		if err != nil {
			t.Fatal(err)
		}
		if seq <= saved.HeartbeatSeqReserved || seq == 0 || seq == math.MaxUint64 {
			t.Fatalf("next heartbeat seq %d after a reservation up to %d", seq, saved.HeartbeatSeqReserved)
		}
		if s2.st.HeartbeatSeqReserved < seq {
			t.Fatalf("heartbeat seq %d used beyond the reservation %d", seq, s2.st.HeartbeatSeqReserved)
		}
	})
}
