package app

import (
	"fmt"
	"strings"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// The table of record types. Every stored record is of one of these
// types; LoadState, TakeChanges (State.record), StoreKeyForPath and the
// end-of-block invariant check (invariants.go) read this table, so adding
// a record type is one entry here (and its invariants).

// recordType is one kind of stored record.
type recordType struct {
	// key is the store key of a singleton record ("params") or, ending in
	// "/", the prefix of a collection's keys ("nodes/" for nodes/{id});
	// the rest of the key is the record's id.
	key string
	// required: LoadState fails without such a record.
	required bool
	// load decodes a stored value into s and returns the id the record
	// belongs under, as its content says ("" for a singleton).
	load func(s *State, value []byte) (id string, err error)
	// get returns the current record with the given id, if it exists.
	get func(s *State, id string) (marshaler, bool)
	// path is the first segment of the query path whose answer this
	// record proves (/nodes/{id} ↔ nodes/{id}), "" if no path does;
	// segments is how many segments follow it, and pathID maps them to
	// the record's id or reports that they name none.
	path     string
	segments int
	pathID   func(segments []string) (id string, ok bool)
	// check verifies, at the end of a block that touched the record, its
	// invariants and those of the indexes that refer to it (invariants.go).
	check func(c *blockCheck, id string) error
}

// recordTypes lists every record type. Keys of different types never
// share a prefix.
var recordTypes = []recordType{
	{
		key: keyParams, required: true, // types.Params
		load: func(s *State, v []byte) (string, error) { return "", s.params.Unmarshal(v) },
		get:  func(s *State, _ string) (marshaler, bool) { return &s.params, true },
		path: "params",
		check: func(c *blockCheck, _ string) error {
			if err := api.ValidateParams(c.s.params); err != nil {
				return fmt.Errorf("params: %v", err)
			}
			return nil
		},
	},
	{
		key: keyBlockInfo, // types.BlockInfo: the height, the clocks and the zones' eviction buckets
		load: func(s *State, v []byte) (string, error) {
			var bi types.BlockInfo
			if err := bi.Unmarshal(v); err != nil {
				return "", err
			}
			s.blockTimeMs, s.clockMs, s.schedEpoch, s.genFloor = bi.TimeMs, bi.ClockMs, bi.SchedEpoch, bi.GenerationFloor
			s.pacing.buckets, s.pacing.resumeAtMs = bi.ZoneBuckets, bi.EvictionsResumeAtMs
			s.eventsDigest = bi.EventsDigest
			for i := range bi.RemovedFences {
				rf := bi.RemovedFences[i]
				s.removedFences[rf.TaskId] = &rf
			}
			if bi.Height != s.height {
				return "", fmt.Errorf("block info is for height %d, not %d", bi.Height, s.height)
			}
			return "", nil
		},
		get: func(s *State, _ string) (marshaler, bool) {
			return &types.BlockInfo{Height: s.height, TimeMs: s.blockTimeMs, ClockMs: s.clockMs, SchedEpoch: s.schedEpoch, GenerationFloor: s.genFloor,
				ZoneBuckets: s.pacing.buckets, EvictionsResumeAtMs: s.pacing.resumeAtMs, EventsDigest: s.eventsDigest,
				RemovedFences: s.removedFenceList()}, true
		},
		path:  "blockinfo", // provable only: watch --verify checks the block's events against it
		check: (*blockCheck).checkBlockInfo,
	},
	{
		key: prefixAccounts, // accounts/{ADDRHEX}: types.Account
		load: func(s *State, v []byte) (string, error) {
			a := &types.Account{}
			if err := a.Unmarshal(v); err != nil {
				return "", err
			}
			s.accounts[addrHex(a.Address)] = a
			return addrHex(a.Address), nil
		},
		get:  func(s *State, id string) (marshaler, bool) { a, ok := s.accounts[id]; return a, ok },
		path: "accounts", segments: 1, pathID: addrPathID,
		check: (*blockCheck).checkAccount,
	},
	{
		key: prefixNodes, // nodes/{id}: types.Node
		load: func(s *State, v []byte) (string, error) {
			n := &types.Node{}
			if err := n.Unmarshal(v); err != nil {
				return "", err
			}
			s.nodes[n.Id] = n
			return n.Id, nil
		},
		get:  func(s *State, id string) (marshaler, bool) { n, ok := s.nodes[id]; return n, ok },
		path: "nodes", segments: 1,
		pathID: func(seg []string) (string, bool) { return seg[0], api.ValidName("", seg[0], api.MaxNodeIDLen) == nil },
		check:  (*blockCheck).checkNode,
	},
	{
		key: prefixWorkloads, // workloads/{name}: types.Workload
		load: func(s *State, v []byte) (string, error) {
			w := &types.Workload{}
			if err := w.Unmarshal(v); err != nil {
				return "", err
			}
			s.workloads[w.Spec.Name] = w
			return w.Spec.Name, nil
		},
		get:  func(s *State, id string) (marshaler, bool) { w, ok := s.workloads[id]; return w, ok },
		path: "workloads", segments: 1,
		pathID: func(seg []string) (string, bool) {
			return seg[0], api.ValidName("", seg[0], api.MaxWorkloadNameLen) == nil
		},
		check: (*blockCheck).checkWorkload,
	},
	{
		key: prefixTasks, // tasks/{workload}/{index}: types.Task
		load: func(s *State, v []byte) (string, error) {
			t := &types.Task{}
			if err := t.Unmarshal(v); err != nil {
				return "", err
			}
			s.tasks[t.Id] = t
			return t.Id, nil
		},
		get:  func(s *State, id string) (marshaler, bool) { t, ok := s.tasks[id]; return t, ok },
		path: "tasks", segments: 2,
		pathID: func(seg []string) (string, bool) {
			id := seg[0] + "/" + seg[1]
			_, _, err := api.ParseTaskID(id)
			return id, err == nil
		},
		check: (*blockCheck).checkTask,
	},
	{
		key: prefixValidators, // validators/{ADDRHEX}: types.Validator
		load: func(s *State, v []byte) (string, error) {
			val := &types.Validator{}
			if err := val.Unmarshal(v); err != nil {
				return "", err
			}
			id := addrHex(addressOf(val.PubKey))
			s.validators[id] = val
			return id, nil
		},
		get:  func(s *State, id string) (marshaler, bool) { v, ok := s.validators[id]; return v, ok },
		path: "validators", segments: 1, pathID: addrPathID,
		check: (*blockCheck).checkValidator,
	},
	{
		key: prefixReports, // reports/{node id}: types.NodeReports
		load: func(s *State, v []byte) (string, error) {
			r := &types.NodeReports{}
			if err := r.Unmarshal(v); err != nil {
				return "", err
			}
			s.reports[r.NodeId] = r
			return r.NodeId, nil
		},
		get:   func(s *State, id string) (marshaler, bool) { r, ok := s.reports[id]; return r, ok },
		check: (*blockCheck).checkReports,
	},
}

// addrPathID accepts an address in any hex case; the id is upper case.
func addrPathID(seg []string) (string, bool) {
	addr, ok := api.ParseAddrHex(seg[0])
	if !ok {
		return "", false
	}
	return addrHex(addr), true
}

// recordTypeOf returns the type of the record under key and its id.
func recordTypeOf(key string) (*recordType, string, bool) {
	for i := range recordTypes {
		rt := &recordTypes[i]
		if key == rt.key {
			return rt, "", true
		}
		if strings.HasSuffix(rt.key, "/") && strings.HasPrefix(key, rt.key) {
			return rt, key[len(rt.key):], true
		}
	}
	return nil, "", false
}

type marshaler interface{ Marshal() ([]byte, error) }

// record returns the current value of a store key, if the record exists.
func (s *State) record(key string) (marshaler, bool) {
	rt, id, ok := recordTypeOf(key)
	if !ok {
		panic(fmt.Sprintf("app: unknown store key %q", key))
	}
	return rt.get(s, id)
}
