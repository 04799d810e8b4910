package app

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// BenchmarkScale measures the state machine alone at the limits (issue 12,
// goal 4): api.MaxNodes nodes (100,000) and api.MaxTasksTotal tasks
// (1,000,000: 1,000 workloads of 1,000 replicas, 10 Running tasks per
// node), against the same build at a tenth of the size (10,000 nodes,
// 100,000 tasks), on one goroutine, transactions decoded (signatures are
// abci/'s cost). Both clusters have 10 zones and 10 observers; blocks are
// 1 s apart; heartbeat_interval and report_window 10 s, suspect_after
// 30 s, down_after 60 s; every other parameter is the default.
//
// The cluster is built by transactions (RegisterNode, CreateWorkload,
// each observer's Attest of every node) except the placement: the tasks
// are placed by hand round-robin and marked Running (the scheduler would
// take 1,000,000 placements, 10,000 blocks at the largest
// max_placements_per_block), then the whole state is checked (verify,
// the invariant checker LoadState runs) and stored as records. Each case
// starts from those records through LoadState (a validator's restart:
// "loadstate-ms", and "state-heap-MiB" the live heap the loaded State
// adds), then one idle block untimed (and, for attested-churn, one
// window of churn, untimed: the timed blocks all crash and revive nodes):
//
//	attested-idle:   every node attested by the 10 observers; each
//	                 observer sends one empty Attest per window (in the
//	                 window's first block). The cost of an idle cluster.
//	attested-churn:  1 % churn: 1 % of the nodes crash in every 10-block
//	                 window (nodes/1,000 per block). Every observer
//	                 withdraws a crashed node and reports it unreachable
//	                 in the block it crashes: the reports' quorum makes it
//	                 Down and its 10 tasks are evicted (paced by zone,
//	                 ADR 0012) and placed elsewhere (max_placements_per_block).
//	                 A node revives 10 blocks after its crash (in the next
//	                 window): it sends a heartbeat, and every observer
//	                 attests it again and reports it reachable (the
//	                 unreachable verdict holds it Down until a reachable
//	                 one). So 1 % of the cluster is always down or coming
//	                 back, and 2 % of it changes per window.
//	heartbeats:      the path attestation replaced, for comparison: every
//	                 node heartbeats every 10 s with its 10 tasks (nodes/10
//	                 heartbeats per block); no Attest, no report.
//
// ns/op is per block (BeginBlock, DeliverTx, EndBlock); "commit-ns/block"
// is TakeChanges (the records to persist: marshalling the changed
// records; IAVL's share is abci/'s, BenchmarkStoreApply), "cpu-ns/block"
// the process's CPU time for the block (GC included), "tx/block" and
// "bytes/block" what the chain carries. Run with a fixed count of blocks
// (the build takes about a minute of CPU at the largest size); 10 blocks
// are one report window:
//
//	go test ./app -run '^$' -bench BenchmarkScale -benchtime 10x -timeout 60m
//
// The process's memory at each size is TestScaleRSS's (a subprocess per
// size), the store's cost TestScaleStore's.
func BenchmarkScale(b *testing.B) {
	for _, size := range scaleSizes {
		b.Run(fmt.Sprintf("nodes=%d", size.nodes), func(b *testing.B) {
			start := time.Now()
			records := buildScaleRecords(b, size)
			b.Logf("%d nodes, %d tasks: built in %s, %d records", size.nodes, size.nodes*scaleTasksPerNode, time.Since(start).Round(time.Millisecond), len(records))
			for _, mode := range []string{"attested-idle", "attested-churn", "heartbeats"} {
				b.Run(mode, func(b *testing.B) { benchScale(b, size, mode) })
			}
		})
	}
}

// scaleSize is one cluster BenchmarkScale builds.
type scaleSize struct{ nodes, workloads int }

var scaleSizes = []scaleSize{
	{nodes: 10_000, workloads: 100},
	{nodes: api.MaxNodes, workloads: api.MaxTasksTotal / api.MaxReplicasPerWorkload},
}

const (
	scaleZones        = 10
	scaleTasksPerNode = 10
	scaleObservers    = 10
	scaleBlockMs      = 1000
	scaleWindowBlocks = 10 // report_window_ms / scaleBlockMs
)

// scaleEnv is one cluster of a BenchmarkScale case.
type scaleEnv struct {
	s       *State
	size    scaleSize
	opsPub  []byte
	obsPubs [][]byte
	timeMs  int64
}

func scaleNodeID(i int) string { return fmt.Sprintf("n%06d", i) }

func scaleParams() types.Params {
	p := api.DefaultParams()
	p.HeartbeatIntervalMs = 10_000
	p.SuspectAfterMs = 30_000
	p.DownAfterMs = 60_000
	p.ReportWindowMs = scaleWindowBlocks * scaleBlockMs
	p.FenceTimeoutMs = 0 // replacements in the evicting block, as the published figures measured (ADR 0020)
	return p
}

// deliver applies one transaction of signer pub in the open block.
func (e *scaleEnv) deliver(tb testing.TB, pub []byte, msg *types.TxBody) {
	addr := crypto.Address(pub)
	msg.ChainId = testChainID
	msg.Sequence = e.s.NextSequence(addr)
	if res := e.s.DeliverTx(&api.Tx{PubKey: pub, Address: addr, Body: *msg}); res.Code != 0 {
		tb.Fatalf("%s: code %d: %s", api.MsgName(msg), res.Code, res.Log)
	}
}

func (e *scaleEnv) beginBlock() {
	e.timeMs += scaleBlockMs
	e.s.BeginBlock(Block{Height: e.s.height + 1, TimeMs: e.timeMs, Hash: []byte(fmt.Sprintf("block-%d", e.s.height+1))}, nil)
}

func (e *scaleEnv) endBlock() []KV {
	e.s.EndBlock()
	return e.s.TakeChanges()
}

func (e *scaleEnv) window() uint64 { return uint64(e.timeMs / e.s.params.ReportWindowMs) }

// attestEmpty has every observer that has not attested in the current
// window send an empty Attest.
func (e *scaleEnv) attestEmpty(tb testing.TB) {
	w := e.window()
	for _, pub := range e.obsPubs {
		if e.s.accounts[addrHex(crypto.Address(pub))].AttestWindow != w {
			e.deliver(tb, pub, &types.TxBody{Msg: &types.TxBody_Attest{Attest: &types.Attest{Window: w}}})
		}
	}
}

// buildScale builds the cluster of size through transactions, places its
// tasks by hand, has every observer attest every node, and checks the
// state. The records of the result are in store.
func buildScale(tb testing.TB, size scaleSize) (*scaleEnv, map[string][]byte) {
	p := scaleParams()
	e := &scaleEnv{size: size, opsPub: benchKey("ops"), timeMs: 10_000_000}
	g := &api.Genesis{Params: p, Accounts: []types.GenesisAccount{{Address: crypto.Address(e.opsPub), Roles: []types.Role{types.ROLE_OPERATOR}}}}
	for o := 0; o < scaleObservers; o++ {
		pub := benchKey(fmt.Sprintf("obs%d", o))
		e.obsPubs = append(e.obsPubs, pub)
		g.Accounts = append(g.Accounts, types.GenesisAccount{Address: crypto.Address(pub), Roles: []types.Role{types.ROLE_OBSERVER}})
	}
	s, err := NewState(testChainID, g)
	if err != nil {
		tb.Fatal(err)
	}
	e.s = s
	store := map[string][]byte{}
	persist := func(ch []KV) {
		for _, kv := range ch {
			if kv.Value == nil {
				delete(store, string(kv.Key))
			} else {
				store[string(kv.Key)] = kv.Value
			}
		}
	}
	persist(s.TakeChanges())

	e.beginBlock()
	for i := 0; i < size.nodes; i++ {
		e.deliver(tb, e.opsPub, &types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
			NodeId: scaleNodeID(i), PubKey: benchKey(fmt.Sprintf("n%d", i)), Zone: fmt.Sprintf("z%d", i%scaleZones),
			Capacity: types.Resources{CpuMillis: 16_000, MemoryMb: 65_536}}}})
	}
	for w := 0; w < size.workloads; w++ {
		e.deliver(tb, e.opsPub, &types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: types.WorkloadSpec{
			Name: fmt.Sprintf("w%04d", w), Command: "run", Replicas: api.MaxReplicasPerWorkload,
			Resources: types.Resources{CpuMillis: 100, MemoryMb: 256}}}}})
	}
	// By hand: task k of the whole cluster on node k mod nodes, Running.
	k := 0
	for w := 0; w < size.workloads; w++ {
		for _, t := range append([]*types.Task(nil), s.tasksOf(fmt.Sprintf("w%04d", w))...) {
			s.placeTask(t, s.nodes[scaleNodeID(k%size.nodes)])
			t.State = types.TASK_RUNNING
			k++
		}
	}
	persist(e.endBlock())

	// Every observer attests every node, in Attests of MaxAttestChanges.
	e.beginBlock()
	for _, pub := range e.obsPubs {
		for start := 0; start < size.nodes; start += api.MaxAttestChanges {
			m := &types.Attest{Window: e.window()}
			for i := start; i < min(start+api.MaxAttestChanges, size.nodes); i++ {
				m.Up = append(m.Up, scaleNodeID(i))
			}
			e.deliver(tb, pub, &types.TxBody{Msg: &types.TxBody_Attest{Attest: m}})
		}
	}
	persist(e.endBlock())
	// Two windows of idle blocks: the steady state.
	for n := 0; n < 2*scaleWindowBlocks; n++ {
		e.beginBlock()
		e.attestEmpty(tb)
		persist(e.endBlock())
	}
	if err := s.verify(); err != nil {
		tb.Fatal(err)
	}
	ready, attested := 0, 0
	for _, n := range s.nodeList {
		if n.State == types.NODE_READY {
			ready++
		}
		if n.Attested {
			attested++
		}
	}
	if ready != size.nodes || attested != size.nodes || len(s.tasks) != size.nodes*scaleTasksPerNode || s.pendingCount != 0 {
		tb.Fatalf("built %d nodes (%d Ready, %d attested), %d tasks (%d pending); want %d nodes all Ready and attested, %d tasks none pending",
			len(s.nodes), ready, attested, len(s.tasks), s.pendingCount, size.nodes, size.nodes*scaleTasksPerNode)
	}
	return e, store
}

// scaleRecords caches each size's records: every case of the size loads
// them.
var scaleRecords = map[int][]KV{}

func buildScaleRecords(tb testing.TB, size scaleSize) []KV {
	if r, ok := scaleRecords[size.nodes]; ok {
		return r
	}
	_, store := buildScale(tb, size)
	records := make([]KV, 0, len(store))
	for _, k := range sortedKeys(store) {
		records = append(records, KV{Key: []byte(k), Value: store[k]})
	}
	scaleRecords[size.nodes] = records
	return records
}

// loadScale rebuilds a case's cluster from the records.
func loadScale(tb testing.TB, size scaleSize, records []KV) *scaleEnv {
	var bi types.BlockInfo
	var height int64
	for _, kv := range records {
		if string(kv.Key) == keyBlockInfo {
			if err := bi.Unmarshal(kv.Value); err != nil {
				tb.Fatal(err)
			}
			height = bi.Height
		}
	}
	s, err := LoadState(testChainID, height, records)
	if err != nil {
		tb.Fatal(err)
	}
	e := &scaleEnv{s: s, size: size, opsPub: benchKey("ops"), timeMs: bi.TimeMs}
	for o := 0; o < scaleObservers; o++ {
		e.obsPubs = append(e.obsPubs, benchKey(fmt.Sprintf("obs%d", o)))
	}
	return e
}

// ScaleChain is a BenchmarkScale cluster advancing block by block
// (exported for the store's benchmark in package app_test).
type ScaleChain struct {
	e *scaleEnv
	// loadNs is the LoadState that made it; heapBytes the live heap it
	// added (after a full GC), the loaded State's memory.
	loadNs, heapBytes int64
	pubs              [][]byte // the nodes' keys
	crashedAt         [][]int  // by block of attested-churn: the nodes that crashed in it
}

// NewScaleChain loads BenchmarkScale's cluster of scaleSizes[i] from its
// records (built once per size) and applies one idle block: the first
// block after a load re-counts every node's attestations (attestPass has
// no cached observer set). It returns the records too.
func NewScaleChain(tb testing.TB, i int) (*ScaleChain, []KV) {
	size := scaleSizes[i]
	records := buildScaleRecords(tb, size)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapAlloc
	start := time.Now()
	c := &ScaleChain{e: loadScale(tb, size, records), pubs: make([][]byte, size.nodes)}
	c.loadNs = time.Since(start).Nanoseconds()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	c.heapBytes = int64(ms.HeapAlloc) - int64(heap0)
	for i := range c.pubs {
		c.pubs[i] = benchKey(fmt.Sprintf("n%d", i))
	}
	c.e.beginBlock()
	c.e.attestEmpty(tb)
	c.e.endBlock()
	return c, records
}

// txs builds the next block's transactions in mode (BenchmarkScale's
// attested-idle, attested-churn or heartbeats) and advances the block
// time.
func (c *ScaleChain) txs(mode string) []*api.Tx {
	e, s, nodes := c.e, c.e.s, c.e.size.nodes
	e.timeMs += scaleBlockMs
	h := s.height + 1
	w := e.window()
	var txs []*api.Tx
	add := func(pub []byte, seq *uint64, msg *types.TxBody) {
		msg.ChainId, msg.Sequence = testChainID, *seq
		*seq++
		txs = append(txs, &api.Tx{PubKey: pub, Address: crypto.Address(pub), Body: *msg})
	}
	switch mode {
	case "heartbeats":
		for i := int(h % scaleWindowBlocks); i < nodes; i += scaleWindowBlocks {
			id := scaleNodeID(i)
			hb := &types.Heartbeat{NodeId: id, Seq: s.nodes[id].LastHeartbeatSeq + 1, Usage: types.Resources{CpuMillis: 500, MemoryMb: 1024}}
			for _, t := range s.tasksOn(id) {
				if taskActive(t) {
					hb.Tasks = append(hb.Tasks, types.TaskReport{TaskId: t.Id, Generation: t.Generation, State: types.TASK_RUNNING})
				}
			}
			seq := s.NextSequence(crypto.Address(c.pubs[i]))
			add(c.pubs[i], &seq, &types.TxBody{Msg: &types.TxBody_Heartbeat{Heartbeat: hb}})
		}
	case "attested-idle", "attested-churn":
		var down, up []string
		if mode == "attested-churn" {
			n := len(c.crashedAt)
			perBlock := nodes / 1000 // 1 % of the nodes per 10-block window
			var crashed []int
			for k := 0; k < perBlock; k++ {
				i := (n*perBlock + k) * 7919 % nodes
				crashed = append(crashed, i)
				down = append(down, scaleNodeID(i))
			}
			down = sortedUnique(down)
			if n >= scaleWindowBlocks {
				for _, i := range c.crashedAt[n-scaleWindowBlocks] {
					up = append(up, scaleNodeID(i))
					seq := s.NextSequence(crypto.Address(c.pubs[i]))
					add(c.pubs[i], &seq, &types.TxBody{Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{
						NodeId: scaleNodeID(i), Seq: s.nodes[scaleNodeID(i)].LastHeartbeatSeq + 1}}})
				}
				up = sortedUnique(up)
			}
			c.crashedAt = append(c.crashedAt, crashed)
		}
		for _, pub := range e.obsPubs {
			seq := s.NextSequence(crypto.Address(pub))
			if len(down)+len(up) > 0 || s.accounts[addrHex(crypto.Address(pub))].AttestWindow != w {
				add(pub, &seq, &types.TxBody{Msg: &types.TxBody_Attest{Attest: &types.Attest{Window: w, Up: up, Withdraw: down}}})
			}
			if len(down)+len(up) > 0 {
				// A report of what attestations do not say: the crashed
				// nodes unreachable, the revived ones (still Down)
				// reachable.
				rep := &types.HealthReport{Window: w}
				for _, id := range sortedUnique(append(append([]string(nil), down...), up...)) {
					_, revived := slices.BinarySearch(up, id)
					rep.Observations = append(rep.Observations, types.Observation{NodeId: id, Reachable: revived, RttMs: 3})
				}
				add(pub, &seq, &types.TxBody{Msg: &types.TxBody_HealthReport{HealthReport: rep}})
			}
		}
	default:
		panic("scale: unknown mode " + mode)
	}
	return txs
}

// apply applies one block of txs (BeginBlock, DeliverTx, EndBlock).
func (c *ScaleChain) apply(tb testing.TB, txs []*api.Tx) {
	s := c.e.s
	h := s.height + 1
	s.BeginBlock(Block{Height: h, TimeMs: c.e.timeMs, Hash: []byte(fmt.Sprintf("block-%d", h))}, nil)
	for _, tx := range txs {
		if res := s.DeliverTx(tx); res.Code != 0 {
			tb.Fatalf("%s: code %d: %s", api.MsgName(&tx.Body), res.Code, res.Log)
		}
	}
	s.EndBlock()
}

// Block applies the next block of mode and returns its changes, as the
// store receives them.
func (c *ScaleChain) Block(tb testing.TB, mode string) []KV {
	c.apply(tb, c.txs(mode))
	return c.e.s.TakeChanges()
}

func benchScale(b *testing.B, size scaleSize, mode string) {
	c, _ := NewScaleChain(b, slices.Index(scaleSizes, size))
	s := c.e.s
	if mode == "attested-churn" {
		// One window of churn, untimed: from then on every block has its
		// crashes and its revivals (the steady state).
		for n := 0; n < scaleWindowBlocks; n++ {
			c.Block(b, mode)
		}
	}
	var txCount, txBytes, commitNs, cpuNs int64
	evicted, placed := 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		txs := c.txs(mode)
		for _, tx := range txs {
			txCount++
			txBytes += int64(tx.Body.Size()) + 32 + 64 // body, key, signature
		}
		cpu0 := cpuTimeNs()
		b.StartTimer()
		c.apply(b, txs)
		b.StopTimer()
		cpuNs += cpuTimeNs() - cpu0
		p := s.LastPass()
		evicted += p.Evicted
		placed += p.Placed
		start := time.Now()
		s.TakeChanges()
		commitNs += time.Since(start).Nanoseconds()
	}
	b.StopTimer()
	b.ReportMetric(float64(txCount)/float64(b.N), "tx/block")
	b.ReportMetric(float64(txBytes)/float64(b.N), "bytes/block")
	b.ReportMetric(float64(commitNs)/float64(b.N), "commit-ns/block")
	b.ReportMetric(float64(cpuNs)/float64(b.N), "cpu-ns/block")
	b.ReportMetric(float64(evicted)/float64(b.N), "evictions/block")
	b.ReportMetric(float64(placed)/float64(b.N), "placements/block")
	var sum api.SummaryView
	mustUnmarshalB(b, s, "/summary", &sum)
	b.ReportMetric(float64(sum.NodesByState["Down"]), "down-nodes")
	b.ReportMetric(float64(c.loadNs)/1e6, "loadstate-ms")
	b.ReportMetric(float64(c.heapBytes)/(1<<20), "state-heap-MiB")
	if mode == "attested-idle" && (sum.NodesByState["Ready"] != size.nodes || txCount > int64(b.N)*scaleObservers) {
		b.Fatalf("idle: %v nodes by state, %d transactions in %d blocks; want all Ready, at most one Attest per observer per block", sum.NodesByState, txCount, b.N)
	}
}

// TestScaleRSS measures the memory of BenchmarkScale's clusters, each
// built in a subprocess of this test binary (so that one size's garbage
// does not count in the next's): the peak resident set of the build
// (VmHWM), and after a LoadState of the records and a full GC, the
// resident set (VmRSS) and the live heap. It runs only when
// PHALANX_SCALE_RSS is set (it takes minutes and gigabytes):
//
//	PHALANX_SCALE_RSS=1 go test ./app -run TestScaleRSS -v -timeout 30m
func TestScaleRSS(t *testing.T) {
	if size := os.Getenv("PHALANX_SCALE_RSS_CHILD"); size != "" {
		scaleRSSChild(t, size)
		return
	}
	if os.Getenv("PHALANX_SCALE_RSS") == "" {
		t.Skip("set PHALANX_SCALE_RSS=1 to measure the memory of BenchmarkScale's clusters")
	}
	for i, size := range scaleSizes {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestScaleRSS$", "-test.v", "-test.timeout", "30m")
		cmd.Env = append(os.Environ(), "PHALANX_SCALE_RSS_CHILD="+strconv.Itoa(i))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%d nodes: %v\n%s", size.nodes, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "scale-rss:") {
				t.Log(strings.TrimSpace(line[strings.Index(line, "scale-rss:"):]))
			}
		}
	}
}

func scaleRSSChild(t *testing.T, arg string) {
	i, err := strconv.Atoi(arg)
	if err != nil || i < 0 || i >= len(scaleSizes) {
		t.Fatalf("PHALANX_SCALE_RSS_CHILD=%q: want 0..%d", arg, len(scaleSizes)-1)
	}
	size := scaleSizes[i]
	start := time.Now()
	records := buildScaleRecords(t, size)
	built := time.Since(start)
	hwm := procStatusKB(t, "VmHWM")
	recordBytes := 0
	for _, kv := range records {
		recordBytes += len(kv.Key) + len(kv.Value)
	}
	start = time.Now()
	e := loadScale(t, size, records)
	loaded := time.Since(start)
	delete(scaleRecords, size.nodes)
	records = nil
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("scale-rss: %d nodes, %d tasks: build %s (peak VmHWM %d MiB); %d MB of records; LoadState %s; then VmRSS %d MiB, live heap %d MiB",
		size.nodes, len(e.s.tasks), built.Round(time.Millisecond), hwm/1024, recordBytes/1_000_000, loaded.Round(time.Millisecond),
		procStatusKB(t, "VmRSS")/1024, ms.HeapAlloc>>20)
	runtime.KeepAlive(e)
}

// procStatusKB reads a "Name: N kB" line of /proc/self/status.
func procStatusKB(t *testing.T, name string) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("/proc/self/status %s: %v", name, err)
			}
			return v
		}
	}
	t.Fatalf("/proc/self/status has no %s", name)
	return 0
}

// TestScaleSmall runs BenchmarkScale's build at 100 nodes and 1,000 tasks
// and checks LoadState against the order of the records: sorted (as a
// store hands them over, when LoadState sorts nothing), shuffled (seeded,
// seed printed) and with a record repeated, the loaded states are the
// same, and one block of crashes and reports changes the same records in
// each.
func TestScaleSmall(t *testing.T) {
	size := scaleSize{nodes: 100, workloads: 1}
	_, store := buildScale(t, size)
	sorted := make([]KV, 0, len(store))
	for _, k := range sortedKeys(store) {
		sorted = append(sorted, KV{Key: []byte(k), Value: store[k]})
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	shuffled := append([]KV(nil), sorted...)
	rand.New(rand.NewSource(seed)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	repeated := append(append([]KV(nil), sorted...), sorted[len(sorted)/2])

	var want []KV
	for _, c := range []struct {
		name    string
		records []KV
	}{{"sorted", sorted}, {"shuffled", shuffled}, {"repeated", repeated}} {
		name := c.name
		e := loadScale(t, size, c.records)
		if !slices.IsSorted(e.s.nodeIDs) || len(e.s.nodeIDs) != size.nodes || len(e.s.tasks) != size.nodes*scaleTasksPerNode {
			t.Fatalf("%s: %d node ids (sorted %t), %d tasks", name, len(e.s.nodeIDs), slices.IsSorted(e.s.nodeIDs), len(e.s.tasks))
		}
		e.beginBlock()
		down := []string{scaleNodeID(3), scaleNodeID(42)}
		for _, pub := range e.obsPubs {
			e.deliver(t, pub, &types.TxBody{Msg: &types.TxBody_Attest{Attest: &types.Attest{Window: e.window(), Withdraw: down}}})
			rep := &types.HealthReport{Window: e.window()}
			for _, id := range down {
				rep.Observations = append(rep.Observations, types.Observation{NodeId: id})
			}
			e.deliver(t, pub, &types.TxBody{Msg: &types.TxBody_HealthReport{HealthReport: rep}})
		}
		got := e.endBlock()
		if e.s.nodes[down[0]].State != types.NODE_DOWN || e.s.LastPass().Evicted == 0 {
			t.Fatalf("%s: node %s is %s after a quorum reported it unreachable; %d tasks evicted", name, down[0],
				api.NodeStateName(e.s.nodes[down[0]].State), e.s.LastPass().Evicted)
		}
		if want == nil {
			want = got
			continue
		}
		if len(got) != len(want) {
			t.Fatalf("%s: the block changed %d records; another order of the same records, %d", name, len(got), len(want))
		}
		for i := range got {
			if string(got[i].Key) != string(want[i].Key) || string(got[i].Value) != string(want[i].Value) {
				t.Fatalf("%s: record %d (%s) differs from another order's (%s)", name, i, got[i].Key, want[i].Key)
			}
		}
	}
}

// ScaleSizes is the number of BenchmarkScale's cluster sizes (for
// NewScaleChain).
func ScaleSizes() int { return len(scaleSizes) }

// ScaleSizeNodes is the number of nodes of scaleSizes[i].
func ScaleSizeNodes(i int) int { return scaleSizes[i].nodes }

func (c *ScaleChain) String() string {
	return fmt.Sprintf("%d nodes, %d tasks", c.e.size.nodes, len(c.e.s.tasks))
}
