package observer

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/phalanx-bft/phalanx/agent/internal/fsutil"
	"github.com/phalanx-bft/phalanx/agent/internal/ping"
	"github.com/phalanx-bft/phalanx/agent/internal/rpcpool"
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// Defaults of Config.
const (
	DefaultInterval            = time.Second
	DefaultProbeTimeout        = 2 * time.Second
	DefaultMaxConcurrentProbes = 128
	DefaultRequestTimeout      = 5 * time.Second
	DefaultCommitTimeout       = 20 * time.Second
	DefaultMaxBackoff          = 10 * time.Second
)

// Limits.
const (
	MaxInterval            = time.Minute
	MaxProbeTimeout        = time.Minute
	MaxConcurrentProbes    = 1024
	maxProbeBodyBytes      = 1 << 20
	reportTxOverheadBytes  = 1024 // body, key and signature around the report
	maxReportBytes         = api.MaxHealthReportTxBytes - reportTxOverheadBytes
	observationFieldHeader = 4 // tag and length prefix of one observation
	// nodeListTimeout bounds one read of the whole node list: up to
	// api.MaxNodes / api.MaxQueryLimit pages (20 of 1,000 nodes), which a
	// loaded validator does not serve within one call's timeout.
	nodeListTimeout = 30 * time.Second
)

// Config configures an Observer. Zero values take the defaults above.
type Config struct {
	// Home holds the observer's state file, Home/observer/ADDRESS.json.
	Home string
	// Key signs the reports; its account needs the observer role.
	Key ed25519.PrivateKey
	// Nodes are the RPC URLs of the local validator (and fallbacks).
	Nodes []string
	// Interval is how often the observer looks for a new report window.
	Interval time.Duration
	// ProbeTimeout bounds a node's HTTP probe (both its requests) and the
	// longest wait for its UDP answer (udpTries).
	ProbeTimeout time.Duration
	// Breaker configures the circuit breaker of each endpoint (zero:
	// DefaultBreakerFailures, DefaultBreakerCooldown).
	Breaker BreakerConfig
	// MaxConcurrentProbes bounds the probes in flight.
	MaxConcurrentProbes int
	// HTTPProbesOnly probes every node over HTTP (/healthz), as before UDP
	// probes (ADR 0018): a TCP connection and a request per node per
	// window. By default a node is pinged over UDP first (package ping)
	// and asked over HTTP only when it does not answer, or reports
	// failing tasks.
	HTTPProbesOnly bool
	// RequestTimeout bounds a query, CommitTimeout the wait for a report
	// to be committed; MaxBackoff the pause while no validator answers.
	RequestTimeout time.Duration
	CommitTimeout  time.Duration
	MaxBackoff     time.Duration
	// Trust is the root of trust the node list is verified from
	// (verify.go): Genesis, or Height and Hash (with ChainID), and Period.
	// The observer sets Primary (the first of Nodes), Witnesses (the
	// others and any given) and, when empty, Dir
	// (Home/light/observer-ADDRESS).
	Trust client.TrustOptions
	// Logf receives the observer's messages (may be nil).
	Logf func(format string, args ...any)
}

func (c *Config) fillDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Interval, DefaultInterval)
	def(&c.ProbeTimeout, DefaultProbeTimeout)
	def(&c.RequestTimeout, DefaultRequestTimeout)
	def(&c.CommitTimeout, DefaultCommitTimeout)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.Breaker.Cooldown, DefaultBreakerCooldown)
	if c.Breaker.Failures == 0 {
		c.Breaker.Failures = DefaultBreakerFailures
	}
	if c.MaxConcurrentProbes == 0 {
		c.MaxConcurrentProbes = DefaultMaxConcurrentProbes
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if len(c.Nodes) > 0 {
		c.Trust.Primary = c.Nodes[0]
		c.Trust.Witnesses = append(append([]string(nil), c.Nodes[1:]...), c.Trust.Witnesses...)
	}
	if c.Trust.Dir == "" && c.Home != "" && len(c.Key) == crypto.PrivKeyLen {
		// One store per observer key: several observers may share a home.
		c.Trust.Dir = filepath.Join(c.Home, client.TrustStoreDirName, "observer-"+crypto.AddressHex(c.Key.Public().(ed25519.PublicKey)))
	}
	if c.Trust.Logf == nil {
		c.Trust.Logf = c.Logf
	}
}

// Validate reports the first impossible setting.
func (c Config) Validate() error {
	c.fillDefaults()
	if c.Home == "" {
		return errors.New("observer config: home directory is empty; expected --home DIR")
	}
	if len(c.Key) != crypto.PrivKeyLen {
		return fmt.Errorf("observer config: key is %d bytes; expected an ed25519 private key (%d bytes)", len(c.Key), crypto.PrivKeyLen)
	}
	if len(c.Nodes) == 0 {
		return errors.New("observer config: no validator RPC URL; expected --node URL")
	}
	if c.Trust.Genesis == "" && c.Trust.Height == 0 {
		return errors.New("observer config: no root of trust: the observer probes only nodes whose records it can verify; expected --genesis FILE (the chain's genesis.json) or --trust-height with --trust-hash")
	}
	for _, n := range c.Nodes {
		if _, err := client.NormalizeNode(n); err != nil {
			return fmt.Errorf("observer config: %w", err)
		}
	}
	if c.Interval < 0 || c.Interval > MaxInterval {
		return fmt.Errorf("observer config: interval %s; expected up to %s", c.Interval, MaxInterval)
	}
	if c.ProbeTimeout < 0 || c.ProbeTimeout > MaxProbeTimeout {
		return fmt.Errorf("observer config: probe timeout %s; expected up to %s", c.ProbeTimeout, MaxProbeTimeout)
	}
	if c.MaxConcurrentProbes < 1 || c.MaxConcurrentProbes > MaxConcurrentProbes {
		return fmt.Errorf("observer config: %d concurrent probes; expected 1 to %d", c.MaxConcurrentProbes, MaxConcurrentProbes)
	}
	for _, d := range []time.Duration{c.RequestTimeout, c.CommitTimeout, c.MaxBackoff} {
		if d < 0 || d > 10*time.Minute {
			return fmt.Errorf("observer config: timeout %s; expected up to 10m", d)
		}
	}
	return c.Breaker.Validate()
}

// Observer probes the cluster's nodes and reports what it sees, once per
// report window.
type Observer struct {
	cfg       Config
	pub       ed25519.PublicKey
	addr      string
	pool      *rpcpool.Pool
	http      *http.Client
	statePath string
	logf      func(format string, args ...any)

	lastWindow uint64 // the last window a report was signed for
	breakers   map[string]*Breaker
	sub        *rpcpool.Submitter
	waits      sync.WaitGroup // reports whose commit is awaited
	mu         sync.Mutex     // guards breakers during a probe round
	trust      *client.Trust
	verified   map[string]string // node id -> endpoint proven for it
	pinger     *ping.Prober      // nil: HTTP probes only
	prefetch   chan listed       // the next round's node list, being read
	// freshWindow: the last window an Attest was sent for; lastRound:
	// when the last probe round ended; windowDur: params.report_window_ms.
	freshWindow uint64
	lastRound   time.Time
	windowDur   time.Duration
	// untilNext: block time left in the current window, as the last
	// look at the chain found it (0: unknown, or no recent block).
	untilNext time.Duration
	// httpOnly counts down the rounds in which an endpoint that answered
	// HTTP but not UDP is probed over HTTP alone (an agent without UDP).
	httpOnly  map[string]int
	udpMisses map[string]int // rounds in a row an endpoint answered HTTP, not UDP

	// standing: what this observer believes its standing attestation of
	// each node is on the chain (ADR 0018): true attested, false withdrawn;
	// a node it does not know about (after a start, or a lost Attest) is
	// named again, which the chain ignores if nothing changes.
	standingMu sync.Mutex
	standing   map[string]bool
}

// observerState is the JSON document of the state file.
type observerState struct {
	Address    string `json:"address"`
	LastWindow uint64 `json:"last_window"`
}

// New checks cfg and reads the observer's state.
func New(cfg Config) (*Observer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fillDefaults()
	pub := cfg.Key.Public().(ed25519.PublicKey)
	o := &Observer{
		cfg:      cfg,
		pub:      pub,
		addr:     crypto.AddressHex(pub),
		logf:     cfg.Logf,
		breakers: map[string]*Breaker{},
		verified: map[string]string{},
		standing: map[string]bool{},
		http: &http.Client{
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: cfg.ProbeTimeout}).DialContext,
				MaxIdleConnsPerHost: 1,
				IdleConnTimeout:     time.Minute,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	var err error
	o.pool, err = rpcpool.New(cfg.Nodes, client.Config{CommitTimeout: cfg.CommitTimeout}, o.logf)
	if err != nil {
		return nil, err
	}
	o.httpOnly, o.udpMisses = map[string]int{}, map[string]int{}
	o.sub = o.pool.NewSubmitter(cfg.Key)
	dir := filepath.Join(cfg.Home, "observer")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("observer home: %w", err)
	}
	o.statePath = filepath.Join(dir, o.addr+".json")
	if o.lastWindow, err = readObserverState(o.statePath, o.addr); err != nil {
		return nil, err
	}
	if !cfg.HTTPProbesOnly {
		if o.pinger, err = ping.NewProber(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// readObserverState reads the last window the key addr reported for from
// the state file at path: 0 if there is none.
func readObserverState(path, addr string) (uint64, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("observer state: %w", err)
	}
	var st observerState
	if err := json.Unmarshal(b, &st); err != nil || st.Address != addr {
		return 0, fmt.Errorf("observer state %s is corrupt or belongs to another key; move it away only if no report of this key can be in flight (a second, different report for one window jails the observer)", path)
	}
	return st.LastWindow, nil
}

// writeObserverState records that the key addr reported for window w.
func writeObserverState(path, addr string, w uint64) error {
	b, _ := json.Marshal(observerState{Address: addr, LastWindow: w})
	return fsutil.WriteFileSync(path, append(b, '\n'))
}

// Run reports until ctx ends. It first checks that the key's account may
// report (role observer, not jailed); then, every Interval, when the
// chain's report window (the latest block time / params.report_window_ms)
// is one it has not reported for, it probes every registered node with an
// endpoint and submits one HealthReport for that window.
func (o *Observer) Run(ctx context.Context) error {
	o.logf("observer %s reporting through %v", o.addr, o.pool.URLs())
	defer o.closeTrust()
	if o.pinger != nil {
		defer o.pinger.Close()
	}
	if err := o.retry(ctx, o.anchor); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if err := o.retry(ctx, o.checkAccount); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer o.waits.Wait()
	bo := rpcpool.Backoff{Max: o.cfg.MaxBackoff}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		next := o.cfg.Interval
		o.untilNext = 0
		if err := o.round(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, rpcpool.ErrAllUnreachable) {
				next = max(next, bo.Next())
			}
			o.logf("%v", err)
		} else {
			bo.Reset()
			if d := o.untilNext; d > 0 && d <= next {
				// The window ends within the interval: look more often, so
				// the round starts within a quarter interval of the block
				// that opens the next one (a crash is seen sooner).
				next = max(next/4, 10*time.Millisecond)
			}
		}
		t.Reset(next)
	}
}

func (o *Observer) retry(ctx context.Context, f func(context.Context) error) error {
	bo := rpcpool.Backoff{Max: o.cfg.MaxBackoff}
	for {
		err := f(ctx)
		if err == nil || !errors.Is(err, rpcpool.ErrAllUnreachable) {
			return err
		}
		d := bo.Next()
		o.logf("%v; retrying in %s", err, d.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// ErrNotObserver: the key's account may not submit health reports.
var ErrNotObserver = errors.New("not an active observer")

func (o *Observer) checkAccount(ctx context.Context) error {
	var acc api.AccountView
	err := o.pool.Do(ctx, o.callTimeout(), func(ctx context.Context, c *client.Client) error {
		_, err := c.Query(ctx, client.AccountPath(crypto.Address(o.pub)), &acc)
		return err
	})
	if client.IsNotFound(err) {
		return fmt.Errorf("%w: account %s does not exist; an admin grants it with `phalanxd tx role grant %s observer --from ADMIN`", ErrNotObserver, o.addr, o.addr)
	}
	if err != nil {
		return err
	}
	if acc.Jailed {
		return fmt.Errorf("%w: account %s is jailed (%s)", ErrNotObserver, o.addr, acc.JailReason)
	}
	for _, r := range acc.Roles {
		if r == "observer" {
			return nil
		}
	}
	return fmt.Errorf("%w: account %s has roles %v, not observer; an admin grants it with `phalanxd tx role grant %s observer --from ADMIN`", ErrNotObserver, o.addr, acc.Roles, o.addr)
}

// round reports for the current window, if it has not yet.
func (o *Observer) round(ctx context.Context) error {
	window, attesting, err := o.currentWindow(ctx)
	if err != nil {
		return err
	}
	if window <= o.lastWindow {
		return nil
	}
	o.untilNext = 0
	if attesting && o.freshWindow < window && !o.lastRound.IsZero() && time.Since(o.lastRound) < 2*o.windowDur {
		// Keep this observer's standing attestations fresh for the new
		// window now, from the round that ended less than two windows
		// ago, so a round slower than a window (thousands of nodes on a
		// busy machine) does not let every node it holds fall back to
		// heartbeats; what this round finds changes them when it ends.
		o.sendFresh(ctx, window)
	}
	t0 := time.Now()
	nodes, err := o.nodeList(ctx)
	if err != nil {
		return err
	}
	t1 := time.Now()
	verified := o.verifiedNodes(ctx, nodes)
	t2 := time.Now()
	obs := o.probeAll(ctx, verified)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	o.prefetchList(ctx)
	o.lastRound = time.Now()
	if t3 := time.Now(); t3.Sub(t0) > o.cfg.Interval*5 {
		o.logf("round for window %d took %s: node list %s (%d nodes), endpoint proofs %s, probes %s (%d)",
			window, t3.Sub(t0).Round(time.Millisecond), t1.Sub(t0).Round(time.Millisecond), len(nodes.Nodes),
			t2.Sub(t1).Round(time.Millisecond), t3.Sub(t2).Round(time.Millisecond), len(verified))
	}
	// A round over thousands of nodes can outlast a window: what it
	// found is signed for the window current now (its probes are at most
	// one round old), or the chain, which takes only the current and the
	// previous window, would refuse it when it commits and no attestation
	// would ever be fresh.
	if now, att, err := o.currentWindow(ctx); err == nil && now > window {
		window, attesting = now, att
	}
	if attesting {
		if err := o.attest(ctx, window, obs); err != nil {
			return err
		}
		obs = Newsworthy(obs, nodes.Nodes)
	}
	report := BuildReport(window, obs)
	if len(report.Observations) == 0 {
		// Nothing the attestations do not say: no report this window.
		return o.saveWindow(window)
	}
	// Write-ahead: this window is spent before anything is signed, so a
	// restart never signs a second report for it.
	if err := o.saveWindow(window); err != nil {
		return err
	}
	p, err := o.sub.Send(ctx, report, o.callTimeout())
	if err != nil {
		return fmt.Errorf("report for window %d: %w", window, err)
	}
	unreachable := 0
	for _, ob := range report.Observations {
		if !ob.Reachable {
			unreachable++
		}
	}
	// The next round does not wait for this report's block.
	o.waits.Add(1)
	go func() {
		defer o.waits.Done()
		res, err := o.sub.Wait(ctx, p, o.callTimeout(), o.cfg.CommitTimeout)
		if err != nil {
			if ctx.Err() == nil {
				o.logf("report for window %d (tx %s, sequence %d): %v", window, p.Hash, p.Seq, err)
			}
			return
		}
		o.logf("window %d: %d nodes observed, %d unreachable; height %d: %s", window, len(report.Observations), unreachable, res.Height, res.Log)
	}()
	return nil
}

// listed is a read of the node list.
type listed struct {
	nodes api.NodesAnswer
	err   error
	at    time.Time // when the read began
}

// maxPrefetchAge bounds the age of a prefetched node list a round uses.
const maxPrefetchAge = 15 * time.Second

// prefetchList starts reading the node list for the next round, so that
// a round over thousands of nodes (seconds to list) spends its time
// probing. The list is at most one window older than a list read when
// the round begins; new nodes are probed one round later.
func (o *Observer) prefetchList(ctx context.Context) {
	if o.prefetch != nil {
		return
	}
	ch := make(chan listed, 1)
	o.prefetch = ch
	o.waits.Add(1)
	go func() {
		defer o.waits.Done()
		l := listed{at: time.Now()}
		l.nodes, l.err = o.readList(ctx)
		ch <- l
	}()
}

// nodeList is the prefetched node list if it is recent and read, or a
// list read now.
func (o *Observer) nodeList(ctx context.Context) (api.NodesAnswer, error) {
	if ch := o.prefetch; ch != nil {
		select {
		case l := <-ch:
			o.prefetch = nil
			if l.err == nil && time.Since(l.at) < maxPrefetchAge {
				return l.nodes, nil
			}
		default:
			// Still being read: wait for it rather than read twice.
			select {
			case l := <-ch:
				o.prefetch = nil
				if l.err == nil && time.Since(l.at) < maxPrefetchAge {
					return l.nodes, nil
				}
			case <-ctx.Done():
				return api.NodesAnswer{}, ctx.Err()
			}
		}
	}
	return o.readList(ctx)
}

func (o *Observer) readList(ctx context.Context) (api.NodesAnswer, error) {
	var nodes api.NodesAnswer
	err := o.pool.Do(ctx, nodeListTimeout, func(ctx context.Context, c *client.Client) error {
		var err error
		nodes, err = c.Nodes(ctx, nil)
		return err
	})
	return nodes, err
}

// attest sends this window's Attest transactions: the nodes it reached
// that its standing attestation does not hold alive yet (up), and those
// it did not reach that it may still hold alive (withdraw), in
// transactions of at most api.MaxAttestChanges, or one empty Attest when
// nothing changed, which keeps its attestations fresh. The standing
// view is updated as each one commits.
func (o *Observer) attest(ctx context.Context, window uint64, obs []types.Observation) error {
	changes := AttestChanges(o.standingView(obs), obs)
	if len(changes) == 1 && len(changes[0].Up)+len(changes[0].Withdraw) == 0 && o.freshWindow >= window {
		return nil // nothing changed, and this window's empty Attest is sent
	}
	o.freshWindow = max(o.freshWindow, window)
	for i, m := range changes {
		m.Window = window
		p, err := o.sub.Send(ctx, m, o.callTimeout())
		if err != nil {
			return fmt.Errorf("attest %d of %d for window %d: %w", i+1, len(changes), window, err)
		}
		o.waits.Add(1)
		go func(m *types.Attest) {
			defer o.waits.Done()
			res, err := o.sub.Wait(ctx, p, o.callTimeout(), o.cfg.CommitTimeout)
			if err != nil {
				if ctx.Err() == nil {
					o.logf("attest for window %d (tx %s, sequence %d): %v", window, p.Hash, p.Seq, err)
				}
				return
			}
			o.standingMu.Lock()
			for _, id := range m.Up {
				o.standing[id] = true
			}
			for _, id := range m.Withdraw {
				o.standing[id] = false
			}
			o.standingMu.Unlock()
			if len(m.Up)+len(m.Withdraw) > 0 {
				o.logf("window %d: attested %d nodes up, withdrew %d; height %d", window, len(m.Up), len(m.Withdraw), res.Height)
			}
		}(m)
	}
	return nil
}

// sendFresh sends an empty Attest for window: the observer's standing
// attestations hold as they are (ADR 0018).
func (o *Observer) sendFresh(ctx context.Context, window uint64) {
	p, err := o.sub.Send(ctx, &types.Attest{Window: window}, o.callTimeout())
	if err != nil {
		o.logf("attest for window %d (kept fresh): %v", window, err)
		return
	}
	o.freshWindow = window
	o.waits.Add(1)
	go func() {
		defer o.waits.Done()
		if _, err := o.sub.Wait(ctx, p, o.callTimeout(), o.cfg.CommitTimeout); err != nil && ctx.Err() == nil {
			o.logf("attest for window %d (kept fresh, tx %s): %v", window, p.Hash, err)
		}
	}()
}

// standingView copies the standing view, first forgetting the nodes this
// round did not observe (removed, or without a proven endpoint).
func (o *Observer) standingView(obs []types.Observation) map[string]bool {
	seen := make(map[string]bool, len(obs))
	for _, ob := range obs {
		seen[ob.NodeId] = true
	}
	o.standingMu.Lock()
	defer o.standingMu.Unlock()
	maps.DeleteFunc(o.standing, func(id string, _ bool) bool { return !seen[id] })
	return maps.Clone(o.standing)
}

// AttestChanges turns a window's observations into Attest messages
// (without their window) against the standing attestations: a reached
// node not known to be attested goes up, a node not reached and not known
// to be withdrawn is withdrawn. At most api.MaxAttestChanges names a
// message; with no change, one empty message.
func AttestChanges(standing map[string]bool, obs []types.Observation) []*types.Attest {
	var up, withdraw []string
	for _, ob := range obs {
		st, known := standing[ob.NodeId]
		switch {
		case ob.Reachable && !(known && st):
			up = append(up, ob.NodeId)
		case !ob.Reachable && !(known && !st):
			withdraw = append(withdraw, ob.NodeId)
		}
	}
	sort.Strings(up)
	sort.Strings(withdraw)
	out := []*types.Attest{{}}
	for _, id := range up {
		if m := out[len(out)-1]; len(m.Up)+len(m.Withdraw) < api.MaxAttestChanges {
			m.Up = append(m.Up, id)
		} else {
			out = append(out, &types.Attest{Up: []string{id}})
		}
	}
	for _, id := range withdraw {
		if m := out[len(out)-1]; len(m.Up)+len(m.Withdraw) < api.MaxAttestChanges {
			m.Withdraw = append(m.Withdraw, id)
		} else {
			out = append(out, &types.Attest{Withdraw: []string{id}})
		}
	}
	return out
}

// Newsworthy keeps the observations a HealthReport must carry when
// attestations say the rest: every unreachable one, every one naming
// failing tasks, and the reachable ones of nodes that are not Ready or
// not attested (their votes end an unreachable or partitioned verdict,
// and a split among observers shows as Partitioned). A cluster whose
// nodes are all Ready, attested and reached needs no report.
func Newsworthy(obs []types.Observation, nodes []api.NodeView) []types.Observation {
	calm := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		calm[n.ID] = n.State == api.NodeStateName(types.NODE_READY) && n.Attested
	}
	var out []types.Observation
	for _, ob := range obs {
		if !ob.Reachable || len(ob.FailingTaskIds) > 0 || !calm[ob.NodeId] {
			out = append(out, ob)
		}
	}
	return out
}

// currentWindow is the report window of the latest block:
// block time / params.report_window_ms.
func (o *Observer) currentWindow(ctx context.Context) (window uint64, attesting bool, err error) {
	err = o.pool.Do(ctx, o.callTimeout(), func(ctx context.Context, c *client.Client) error {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		var pv api.ParamsView
		if _, err := c.Query(ctx, "/params", &pv); err != nil {
			return err
		}
		if pv.ReportWindowMs <= 0 {
			return fmt.Errorf("params.report_window_ms is %d", pv.ReportWindowMs)
		}
		ms := st.SyncInfo.LatestBlockTime.UnixMilli()
		if ms <= 0 {
			return errors.New("the node has no block yet")
		}
		window, attesting = uint64(ms/pv.ReportWindowMs), pv.AttestedLiveness
		o.windowDur = time.Duration(pv.ReportWindowMs) * time.Millisecond
		o.untilNext = 0
		if age := time.Since(st.SyncInfo.LatestBlockTime); age < time.Duration(pv.ReportWindowMs)*time.Millisecond {
			// Blocks are coming (not a halt): the next window opens soon.
			o.untilNext = time.Duration(pv.ReportWindowMs-ms%pv.ReportWindowMs) * time.Millisecond
		}
		return nil
	})
	return window, attesting, err
}

func (o *Observer) saveWindow(w uint64) error {
	if err := writeObserverState(o.statePath, o.addr, w); err != nil {
		return err
	}
	o.lastWindow = w
	return nil
}

// callTimeout bounds one request of a report's submission: the
// observer's interval, at least a second and at most RequestTimeout.
func (o *Observer) callTimeout() time.Duration {
	return min(o.cfg.RequestTimeout, max(o.cfg.Interval, time.Second))
}

// probeAll probes every node with an endpoint: one UDP sweep over all of
// them (ping.Sweep), then, at most MaxConcurrentProbes at once, HTTP for
// those that did not answer it or count failing tasks; an open breaker
// answers for its node.
func (o *Observer) probeAll(ctx context.Context, nodes []api.NodeView) []types.Observation {
	now := time.Now()
	seen := map[string]bool{}
	type job struct {
		n   api.NodeView
		b   *Breaker
		key string
		// open: its breaker is open; it is only pinged (a ping costs
		// nothing worth saving), and an answer closes the breaker, so a
		// node back from a crash is seen at the next round, not after
		// the cool-down.
		open bool
	}
	var jobs []job
	var out []types.Observation
	o.mu.Lock()
	for _, n := range nodes {
		if n.Endpoint == "" {
			continue
		}
		key := n.ID + "@" + n.Endpoint
		seen[key] = true
		b := o.breakers[key]
		if b == nil {
			b, _ = NewBreaker(o.cfg.Breaker)
			o.breakers[key] = b
		}
		if !b.Allow(now) {
			if _, err := netip.ParseAddrPort(n.Endpoint); o.pinger == nil || err != nil {
				out = append(out, types.Observation{NodeId: n.ID, Reachable: false})
				continue
			}
			jobs = append(jobs, job{n, b, key, true})
			continue
		}
		jobs = append(jobs, job{n, b, key, false})
	}
	for key := range o.breakers {
		if !seen[key] {
			delete(o.breakers, key)
			delete(o.httpOnly, key)
			delete(o.udpMisses, key)
		}
	}
	// Nodes not probed over HTTP alone are pinged first, all in one sweep.
	udp := make([]*ping.Result, len(jobs))
	var targets []ping.Target
	var swept []int
	for i, j := range jobs {
		if o.pinger == nil {
			break
		}
		if o.httpOnly[j.key] > 0 && !j.open {
			o.httpOnly[j.key]--
			continue
		}
		if _, err := netip.ParseAddrPort(j.n.Endpoint); err != nil {
			continue // a host name: probed over HTTP, whose dial looks it up within the probe timeout
		}
		targets = append(targets, ping.Target{Endpoint: j.n.Endpoint, NodeID: j.n.ID})
		swept = append(swept, i)
	}
	o.mu.Unlock()
	if len(targets) > 0 {
		res := o.pinger.Sweep(ctx, targets, udpTries, min(udpTryTimeout, o.cfg.ProbeTimeout/3), o.cfg.ProbeTimeout)
		for k, i := range swept {
			udp[i] = &res[k]
		}
	}

	results := make([]types.Observation, len(jobs))
	sem := make(chan struct{}, o.cfg.MaxConcurrentProbes)
	var wg sync.WaitGroup
	for i, j := range jobs {
		if j.open {
			ob := types.Observation{NodeId: j.n.ID}
			if r := udp[i]; r != nil && r.Answered {
				if pob, err := o.pongObservation(j.n, r); err == nil {
					ob = pob
					o.mu.Lock()
					j.b.Record(time.Now(), true)
					o.mu.Unlock()
					o.logf("breaker for %s at %s closed: it answered a ping", j.n.ID, j.n.Endpoint)
				}
			}
			results[i] = ob // failing tasks wait for the next round's probe
			continue
		}
		if r := udp[i]; r != nil && r.Answered {
			o.mu.Lock()
			delete(o.udpMisses, j.key)
			o.mu.Unlock()
			ob, err := o.pongObservation(j.n, r)
			if err == nil && len(ob.FailingTaskIds) == 0 && (r.Pong.Failing == 0 || len(j.n.Tasks) == 0) {
				o.mu.Lock()
				j.b.Record(time.Now(), true)
				o.mu.Unlock()
				results[i] = ob
				continue // answered in the sweep; nothing to ask over HTTP
			}
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ob, err := o.probe(ctx, j.n, j.key, udp[i])
			if err != nil {
				o.logf("probe %s at %s: %v", j.n.ID, j.n.Endpoint, err)
			}
			o.mu.Lock()
			prev := j.b.State(time.Now())
			j.b.Record(time.Now(), err == nil)
			if st := j.b.State(time.Now()); st != prev && st == Open {
				o.logf("breaker for %s at %s open: reported unreachable without probing for %s", j.n.ID, j.n.Endpoint, o.cfg.Breaker.Cooldown)
			}
			o.mu.Unlock()
			results[i] = ob
		}()
	}
	wg.Wait()
	return append(out, results...)
}

// UDP probes: udpTries pings, the first given the answers' round trip
// estimate (ping.Prober.RTO: at least a third of ProbeTimeout at most
// udpTryTimeout, at most ProbeTimeout) and the next twice that, before
// HTTP is tried; an endpoint that answered HTTP
// but not UDP in udpMissesForHTTP rounds in a row (an agent without UDP,
// not a lost datagram) is probed over HTTP alone for httpOnlyRounds
// rounds.
const (
	udpTries         = 2
	udpTryTimeout    = 300 * time.Millisecond
	udpMissesForHTTP = 3
	httpOnlyRounds   = 16
)

// pongObservation is the observation a node's UDP answer makes.
func (o *Observer) pongObservation(n api.NodeView, r *ping.Result) (types.Observation, error) {
	ob := types.Observation{NodeId: n.ID}
	if r.Pong.NodeID != n.ID {
		return ob, fmt.Errorf("the endpoint answers for node %q, not %q", r.Pong.NodeID, n.ID)
	}
	if !r.Pong.OK {
		return ob, errors.New("the agent says it is not ok")
	}
	ob.Reachable = true
	ob.RttMs = uint32(min(r.RTT.Milliseconds(), 1<<31))
	return ob, nil
}

// probe completes a node's probe: with its sweep's answer (udp, nil
// when it was not pinged), the failing tasks over HTTP when it counts
// some; without an answer, /healthz (and /tasks) over HTTP. All within
// ProbeTimeout.
func (o *Observer) probe(ctx context.Context, n api.NodeView, key string, udp *ping.Result) (types.Observation, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.ProbeTimeout)
	defer cancel()
	base := "http://" + n.Endpoint
	if udp != nil && udp.Answered {
		ob, err := o.pongObservation(n, udp)
		if err != nil || udp.Pong.Failing == 0 || len(n.Tasks) == 0 {
			return ob, err
		}
		ob.FailingTaskIds = o.failingTasks(ctx, n, base)
		return ob, nil
	}
	triedUDP := udp != nil
	ob := types.Observation{NodeId: n.ID}
	start := time.Now()
	var h api.AgentHealthView
	if err := o.get(ctx, base+"/healthz", &h); err != nil {
		return ob, err
	}
	rtt := time.Since(start)
	if triedUDP {
		o.mu.Lock()
		if o.udpMisses[key]++; o.udpMisses[key] >= udpMissesForHTTP {
			o.httpOnly[key] = httpOnlyRounds
			delete(o.udpMisses, key)
		}
		o.mu.Unlock()
	}
	if h.NodeID != n.ID {
		return ob, fmt.Errorf("the endpoint answers for node %q, not %q", h.NodeID, n.ID)
	}
	if !h.OK {
		return ob, errors.New("the agent says it is not ok")
	}
	ob.Reachable = true
	ob.RttMs = uint32(min(rtt.Milliseconds(), 1<<31))
	if len(n.Tasks) == 0 {
		return ob, nil // nothing placed here can be failing
	}
	ob.FailingTaskIds = o.failingTasks(ctx, n, base)
	return ob, nil
}

// failingTasks asks the agent for /tasks and returns those that are not
// healthy and that the chain places on the node now: its placement is
// read again, as the node list the round began with can be a window old
// (prefetched) and naming a task that has moved costs reputation. On any
// error it names none.
func (o *Observer) failingTasks(ctx context.Context, n api.NodeView, base string) []string {
	var tv api.AgentTasksView
	if err := o.get(ctx, base+"/tasks", &tv); err != nil {
		o.logf("probe %s: /tasks: %v (reported reachable, without failing tasks)", n.ID, err)
		return nil
	}
	var now api.NodeView
	if err := o.pool.Do(ctx, o.callTimeout(), func(ctx context.Context, c *client.Client) error {
		_, err := c.Query(ctx, client.NodePath(n.ID), &now)
		return err
	}); err != nil {
		o.logf("probe %s: its placement now: %v (reported reachable, without failing tasks)", n.ID, err)
		return nil
	}
	return failingPlaced(now, tv)
}

// failingPlaced returns the tasks the node's agent says are failing that
// the chain places on it (n.Tasks), sorted, at most
// api.MaxFailingTasksPerObservation. The chain refuses failing tasks that
// are not placed on the node and takes reputation from the observer that
// names them (docs/failure-detection.md), so a node listing tasks that are
// not its own (a stale agent, or a Byzantine one) must not cost the
// observer anything.
func failingPlaced(n api.NodeView, tv api.AgentTasksView) []string {
	placed := make(map[string]bool, len(n.Tasks))
	for _, id := range n.Tasks {
		placed[id] = true
	}
	var out []string
	for _, t := range tv.Tasks {
		if !t.Healthy && placed[t.TaskID] && validTaskID(t.TaskID) && len(out) < api.MaxFailingTasksPerObservation {
			out = append(out, t.TaskID)
			placed[t.TaskID] = false // once
		}
	}
	sort.Strings(out)
	return out
}

func (o *Observer) get(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBodyBytes))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: not the agent's JSON: %v", url, err)
	}
	return nil
}

var taskIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}/(0|[1-9][0-9]{0,2})$`)

func validTaskID(id string) bool { return taskIDRE.MatchString(id) }

// BuildReport makes the one report of a window from the observations:
// sorted by node id and bounded by api.MaxObservationsPerReport and the
// transaction size. When not all fit, the ones included rotate with the
// window, so that every node is reported on over a few windows.
func BuildReport(window uint64, obs []types.Observation) *types.HealthReport {
	sort.Slice(obs, func(i, j int) bool { return obs[i].NodeId < obs[j].NodeId })
	r := &types.HealthReport{Window: window}
	start := 0
	if n := len(obs); n > 0 {
		start = int(window % uint64(n))
		if fitsAll(obs) {
			start = 0
		}
	}
	size := 0
	for i := range obs {
		ob := obs[(start+i)%len(obs)]
		s := ob.Size() + observationFieldHeader
		if len(r.Observations) >= api.MaxObservationsPerReport || size+s > maxReportBytes {
			break
		}
		size += s
		r.Observations = append(r.Observations, ob)
	}
	sort.Slice(r.Observations, func(i, j int) bool {
		return strings.Compare(r.Observations[i].NodeId, r.Observations[j].NodeId) < 0
	})
	return r
}

func fitsAll(obs []types.Observation) bool {
	if len(obs) > api.MaxObservationsPerReport {
		return false
	}
	size := 0
	for i := range obs {
		size += obs[i].Size() + observationFieldHeader
	}
	return size <= maxReportBytes
}
