package fleet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phalanx-bft/phalanx/agent/internal/ping"
	"github.com/phalanx-bft/phalanx/agent/internal/rpcpool"
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// Sentinel errors of New and Run; returned errors wrap them.
var (
	// ErrRegistrationClosed: the chain does not let nodes register
	// themselves (params.open_registration is false).
	ErrRegistrationClosed = errors.New("open registration is off")
	// ErrWrongKey: a node id the fleet would play is registered with a
	// key the seed does not derive.
	ErrWrongKey = errors.New("node registered with another key")
)

// Timing of the fleet's own loops.
const (
	// scheduleTick is how often due heartbeats, crashes and revivals are
	// looked for: the heartbeat jitter's resolution.
	scheduleTick = 50 * time.Millisecond
	// registerRetry is how long a registration is given to show in the
	// node list before it is sent again (a refused one changes nothing).
	registerRetry = 10 * time.Second
	// listTimeout bounds one read of the whole node (or task) list.
	listTimeout = 30 * time.Second
	// maxFalseNodesListed bounds Summary.FalseNodes.
	maxFalseNodesListed = 20
	// The UDP socket that answers every node's pings: its receive buffer
	// (4 MiB, about 5,000 pings; Linux caps it at net.core.rmem_max) and
	// the goroutines reading it. Four observers sweeping 10,000 nodes
	// each send it 40,000 pings a window.
	udpReadBuffer = 4 << 20
	udpReaders    = 2
)

// Node states as the chain names them.
var (
	stateReady   = api.NodeStateName(types.NODE_READY)
	stateSuspect = api.NodeStateName(types.NODE_SUSPECT)
	stateDown    = api.NodeStateName(types.NODE_DOWN)
	taskRunning  = api.TaskStateName(types.TASK_RUNNING)
	taskAssigned = api.TaskStateName(types.TASK_ASSIGNED)
)

type taskRef struct {
	generation uint64
	state      string // the chain's
}

// node is one simulated node. Fields below the line are guarded by
// Fleet.mu.
type node struct {
	index    int
	id       string
	key      ed25519.PrivateKey
	addr     string // account, upper-case hex
	endpoint string
	sub      *rpcpool.Submitter

	registered  bool      // seen in the node list (or adopted)
	regSent     time.Time // last registration sent; zero: none pending
	regPrimed   bool
	regAdmitted bool   // the pending registration was admitted: heartbeat from now on
	hbSeq       uint64 // next heartbeat seq
	attested    bool
	state       string // last state seen, at stateHeight
	stateHeight int64
	crashed     bool
	crashAt     time.Time
	detected    bool
	aliveSince  time.Time
	graceUntil  time.Time // verdicts before this are not counted false (after a revival)
	due         time.Time // next heartbeat, or next look at whether one is needed
	queued      bool      // a job for it is queued or in flight
	tasks       map[string]taskRef
	change      bool // a placed task's Running is not on the chain yet
	// stopped: placements taken off the node (task id -> generation),
	// which a simulated agent stops at once and reports stopped in its
	// next heartbeat (stop before start, ADR 0020).
	stopped map[string]uint64
}

// params are the chain parameters the fleet follows.
type params struct {
	interval, downAfter, reportWindow time.Duration
	maxSelfRegs                       int
	// attesting: params.attested_liveness; off, no node is ever attested,
	// so every node heartbeats and MaxUnattested does not hold
	// registrations back.
	attesting bool
}

type jobKind int

const (
	jobRegister jobKind = iota
	jobHeartbeat
)

type job struct {
	n    *node
	kind jobKind
}

// Fleet plays Config.Nodes worker nodes against a chain. Run it once.
type Fleet struct {
	cfg    Config
	pool   *rpcpool.Pool
	nodes  []*node
	byID   map[string]*node
	jobs   chan job
	logf   func(format string, args ...any)
	ln     net.Listener
	udp    net.PacketConn // the same port: the observers' UDP probes
	port   int
	rng    *rand.Rand // the crash schedule's; used by Run's loop only
	victim []int      // crash candidates, in a seeded order
	chain  string

	probes, refused atomic.Int64

	mu         sync.Mutex
	p          params
	start      time.Time
	rampDoneAt time.Time
	crashTimes []time.Time // planned, ascending; consumed as they pass
	nextVictim int
	counts     counts
	detections []time.Duration
	falseNodes []string
	listHeight int64
	listErrors int
	lastList   time.Time
}

type counts struct {
	registerSent, heartbeatSent, refused int64
	heartbeatsSkipped                    int64
	adopted, crashed, revived            int
	suspect, down                        int // every transition seen
	falseSuspect, falseDown              int
	eventsSeen, pollsChanged             int
}

// New checks cfg, binds the listener and derives the nodes' keys; nothing
// is sent to the chain before Run.
func New(cfg Config) (*Fleet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fillDefaults()
	pool, err := rpcpool.New(cfg.Validators, client.Config{MaxIdleConnsPerHost: idleConnsPerValidator}, cfg.Logf)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("fleet listener: %w", err)
	}
	udp, err := ping.Listen(ln.Addr(), udpReadBuffer)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("fleet listener: UDP probes: %w", err)
	}
	f := &Fleet{
		udp:  udp,
		cfg:  cfg,
		pool: pool,
		byID: make(map[string]*node, cfg.Nodes),
		jobs: make(chan job, cfg.Nodes),
		logf: cfg.Logf,
		ln:   ln,
		port: ln.Addr().(*net.TCPAddr).Port,
		rng:  rand.New(rand.NewPCG(cfg.Seed, 0x666c656574)), // "fleet"
	}
	f.nodes = make([]*node, cfg.Nodes)
	for i := range cfg.Nodes {
		k := KeyOf(cfg.Seed, i)
		n := &node{index: i, id: NodeID(cfg.Prefix, i), key: k, addr: crypto.AddressHex(k.Public().(ed25519.PublicKey)),
			endpoint: EndpointOf(i, f.port), sub: pool.NewSubmitter(k), tasks: map[string]taskRef{}, hbSeq: 1}
		f.nodes[i] = n
		f.byID[n.id] = n
	}
	f.victim = f.rng.Perm(cfg.Nodes)
	return f, nil
}

// Port is the listener's port: node i's endpoint is EndpointOf(i, Port()).
func (f *Fleet) Port() int { return f.port }

// Run plays the fleet for Config.Duration (or until ctx ends) and returns
// its summary. It returns early with an error only when the fleet cannot
// play: registration is closed, or a node id is taken by another key.
func (f *Fleet) Run(ctx context.Context) (*Summary, error) {
	srv := &http.Server{Handler: f.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(f.ln) }()
	for range udpReaders {
		go func() { _ = ping.Serve(f.udp, f.pong) }()
	}
	defer f.udp.Close()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := f.readParams(ctx); err != nil {
		return nil, err
	}
	if err := f.adopt(ctx); err != nil {
		return nil, err
	}
	h0, _ := f.height(ctx)
	f.mu.Lock()
	f.start = time.Now()
	for _, n := range f.nodes {
		n.aliveSince = f.start
	}
	f.mu.Unlock()
	if rmem, ok := rmemMax(); ok && rmem < udpReadBuffer && len(f.nodes) > 1000 {
		f.logf("fleet: net.core.rmem_max is %d bytes: the UDP socket gets that, not %d; with thousands of nodes the observers' pings overflow it (netstat -su: receive buffer errors) and are retried over HTTP; raise it with: sysctl -w net.core.rmem_max=%d",
			rmem, udpReadBuffer, udpReadBuffer)
	}
	f.logf("fleet: %d nodes (%s…%s), endpoints 127.A.B.C:%d; heartbeat interval %s, down_after %s, report window %s; %d registered already",
		len(f.nodes), f.nodes[0].id, f.nodes[len(f.nodes)-1].id, f.port, f.p.interval, f.p.downAfter, f.p.reportWindow, f.counts.adopted)

	runCtx, cancel := context.WithTimeout(ctx, f.cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for range f.cfg.Senders {
		wg.Go(func() { f.sender(runCtx) })
	}
	wg.Go(func() { f.watch(runCtx) })
	wg.Go(func() { f.listLoop(runCtx) })
	wg.Go(func() { f.progressLoop(runCtx) })
	f.scheduleLoop(runCtx)
	wg.Wait()
	end := time.Now()
	h1, _ := f.height(context.Background())
	chainTx, chainSecs := f.chainTxs(context.Background(), h0, h1)
	return f.summary(end, chainTx, chainSecs), nil
}

// readParams reads the parameters the fleet follows (unproven: see
// docs/fleet.md, "What the fleet trusts").
func (f *Fleet) readParams(ctx context.Context) error {
	var pv api.ParamsView
	err := f.pool.Do(ctx, f.cfg.Timeout, func(ctx context.Context, c *client.Client) error {
		if _, err := c.Query(ctx, "/params", &pv); err != nil {
			return err
		}
		id, err := c.ChainID(ctx)
		f.chain = id
		return err
	})
	if err != nil {
		return fmt.Errorf("reading the chain's params: %w", err)
	}
	if !pv.OpenRegistration {
		return fmt.Errorf("%w: the fleet's nodes register themselves; make the network with `phalanxd testnet init --fleet`, or run `phalanxd tx params update --open-registration=true`", ErrRegistrationClosed)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.p = params{
		interval:     time.Duration(pv.HeartbeatIntervalMs) * time.Millisecond,
		downAfter:    time.Duration(pv.DownAfterMs) * time.Millisecond,
		reportWindow: time.Duration(pv.ReportWindowMs) * time.Millisecond,
		maxSelfRegs:  int(pv.MaxSelfRegistrationsPerBlock),
		attesting:    pv.AttestedLiveness,
	}
	if !f.p.attesting {
		f.logf("fleet: params.attested_liveness is off: every node heartbeats every interval, and --max-unattested does not pace registrations")
	}
	if f.p.interval <= 0 {
		f.p.interval = 2 * time.Second
	}
	if f.p.maxSelfRegs < 1 {
		f.p.maxSelfRegs = 1
	}
	return nil
}

// downFor is how long a crashed node stays crashed at least.
func (f *Fleet) downFor() time.Duration {
	if f.cfg.DownFor > 0 {
		return f.cfg.DownFor
	}
	return f.p.downAfter + 2*f.p.reportWindow
}

// adopt reads the node list once: the fleet's nodes registered already
// (an earlier run with the same seed) are played as they are.
func (f *Fleet) adopt(ctx context.Context) error {
	list, err := f.readNodes(ctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, nv := range list.Nodes {
		n := f.byID[nv.ID]
		if n == nil {
			continue
		}
		if nv.Address != n.addr {
			return fmt.Errorf("%w: node %s is registered with the key of account %s, not the one seed %d derives (%s); pass another --seed or --prefix",
				ErrWrongKey, nv.ID, nv.Address, f.cfg.Seed, n.addr)
		}
		n.registered = true
		n.hbSeq = nv.LastHeartbeatSeq + 1
		n.state, n.stateHeight, n.attested = nv.State, list.Height, nv.Attested
		f.counts.adopted++
	}
	return nil
}

func (f *Fleet) readNodes(ctx context.Context) (api.NodesAnswer, error) {
	var list api.NodesAnswer
	err := f.pool.Do(ctx, listTimeout, func(ctx context.Context, c *client.Client) error {
		var err error
		list, err = c.Nodes(ctx, nil)
		return err
	})
	return list, err
}

func (f *Fleet) height(ctx context.Context) (int64, error) {
	var h int64
	err := f.pool.Do(ctx, f.cfg.Timeout, func(ctx context.Context, c *client.Client) error {
		var err error
		h, err = c.LatestHeight(ctx)
		return err
	})
	return h, err
}

// listLoop reads the node list (one paged read, not one per node) every
// heartbeat interval, and the task list when a fleet node has tasks: who
// is registered and attested, each node's state and last heartbeat seq,
// and the tasks placed on the fleet.
func (f *Fleet) listLoop(ctx context.Context) {
	for {
		f.readList(ctx)
		f.mu.Lock()
		next := f.p.interval
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

func (f *Fleet) readList(ctx context.Context) {
	list, err := f.readNodes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.mu.Lock()
			f.listErrors++
			f.mu.Unlock()
			f.logf("fleet: reading the node list: %v", err)
		}
		return
	}
	withTasks := false
	for _, nv := range list.Nodes {
		if len(nv.Tasks) > 0 && f.byID[nv.ID] != nil {
			withTasks = true
			break
		}
	}
	placed := map[string]map[string]taskRef{}
	if withTasks {
		var tasks api.TasksAnswer
		err := f.pool.Do(ctx, listTimeout, func(ctx context.Context, c *client.Client) error {
			var err error
			tasks, err = c.Tasks(ctx, nil)
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				f.logf("fleet: reading the task list: %v", err)
			}
			withTasks = false
		}
		for _, t := range tasks.Tasks {
			if f.byID[t.Node] == nil || (t.State != taskRunning && t.State != taskAssigned) {
				continue
			}
			if placed[t.Node] == nil {
				placed[t.Node] = map[string]taskRef{}
			}
			placed[t.Node][t.ID] = taskRef{generation: t.Generation, state: t.State}
		}
	}
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listHeight, f.lastList = list.Height, now
	for _, nv := range list.Nodes {
		n := f.byID[nv.ID]
		if n == nil || nv.Address != n.addr {
			continue
		}
		if !n.registered {
			n.registered, n.regSent = true, time.Time{}
			if !n.regAdmitted { // registered by an earlier run, or a retry
				n.due = now.Add(f.jittered(f.p.interval))
			}
		}
		n.hbSeq = max(n.hbSeq, nv.LastHeartbeatSeq+1)
		n.attested = nv.Attested
		if withTasks || len(nv.Tasks) == 0 {
			prev := n.tasks
			n.tasks = placed[nv.ID]
			if n.tasks == nil {
				n.tasks = map[string]taskRef{}
			}
			n.change = false
			for _, id := range sortedKeys(prev) {
				if cur, ok := n.tasks[id]; !ok || cur.generation != prev[id].generation {
					if n.stopped == nil {
						n.stopped = map[string]uint64{}
					}
					n.stopped[id] = prev[id].generation
					n.change = true
				}
			}
			for _, t := range n.tasks {
				if t.state != taskRunning {
					n.change = true
				}
			}
			if n.change && !n.crashed && !n.queued {
				n.due = now // a change goes at once, attested or not
			}
		}
		if f.sawState(n, nv.State, list.Height, now) {
			f.counts.pollsChanged++
		}
	}
}

// sawState records that node n was in state at height (seen at time at):
// a new Suspect or Down is a detection if the fleet crashed the node, a
// false verdict if it kept it alive. It reports whether the state changed.
// f.mu is held.
func (f *Fleet) sawState(n *node, state string, height int64, at time.Time) bool {
	if height < n.stateHeight || state == n.state {
		return false
	}
	n.state, n.stateHeight = state, height
	if state != stateSuspect && state != stateDown {
		return true
	}
	if state == stateSuspect {
		f.counts.suspect++
	} else {
		f.counts.down++
	}
	switch {
	case n.crashed:
		if state == stateDown && !n.detected {
			n.detected = true
			f.detections = append(f.detections, at.Sub(n.crashAt))
		}
	case at.Before(n.graceUntil):
		// The verdict of a crash it was revived from, landing late.
	default:
		if state == stateSuspect {
			f.counts.falseSuspect++
		} else {
			f.counts.falseDown++
		}
		if len(f.falseNodes) < maxFalseNodesListed {
			f.falseNodes = append(f.falseNodes, fmt.Sprintf("%s %s at %s", n.id, state, at.Sub(f.start).Round(100*time.Millisecond)))
		}
		f.logf("fleet: FALSE VERDICT: %s went %s while alive (attested=%t, next heartbeat seq %d)", n.id, state, n.attested, n.hbSeq)
	}
	return true
}

// watch follows the chain's node_status events: each transition at the
// time its block's events arrive (one block's resolution). The node list
// read each interval backs it up.
func (f *Fleet) watch(ctx context.Context) {
	err := client.Watch(ctx, client.WatchOptions{Nodes: f.cfg.Validators, Logf: f.logf}, func(e client.WatchEvent) error {
		if e.Type != api.EventNodeStatus {
			return nil
		}
		n := f.byID[e.Attr("node")]
		if n == nil {
			return nil
		}
		now := time.Now()
		f.mu.Lock()
		f.counts.eventsSeen++
		f.sawState(n, e.Attr("to"), e.Height, now)
		f.mu.Unlock()
		return nil
	})
	if err != nil && ctx.Err() == nil {
		f.logf("fleet: event subscription ended: %v; the node list read every interval goes on", err)
	}
}

// jittered is d spread by ± JitterPercent. f.mu is held.
func (f *Fleet) jittered(d time.Duration) time.Duration {
	j := int64(d) * int64(f.cfg.JitterPercent) / 100
	if j <= 0 {
		return d
	}
	return d - time.Duration(j) + time.Duration(f.rng.Int64N(2*j+1))
}

// scheduleLoop queues due registrations and heartbeats, crashes and
// revives nodes, until ctx ends.
func (f *Fleet) scheduleLoop(ctx context.Context) {
	t := time.NewTicker(scheduleTick)
	defer t.Stop()
	var lastReg time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f.mu.Lock()
			if now.Sub(lastReg) >= time.Second {
				// At most RegisterRate and
				// params.max_self_registrations_per_block a second (a block
				// a second on the localnet).
				lastReg = now
				f.queueRegistrations(now)
			}
			f.queueHeartbeats(now)
			f.chaos(now)
			f.mu.Unlock()
		}
	}
}

// unattested counts the nodes that heartbeat every interval: registered,
// alive and not attested, or registering. f.mu is held.
func (f *Fleet) unattested(now time.Time) (heartbeating, registering int) {
	for _, n := range f.nodes {
		switch {
		case n.crashed:
		case n.registered && !n.attested:
			heartbeating++
		case !n.registered && !n.regSent.IsZero() && now.Sub(n.regSent) < registerRetry:
			registering++
		}
	}
	return heartbeating, registering
}

// queueRegistrations sends the registrations the budget allows. f.mu is
// held.
func (f *Fleet) queueRegistrations(now time.Time) {
	hb, reg := f.unattested(now)
	budget := min(f.p.maxSelfRegs, f.cfg.RegisterRate)
	if f.p.attesting {
		budget = min(budget, f.cfg.MaxUnattested-hb-reg)
	}
	for _, n := range f.nodes {
		if budget <= 0 {
			return
		}
		if n.registered || n.queued || (!n.regSent.IsZero() && now.Sub(n.regSent) < registerRetry) {
			continue
		}
		n.regSent, n.queued, n.regAdmitted = now, true, false
		f.jobs <- job{n, jobRegister} // capacity: one per node
		budget--
	}
}

// queueHeartbeats queues the due heartbeats of nodes that need one (not
// attested, or a change to send) and counts the skipped ones of attested
// nodes. f.mu is held.
func (f *Fleet) queueHeartbeats(now time.Time) {
	for _, n := range f.nodes {
		if !(n.registered || n.regAdmitted) || n.crashed || n.queued || now.Before(n.due) {
			continue
		}
		if n.attested && !n.change {
			f.counts.heartbeatsSkipped++
			n.due = n.due.Add(f.p.interval)
			if n.due.Before(now) {
				n.due = now.Add(f.p.interval)
			}
			continue
		}
		n.queued = true
		f.jobs <- job{n, jobHeartbeat}
	}
}

// sender submits queued jobs until ctx ends: each transaction is handed to
// every validator at once and counts once one admitted it; its block is
// not awaited (the node list shows its effect).
func (f *Fleet) sender(ctx context.Context) {
	for {
		var j job
		select {
		case <-ctx.Done():
			return
		case j = <-f.jobs:
		}
		n := j.n
		var msg client.Msg
		f.mu.Lock()
		switch j.kind {
		case jobRegister:
			if !n.regPrimed {
				n.regPrimed = true
				n.sub.Prime(f.chain, 0) // a new account
			}
			msg = registerMsg(f.cfg, n.index, n.key, n.endpoint)
		case jobHeartbeat:
			hb := &types.Heartbeat{NodeId: n.id, Seq: n.hbSeq}
			for _, id := range sortedKeys(n.tasks) {
				hb.Tasks = append(hb.Tasks, types.TaskReport{TaskId: id, Generation: n.tasks[id].generation, State: types.TASK_RUNNING})
				if len(hb.Tasks) == api.MaxTasksPerHeartbeat {
					break
				}
			}
			for _, id := range sortedKeys(n.stopped) {
				if ref, ok := n.tasks[id]; ok && ref.generation == n.stopped[id] {
					continue
				}
				hb.Stopped = append(hb.Stopped, types.StoppedTask{TaskId: id, Generation: n.stopped[id]})
				if len(hb.Stopped) == api.MaxTasksPerHeartbeat {
					break
				}
			}
			n.stopped = nil // sent once; a lost one costs the fence timeout
			n.hbSeq++
			msg = hb
		}
		f.mu.Unlock()
		_, err := n.sub.Send(ctx, msg, f.cfg.Timeout)
		now := time.Now()
		f.mu.Lock()
		n.queued = false
		switch {
		case err != nil:
			if ctx.Err() == nil {
				f.counts.refused++
				if f.counts.refused <= 20 || f.counts.refused%1000 == 0 {
					f.logf("fleet: %s of %s: %v (%d refused so far)", kindName(j.kind), n.id, err, f.counts.refused)
				}
			}
			if j.kind == jobHeartbeat {
				n.due = now.Add(f.p.interval / 4) // try again soon
			}
		case j.kind == jobRegister:
			f.counts.registerSent++
			// Registering counts as the first heartbeat; the next is due an
			// interval on, whenever the node list shows the node.
			n.regAdmitted, n.due = true, now.Add(f.jittered(f.p.interval))
		default:
			f.counts.heartbeatSent++
			n.change = false
			n.due = now.Add(f.jittered(f.p.interval))
		}
		f.mu.Unlock()
	}
}

func kindName(k jobKind) string {
	if k == jobRegister {
		return "registration"
	}
	return "heartbeat"
}

// chaos crashes the next planned node when its time comes and revives the
// crashed nodes whose Down the fleet saw and whose down time passed.
// f.mu is held.
func (f *Fleet) chaos(now time.Time) {
	f.planCrashes(now)
	for len(f.crashTimes) > 0 && !now.Before(f.crashTimes[0]) {
		f.crashTimes = f.crashTimes[1:]
		for f.nextVictim < len(f.victim) {
			n := f.nodes[f.victim[f.nextVictim]]
			f.nextVictim++
			if n.registered && !n.crashed && n.state == stateReady {
				n.crashed, n.crashAt, n.detected = true, now, false
				f.counts.crashed++
				break
			}
		}
	}
	for _, n := range f.nodes {
		if n.crashed && n.detected && now.Sub(n.crashAt) >= f.downFor() {
			n.crashed = false
			n.attested = false // the chain withdrew it: heartbeat until attested again
			n.aliveSince, n.due = now, now
			n.graceUntil = now.Add(2*f.p.reportWindow + 2*f.p.interval)
			f.counts.revived++
		}
	}
}

// planCrashes, once every node is registered and none waits for its
// attestation (or a third of the run has passed), spreads the crashes
// over what is left of the run, leaving each time to be detected and
// revived. f.mu is held.
func (f *Fleet) planCrashes(now time.Time) {
	if !f.rampDoneAt.IsZero() {
		return
	}
	all := true
	for _, n := range f.nodes {
		if !n.registered || (f.p.attesting && !n.attested) {
			all = false
			break
		}
	}
	if !all && now.Sub(f.start) < f.cfg.Duration/3 {
		return
	}
	f.rampDoneAt = now
	k := int(math.Round(f.cfg.CrashFraction * float64(len(f.nodes))))
	end := f.start.Add(f.cfg.Duration)
	settle := f.downFor() + 2*f.p.reportWindow
	span := end.Add(-settle).Sub(now)
	if k == 0 {
		return
	}
	if span <= 0 {
		f.logf("fleet: no crashes: the run leaves %s after the fleet is up, and a crash needs %s to be detected and revived (--down-for, report windows); run longer",
			end.Sub(now).Round(time.Second), settle)
		return
	}
	for range k {
		f.crashTimes = append(f.crashTimes, now.Add(time.Duration(f.rng.Int64N(int64(span)))))
	}
	slices.SortFunc(f.crashTimes, func(a, b time.Time) int { return a.Compare(b) })
	f.logf("fleet: up after %s; crashing %d nodes between +%s and +%s (each down at least %s)",
		now.Sub(f.start).Round(100*time.Millisecond), k, now.Sub(f.start).Round(time.Second), end.Add(-settle).Sub(f.start).Round(time.Second), f.downFor())
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// Progress is a snapshot of a running fleet.
type Progress struct {
	Elapsed       time.Duration
	Registered    int
	Attested      int
	Crashed       int // now
	Detected      int // crashes whose Down was seen
	Revived       int
	FalseSuspect  int
	FalseDown     int
	Heartbeats    int64
	Skipped       int64
	Registrations int64
	Refused       int64
	Probes        int64
	ListHeight    int64
}

// String is the progress line.
func (p Progress) String() string {
	return fmt.Sprintf("+%-5s height %d: %d registered, %d attested; crashed %d now, %d detected, %d revived; false suspect %d, down %d; sent %d registrations, %d heartbeats (%d skipped), %d refused; %d probes answered",
		p.Elapsed.Round(time.Second), p.ListHeight, p.Registered, p.Attested, p.Crashed, p.Detected, p.Revived, p.FalseSuspect, p.FalseDown,
		p.Registrations, p.Heartbeats, p.Skipped, p.Refused, p.Probes)
}

func (f *Fleet) progress(now time.Time) Progress {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := Progress{Elapsed: now.Sub(f.start), Revived: f.counts.revived, FalseSuspect: f.counts.falseSuspect, FalseDown: f.counts.falseDown,
		Heartbeats: f.counts.heartbeatSent, Skipped: f.counts.heartbeatsSkipped, Registrations: f.counts.registerSent,
		Refused: f.counts.refused, Probes: f.probes.Load(), Detected: len(f.detections), ListHeight: f.listHeight}
	for _, n := range f.nodes {
		if n.registered {
			p.Registered++
		}
		if n.attested && !n.crashed {
			p.Attested++
		}
		if n.crashed {
			p.Crashed++
		}
	}
	return p
}

func (f *Fleet) progressLoop(ctx context.Context) {
	if f.cfg.OnProgress == nil {
		return
	}
	t := time.NewTicker(f.cfg.Progress)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f.cfg.OnProgress(f.progress(now))
		}
	}
}

// chainTxs counts the transactions the chain committed in blocks h0+1 …
// h1 (all of them, the observers' too), and the seconds between those
// blocks' times.
func (f *Fleet) chainTxs(ctx context.Context, h0, h1 int64) (txs int64, secs float64) {
	if h0 <= 0 || h1 <= h0 {
		return 0, 0
	}
	const perCall = 20 // CometBFT's blockchain RPC answers 20 at most
	var first, last time.Time
	for lo := h0 + 1; lo <= h1; lo += perCall {
		hi := min(lo+perCall-1, h1)
		err := f.pool.Do(ctx, f.cfg.Timeout, func(ctx context.Context, c *client.Client) error {
			res, err := c.RPC().BlockchainInfo(ctx, lo, hi)
			if err != nil {
				return err
			}
			for _, m := range res.BlockMetas {
				txs += int64(m.NumTxs)
				if first.IsZero() || m.Header.Time.Before(first) {
					first = m.Header.Time
				}
				if m.Header.Time.After(last) {
					last = m.Header.Time
				}
			}
			return nil
		})
		if err != nil {
			f.logf("fleet: counting the chain's transactions: %v", err)
			return 0, 0
		}
	}
	return txs, last.Sub(first).Seconds()
}

// rmemMax reads Linux's cap on a socket's receive buffer (false where
// there is none to read).
func rmemMax() (int, bool) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}
