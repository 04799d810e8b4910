package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/light/provider"
	lighthttp "github.com/cometbft/cometbft/light/provider/http"
	"github.com/cometbft/cometbft/light/store"
	lightdb "github.com/cometbft/cometbft/light/store/db"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	cmttypes "github.com/cometbft/cometbft/types"
)

// A Trust anchors a client's answers in a validator set it trusts rather
// than in whichever node it talks to (docs/adr/0016-trust.md). It wraps
// CometBFT's light client (github.com/cometbft/cometbft/light) with its
// on-disk store: headers are verified from a root of trust — the genesis
// validator set, or a header named by height and hash — by skipping
// verification, and each verified header is cross-checked with witnesses.
// Proofs (Client.QueryProof), the chain id a client signs with and the
// block results watch checks are all taken from headers a Trust verified.

// Defaults and limits of TrustOptions.
const (
	// DefaultTrustingPeriod is how long a verified header stays a root of
	// trust: the period within which validators that signed it are still
	// accountable (Cosmos chains use about 2/3 of the unbonding period).
	DefaultTrustingPeriod = 168 * time.Hour
	// DefaultTrustRequestTimeout bounds one verification (all its
	// requests to the primary and witnesses).
	DefaultTrustRequestTimeout = 10 * time.Second
	// MaxWitnesses bounds TrustOptions.Witnesses.
	MaxWitnesses = 16
	// TrustStoreDirName is the directory, under a home, of the light
	// client stores (one per chain and root of trust).
	TrustStoreDirName = "light"
)

// Errors of a Trust; the returned errors wrap them with details.
var (
	// ErrNoTrust: a proof was asked of a client with no trust anchor.
	ErrNoTrust = errors.New("no trust anchor")
	// ErrTrustRoot: the root of trust (genesis or --trust-hash) does not
	// match what the primary serves: it is another chain, or a fork.
	ErrTrustRoot = errors.New("root of trust does not match")
	// ErrDivergence: the primary and a witness serve different headers
	// for one height. The light client stops using them.
	ErrDivergence = errors.New("primary and witness diverge")
)

// TrustOptions configure NewTrust.
type TrustOptions struct {
	// Genesis is the path of the chain's genesis.json. Its chain id and
	// validator set are the root of trust, unless Height and Hash are set.
	Genesis string
	// Height and Hash (32 bytes) name a header trusted by other means
	// (--trust-height, --trust-hash); ChainID must then be set, or come
	// from Genesis.
	Height  int64
	Hash    []byte
	ChainID string
	// Period is the trusting period (0: DefaultTrustingPeriod).
	Period time.Duration
	// Primary is the RPC address headers are fetched from; Witnesses are
	// other nodes of the chain each header is compared with. With no
	// witness the primary serves as its own, which checks nothing more:
	// the client says so (WitnessNote).
	Primary   string
	Witnesses []string
	// Dir is the directory of the on-disk store of verified headers
	// (usually HOME/light). Empty keeps them in memory only.
	Dir string
	// RequestTimeout bounds one verification (0: the default).
	RequestTimeout time.Duration
	// Logf receives what the trust does (may be nil).
	Logf func(format string, args ...any)
}

// Trust is a root of trust and the light client that extends it. It is
// safe for concurrent use.
type Trust struct {
	opts    TrustOptions
	chainID string
	root    string // what the trust is rooted in, for messages
	logf    func(format string, args ...any)

	guards map[string]*nodeGuard // per node (primary and witnesses), across rebuilds

	mu       sync.Mutex
	db       dbm.DB
	storeDir string // the goleveldb store's directory ("" in memory)
	storeBad bool   // a write failed: reopen the store before the next use
	store    store.Store
	lc       *light.Client
	broken   error // a divergence: the trust refuses to verify more
}

// NewTrust checks the options, opens the store and initialises the light
// client: from the store when it already holds headers of this root,
// else from the root (for a genesis root, by checking that the primary's
// block 1 is signed by the genesis validators).
func NewTrust(ctx context.Context, opts TrustOptions) (*Trust, error) {
	if opts.Period == 0 {
		opts.Period = DefaultTrustingPeriod
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultTrustRequestTimeout
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Period < 0 || opts.RequestTimeout < 0 {
		return nil, fmt.Errorf("trust: trusting period %s and request timeout %s must be positive", opts.Period, opts.RequestTimeout)
	}
	primary, err := NormalizeNode(opts.Primary)
	if err != nil {
		return nil, fmt.Errorf("trust: primary: %w", err)
	}
	opts.Primary = primary
	if len(opts.Witnesses) > MaxWitnesses {
		return nil, fmt.Errorf("trust: %d witnesses; the limit is %d", len(opts.Witnesses), MaxWitnesses)
	}
	var witnesses []string
	seen := map[string]bool{primary: true}
	for _, w := range opts.Witnesses {
		n, err := NormalizeNode(w)
		if err != nil {
			return nil, fmt.Errorf("trust: witness: %w", err)
		}
		if !seen[n] {
			seen[n] = true
			witnesses = append(witnesses, n)
		}
	}
	opts.Witnesses = witnesses

	t := &Trust{opts: opts, logf: opts.Logf, guards: map[string]*nodeGuard{primary: {}}}
	for _, w := range witnesses {
		t.guards[w] = &nodeGuard{}
	}
	var genesisSet *cmttypes.ValidatorSet
	var storeKey string
	switch {
	case opts.Height != 0 || len(opts.Hash) != 0:
		if opts.Height <= 0 || len(opts.Hash) != sha256.Size {
			return nil, fmt.Errorf("trust: --trust-height %d and --trust-hash %X: expected a height above 0 and a 32-byte header hash (64 hex characters), both or neither", opts.Height, opts.Hash)
		}
		t.chainID = opts.ChainID
		if opts.Genesis != "" {
			doc, err := cmttypes.GenesisDocFromFile(opts.Genesis)
			if err != nil {
				return nil, fmt.Errorf("trust: genesis %s: %w", opts.Genesis, err)
			}
			if t.chainID != "" && t.chainID != doc.ChainID {
				return nil, fmt.Errorf("trust: chain id %q differs from genesis %s's %q", t.chainID, opts.Genesis, doc.ChainID)
			}
			t.chainID = doc.ChainID
		}
		if t.chainID == "" {
			return nil, errors.New("trust: a trusted header needs the chain id (--chain-id or a genesis file)")
		}
		t.root = fmt.Sprintf("header %d (%X)", opts.Height, opts.Hash)
		storeKey = fmt.Sprintf("h%d-%X", opts.Height, opts.Hash[:8])
	case opts.Genesis != "":
		doc, err := cmttypes.GenesisDocFromFile(opts.Genesis)
		if err != nil {
			return nil, fmt.Errorf("trust: genesis %s: %w", opts.Genesis, err)
		}
		if opts.ChainID != "" && opts.ChainID != doc.ChainID {
			return nil, fmt.Errorf("trust: chain id %q differs from genesis %s's %q", opts.ChainID, opts.Genesis, doc.ChainID)
		}
		t.chainID = doc.ChainID
		vals := make([]*cmttypes.Validator, 0, len(doc.Validators))
		for _, v := range doc.Validators {
			vals = append(vals, cmttypes.NewValidator(v.PubKey, v.Power))
		}
		if len(vals) == 0 {
			return nil, fmt.Errorf("trust: genesis %s lists no validators; give the root of trust with --trust-height and --trust-hash", opts.Genesis)
		}
		genesisSet = cmttypes.NewValidatorSet(vals)
		t.root = fmt.Sprintf("the genesis validator set of %s (%X)", opts.Genesis, genesisSet.Hash())
		storeKey = fmt.Sprintf("g%X", genesisSet.Hash()[:8])
	default:
		return nil, fmt.Errorf("%w: expected a genesis file (the chain's genesis.json, e.g. --genesis HOME/config/genesis.json) or --trust-height with --trust-hash", ErrNoTrust)
	}

	if opts.Dir != "" {
		dir := filepath.Join(opts.Dir, safeName(t.chainID)+"-"+storeKey)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("trust: store: %w", err)
		}
		t.db, err = openLocked(ctx, dir)
		if err != nil {
			return nil, err
		}
		t.storeDir = dir
	} else {
		t.db = dbm.NewMemDB()
	}
	t.store = lightdb.New(t.db, "")

	if err := t.init(ctx, genesisSet); err != nil {
		_ = t.db.Close()
		return nil, err
	}
	return t, nil
}

// openLocked opens the goleveldb store in dir, waiting a little while
// another process (a one-shot command) holds it.
func openLocked(ctx context.Context, dir string) (dbm.DB, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		db, err := dbm.NewGoLevelDB("trusted", dir)
		if err == nil {
			return db, nil
		}
		if !strings.Contains(err.Error(), "resource temporarily unavailable") || time.Now().After(deadline) {
			return nil, fmt.Errorf("trust: open the light client store %s: %w (another phalanxd process using the same home holds it; wait for it or give another home)", dir, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reopenStore closes and reopens the on-disk store and rebuilds the light
// client from it. t.mu is held.
func (t *Trust) reopenStore(ctx context.Context) error {
	if t.storeDir == "" {
		t.storeBad = false
		return nil // in memory: nothing sticks
	}
	if t.db != nil {
		_ = t.db.Close()
		t.db = nil
	}
	db, err := openLocked(ctx, t.storeDir)
	if err != nil {
		return err // t.storeBad stays: the next Header tries again
	}
	t.db = db
	t.store = lightdb.New(t.db, "")
	if err := t.init(ctx, nil); err != nil {
		return err
	}
	t.storeBad = false
	t.logf("trust: the light client store %s reopened after a failed write", t.storeDir)
	return nil
}

// safeName keeps a chain id usable as a directory name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// newProvider is CometBFT's HTTP light block provider for node, with a
// request timeout of providerTimeoutSeconds (CometBFT's default is 5 s):
// a stopped witness must not hold a verification long.
func (t *Trust) newProvider(node string) (provider.Provider, error) {
	c, err := rpchttp.NewWithTimeout(node, providerTimeoutSeconds)
	if err != nil {
		return nil, err
	}
	return boundedProvider{Provider: lighthttp.NewWithClient(t.chainID, c), node: node,
		timeout: providerTimeoutSeconds*time.Second + providerMargin, guard: t.guards[node], logf: t.logf}, nil
}

// providerMargin is what a light block request may take beyond one
// request timeout (boundedProvider).
const providerMargin = 500 * time.Millisecond

// boundedProvider is how the light client sees one node: a faulty node
// (crashed, paused, cut off, or behind) costs a verification at most one
// request timeout, and then nothing while it stays so. A faulty node is
// provider.ErrNoResponse, which the light client takes for what it is:
// it takes another primary, and a witness that says nothing is neither
// compared nor dropped.
//
//   - Each request has one request timeout (plus providerMargin).
//     CometBFT's HTTP provider retries a request that timed out up to 5
//     times, with backoff: a node that is stopped but accepts connections
//     (SIGSTOP) held one verification for 10 s and more, and on "context
//     deadline exceeded" the light client neither replaced its primary nor
//     dropped the witness: an agent whose first validator was paused could
//     not rejoin (the nemesis found it, docs/nemesis.md).
//   - A node that does not answer (a timeout, a refused or reset
//     connection) opens its breaker (nodeGuard): it is not asked again for
//     breakerMin, doubling up to breakerMax while it stays silent. Before,
//     a paused witness cost every verification a timeout (the detector
//     waits for every witness), 4 s a block, and an agent's verified stream
//     fell behind the chain; a crashed one was dropped for good.
//   - A node behind the height asked for (provider.ErrHeightTooHigh) is
//     ErrNoResponse too. Given a witness behind the primary, CometBFT's
//     detector sleeps 2 × MaxClockDrift + MaxBlockLag (30 s) without
//     looking at the context, holding the light client: one validator
//     catching up after a restart stalled an agent's verifications past its
//     self-fencing window (TestLaggingWitnessDoesNotStallVerification).
//     Safety does not rest on it: the detector accepts a header only when a
//     witness serves the same one (else ErrFailedHeaderCrossReferencing),
//     and compares every witness that has it. What is lost is the evidence
//     a lagging witness could give against a primary forging a header of a
//     future height; such a header is refused all the same, as no witness
//     has it.
type boundedProvider struct {
	provider.Provider
	node    string
	timeout time.Duration
	guard   *nodeGuard
	logf    func(format string, args ...any)
}

func (b boundedProvider) LightBlock(ctx context.Context, height int64) (*cmttypes.LightBlock, error) {
	if b.guard.open(time.Now()) {
		return nil, provider.ErrNoResponse
	}
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	lb, err := b.Provider.LightBlock(cctx, height)
	if err != nil && ctx.Err() != nil {
		return nil, err // the caller's time, not the node's
	}
	if err != nil && (cctx.Err() != nil || isTimeout(err) || isUnreachable(err)) {
		// Its own time ran out, or the HTTP client's (shorter than
		// b.timeout), or the node is down.
		if d := b.guard.silent(time.Now()); d > 0 {
			b.logf("trust: %s does not answer (%v); not asked again for %s", b.node, err, d)
		}
		return nil, provider.ErrNoResponse
	}
	b.guard.answered()
	if errors.Is(err, provider.ErrHeightTooHigh) && height > 0 {
		return nil, provider.ErrNoResponse // behind: not compared, not waited for
	}
	return lb, err
}

// isTimeout reports whether err is a request that ran out of time.
func isTimeout(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "context deadline exceeded") ||
		strings.Contains(err.Error(), "Client.Timeout exceeded")
}

// isUnreachable reports whether err is a request that reached no node: a
// refused or reset connection, or one closed before the answer (a node
// that crashed or restarts). An answer, even an error, is not.
func isUnreachable(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Breaker bounds of a node that does not answer (nodeGuard).
const (
	breakerMin = 2 * time.Second
	breakerMax = 30 * time.Second
)

// A nodeGuard is the circuit breaker of one node the trust asks: closed
// while the node answers; open for a while after it did not (breakerMin,
// doubling while it stays silent, up to breakerMax), during which the node
// is not asked; then one request tries it again. It is shared by every
// provider of the node, across rebuilds of the light client.
type nodeGuard struct {
	mu        sync.Mutex
	openUntil time.Time
	backoff   time.Duration
}

// open reports whether the node is not to be asked now.
func (g *nodeGuard) open(now time.Time) bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return now.Before(g.openUntil)
}

// answered closes the breaker.
func (g *nodeGuard) answered() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.openUntil, g.backoff = time.Time{}, 0
}

// silent opens the breaker after the node did not answer, and returns
// for how long (0: it already was).
func (g *nodeGuard) silent(now time.Time) time.Duration {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Before(g.openUntil) {
		return 0
	}
	g.backoff = min(max(2*g.backoff, breakerMin), breakerMax)
	g.openUntil = now.Add(g.backoff)
	return g.backoff
}

func (b boundedProvider) String() string { return b.node }

func (t *Trust) providers() (provider.Provider, []provider.Provider, error) {
	p, err := t.newProvider(t.opts.Primary)
	if err != nil {
		return nil, nil, fmt.Errorf("trust: primary %s: %w", t.opts.Primary, err)
	}
	var ws []provider.Provider
	for _, w := range t.opts.Witnesses {
		wp, err := t.newProvider(w)
		if err != nil {
			return nil, nil, fmt.Errorf("trust: witness %s: %w", w, err)
		}
		ws = append(ws, wp)
	}
	if len(ws) == 0 {
		// CometBFT's light client needs a witness; the primary stands in.
		ws = append(ws, p)
	}
	return p, ws, nil
}

// init builds the light client from the store, or from the root.
func (t *Trust) init(ctx context.Context, genesisSet *cmttypes.ValidatorSet) error {
	ctx, cancel := context.WithTimeout(ctx, t.opts.RequestTimeout)
	defer cancel()
	primary, witnesses, err := t.providers()
	if err != nil {
		return err
	}
	lopts := []light.Option{light.MaxRetryAttempts(2), light.PruningSize(1000)}
	last, err := t.store.LastLightBlockHeight()
	if err != nil {
		return fmt.Errorf("trust: store: %w", err)
	}
	if last > 0 && t.opts.Height == 0 {
		lc, err := light.NewClientFromTrustedStore(t.chainID, t.opts.Period, primary, witnesses, t.store, lopts...)
		if err != nil {
			return fmt.Errorf("trust: %w", err)
		}
		t.lc = lc
		return nil
	}
	to := light.TrustOptions{Period: t.opts.Period, Height: t.opts.Height, Hash: t.opts.Hash}
	if genesisSet != nil {
		lb, err := primary.LightBlock(ctx, 1)
		if err != nil {
			return fmt.Errorf("trust: block 1 from %s: %w (the root of trust is the genesis validator set, so block 1 must be available; a node that pruned it needs --trust-height and --trust-hash)", t.opts.Primary, err)
		}
		if !bytes.Equal(lb.ValidatorsHash, genesisSet.Hash()) {
			return fmt.Errorf("%w: block 1 of %s is signed by validator set %X; %s is %X: the node is on another chain with the same id %q",
				ErrTrustRoot, t.opts.Primary, []byte(lb.ValidatorsHash), t.root, genesisSet.Hash(), t.chainID)
		}
		if err := genesisSet.VerifyCommitLight(t.chainID, lb.Commit.BlockID, lb.Height, lb.Commit); err != nil {
			return fmt.Errorf("%w: block 1 of %s is not signed by the genesis validators: %v", ErrTrustRoot, t.opts.Primary, err)
		}
		if age := time.Since(lb.Time); age > t.opts.Period {
			return fmt.Errorf("trust: block 1 is %s old, beyond the trusting period %s: the genesis validators may no longer be accountable; give a recent header with --trust-height and --trust-hash", age.Round(time.Second), t.opts.Period)
		}
		to.Height, to.Hash = 1, lb.Hash()
	} else {
		// A trusted header: the primary must serve that very header, or it
		// is not the chain the root names (CometBFT's own message says
		// only that the hashes differ).
		lb, err := primary.LightBlock(ctx, to.Height)
		if err == nil && !bytes.Equal(lb.Hash(), to.Hash) {
			return fmt.Errorf("%w: header %d of %s is %X; the trusted header is %X: the node is on another chain with the same id %q, or on a fork",
				ErrTrustRoot, to.Height, t.opts.Primary, lb.Hash(), to.Hash, t.chainID)
		}
	}
	lc, err := light.NewClient(ctx, t.chainID, to, primary, witnesses, t.store, lopts...)
	if err != nil {
		return t.explain(ctx, to.Height, fmt.Errorf("trust: initialise from %s: %w", t.root, err))
	}
	t.lc = lc
	t.logf("trust: rooted in %s; primary %s, witnesses %v", t.root, t.opts.Primary, t.opts.Witnesses)
	return nil
}

// ChainID is the chain id of the root of trust.
func (t *Trust) ChainID() string { return t.chainID }

// Root describes the root of trust.
func (t *Trust) Root() string { return t.root }

// WitnessNote is a warning when the trust has no witness but its
// primary, or "".
func (t *Trust) WitnessNote() string {
	if len(t.opts.Witnesses) == 0 {
		return fmt.Sprintf("no witness: headers from %s are checked against %s but not cross-checked with another node (add --witness)", t.opts.Primary, t.root)
	}
	return ""
}

// Header returns the header of height h, verified by the light client
// from the root of trust and cross-checked with the witnesses. It waits
// (within ctx) while the primary does not have h yet.
func (t *Trust) Header(ctx context.Context, h int64) (*cmttypes.SignedHeader, error) {
	if h <= 0 {
		return nil, fmt.Errorf("trust: header %d: expected a height above 0", h)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken != nil {
		return nil, t.broken
	}
	if t.storeBad {
		if err := t.reopenStore(ctx); err != nil {
			return nil, fmt.Errorf("trust: header %d: the light client store: %w", h, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, t.opts.RequestTimeout)
	defer cancel()
	if _, err := t.lc.TrustedLightBlock(h); err != nil {
		t.awaitWitnesses(ctx, h)
	}
	for {
		lb, err := t.lc.VerifyLightBlockAtHeight(ctx, h, time.Now())
		if err == nil {
			return lb.SignedHeader, nil
		}
		// Not yet: the nodes do not have h, or none answers now (a
		// node behind or silent is ErrNoResponse, boundedProvider), or no
		// witness has h to compare yet. Each is tried again within ctx.
		notYet := errors.Is(err, provider.ErrHeightTooHigh) || errors.Is(err, provider.ErrLightBlockNotFound) ||
			errors.Is(err, provider.ErrNoResponse) || errors.Is(err, light.ErrFailedHeaderCrossReferencing)
		if !notYet {
			err = t.explain(ctx, h, fmt.Errorf("trust: header %d: %w", h, err))
			if errors.Is(err, ErrDivergence) {
				t.broken = err
			} else if errors.Is(err, light.ErrNoWitnesses) || strings.Contains(err.Error(), "no witnesses") {
				// Every provider was dropped: start again from the store.
				if rerr := t.init(context.WithoutCancel(ctx), nil); rerr != nil {
					t.logf("trust: rebuilding the light client: %v", rerr)
				}
			} else if strings.Contains(err.Error(), "failed to save trusted header") {
				// The store could not write (a full disk). goleveldb's
				// journal keeps a write error for good, so the store would
				// refuse every header from now on, even with space again
				// (seen in the nemesis: an agent whose disk had filled
				// verified nothing after the disk was freed). Reopen it: it
				// recovers what it had from its journal. While that fails
				// (the disk is still full), every call tries again.
				t.storeBad = true
				if rerr := t.reopenStore(context.WithoutCancel(ctx)); rerr != nil {
					t.logf("trust: reopening the light client store: %v", rerr)
				}
			}
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("trust: header %d: %w (last: %v)", h, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// witnessGrace bounds how long Header waits for a witness that answers
// but is behind the height to verify (awaitWitnesses).
const witnessGrace = 5 * time.Second

// witnessLagGrace is how long awaitWitnesses waits for the other
// witnesses once one has the height: a witness one block behind that
// stays there (a partitioned validator) costs a verification that much.
const witnessLagGrace = time.Second

// witnessStatusTimeout bounds one status request of awaitWitnesses, and
// providerTimeoutSeconds one request of the light client to a node.
const (
	witnessStatusTimeout   = time.Second
	providerTimeoutSeconds = 2
)

// awaitWitnesses waits, at most witnessGrace and within ctx, until the
// witnesses have committed height h, so that the detector compares h
// with each of them. A witness behind h is not compared
// (boundedProvider), and with none to compare the header is not trusted:
// a witness one block behind is the common case (the primary has just
// committed h), so it is given the time to catch up, and once one has h
// the others get witnessLagGrace. A witness further
// behind (catching up after a restart or a pause) is not waited for, nor
// one that does not answer (its breaker opens) or whose breaker is open.
func (t *Trust) awaitWitnesses(ctx context.Context, h int64) {
	if len(t.opts.Witnesses) == 0 {
		return
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, witnessGrace)
	defer cancel()
	var once sync.Once
	there := func() { // a witness has h: the others get witnessLagGrace
		once.Do(func() { time.AfterFunc(witnessLagGrace, cancel) })
	}
	var wg sync.WaitGroup
	for _, w := range t.opts.Witnesses {
		g := t.guards[w]
		if g.open(time.Now()) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := rpchttp.New(w)
			if err != nil {
				return
			}
			for answered := false; ; answered = true {
				sctx, cancel := context.WithTimeout(ctx, witnessStatusTimeout)
				st, err := c.Status(sctx)
				cancel()
				switch {
				case err != nil:
					// It never answered, within the grace or the request's
					// timeout: it is silent. (One that answers, behind, is
					// not: it catches up.)
					if !answered && parent.Err() == nil {
						if d := g.silent(time.Now()); d > 0 {
							t.logf("trust: witness %s does not answer (%v); not asked again for %s", w, err, d)
						}
					}
					return
				case st.SyncInfo.LatestBlockHeight >= h:
					there()
					return
				case st.SyncInfo.LatestBlockHeight < h-1:
					return // catching up: not waited for
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
	}
	wg.Wait()
}

// explain turns a light client failure at height h into an error that
// names the nodes that disagree, when some do (ErrDivergence), or says
// that the primary's headers do not verify from the root of trust.
func (t *Trust) explain(ctx context.Context, h int64, err error) error {
	var vf light.ErrVerificationFailed
	primaryBad := errors.As(err, &vf)
	// Ask every node for its header at h (a witness behind h: at its
	// latest height) and name those that differ from the primary.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	header := func(node string, h int64) (*cmttypes.LightBlock, error) {
		p, err := lighthttp.New(t.chainID, node)
		if err != nil {
			return nil, err
		}
		return p.LightBlock(ctx, h)
	}
	type answer struct {
		node string
		at   int64
		hash []byte // the witness's header at `at`
		ours []byte // the primary's
	}
	answers := make([]*answer, len(t.opts.Witnesses))
	var wg sync.WaitGroup
	for i, w := range t.opts.Witnesses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lb, err := header(w, h)
			if errors.Is(err, provider.ErrHeightTooHigh) || errors.Is(err, provider.ErrLightBlockNotFound) {
				lb, err = header(w, 0)
			}
			if err != nil || lb.Height > h {
				return
			}
			pb, err := header(t.opts.Primary, lb.Height)
			if err != nil {
				return
			}
			answers[i] = &answer{node: w, at: lb.Height, hash: lb.Hash(), ours: pb.Hash()}
		}()
	}
	wg.Wait()
	var agree, differ []string
	for _, a := range answers {
		switch {
		case a == nil:
		case bytes.Equal(a.hash, a.ours):
			agree = append(agree, a.node)
		default:
			differ = append(differ, fmt.Sprintf("witness %s has header %X at height %d where the primary has %X", a.node, a.hash, a.at, a.ours))
		}
	}
	switch {
	case primaryBad:
		msg := fmt.Sprintf("%v: the headers of primary %s do not verify from %s: it is a node of another chain with the same id %q, or of a fork", ErrTrustRoot, t.opts.Primary, t.root, t.chainID)
		if len(differ) > 0 {
			msg += "; " + strings.Join(differ, "; ")
		}
		return fmt.Errorf("%s: %w", msg, err)
	case len(differ) == 0:
		return err
	}
	what := "the witness's headers do not verify from the root of trust (a node of another chain with the same id, or a faulty witness)"
	if errors.Is(err, light.ErrLightClientAttack) {
		what = "both verify from the root of trust: validators signed two blocks at one height (a light client attack); the light client sent the evidence to both"
	}
	if len(agree) > 0 {
		what += fmt.Sprintf("; %s agree with the primary", strings.Join(agree, ", "))
	}
	return fmt.Errorf("%w: primary %s: %s; %s; the client stops trusting them: %v", ErrDivergence, t.opts.Primary, strings.Join(differ, "; "), what, err)
}

// Close closes the store.
func (t *Trust) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.db == nil {
		return nil // a reopen after a failed write did not succeed
	}
	return t.db.Close()
}
