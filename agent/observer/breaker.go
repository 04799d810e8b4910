package observer

import (
	"fmt"
	"time"
)

// BreakerState is the state of a circuit breaker.
type BreakerState int

// Breaker states.
const (
	// Closed: probes go through.
	Closed BreakerState = iota
	// Open: the endpoint failed too often; it is reported unreachable
	// without a probe until the cool-down has passed.
	Open
	// HalfOpen: the cool-down passed; one probe decides: success closes
	// the breaker, failure opens it again for another cool-down.
	HalfOpen
)

func (s BreakerState) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}

// Limits of BreakerConfig.
const (
	DefaultBreakerFailures = 3
	DefaultBreakerCooldown = 15 * time.Second
	MaxBreakerFailures     = 100
	MaxBreakerCooldown     = time.Hour
)

// BreakerConfig configures a Breaker.
type BreakerConfig struct {
	// Failures is how many consecutive failed probes open the breaker.
	Failures int
	// Cooldown is how long an open breaker stays open before one probe is
	// let through.
	Cooldown time.Duration
}

// Validate reports an impossible setting.
func (c BreakerConfig) Validate() error {
	if c.Failures < 1 || c.Failures > MaxBreakerFailures {
		return fmt.Errorf("breaker: failures %d; expected 1 to %d", c.Failures, MaxBreakerFailures)
	}
	if c.Cooldown <= 0 || c.Cooldown > MaxBreakerCooldown {
		return fmt.Errorf("breaker: cool-down %s; expected more than 0, at most %s", c.Cooldown, MaxBreakerCooldown)
	}
	return nil
}

// Breaker is a circuit breaker for one endpoint: closed → open after
// Failures consecutive failures → half-open after Cooldown → closed on a
// success, open again on a failure. Time is passed in, so it is
// deterministic to test. It is not safe for concurrent use.
type Breaker struct {
	cfg      BreakerConfig
	state    BreakerState
	failures int
	openedAt time.Time
}

// NewBreaker returns a closed breaker.
func NewBreaker(cfg BreakerConfig) (*Breaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Breaker{cfg: cfg}, nil
}

// State is the breaker's state as of now (an open breaker whose cool-down
// passed is half-open).
func (b *Breaker) State(now time.Time) BreakerState {
	if b.state == Open && now.Sub(b.openedAt) >= b.cfg.Cooldown {
		return HalfOpen
	}
	return b.state
}

// Allow reports whether a probe may go out now.
func (b *Breaker) Allow(now time.Time) bool {
	b.state = b.State(now)
	return b.state != Open
}

// Record counts the outcome of a probe made at now.
func (b *Breaker) Record(now time.Time, ok bool) {
	if ok {
		b.state, b.failures = Closed, 0
		return
	}
	b.failures++
	if b.state == HalfOpen || b.failures >= b.cfg.Failures {
		b.state, b.openedAt = Open, now
	}
}
