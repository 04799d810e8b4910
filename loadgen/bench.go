package loadgen

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/phalanx-bft/phalanx/client"
)

// A Bench offers a network transactions at fixed rates, one step per
// rate, and measures what it committed (the engine of `phalanxd load
// bench`). It is open loop: transaction i of a step is due at
// start + i/rate whatever happened to the others; one not handed to a
// sender by then (every sender of its lane busy, its queue full) is a
// missed send, counted, never sent late (MaxSendLag).
//
// Transactions come from a Stream of lanes: a lane is one signer whose
// transactions must be admitted in order, so it is always sent by the
// same sender goroutine to the same validator (lane mod validators), and
// moves on to its next transaction only when CheckTx admitted the last
// one (a refused one is offered again at the lane's next due time, as a
// client would resend it).
//
// Commits are read from the blocks of one validator (Watch): every new
// block is fetched (/block) and its transactions hashed. A block's
// commit time is the time in the header of the next block (CometBFT's
// BFT time: the median of the validators' precommit times for it), so
// a transaction's commit latency is that time minus the time it was
// broadcast, independent of how often the blocks are polled.

// Limits of a bench.
const (
	MaxBenchRates   = 32
	MaxBenchLanes   = 100_000
	MaxBenchWorkers = 1024
	MaxBenchStep    = time.Hour
	// benchQueue is the depth of one sender's queue: a transaction due
	// while it is full is a missed send.
	benchQueue = 16
	// MaxSendLag is how late a sender may broadcast a transaction after
	// its due time; a later one is a missed send, not sent, so that the
	// offered rate is the rate sent (open loop), not a backlog sent later.
	MaxSendLag = time.Second
	// blockPoll is how often the watcher asks for a new height.
	blockPoll = 50 * time.Millisecond
	// drainPoll is how often the drain after a step looks at the
	// mempools and the uncommitted transactions.
	drainPoll = 200 * time.Millisecond
	// rpcTimeout bounds one RPC call of the bench.
	rpcTimeout = 30 * time.Second
)

// Stream is a bench's transactions, in lanes.
type Stream interface {
	// Lanes is the number of lanes (signers), at least 1.
	Lanes() int
	// Tx is lane's transaction number k; k counts the lane's admitted
	// transactions from 0.
	Tx(lane, k int) ([]byte, error)
	// Prepare builds ahead of a step the transactions k[lane] …
	// k[lane]+n-1 of every lane, so that signing does not compete with
	// the network during the step (a no-op for unsigned transactions).
	Prepare(k []int, n int) error
	// Resume maps a CheckTx refusal's log to the k the lane must go on
	// from ("…; next is N": its sequence moved), if the stream knows.
	Resume(lane int, log string) (int, bool)
}

// BenchConfig is a bench.
type BenchConfig struct {
	// Nodes are the validators' CometBFT RPC addresses (tcp://host:port);
	// lane i sends to Nodes[i mod len(Nodes)].
	Nodes []string
	// Watch is the RPC address whose blocks are read (default Nodes[0]).
	Watch  string
	Stream Stream
	// Rates are the offered transactions per second, one step each, in
	// order.
	Rates []int
	// Warmup is sent at the step's rate before the measured window Step.
	Warmup, Step time.Duration
	// Drain bounds the wait after a step for its transactions to commit
	// (or the mempools to empty) before the next step.
	Drain time.Duration
	// Workers is the number of sender goroutines (each with its lanes).
	Workers int
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

// Validate reports a missing or impossible setting.
func (c BenchConfig) Validate() error {
	switch {
	case len(c.Nodes) == 0:
		return errors.New("loadgen: no validator RPC address")
	case c.Stream == nil:
		return errors.New("loadgen: no transaction stream")
	case c.Stream.Lanes() < 1 || c.Stream.Lanes() > MaxBenchLanes:
		return fmt.Errorf("loadgen: %d lanes; expected 1..%d", c.Stream.Lanes(), MaxBenchLanes)
	case len(c.Rates) == 0 || len(c.Rates) > MaxBenchRates:
		return fmt.Errorf("loadgen: %d rates; expected 1..%d", len(c.Rates), MaxBenchRates)
	case c.Step <= 0 || c.Step > MaxBenchStep:
		return fmt.Errorf("loadgen: step %s; expected more than 0 and at most %s", c.Step, MaxBenchStep)
	case c.Warmup < 0 || c.Warmup > MaxBenchStep:
		return fmt.Errorf("loadgen: warmup %s; expected 0 .. %s", c.Warmup, MaxBenchStep)
	case c.Drain <= 0 || c.Drain > MaxBenchStep:
		return fmt.Errorf("loadgen: drain %s; expected more than 0 and at most %s", c.Drain, MaxBenchStep)
	case c.Workers < 1 || c.Workers > MaxBenchWorkers:
		return fmt.Errorf("loadgen: %d senders; expected 1..%d", c.Workers, MaxBenchWorkers)
	}
	for _, r := range c.Rates {
		if r < 1 || r > MaxRate {
			return fmt.Errorf("loadgen: rate %d/s; expected 1..%d", r, MaxRate)
		}
	}
	return nil
}

// StepResult is what one step measured. Counts of what was sent are of
// the transactions due in the measured window; Committed counts every
// transaction in the blocks whose commit time falls in it.
type StepResult struct {
	OfferedRate int `json:"offered_tx_per_s"`
	// Scheduled transactions were due in the window (rate × step).
	Scheduled int `json:"scheduled"`
	// Missed were not broadcast within MaxSendLag of their due time
	// (their sender still busy): never sent.
	Missed   int `json:"missed_sends"`
	Sent     int `json:"sent"`
	Admitted int `json:"admitted"`
	// Refused counts CheckTx refusals by code; Rejected CometBFT's own
	// ("mempool is full", …) by message.
	Refused   map[string]int `json:"refused_by_code"`
	Rejected  map[string]int `json:"rejected_by_mempool"`
	RPCErrors int            `json:"rpc_errors"`
	// TxBytes is the mean size of the transactions sent.
	TxBytes float64 `json:"tx_bytes"`
	// Committed are the transactions of the blocks committed in the
	// window; CommittedRate is Committed per second of the window.
	Committed     int     `json:"committed"`
	CommittedRate float64 `json:"committed_tx_per_s"`
	Blocks        int     `json:"blocks"`
	// DrainedRate is the transactions due in the window that committed,
	// per second from the window's start to the last one's commit: the
	// rate the network absorbed the window's load at even when its
	// blocks came late or lumpy (a stall leaves CommittedRate near 0).
	DrainedRate float64 `json:"drained_tx_per_s"`
	// Latencies are of the admitted transactions due in the window that
	// committed (Latencies of them), from broadcast to commit time.
	Latencies    int     `json:"latency_samples"`
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP99Ms float64 `json:"latency_p99_ms"`
	LatencyMaxMs float64 `json:"latency_max_ms"`
	// Uncommitted were admitted, due in the window, and not seen in a
	// block by the end of the drain (dropped from a mempool, or the
	// drain timed out).
	Uncommitted int `json:"uncommitted"`
}

// String is a one-line summary.
func (s StepResult) String() string {
	return fmt.Sprintf("offered %d/s: committed %.0f/s (drained %.0f/s), p50 %.0f ms, p99 %.0f ms; sent %d, admitted %d, missed %d, refused %v, rejected %v, rpc errors %d, uncommitted %d",
		s.OfferedRate, s.CommittedRate, s.DrainedRate, s.LatencyP50Ms, s.LatencyP99Ms, s.Sent, s.Admitted, s.Missed, s.Refused, s.Rejected, s.RPCErrors, s.Uncommitted)
}

// Bench runs cfg's steps one after the other and returns their results.
func Bench(ctx context.Context, cfg BenchConfig) ([]StepResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Watch == "" {
		cfg.Watch = cfg.Nodes[0]
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	httpc := &http.Client{
		Timeout: rpcTimeout,
		Transport: &http.Transport{
			DisableCompression:  true,
			MaxIdleConns:        cfg.Workers + 8,
			MaxIdleConnsPerHost: cfg.Workers + 8,
		},
	}
	defer httpc.CloseIdleConnections()
	b := &bench{cfg: cfg, lanes: cfg.Stream.Lanes(), sent: map[[sha256.Size]byte]sendRecord{}}
	b.next = make([]int, b.lanes)
	for _, n := range cfg.Nodes {
		c, err := rpchttp.NewWithClient(n, httpc)
		if err != nil {
			return nil, fmt.Errorf("loadgen: node %s: %w", n, err)
		}
		b.clients = append(b.clients, c)
	}
	watch, err := rpchttp.NewWithClient(cfg.Watch, httpc)
	if err != nil {
		return nil, fmt.Errorf("loadgen: node %s: %w", cfg.Watch, err)
	}
	b.watch = watch

	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	from, err := b.height(wctx)
	if err != nil {
		return nil, err
	}
	watchErr := make(chan error, 1)
	go func() { watchErr <- b.watchBlocks(wctx, from+1) }()

	var out []StepResult
	for _, rate := range cfg.Rates {
		select {
		case err := <-watchErr:
			return out, fmt.Errorf("loadgen: reading blocks from %s: %w", cfg.Watch, err)
		default:
		}
		r, err := b.step(ctx, rate)
		if err != nil {
			return out, err
		}
		fmt.Fprintln(cfg.Progress, r.String())
		out = append(out, r)
	}
	select {
	case err := <-watchErr:
		// The last step's commits may be incomplete.
		return out, fmt.Errorf("loadgen: reading blocks from %s: %w", cfg.Watch, err)
	default:
	}
	return out, nil
}

type sendRecord struct {
	at       time.Time // broadcast
	inWindow bool      // due in the measured window
}

// commit is a transaction of the bench seen in a block.
type commit struct {
	sendRecord
	latency time.Duration
}

// blockCommit is one block's commit time and transaction count.
type blockCommit struct {
	at  time.Time
	txs int
}

type bench struct {
	cfg     BenchConfig
	lanes   int
	clients []*rpchttp.HTTP
	watch   *rpchttp.HTTP
	next    []int // per lane: the k of its next transaction

	mu      sync.Mutex
	sent    map[[sha256.Size]byte]sendRecord // admitted, not yet seen committed
	commits []commit
	blocks  []blockCommit
	// watched is the last height whose commit time is known.
	watched int64
}

func (b *bench) height(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	st, err := b.watch.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("loadgen: status of %s: %w", b.cfg.Watch, err)
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

// watchBlocks reads every block from height from on, until ctx ends.
// Block h's transactions are committed at block h+1's header time.
func (b *bench) watchBlocks(ctx context.Context, from int64) error {
	var prev [][sha256.Size]byte
	havePrev := false
	tick := time.NewTicker(blockPoll)
	defer tick.Stop()
	h := from
	for {
		latest, err := b.height(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		for ; h <= latest; h++ {
			bctx, cancel := context.WithTimeout(ctx, rpcTimeout)
			res, err := b.watch.Block(bctx, &h)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("block %d: %w", h, err)
			}
			at := res.Block.Header.Time
			b.mu.Lock()
			if havePrev {
				b.blocks = append(b.blocks, blockCommit{at: at, txs: len(prev)})
				for _, hash := range prev {
					if rec, ok := b.sent[hash]; ok {
						delete(b.sent, hash)
						b.commits = append(b.commits, commit{sendRecord: rec, latency: at.Sub(rec.at)})
					}
				}
				b.watched = h - 1
			}
			b.mu.Unlock()
			prev = prev[:0]
			for _, tx := range res.Block.Data.Txs {
				prev = append(prev, sha256.Sum256(tx))
			}
			havePrev = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// job is one due transaction handed to a sender.
type job struct {
	lane     int
	due      time.Time
	inWindow bool
}

// stepCounts are the outcomes of a step's sends, due in its window.
type stepCounts struct {
	missed, sent, admitted, rpcErrors int
	bytes                             int
	refused, rejected                 map[string]int
}

func (b *bench) step(ctx context.Context, rate int) (StepResult, error) {
	res := StepResult{OfferedRate: rate}
	total := int(math.Round(float64(rate) * (b.cfg.Warmup + b.cfg.Step).Seconds()))
	warm := int(math.Round(float64(rate) * b.cfg.Warmup.Seconds()))
	// Lanes' next transactions, built (signed) before the clock starts.
	if err := b.cfg.Stream.Prepare(b.next, total/b.lanes+2); err != nil {
		return res, err
	}
	b.mu.Lock()
	b.commits, b.blocks = b.commits[:0], b.blocks[:0]
	b.mu.Unlock()

	counts := stepCounts{refused: map[string]int{}, rejected: map[string]int{}}
	var cmu sync.Mutex
	queues := make([]chan job, b.cfg.Workers)
	var wg sync.WaitGroup
	var srcErr error
	for w := range queues {
		queues[w] = make(chan job, benchQueue)
		wg.Add(1)
		go func(q <-chan job) {
			defer wg.Done()
			for j := range q {
				if err := b.send(ctx, j, &counts, &cmu); err != nil {
					cmu.Lock()
					if srcErr == nil {
						srcErr = err
					}
					cmu.Unlock()
				}
			}
		}(queues[w])
	}

	interval := time.Second / time.Duration(rate)
	start := time.Now().Add(10 * time.Millisecond)
	winStart := start.Add(b.cfg.Warmup)
	winEnd := winStart.Add(b.cfg.Step)
	for i := 0; i < total && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		lane := i % b.lanes
		j := job{lane: lane, due: due, inWindow: i >= warm}
		select {
		case queues[lane%b.cfg.Workers] <- j:
		default:
			if j.inWindow {
				cmu.Lock()
				counts.missed++
				cmu.Unlock()
			}
		}
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if srcErr != nil {
		return res, srcErr
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	uncommitted := b.drain(ctx)

	b.mu.Lock()
	defer b.mu.Unlock()
	res.Scheduled = total - warm
	res.Missed, res.Sent, res.Admitted, res.RPCErrors = counts.missed, counts.sent, counts.admitted, counts.rpcErrors
	res.Refused, res.Rejected = counts.refused, counts.rejected
	if counts.sent > 0 {
		res.TxBytes = float64(counts.bytes) / float64(counts.sent)
	}
	for _, bc := range b.blocks {
		if !bc.at.Before(winStart) && bc.at.Before(winEnd) {
			res.Committed += bc.txs
			res.Blocks++
		}
	}
	res.CommittedRate = float64(res.Committed) / b.cfg.Step.Seconds()
	var lat []time.Duration
	last := winStart
	for _, c := range b.commits {
		if c.inWindow {
			lat = append(lat, c.latency)
			if at := c.at.Add(c.latency); at.After(last) {
				last = at
			}
		}
	}
	if d := last.Sub(winStart); len(lat) > 0 && d > 0 {
		res.DrainedRate = float64(len(lat)) / d.Seconds()
	}
	res.Latencies = len(lat)
	res.LatencyP50Ms, res.LatencyP99Ms, res.LatencyMaxMs = ms(Percentile(lat, 50)), ms(Percentile(lat, 99)), ms(Percentile(lat, 100))
	res.Uncommitted = uncommitted
	return res, nil
}

// send broadcasts one due transaction of lane j.lane and counts how it
// was answered.
func (b *bench) send(ctx context.Context, j job, counts *stepCounts, cmu *sync.Mutex) error {
	if time.Since(j.due) > MaxSendLag {
		if j.inWindow {
			cmu.Lock()
			counts.missed++
			cmu.Unlock()
		}
		return nil
	}
	k := b.next[j.lane] // only this sender touches the lane
	raw, err := b.cfg.Stream.Tx(j.lane, k)
	if err != nil {
		return err
	}
	hash := sha256.Sum256(raw)
	b.mu.Lock()
	b.sent[hash] = sendRecord{at: time.Now(), inWindow: j.inWindow}
	b.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	r, err := b.clients[j.lane%len(b.clients)].BroadcastTxSync(cctx, raw)
	cancel()
	admitted := false
	cmu.Lock()
	defer cmu.Unlock()
	count := func(f func()) {
		if j.inWindow {
			f()
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		// the bench was interrupted during the call
	case err != nil:
		if code, log, ok := client.CheckTxRejection(err); ok {
			count(func() { counts.sent++; counts.refused[strconv.FormatUint(uint64(code), 10)]++ })
			if n, ok := b.cfg.Stream.Resume(j.lane, log); ok {
				b.next[j.lane] = n
			}
		} else if m := mempoolRejection(err.Error()); m != "" {
			count(func() { counts.sent++; counts.rejected[m]++ })
			if m == "tx already exists in cache" {
				b.next[j.lane]++ // it was admitted before: go on
			}
		} else {
			count(func() { counts.rpcErrors++ })
		}
	case r.Code == 0:
		admitted = true
		b.next[j.lane]++
		count(func() { counts.sent++; counts.admitted++ })
	default:
		count(func() { counts.sent++; counts.refused[strconv.FormatUint(uint64(r.Code), 10)]++ })
		if n, ok := b.cfg.Stream.Resume(j.lane, r.Log); ok {
			b.next[j.lane] = n
		}
	}
	count(func() { counts.bytes += len(raw) })
	if !admitted {
		b.mu.Lock()
		delete(b.sent, hash)
		b.mu.Unlock()
	}
	return nil
}

// drain waits until every admitted transaction was seen committed, or
// every mempool is empty and the watcher has read the blocks that
// emptied them, or cfg.Drain passes. It forgets the transactions still
// uncommitted and returns how many were due in the measured window.
func (b *bench) drain(ctx context.Context) int {
	deadline := time.Now().Add(b.cfg.Drain)
	var emptyAt int64 = -1
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b.mu.Lock()
		left, watched := len(b.sent), b.watched
		b.mu.Unlock()
		if left == 0 {
			break
		}
		if emptyAt < 0 {
			if h, ok := b.mempoolsEmpty(ctx); ok {
				emptyAt = h
			}
		} else if watched >= emptyAt {
			break // what is left was dropped from the mempools
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for h, rec := range b.sent {
		if rec.inWindow {
			n++
		}
		delete(b.sent, h)
	}
	return n
}

// mempoolsEmpty reports whether no validator holds an unconfirmed
// transaction, and the height by which that was so.
func (b *bench) mempoolsEmpty(ctx context.Context) (int64, bool) {
	h, err := b.height(ctx)
	if err != nil {
		return 0, false
	}
	for _, c := range b.clients {
		cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		r, err := c.NumUnconfirmedTxs(cctx)
		cancel()
		if err != nil || r.Total > 0 {
			return 0, false
		}
	}
	return h, true
}

// Percentile is the p-th percentile (nearest rank, 0 < p ≤ 100) of d,
// or 0 for none. It sorts d.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	rank := int(math.Ceil(p / 100 * float64(len(d))))
	rank = min(max(rank, 1), len(d))
	return d[rank-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
