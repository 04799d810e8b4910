package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/phalanx-bft/phalanx/agent/internal/fsutil"
)

// StateFile is the agent's state under its home directory.
const StateFile = "agent-state.json"

// heartbeatSeqLease is how many heartbeat seqs the agent reserves with one
// write of its state file. After a restart it continues above the
// reservation: seqs only need to increase, and a seq it may have signed
// before it died is never signed again (two different heartbeats with one
// seq are equivocation, and jail the node's account).
const heartbeatSeqLease = 64

// maxHeartbeatSeqReserved is the highest reservation a state file may
// hold: one lease above it would wrap around uint64 and hand out seqs
// already signed (FuzzAgentState's regressions).
const maxHeartbeatSeqReserved = math.MaxUint64 - heartbeatSeqLease

// MaxJournalEntries bounds the placements the state file remembers.
const MaxJournalEntries = 4096

// homeState is the JSON document in StateFile.
type homeState struct {
	NodeID  string `json:"node_id"`
	Address string `json:"address"`
	// HeartbeatSeqReserved: no heartbeat seq above it has been signed.
	HeartbeatSeqReserved uint64 `json:"heartbeat_seq_reserved"`
	// Placements the agent started, with their outcome once known, as long
	// as the chain still places them on this node.
	Placements []journalEntry `json:"placements"`
}

type journalEntry struct {
	TaskID     string `json:"task"`
	Generation uint64 `json:"generation"`
	Exited     bool   `json:"exited"`
	ExitCode   int32  `json:"exit_code"`
}

// store is the agent's durable state: every change is written (synced,
// atomically replaced) before the action it records.
type store struct {
	path string

	mu      sync.Mutex
	st      homeState
	nextSeq uint64
}

// openStore reads HOME/agent-state.json, or starts one. A state file of
// another node or key is an error: one home serves one node.
func openStore(home, nodeID, address string) (*store, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("agent home: %w", err)
	}
	s := &store{path: filepath.Join(home, StateFile)}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.st = homeState{NodeID: nodeID, Address: address}
		if err := s.saveLocked(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("agent state: %w", err)
	default:
		if err := json.Unmarshal(b, &s.st); err != nil {
			return nil, fmt.Errorf("agent state %s is corrupt: %v; move it away to start afresh (the agent then resumes heartbeats above the chain's last seq)", s.path, err)
		}
		if s.st.HeartbeatSeqReserved > maxHeartbeatSeqReserved {
			return nil, fmt.Errorf("agent state %s is corrupt: heartbeat_seq_reserved %d is above %d, which leaves no heartbeat seq to sign; move it away to start afresh",
				s.path, s.st.HeartbeatSeqReserved, uint64(maxHeartbeatSeqReserved))
		}
		if s.st.NodeID != nodeID || s.st.Address != address {
			return nil, fmt.Errorf("agent home %s belongs to node %s with key %s; this agent is node %s with key %s: use one home per node",
				filepath.Dir(s.path), s.st.NodeID, s.st.Address, nodeID, address)
		}
	}
	s.nextSeq = s.st.HeartbeatSeqReserved + 1
	return s, nil
}

// nextHeartbeatSeq returns a heartbeat seq never returned before by this
// home, reserving a new lease on disk when needed.
func (s *store) nextHeartbeatSeq() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := s.nextSeq
	if seq == 0 || seq > maxHeartbeatSeqReserved {
		return 0, fmt.Errorf("heartbeat seqs exhausted: the next is %d, the last this home may reserve %d", seq, uint64(maxHeartbeatSeqReserved))
	}
	if seq > s.st.HeartbeatSeqReserved {
		old := s.st.HeartbeatSeqReserved
		s.st.HeartbeatSeqReserved = seq + heartbeatSeqLease - 1
		if err := s.saveLocked(); err != nil {
			s.st.HeartbeatSeqReserved = old
			return 0, err
		}
	}
	s.nextSeq++
	return seq, nil
}

// seqAtLeast makes the next heartbeat seq at least min (the chain's last
// accepted seq + 1).
func (s *store) seqAtLeast(min uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextSeq = max(s.nextSeq, min)
}

func (s *store) find(taskID string, gen uint64) int {
	for i, e := range s.st.Placements {
		if e.TaskID == taskID && e.Generation == gen {
			return i
		}
	}
	return -1
}

// started records, before the process starts, that the agent starts a
// placement.
func (s *store) started(taskID string, gen uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.find(taskID, gen) >= 0 {
		return nil
	}
	if len(s.st.Placements) >= MaxJournalEntries {
		return fmt.Errorf("agent state holds %d placements, the limit; not starting %s generation %d", MaxJournalEntries, taskID, gen)
	}
	s.st.Placements = append(s.st.Placements, journalEntry{TaskID: taskID, Generation: gen})
	if err := s.saveLocked(); err != nil {
		s.st.Placements = s.st.Placements[:len(s.st.Placements)-1]
		return err
	}
	return nil
}

// unstart drops a placement that was recorded but could not be started.
func (s *store) unstart(taskID string, gen uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(taskID, gen)
	if i < 0 {
		return nil
	}
	s.st.Placements = append(s.st.Placements[:i], s.st.Placements[i+1:]...)
	return s.saveLocked()
}

// exited records a placement's outcome.
func (s *store) exited(taskID string, gen uint64, code int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(taskID, gen)
	if i < 0 {
		return nil
	}
	s.st.Placements[i].Exited, s.st.Placements[i].ExitCode = true, code
	return s.saveLocked()
}

// lookup returns what the journal knows of a placement.
func (s *store) lookup(taskID string, gen uint64) (journalEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.find(taskID, gen); i >= 0 {
		return s.st.Placements[i], true
	}
	return journalEntry{}, false
}

// prune keeps the entries for which keep is true.
func (s *store) prune(keep func(taskID string, gen uint64) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.st.Placements[:0:0]
	for _, e := range s.st.Placements {
		if keep(e.TaskID, e.Generation) {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(s.st.Placements) {
		return nil
	}
	s.st.Placements = kept
	return s.saveLocked()
}

// saveLocked writes the state: a temporary file, fsync, rename, fsync of
// the directory.
func (s *store) saveLocked() error {
	sort.Slice(s.st.Placements, func(i, j int) bool {
		a, b := s.st.Placements[i], s.st.Placements[j]
		if a.TaskID != b.TaskID {
			return a.TaskID < b.TaskID
		}
		return a.Generation < b.Generation
	})
	if s.st.Placements == nil {
		s.st.Placements = []journalEntry{}
	}
	b, err := json.MarshalIndent(&s.st, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileSync(s.path, append(b, '\n'))
}
