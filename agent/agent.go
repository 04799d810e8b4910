package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/phalanx-bft/phalanx/agent/internal/ping"
	"github.com/phalanx-bft/phalanx/agent/internal/rpcpool"
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// Sentinel errors of Run; the returned errors wrap them with details.
var (
	// ErrNotRegistered: the node is not registered and the chain does not
	// allow it to register itself.
	ErrNotRegistered = errors.New("node not registered")
	// ErrWrongKey: the node is registered with another key.
	ErrWrongKey = errors.New("node registered with another key")
)

// Agent runs one worker node: it registers it, heartbeats, runs the tasks
// the chain places on it and serves their health to observers.
type Agent struct {
	cfg    Config
	pub    ed25519.PublicKey
	addr   string // upper-case hex
	pool   *rpcpool.Pool
	store  *store
	runner *Runner
	reaper *Reaper
	logf   func(format string, args ...any)

	syncNow chan struct{}
	hbNow   chan struct{}
	ops     sync.WaitGroup

	// Submission (submit.go): one sequence counter for the node's account,
	// and the heartbeats whose commit is awaited in the background.
	sub       *rpcpool.Submitter
	waits     sync.WaitGroup
	waitSlots chan struct{}

	mu          sync.Mutex
	chain       map[string]api.TaskView // tasks placed on this node, last sync
	chainHeight int64
	specs       map[string]*types.Workload // verified records
	held        map[string]uint64          // task -> generation held for keep_original (holdsOriginal)
	trust       *client.Trust
	// placementOf returns a task's record and its workload's, verified
	// (verifiedPlacement; tests of the reconcile logic replace it).
	placementOf      func(ctx context.Context, id, workload string) (*types.Task, *types.Workload, error)
	busy             map[string]bool // task ids with a start or stop in flight
	hbInterval       time.Duration
	status           api.AgentControlPlaneView
	usage            usageMeter
	openRegistration bool
	paramsAt         time.Time
	attestedAt       time.Time // when a proven record last said attested (zero: it did not)
	// stopped: placements taken off this node that no longer run here,
	// task id -> generation, until a committed heartbeat carried them
	// (stopped.go).
	stopped map[string]uint64
	fence   fenceState // self-fencing (selffence.go)
	// checks: the health checks of the running placements (checks.go);
	// checkWG waits for their goroutines.
	checks  map[string]*taskChecks
	checkWG sync.WaitGroup
}

// New checks cfg and prepares the agent: its state file, its task
// directory and, if configured, the reaper process. Nothing is sent to the
// chain before Run.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fillDefaults()
	pub := cfg.Key.Public().(ed25519.PublicKey)
	a := &Agent{
		cfg:        cfg,
		pub:        pub,
		addr:       crypto.AddressHex(pub),
		logf:       cfg.Logf,
		syncNow:    make(chan struct{}, 1),
		hbNow:      make(chan struct{}, 1),
		chain:      map[string]api.TaskView{},
		specs:      map[string]*types.Workload{},
		held:       map[string]uint64{},
		busy:       map[string]bool{},
		hbInterval: cfg.HeartbeatInterval,
		fence:      fenceState{leases: map[string]*lease{}, fenced: map[string]uint64{}, timeoutMs: -1},
	}
	if a.hbInterval == 0 {
		a.hbInterval = DefaultHeartbeatInterval
	}
	a.placementOf = a.verifiedPlacement
	var err error
	a.pool, err = rpcpool.New(cfg.Nodes, client.Config{CommitTimeout: cfg.CommitTimeout}, a.logf)
	if err != nil {
		return nil, err
	}
	a.sub = a.pool.NewSubmitter(cfg.Key)
	a.waitSlots = make(chan struct{}, maxPendingHeartbeats)
	a.store, err = openStore(cfg.Home, cfg.NodeID, a.addr)
	if err != nil {
		return nil, err
	}
	var tracker GroupTracker
	if len(cfg.ReaperArgv) > 0 {
		a.reaper, err = StartReaper(cfg.ReaperArgv, cfg.ReaperEnv, a.logf)
		if err != nil {
			return nil, err
		}
		tracker = a.reaper
	}
	a.runner, err = NewRunner(RunnerConfig{
		Dir:       filepath.Join(cfg.Home, "tasks"),
		NodeID:    cfg.NodeID,
		StopGrace: cfg.StopGrace,
		BaseEnv:   cfg.TaskEnv,
		Tracker:   tracker,
		OnExit:    a.onExit,
		Logf:      a.logf,
	})
	if err != nil {
		a.closeReaper()
		return nil, err
	}
	return a, nil
}

// Runner exposes the agent's process runner (read-only use: Tasks, Task).
func (a *Agent) Runner() *Runner { return a.runner }

// Run serves until ctx ends: it binds the HTTP endpoint, joins the chain
// (registering the node when the chain allows it), then heartbeats and
// follows the placements. While no validator answers it retries with
// backoff and its tasks keep running. When ctx ends it stops its tasks
// (SIGTERM, SIGKILL after StopGrace) and returns. It returns early with an
// error the operator must fix: the endpoint cannot be bound, the node is
// not registered and registration is closed, or the node has another key.
func (a *Agent) Run(ctx context.Context) error {
	defer a.closeReaper()
	defer a.closeTrust()
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("agent endpoint: %w", err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if pc, err := ping.Listen(ln.Addr(), 0); err != nil {
		a.logf("agent endpoint: UDP probes: %v (observers will probe over HTTP)", err)
	} else {
		go func() { _ = ping.Serve(pc, a.pong) }()
		defer pc.Close()
	}
	a.logf("agent for node %s (account %s) serving http://%s (and UDP probes); validators %v", a.cfg.NodeID, a.addr, ln.Addr(), a.pool.URLs())

	if err := a.join(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var loops sync.WaitGroup
	for _, loop := range []func(context.Context){a.watchLoop, a.syncLoop, a.heartbeatLoop, a.attestLoop, a.fenceLoop} {
		loops.Add(1)
		go func() { defer loops.Done(); loop(ctx) }()
	}
	<-ctx.Done()
	loops.Wait()
	a.ops.Wait()
	a.checkWG.Wait()
	a.waits.Wait()
	a.logf("agent stopping: stopping its tasks (grace %s)", a.cfg.StopGrace)
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.StopGrace+killWait)
	defer cancel()
	return a.runner.Close(sctx)
}

func (a *Agent) closeReaper() {
	if a.reaper != nil {
		_ = a.reaper.Close()
	}
}

// retry calls f until it succeeds, returns a definite error, or ctx
// ends, pausing with backoff after each failure that left no validator
// answering.
func (a *Agent) retry(ctx context.Context, what string, f func() error) error {
	bo := rpcpool.Backoff{Max: a.cfg.MaxBackoff}
	for {
		err := f()
		if err == nil || !errors.Is(err, rpcpool.ErrAllUnreachable) {
			return err
		}
		a.setStatus(func(s *api.AgentControlPlaneView) { s.Connected, s.LastError = false, err.Error() })
		d := bo.Next()
		a.logf("%s: %v; retrying in %s", what, err, d.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// join makes sure the node is registered with this agent's key,
// registering it under open registration, and reads the parameters. What
// it reads is proven (verify.go): a lying validator can neither make the
// agent give up (another key) nor change its heartbeat interval.
func (a *Agent) join(ctx context.Context) error {
	return a.retry(ctx, "join", func() error {
		if err := a.anchor(ctx); err != nil {
			return err
		}
		for attempt := 0; ; attempt++ {
			var nv api.NodeView
			found := false
			err := a.pool.Do(ctx, a.cfg.RequestTimeout, func(ctx context.Context, c *client.Client) error {
				v, _, err := c.ProvenNode(ctx, a.cfg.NodeID)
				if client.IsNotFound(err) && !errors.Is(err, client.ErrProofInvalid) {
					return nil
				}
				nv, found = v, err == nil
				return err
			})
			if err != nil {
				return err
			}
			if err := a.refreshParams(ctx); err != nil {
				return err
			}
			if found {
				return a.adopt(nv)
			}
			if attempt > 0 {
				return fmt.Errorf("%w: node %s was registered, yet the chain does not show it", ErrNotRegistered, a.cfg.NodeID)
			}
			if err := a.register(ctx); err != nil {
				return err
			}
		}
	})
}

// adopt checks the registered node against this agent.
func (a *Agent) adopt(nv api.NodeView) error {
	if nv.Address != a.addr {
		return fmt.Errorf("%w: node %s is registered with the key of account %s; this agent's key is account %s (pass --key with the node's key)",
			ErrWrongKey, nv.ID, nv.Address, a.addr)
	}
	if nv.Endpoint != a.cfg.Endpoint {
		a.logf("warning: node %s is registered with endpoint %q; this agent serves %q: observers probe the registered one", nv.ID, nv.Endpoint, a.cfg.Endpoint)
	}
	a.store.seqAtLeast(nv.LastHeartbeatSeq + 1)
	a.logf("node %s: %s (%s), last heartbeat seq %d", nv.ID, nv.State, nv.Reason, nv.LastHeartbeatSeq)
	return nil
}

// register sends the node's self-registration, if the chain allows it.
func (a *Agent) register(ctx context.Context) error {
	a.mu.Lock()
	open := a.openRegistration
	a.mu.Unlock()
	if !open {
		return fmt.Errorf("%w: node %s is not registered and the chain does not allow open registration (params.open_registration is false); "+
			"ask an operator to run `phalanxd tx node register %s --node-pubkey %X --zone %s --endpoint %s --cpu %d --memory %d --from OPERATOR`, then start the agent again",
			ErrNotRegistered, a.cfg.NodeID, a.cfg.NodeID, []byte(a.pub), a.cfg.Zone, a.cfg.Endpoint, a.cfg.Capacity.CpuMillis, a.cfg.Capacity.MemoryMb)
	}
	a.logf("registering node %s (zone %s, endpoint %s, capacity %d millicores, %d MB)", a.cfg.NodeID, a.cfg.Zone, a.cfg.Endpoint, a.cfg.Capacity.CpuMillis, a.cfg.Capacity.MemoryMb)
	res, err := a.submit(ctx, a.cfg.registerMsg())
	// A block applies at most params.max_self_registrations_per_block
	// self-registrations; a refused one changed nothing: send it again.
	for tries := 0; errors.Is(err, api.ErrRegistrationRateLimited) && tries < 30; tries++ {
		a.logf("node %s: this block's self-registrations are used up; trying again", a.cfg.NodeID)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		res, err = a.submit(ctx, a.cfg.registerMsg())
	}
	if err != nil {
		var te *client.TxError
		if errors.As(err, &te) {
			return fmt.Errorf("registering node %s: %w", a.cfg.NodeID, err)
		}
		return err
	}
	a.logf("node %s registered at height %d: %s", a.cfg.NodeID, res.Height, res.Log)
	return nil
}

// refreshParams reads the chain parameters the agent follows, proven.
func (a *Agent) refreshParams(ctx context.Context) error {
	var pv api.ParamsView
	err := a.pool.Do(ctx, a.cfg.RequestTimeout, func(ctx context.Context, c *client.Client) error {
		var err error
		pv, _, err = c.ProvenParams(ctx)
		return err
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.openRegistration = pv.OpenRegistration
	a.paramsAt = time.Now()
	if pv.FenceTimeoutMs != a.fence.timeoutMs {
		a.logf("fence timeout %s (params.fence_timeout_ms): stop-first tasks self-fence when the chain's state cannot be verified for about that, less twice the clock drift bound (%s)",
			time.Duration(pv.FenceTimeoutMs)*time.Millisecond, a.cfg.MaxClockDrift)
		a.fence.timeoutMs = pv.FenceTimeoutMs
	}
	if a.cfg.HeartbeatInterval == 0 && pv.HeartbeatIntervalMs > 0 {
		d := time.Duration(pv.HeartbeatIntervalMs) * time.Millisecond
		if d != a.hbInterval {
			a.logf("heartbeat interval %s (params.heartbeat_interval_ms)", d)
			a.hbInterval = d
		}
	}
	return nil
}

func (a *Agent) setStatus(f func(*api.AgentControlPlaneView)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.status)
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// watchLoop turns the chain's events about this node into immediate syncs,
// and follows the verified block stream that renews the self-fencing
// leases (selffence.go). A block that does not verify (a lying or broken
// validator) ends a stream; the next one starts after the last block
// delivered, from the next validator.
func (a *Agent) watchLoop(ctx context.Context) {
	a.mu.Lock()
	trust := a.trust
	a.mu.Unlock()
	nodes := a.pool.URLs()
	var last int64
	for i := 0; ctx.Err() == nil; i++ {
		order := append(append([]string(nil), nodes[i%len(nodes):]...), nodes[:i%len(nodes)]...)
		opts := client.WatchOptions{Nodes: order, MaxBackoff: a.cfg.MaxBackoff, Logf: a.logf, Trust: trust,
			Progress: func(h int64, heldUntil time.Time) {
				last = h
				a.streamProgress(h, heldUntil)
			}}
		if last > 0 {
			opts.FromHeight = last + 1
		}
		err := client.Watch(ctx, opts, func(e client.WatchEvent) error {
			a.streamEvent(e)
			if e.Attr("node") != a.cfg.NodeID {
				return nil
			}
			switch e.Type {
			case api.EventTaskPlaced, api.EventTaskEvicted, api.EventTaskStop:
				kick(a.syncNow)
			case api.EventNodeStatus:
				a.logf("node %s: %s -> %s (%s)", a.cfg.NodeID, e.Attr("from"), e.Attr("to"), e.Attr("reason"))
			}
			return nil
		})
		if err == nil || ctx.Err() != nil {
			return
		}
		a.logf("event stream: %v; starting again after height %d from the next validator", err, last)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// paramsRefresh is how often the parameters are read again.
const paramsRefresh = 30 * time.Second

// syncLoop queries the placements of this node every SyncInterval, and at
// once when an event says they changed.
func (a *Agent) syncLoop(ctx context.Context) {
	bo := rpcpool.Backoff{Max: a.cfg.MaxBackoff}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.syncNow:
		case <-t.C:
		}
		next := a.cfg.SyncInterval
		if err := a.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			next = bo.Next()
			a.setStatus(func(s *api.AgentControlPlaneView) { s.Connected, s.LastError = false, err.Error() })
			a.logf("sync: %v; next attempt in %s (tasks keep running)", err, next.Round(time.Millisecond))
		} else {
			bo.Reset()
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// sync reads the chain's placements for this node and reconciles the
// processes with them.
func (a *Agent) sync(ctx context.Context) error {
	a.mu.Lock()
	stale := time.Since(a.paramsAt) > paramsRefresh
	a.mu.Unlock()
	if stale {
		if err := a.refreshParams(ctx); err != nil {
			return err
		}
	}
	var ans api.TasksAnswer
	var node string
	err := a.pool.Do(ctx, a.cfg.RequestTimeout, func(ctx context.Context, c *client.Client) error {
		node = c.Node()
		var err error
		ans, err = c.Tasks(ctx, url.Values{"node": {a.cfg.NodeID}})
		return err
	})
	if err != nil {
		return err
	}
	chain := make(map[string]api.TaskView, len(ans.Tasks))
	for _, t := range ans.Tasks {
		if t.Node == a.cfg.NodeID {
			chain[t.ID] = t
		}
	}
	a.mu.Lock()
	if ans.Height < a.chainHeight {
		// A validator behind the one asked before: its view is older than
		// the one acted on. Wait for a newer answer.
		a.mu.Unlock()
		return nil
	}
	a.chainHeight = ans.Height
	prev := a.chain
	a.chain = chain
	a.status.Connected, a.status.Node, a.status.Height, a.status.LastError = true, node, ans.Height, ""
	a.mu.Unlock()
	a.neverStarted(prev, chain)
	a.reconcile(ctx, chain)
	a.forgetFenced(chain)
	return nil
}

func wanted(t api.TaskView) bool {
	return t.State == api.TaskStateName(types.TASK_ASSIGNED) || t.State == api.TaskStateName(types.TASK_RUNNING)
}

// reconcile brings the processes in line with the chain's placements:
// a placement wanted and not started is started (after its task's older
// generation is stopped); a process the chain no longer wants is stopped;
// an ended placement is forgotten once the chain moved on.
// Tasks with a start or stop in flight are left alone until it is done.
func (a *Agent) reconcile(ctx context.Context, chain map[string]api.TaskView) {
	a.mu.Lock()
	busy := make(map[string]bool, len(a.busy))
	for id := range a.busy {
		busy[id] = true
	}
	a.mu.Unlock()
	// After the busy snapshot: an op that ended since is in local.
	local := map[string]TaskStatus{}
	for _, st := range a.runner.Tasks() {
		local[st.TaskID] = st
	}
	for id, ct := range chain {
		if !wanted(ct) || busy[id] {
			continue
		}
		l, has := local[id]
		if has && l.Generation == ct.Generation {
			continue
		}
		if e, ok := a.store.lookup(id, ct.Generation); ok {
			// Started by an earlier run of this agent, and ended with it.
			if has && l.State == StateRunning {
				a.op(ctx, id, func(ctx context.Context) { a.stop(ctx, id) })
				continue
			}
			code := a.exitCodeGone(id, ct.Generation)
			if e.Exited {
				code = e.ExitCode
			}
			a.logf("task %s generation %d was started by an earlier run of this agent and is gone; reporting exit code %d", id, ct.Generation, code)
			a.runner.RecordExited(id, ct.Generation, ct.Restarts, code)
			kick(a.hbNow)
			continue
		}
		a.op(ctx, id, func(ctx context.Context) { a.start(ctx, ct) })
	}
	for id, l := range local {
		if busy[id] {
			continue
		}
		ct, ok := chain[id]
		if ok && ct.Generation == l.Generation && (wanted(ct) || l.State != StateRunning) {
			continue // placed here: running, or ended and awaiting its report
		}
		if ok && wanted(ct) {
			continue // a newer generation: its start fences this one
		}
		if l.State == StateRunning {
			a.op(ctx, id, func(ctx context.Context) { a.stop(ctx, id) })
		} else {
			a.runner.Forget(id, l.Generation)
		}
	}
	var gone []journalEntry
	if err := a.store.prune(func(id string, gen uint64) bool {
		ct, ok := chain[id]
		keep := busy[id] || ok && ct.Generation == gen
		if l, has := local[id]; !keep && !(has && l.Generation == gen && l.State == StateRunning) {
			gone = append(gone, journalEntry{TaskID: id, Generation: gen})
		}
		return keep
	}); err != nil {
		a.logf("agent state: %v", err)
	}
	// A placement this home started that the chain no longer places here
	// and that has no process (it ended, or died with an earlier run of
	// the agent): stopped, for the chain's fence (ADR 0020).
	for _, e := range gone {
		a.noteStopped(e.TaskID, e.Generation)
	}
}

// op runs f for task id in its own goroutine, unless one is in flight.
func (a *Agent) op(ctx context.Context, id string, f func(context.Context)) {
	a.mu.Lock()
	if a.busy[id] {
		a.mu.Unlock()
		return
	}
	a.busy[id] = true
	a.mu.Unlock()
	a.ops.Add(1)
	go func() {
		defer a.ops.Done()
		defer func() {
			a.mu.Lock()
			delete(a.busy, id)
			a.mu.Unlock()
			kick(a.hbNow)
		}()
		f(ctx)
	}()
}

// start runs task ct.ID as the chain's proven record of it says (ct, an
// unverified answer, only names the task): its workload's command, after
// the journal records it. An unverified or different placement starts
// nothing.
func (a *Agent) start(ctx context.Context, ct api.TaskView) {
	t, w, err := a.placementOf(ctx, ct.ID, ct.Workload)
	if err != nil {
		a.logf("task %s generation %d not started: %v", ct.ID, ct.Generation, err)
		return
	}
	if t == nil || t.Node != a.cfg.NodeID || !wanted(api.TaskRecordView(t)) {
		a.logf("task %s not started: the placement of generation %d on this node is not what the chain's proven state says (%s); the answer that named it was wrong or is stale", ct.ID, ct.Generation, placementText(t))
		return
	}
	if st, ok := a.runner.Task(t.Id); ok && st.Generation == t.Generation {
		return // already running the proven generation
	}
	if st, ok := a.runner.Task(t.Id); ok && t.AdoptGeneration != 0 && st.Generation == t.AdoptGeneration && st.State == StateRunning {
		a.adoptTask(ctx, t, w)
		return
	}
	if stale, since := a.leaseStale(t, w); stale {
		a.logf("task %s generation %d not started: the newest state proving its placement held until %s ago, too long for a stop-first task (self-fencing, ADR 0021); waiting for a fresher one", t.Id, t.Generation, since.Round(time.Millisecond))
		return
	}
	if _, ok := a.store.lookup(t.Id, t.Generation); ok {
		return // started before; reconcile reports or stops it
	}
	if ctx.Err() != nil {
		return
	}
	if err := a.store.started(t.Id, t.Generation); err != nil {
		a.logf("task %s generation %d not started: %v", t.Id, t.Generation, err)
		return
	}
	spec := api.NewSpecView(w.Spec)
	p := Placement{
		TaskID: t.Id, Generation: t.Generation, Restarts: t.Restarts,
		Command: spec.Command, Args: spec.Args, Env: spec.Env, CheckpointIn: t.LastCheckpoint,
		Checks: w.Spec.Checks,
	}
	started, err := a.runner.Start(ctx, p)
	if started {
		a.startChecks(ctx, p)
		return
	}
	st, ok := a.runner.Task(t.Id)
	if ok && st.Generation == t.Generation && st.State != StateRunning {
		// Recorded as failed to start: the report says so.
		_ = a.store.exited(t.Id, t.Generation, st.ExitCode)
		a.logf("%v", err)
		return
	}
	if err != nil {
		_ = a.store.unstart(t.Id, t.Generation)
		a.logf("%v", err)
	}
}

// stop stops task id's process, unless the chain's proven state still
// places the generation it runs on this node.
func (a *Agent) stop(ctx context.Context, id string) {
	st, ok := a.runner.Task(id)
	if !ok || st.State != StateRunning {
		return
	}
	t, _, err := a.placementOf(ctx, id, "")
	if err != nil {
		a.logf("task %s generation %d not stopped: %v", id, st.Generation, err)
		return
	}
	if t != nil && t.Node == a.cfg.NodeID && t.Generation == st.Generation && wanted(api.TaskRecordView(t)) {
		a.logf("task %s generation %d not stopped: the chain's proven state still places it here; the answer that said otherwise was wrong or is stale", id, st.Generation)
		return
	}
	if a.holdsOriginal(t, st) {
		return
	}
	if err := a.runner.Stop(ctx, id); err != nil {
		a.logf("task %s: %v", id, err)
		return
	}
	a.noteStopped(id, st.Generation) // its replacement may start
}

// holdsOriginal reports whether running task st, which the chain's proven
// record t no longer places here, is kept running anyway: t waits for
// this very generation to stop (its fence) and its workload keeps the
// original (disconnect.reconcile keep_original), so the chain puts it
// back here if this node is Ready again before the fence ends (adopting
// the process, adoptTask). The hold lasts at most until the lease runs
// out: self-fencing stops it in time for the fence, as for any task this
// agent cannot verify (ADR 0021, 0023). Without self-fencing nothing
// bounds the hold: the task is stopped.
func (a *Agent) holdsOriginal(t *types.Task, st TaskStatus) bool {
	if t == nil || t.State != types.TASK_PENDING || t.FenceNode != a.cfg.NodeID || t.FenceGeneration != st.Generation {
		return false
	}
	a.mu.Lock()
	w := a.specs[t.Workload]
	first := a.held[t.Id] != st.Generation
	a.mu.Unlock()
	if w == nil || w.Spec.Disconnect.Reconcile != api.KeepOriginal {
		return false
	}
	if _, _, ok := a.fenceWindow(t.LostAfterMs); !ok {
		return false
	}
	if first {
		a.mu.Lock()
		a.held[t.Id] = st.Generation
		a.mu.Unlock()
		a.logf("task %s generation %d: evicted while this node was lost; kept running (disconnect.reconcile %s) for the chain to restore it here, at most until its lease runs out (self-fencing); its fence ends at t=%d",
			t.Id, st.Generation, api.KeepOriginal, t.FenceUntilMs)
	}
	return true
}

// adoptTask runs task t on with the process of its adopt_generation,
// which runs here: the chain restored the task to this node
// (disconnect.reconcile keep_original).
func (a *Agent) adoptTask(ctx context.Context, t *types.Task, w *types.Workload) {
	if err := a.store.started(t.Id, t.Generation); err != nil {
		a.logf("task %s generation %d not adopted: %v", t.Id, t.Generation, err)
		return
	}
	if err := a.runner.Adopt(t.Id, t.AdoptGeneration, t.Generation, t.Restarts); err != nil {
		_ = a.store.unstart(t.Id, t.Generation)
		a.logf("%v", err)
		return
	}
	a.mu.Lock()
	delete(a.held, t.Id)
	a.mu.Unlock()
	spec := api.NewSpecView(w.Spec)
	a.startChecks(ctx, Placement{
		TaskID: t.Id, Generation: t.Generation, Restarts: t.Restarts,
		Command: spec.Command, Args: spec.Args, Env: spec.Env, CheckpointIn: t.LastCheckpoint,
		Checks: w.Spec.Checks,
	})
	kick(a.hbNow)
}

// onExit records a task's outcome and reports it soon.
func (a *Agent) onExit(st TaskStatus) {
	if err := a.store.exited(st.TaskID, st.Generation, st.ExitCode); err != nil {
		a.logf("agent state: %v", err)
	}
	kick(a.hbNow)
}

// verifiedPlacement returns task id's record and, when workload is not
// empty, its workload's record, both proven at one height against a
// header the trust anchor verified. A proof that fails moves to another
// validator (rpcpool treats it as no answer). The workload comes from the
// cache when the cached version is at least the task's.
func (a *Agent) verifiedPlacement(ctx context.Context, id, workload string) (*types.Task, *types.Workload, error) {
	var t *types.Task
	var w *types.Workload
	err := a.pool.Do(ctx, a.cfg.RequestTimeout, func(ctx context.Context, c *client.Client) error {
		var p *client.Proof
		var err error
		t, p, err = c.ProvenTask(ctx, id, 0)
		if err == nil && t != nil && t.Node == a.cfg.NodeID && wanted(api.TaskRecordView(t)) {
			a.proved(t, p)
		}
		if err != nil || t == nil || workload == "" {
			return err
		}
		a.mu.Lock()
		cached := a.specs[t.Workload]
		a.mu.Unlock()
		if cached != nil && cached.Version >= t.SpecVersion {
			w = cached
			return nil
		}
		w, _, err = c.ProvenWorkloadRecord(ctx, t.Workload, p.Height)
		if err == nil && w == nil {
			err = fmt.Errorf("workload %s of task %s is proven absent at height %d", t.Workload, id, p.Height)
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("not verified: %w", err)
	}
	if w != nil {
		a.mu.Lock()
		if old := a.specs[w.Spec.Name]; old == nil || old.Version < w.Version {
			a.specs[w.Spec.Name] = w
		}
		a.mu.Unlock()
	}
	return t, w, nil
}

func placementText(t *types.Task) string {
	if t == nil {
		return "no such task"
	}
	return fmt.Sprintf("generation %d %s on %q", t.Generation, api.TaskStateName(t.State), t.Node)
}
