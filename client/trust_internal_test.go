package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cometbft/cometbft/light/provider"
	cmttypes "github.com/cometbft/cometbft/types"
)

// stalledProvider answers nothing until its context ends, as a validator
// stopped with SIGSTOP does.
type stalledProvider struct{}

func (stalledProvider) ChainID() string { return "stalled" }
func (stalledProvider) LightBlock(ctx context.Context, _ int64) (*cmttypes.LightBlock, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (stalledProvider) ReportEvidence(context.Context, cmttypes.Evidence) error { return nil }

// TestBoundedProviderGivesUpAsNoResponse: a provider that does not answer
// costs one request timeout and is reported as provider.ErrNoResponse (on
// which CometBFT's light client replaces its primary), not as the
// caller's deadline (on which it does not: the nemesis's agent that could
// not rejoin while its validator was paused).
func TestBoundedProviderGivesUpAsNoResponse(t *testing.T) {
	b := boundedProvider{Provider: stalledProvider{}, node: "stalled", timeout: 50 * time.Millisecond}
	start := time.Now()
	_, err := b.LightBlock(context.Background(), 7)
	if err != provider.ErrNoResponse {
		t.Fatalf("stalled provider: %v; want provider.ErrNoResponse itself (the light client compares with ==)", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %s; want about its 50ms", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := (boundedProvider{Provider: stalledProvider{}, timeout: time.Minute}).LightBlock(ctx, 7); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the caller's deadline first: %v; want the caller's context error", err)
	}
}

// clientTimeoutProvider fails at once as CometBFT's HTTP provider does when
// its own http.Client timeout runs out before the bounded context.
type clientTimeoutProvider struct{ stalledProvider }

func (clientTimeoutProvider) LightBlock(context.Context, int64) (*cmttypes.LightBlock, error) {
	return nil, errors.New(`post failed: Post "http://127.0.0.1:28049": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)
}

// TestBoundedProviderClientTimeoutIsNoResponse: the HTTP client's own
// timeout (shorter than the bound) is no answer too. Seen as a plain
// error, the light client kept a paused witness, every verification
// failed for as long as it hung, and an agent fenced its tasks
// (TestOneFaultyValidatorCostsNoReady in CI).
func TestBoundedProviderClientTimeoutIsNoResponse(t *testing.T) {
	b := boundedProvider{Provider: clientTimeoutProvider{}, node: "paused", timeout: time.Minute}
	if _, err := b.LightBlock(context.Background(), 7); err != provider.ErrNoResponse {
		t.Fatalf("client timeout: %v; want provider.ErrNoResponse", err)
	}
}
