package app

import (
	"bytes"
	"fmt"
	"slices"
	"sort"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app/health"
	"github.com/phalanx-bft/phalanx/types"
)

// Store keys. Every record lives under one of these; the value is the
// gogoproto encoding of the record's type.
const (
	keyParams        = "params"      // types.Params
	keyBlockInfo     = "blockinfo"   // types.BlockInfo
	prefixAccounts   = "accounts/"   // accounts/{ADDRHEX}: types.Account
	prefixNodes      = "nodes/"      // nodes/{id}: types.Node
	prefixWorkloads  = "workloads/"  // workloads/{name}: types.Workload
	prefixTasks      = "tasks/"      // tasks/{workload}/{index}: types.Task
	prefixValidators = "validators/" // validators/{ADDRHEX}: types.Validator
	prefixReports    = "reports/"    // reports/{node id}: types.NodeReports
)

// State is the cluster state and the machine that advances it. It is not
// safe for concurrent use: the caller serialises every call (the ABCI
// connection already does).
type State struct {
	chainID string
	height  int64
	// blockTimeMs is the time of the block being applied, or of the last
	// one applied.
	blockTimeMs int64
	blockHash   []byte
	// The events of the open block's begin pass, and the digest of its
	// begin and end passes' events (BlockInfo.events_digest).
	beginEvents  []Event
	eventsDigest []byte
	inBlock      bool
	// clockMs is the failure detector's clock: block time, advancing at
	// most params.max_clock_step_ms per block (ADR 0005).
	clockMs int64

	params     types.Params
	accounts   map[string]*types.Account     // by ADDRHEX
	nodes      map[string]*types.Node        // by id
	workloads  map[string]*types.Workload    // by name
	tasks      map[string]*types.Task        // by id ("{workload}/{index}")
	validators map[string]*types.Validator   // by ADDRHEX
	reports    map[string]*types.NodeReports // by node id: open windows' votes

	// schedEpoch is the scheduling epoch (BlockInfo.sched_epoch,
	// reconcile.go): it moves when something that could make a pending
	// task fit changes.
	schedEpoch uint64
	// genFloor is BlockInfo.generation_floor: new tasks start from it.
	genFloor uint64

	// Indexes: derived from the records above, rebuilt by LoadState.
	nodeIDs       []string                       // sorted
	nodeList      []*types.Node                  // the nodes in nodeIDs order (scheduler.Cluster.Nodes)
	nodePos       map[string]int32               // node id -> position in nodeList; stale when its size differs
	nodeByKey     map[string]string              // string(pub_key) -> node id
	tasksByNode   map[string]map[string]struct{} // node -> tasks whose Node is it
	workloadTasks map[string][]*types.Task       // workload -> its tasks by index (0..replicas-1)
	observerIDs   []string                       // sorted ADDRHEX of accounts with role observer
	accountByVal  map[string]string              // validator ADDRHEX -> account ADDRHEX
	deadlines     health.DeadlineQueue           // (clock ms, node id) of each node's next deadline

	// The reconcile pass's indexes (reconcile.go), also derived.
	pending      map[string][]*types.Task // workload -> its Pending tasks by (created_height, index)
	pendingCount int                      // Pending tasks in all
	parkedCount  int                      // workloads in pending that are parked (unplaceable at schedEpoch)
	backoff      health.DeadlineQueue     // (next_attempt_at_ms, task id) of Failed tasks
	fences       health.DeadlineQueue     // (fence_until_ms, task id) of fenced Pending tasks (fence.go)
	fenced       map[string]int           // workload -> its fenced Pending tasks
	// removedFences: the fences removed tasks left, by task id (fence.go;
	// stored in the block info record).
	removedFences map[string]*types.RemovedFence
	// System workloads (system.go): how many exist, and what the block
	// marked for the system pass.
	systemCount     int
	systemNodes     map[string]struct{}
	systemWorkloads map[string]struct{}
	rollouts        map[string]struct{} // workloads with tasks of an older template
	pacing          evictionPacing      // zones, eviction backlog, zone buckets (evict.go)

	// Marks for this block's reconcile pass, empty between blocks.
	evictNodes map[string]struct{} // nodes whose state may call for evicting their tasks
	// restoreNodes: nodes that became Ready in this block (restorePass).
	restoreNodes map[string]struct{}
	rollDirty    map[string]struct{} // rolling workloads whose tasks changed

	// lastPass describes the last reconcile pass (tests, benchmarks).
	lastPass PassStats

	// Caches (derived from params and accounts, never persisted).
	yStarFor     uint32                  // the phi threshold yStar was computed for
	yStar        int64                   // health.YStarMicro(yStarFor)
	activeObs    int                     // active observers (see activeObserver)
	obsCache     map[string]observerInfo // by raw address: the accounts with role observer
	activeObsSet bool                    // activeObs and obsCache are current
	attestKey    string                  // attesters() at the last attestPass

	// attestDirty: the nodes an Attest touched this block (attest.go);
	// empty between blocks.
	attestDirty map[string]struct{}
	// undecided: the nodes whose reports hold a tally not yet decided
	// (closeWindows decides it when its window closes); derived from the
	// reports records.
	undecided map[string]struct{}

	// valUpdates are validator power changes for the next EndBlock.
	valUpdates map[string]ValidatorUpdate
	// selfRegs counts the open block's self-registrations
	// (max_self_registrations_per_block, ADR 0014); 0 between blocks, so
	// it is no record: a state loaded at a block boundary has the same.
	selfRegs uint32
	// touches counts touch calls: a record may have changed since a
	// query cached the sorted keys of a map (query_list.go) if it moved.
	touches uint64
	// sortedAccounts and sortedWorkloads cache the lists' orders for
	// queries, which read many pages between two blocks.
	sortedAccounts, sortedWorkloads keyCache

	// dirty holds the keys changed since the last TakeChanges.
	dirty map[string]struct{}
	// dirtyKeys lists dirty's keys, each once, in the order touched (the
	// end-of-block check and TakeChanges sort it; no map is ranged).
	dirtyKeys []string
	// start is the state at the end of the last block, which the end of
	// the next one is checked against (invariants.go).
	start blockStart
	moved map[string]taskMark // tasks placed, evicted, created or removed in this block (noteTask)
	check blockCheck          // the current block's check (invariants.go)
	// removedNodes: the nodes RemoveNode deleted since the last
	// TakeChanges (id -> pub_key): their deleted records are among the
	// touched ones the end-of-block check looks at (checkNode).
	removedNodes map[string][]byte
	// loading is set while LoadState rebuilds the indexes and verifies
	// the state (nil otherwise): the sorted ids it read.
	loading *loadOrder
}

// loadOrder holds the ids of the tasks, nodes and accounts LoadState read,
// sorted. A store hands its records over in key order, so the ids come
// sorted and the rebuild and the checks, which walk them several times,
// sort none of them (the tasks were sorted five times, about 50 ms each
// at 100,000 tasks).
type loadOrder struct{ tasks, nodes, accounts []string }

// sortedIDs returns ids if they are m's keys in strictly increasing order
// (records in key order, each once), and m's keys sorted otherwise.
func sortedIDs[V any](ids []string, m map[string]V) []string {
	if len(ids) != len(m) {
		return sortedKeys(m)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			return sortedKeys(m)
		}
	}
	return ids
}

// taskIDs returns every task id, sorted.
func (s *State) taskIDs() []string {
	if s.loading != nil {
		return s.loading.tasks
	}
	return sortedKeys(s.tasks)
}

// accountKeys returns every account's ADDRHEX, sorted.
func (s *State) accountKeys() []string {
	if s.loading != nil {
		return s.loading.accounts
	}
	return sortedKeys(s.accounts)
}

func newEmptyState(chainID string) *State {
	s := &State{
		chainID:         chainID,
		accounts:        map[string]*types.Account{},
		nodes:           map[string]*types.Node{},
		workloads:       map[string]*types.Workload{},
		tasks:           map[string]*types.Task{},
		validators:      map[string]*types.Validator{},
		reports:         map[string]*types.NodeReports{},
		accountByVal:    map[string]string{},
		nodeByKey:       map[string]string{},
		tasksByNode:     map[string]map[string]struct{}{},
		workloadTasks:   map[string][]*types.Task{},
		pending:         map[string][]*types.Task{},
		fenced:          map[string]int{},
		removedFences:   map[string]*types.RemovedFence{},
		systemNodes:     map[string]struct{}{},
		systemWorkloads: map[string]struct{}{},
		rollouts:        map[string]struct{}{},
		pacing:          newEvictionPacing(),
		evictNodes:      map[string]struct{}{},
		restoreNodes:    map[string]struct{}{},
		rollDirty:       map[string]struct{}{},
		attestDirty:     map[string]struct{}{},
		undecided:       map[string]struct{}{},
		valUpdates:      map[string]ValidatorUpdate{},
		dirty:           map[string]struct{}{},
		schedEpoch:      1,
	}
	s.resetBlockStart()
	return s
}

func validChainID(chainID string) error {
	if chainID == "" || len(chainID) > api.MaxChainIDLen {
		return api.Errorf(api.ErrBadGenesis, "chain id %q must be 1..%d characters", chainID, api.MaxChainIDLen)
	}
	return nil
}

// NewState builds the genesis state. A nil g means DefaultParams and no
// accounts. TakeChanges afterwards returns every genesis record.
func NewState(chainID string, g *api.Genesis) (*State, error) {
	if err := validChainID(chainID); err != nil {
		return nil, err
	}
	if g == nil {
		g = &api.Genesis{Params: api.DefaultParams()}
	}
	if err := api.ValidateParams(g.Params); err != nil {
		return nil, err
	}
	if len(g.Accounts) > api.MaxAccounts {
		return nil, api.Errorf(api.ErrBadGenesis, "genesis has %d accounts; the limit is %d", len(g.Accounts), api.MaxAccounts)
	}
	s := newEmptyState(chainID)
	s.params = g.Params
	s.touch(keyParams)
	for i, ga := range g.Accounts {
		if len(ga.Address) != api.AddressLen {
			return nil, api.Errorf(api.ErrBadGenesis, "genesis account %d: address is %d bytes; want %d", i, len(ga.Address), api.AddressLen)
		}
		key := addrHex(ga.Address)
		if s.accounts[key] != nil {
			return nil, api.Errorf(api.ErrBadGenesis, "genesis account %s listed twice", key)
		}
		if len(ga.PubKey) != 0 && (len(ga.PubKey) != api.PubKeyLen || !bytes.Equal(addressOf(ga.PubKey), ga.Address)) {
			return nil, api.Errorf(api.ErrBadGenesis, "genesis account %s: pub_key is not a %d-byte key of this address", key, api.PubKeyLen)
		}
		acc := &types.Account{Address: clone(ga.Address), PubKey: clone(ga.PubKey), ValidatorAddress: clone(ga.ValidatorAddress)}
		if len(ga.ValidatorAddress) != 0 {
			if len(ga.ValidatorAddress) != api.AddressLen {
				return nil, api.Errorf(api.ErrBadGenesis, "genesis account %s: validator_address is %d bytes; want %d", key, len(ga.ValidatorAddress), api.AddressLen)
			}
			if other, ok := s.accountByVal[addrHex(ga.ValidatorAddress)]; ok {
				return nil, api.Errorf(api.ErrBadGenesis, "genesis accounts %s and %s name the same validator_address %s", other, key, addrHex(ga.ValidatorAddress))
			}
			s.accountByVal[addrHex(ga.ValidatorAddress)] = key
		}
		for _, r := range ga.Roles {
			if !api.ValidRole(r) {
				return nil, api.Errorf(api.ErrBadGenesis, "genesis account %s: unknown role %d", key, int32(r))
			}
			acc.Roles = api.AddRole(acc.Roles, r)
		}
		s.accounts[key] = acc
		s.touch(prefixAccounts + key)
		if api.HasRole(acc.Roles, types.ROLE_OBSERVER) {
			s.observerIDs = insertSorted(s.observerIDs, key)
		}
	}
	if len(s.observerIDs) > api.MaxObservers {
		return nil, api.Errorf(api.ErrBadGenesis, "genesis has %d observers; the limit is %d", len(s.observerIDs), api.MaxObservers)
	}
	return s, nil
}

// LoadState rebuilds a state from every stored record (as TakeChanges
// produced them) at the given height, rebuilds the indexes, and checks the
// whole state against itself (verify: params and limits, every task's
// workload, index and node, allocations equal to the active tasks' sum,
// the node list and keys, the reconcile, eviction and health indexes).
func LoadState(chainID string, height int64, records []KV) (*State, error) {
	if err := validChainID(chainID); err != nil {
		return nil, err
	}
	s := newEmptyState(chainID)
	s.height = height
	seen := map[string]bool{} // required record types loaded
	var order loadOrder
	for _, kv := range records {
		key := string(kv.Key)
		if kv.Value == nil {
			return nil, fmt.Errorf("load state: record %q has no value", key)
		}
		rt, _, ok := recordTypeOf(key)
		if !ok {
			return nil, fmt.Errorf("load state: record %q: unknown key", key)
		}
		if rt.required {
			seen[rt.key] = true
		}
		id, err := rt.load(s, kv.Value)
		if err == nil {
			err = expectKey(key, rt.key+id)
		}
		if err != nil {
			return nil, fmt.Errorf("load state: record %q: %w", key, err)
		}
		switch rt.key {
		case prefixTasks:
			order.tasks = append(order.tasks, id)
		case prefixNodes:
			order.nodes = append(order.nodes, id)
		case prefixAccounts:
			order.accounts = append(order.accounts, id)
		}
	}
	order.tasks = sortedIDs(order.tasks, s.tasks)
	order.nodes = sortedIDs(order.nodes, s.nodes)
	order.accounts = sortedIDs(order.accounts, s.accounts)
	s.loading = &order
	defer func() { s.loading = nil }()
	for _, rt := range recordTypes {
		if rt.required && !seen[rt.key] {
			return nil, fmt.Errorf("load state: no %q record", rt.key)
		}
	}
	s.rebuildIndexes()
	if err := s.verify(); err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	s.resetBlockStart()
	return s, nil
}

func expectKey(got, want string) error {
	if got != want {
		return fmt.Errorf("record belongs under %q", want)
	}
	return nil
}

// rebuildIndexes derives every in-memory index from the records.
func (s *State) rebuildIndexes() {
	if s.loading != nil {
		s.nodeIDs = s.loading.nodes
	} else {
		s.nodeIDs = sortedKeys(s.nodes)
	}
	for _, id := range s.nodeIDs {
		s.nodeByKey[string(s.nodes[id].PubKey)] = id
		s.nodeList = append(s.nodeList, s.nodes[id])
	}
	for _, id := range s.taskIDs() {
		s.indexTask(s.tasks[id])
	}
	s.systemCount = 0
	for _, name := range sortedKeys(s.workloads) {
		if s.workloads[name].Spec.Type == api.TypeSystem {
			s.systemCount++
		}
	}
	s.rebuildReconcileIndexes()
	for _, key := range s.accountKeys() {
		a := s.accounts[key]
		if api.HasRole(a.Roles, types.ROLE_OBSERVER) {
			s.observerIDs = append(s.observerIDs, key)
		}
		if len(a.ValidatorAddress) != 0 {
			s.accountByVal[addrHex(a.ValidatorAddress)] = key
		}
	}
	// undecided as the live state holds it: the nodes with an undecided
	// tally of a window still open at this height. closeWindows drops a
	// node once none of its undecided windows is open, leaving tallies
	// that stayed undecided at their close in the record, never looked at
	// again (a new vote about the node first drops its closed windows,
	// openTally); counting those too made a restarted validator decide
	// them at its next block, and its app hash differ from the others'
	// (found by the nemesis, docs/nemesis.md).
	cur := s.reportWindow()
	for _, id := range sortedKeys(s.reports) {
		for i := range s.reports[id].Windows {
			if t := &s.reports[id].Windows[i]; !decided(t) && t.Window+1 >= cur {
				s.undecided[id] = struct{}{}
			}
		}
	}
	s.rebuildDeadlines()
}

// indexTask adds t to the indexes of tasks by workload and by node (the
// reconcile indexes are rebuilt separately).
func (s *State) indexTask(t *types.Task) {
	list := s.workloadTasks[t.Workload]
	for uint32(len(list)) <= t.Index {
		list = append(list, nil)
	}
	list[t.Index] = t
	s.workloadTasks[t.Workload] = list
	if t.Node != "" {
		addToSet(s.tasksByNode, t.Node, t.Id)
	}
}

func addToSet(m map[string]map[string]struct{}, key, member string) {
	set := m[key]
	if set == nil {
		set = map[string]struct{}{}
		m[key] = set
	}
	set[member] = struct{}{}
}

func removeFromSet(m map[string]map[string]struct{}, key, member string) {
	if set := m[key]; set != nil {
		delete(set, member)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}

// verify checks the invariants that tie records and indexes together.
func (s *State) verify() error {
	if err := api.ValidateParams(s.params); err != nil {
		return fmt.Errorf("params: %v", err)
	}
	alloc := map[string]types.Resources{}
	total := 0
	for _, id := range s.taskIDs() {
		t := s.tasks[id]
		total++
		w := s.workloads[t.Workload]
		if w == nil {
			return fmt.Errorf("task %s: workload %q does not exist", id, t.Workload)
		}
		if t.Id != fmt.Sprintf("%s/%d", t.Workload, t.Index) {
			return fmt.Errorf("task %s: id, workload %s and index %d disagree", id, t.Workload, t.Index)
		}
		if err := taskSlotValid(w, t); err != nil {
			return err
		}
		if !placementConsistent(t) {
			return fmt.Errorf("task %s: state %s with node %q", id, api.TaskStateName(t.State), t.Node)
		}
		if t.Node != "" && s.nodes[t.Node] == nil {
			return fmt.Errorf("task %s: node %q does not exist", id, t.Node)
		}
		if taskActive(t) {
			a := alloc[t.Node]
			a.CpuMillis += t.Resources.CpuMillis
			a.MemoryMb += t.Resources.MemoryMb
			alloc[t.Node] = a
		}
		if t.SpecVersion > w.Version {
			return fmt.Errorf("task %s: spec_version %d above its workload's version %d", id, t.SpecVersion, w.Version)
		}
	}
	if total > api.MaxTasksTotal || len(s.nodes) > api.MaxNodes || len(s.workloads) > api.MaxWorkloads {
		return fmt.Errorf("state exceeds its limits: %d tasks, %d nodes, %d workloads", total, len(s.nodes), len(s.workloads))
	}
	for _, name := range sortedKeys(s.workloads) {
		if err := s.taskListValid(s.workloads[name]); err != nil {
			return err
		}
		for i, t := range s.workloadTasks[name] {
			if t != nil && (t.Index != uint32(i) || s.tasks[t.Id] != t) {
				return fmt.Errorf("workload %s: task index %d is not its task", name, i)
			}
		}
	}
	for _, name := range sortedKeys(s.workloadTasks) {
		if s.workloads[name] == nil || len(s.workloadTasks[name]) == 0 {
			return fmt.Errorf("the task index holds workload %s with %d tasks", name, len(s.workloadTasks[name]))
		}
	}
	if len(s.nodeList) != len(s.nodeIDs) || len(s.nodeIDs) != len(s.nodes) {
		return fmt.Errorf("node list holds %d nodes; %d ids, %d nodes", len(s.nodeList), len(s.nodeIDs), len(s.nodes))
	}
	for i, n := range s.nodeList {
		if s.nodeIDs[i] != n.Id || s.nodes[n.Id] != n || i > 0 && s.nodeIDs[i-1] >= n.Id {
			return fmt.Errorf("node list entry %d is not node %s, or out of order", i, s.nodeIDs[i])
		}
	}
	// nodeIDs is every node's id, sorted and once each.
	for _, id := range s.nodeIDs {
		if got, want := s.nodes[id].Allocated, alloc[id]; got != want {
			return fmt.Errorf("node %s: allocated %+v, but its active tasks need %+v", id, got, want)
		}
	}
	if len(s.nodeByKey) != len(s.nodes) {
		return fmt.Errorf("%d nodes share %d keys", len(s.nodes), len(s.nodeByKey))
	}
	if err := s.verifyReconcile(); err != nil {
		return err
	}
	return s.verifyHealth()
}

// Height is the height of the last block begun (BeginBlock) or loaded.
func (s *State) Height() int64 { return s.height }

// ChainID is the chain the state belongs to.
func (s *State) ChainID() string { return s.chainID }

// Params returns the current parameters.
func (s *State) Params() types.Params { return s.params }

// SetValidators records the validator set CometBFT starts with (InitChain).
// It replaces any set recorded before; zero-power entries are skipped.
func (s *State) SetValidators(vals []ValidatorUpdate) {
	for _, key := range sortedKeys(s.validators) {
		delete(s.validators, key)
		s.touch(prefixValidators + key)
	}
	for _, v := range vals {
		if v.Power <= 0 {
			continue
		}
		key := addrHex(addressOf(v.PubKey))
		s.validators[key] = &types.Validator{PubKey: clone(v.PubKey), Power: v.Power}
		s.touch(prefixValidators + key)
	}
}

// NextSequence is the sequence the account's next transaction must carry
// (0 for an account the state does not know).
func (s *State) NextSequence(addr []byte) uint64 {
	if a := s.accounts[addrHex(addr)]; a != nil {
		return a.Sequence
	}
	return 0
}

// TakeChanges returns the records changed since the last call, sorted by
// key, each key once. A nil Value means the record was deleted. The caller
// persists them atomically with the height (and app hash).
func (s *State) TakeChanges() []KV {
	keys := s.dirtyKeys
	slices.Sort(keys) // O(len) if the end-of-block check sorted it already
	out := make([]KV, 0, len(keys))
	for _, k := range keys {
		var v []byte
		if rec, ok := s.record(k); ok {
			b, err := rec.Marshal()
			if err != nil {
				panic(fmt.Sprintf("app: marshal record %q: %v", k, err))
			}
			v = append([]byte{}, b...)
		}
		out = append(out, KV{Key: []byte(k), Value: v})
	}
	s.dirty = map[string]struct{}{}
	s.removedNodes = nil
	s.dirtyKeys = keys[:0] // the buffer, for the next block
	if cap(s.dirtyKeys) > 4096 {
		s.dirtyKeys = nil // unless a big block grew it
	}
	return out
}

func (s *State) touch(key string) {
	s.touches++
	n := len(s.dirty)
	s.dirty[key] = struct{}{}
	if len(s.dirty) != n {
		s.dirtyKeys = append(s.dirtyKeys, key)
	}
}

func (s *State) touchAccount(a *types.Account)   { s.touch(prefixAccounts + addrHex(a.Address)) }
func (s *State) touchNode(n *types.Node)         { s.touch(prefixNodes + n.Id) }
func (s *State) touchWorkload(w *types.Workload) { s.touch(prefixWorkloads + w.Spec.Name) }
func (s *State) touchTask(t *types.Task)         { s.touch(prefixTasks + t.Id) }

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// removeSorted removes s from a sorted slice, if present.
func removeSorted(list []string, s string) []string {
	i := sort.SearchStrings(list, s)
	if i < len(list) && list[i] == s {
		return append(list[:i], list[i+1:]...)
	}
	return list
}

// insertSorted adds s to a sorted slice.
func insertSorted(list []string, s string) []string {
	i := sort.SearchStrings(list, s)
	list = append(list, "")
	copy(list[i+1:], list[i:])
	list[i] = s
	return list
}
