package agent

import (
	"context"
	"fmt"

	"github.com/phalanx-bft/phalanx/agent/internal/rpcpool"
	"github.com/phalanx-bft/phalanx/client"
)

// The agent acts only on verified state (docs/adr/0016-trust.md): before
// it starts or stops a process, the task's record and its workload's spec
// are proven against a header CometBFT's light client verified from the
// root of trust (Config.Trust). Lists and events only say where to look.

// anchor creates the trust anchor, once, and sets it on every client of
// the pool. Until it exists nothing is verified, so nothing is acted on.
func (a *Agent) anchor(ctx context.Context) error {
	a.mu.Lock()
	have := a.trust != nil
	a.mu.Unlock()
	if have {
		return nil
	}
	t, err := client.NewTrust(ctx, a.cfg.Trust)
	if err != nil {
		// The primary may be down: say so in a way retry understands, so
		// the agent waits and tries again rather than giving up.
		return fmt.Errorf("%w: %v", rpcpool.ErrAllUnreachable, err)
	}
	if note := t.WitnessNote(); note != "" {
		a.logf("warning: %s", note)
	}
	a.logf("verifying placements from %s", t.Root())
	a.mu.Lock()
	a.trust = t
	a.mu.Unlock()
	for _, c := range a.pool.Clients() {
		c.SetTrust(t)
	}
	return nil
}

// closeTrust closes the trust anchor's store.
func (a *Agent) closeTrust() {
	a.mu.Lock()
	t := a.trust
	a.mu.Unlock()
	if t != nil {
		_ = t.Close()
	}
}
