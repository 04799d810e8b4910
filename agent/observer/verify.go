package observer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/phalanx-bft/phalanx/agent/internal/rpcpool"
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
)

// The observer probes only what the chain's proven state says
// (docs/adr/0016-trust.md): the node list is an unverified answer, so each
// node's endpoint is checked against the node's record proven at the
// list's height, against a header CometBFT's light client verified from
// the root of trust (Config.Trust). A node whose endpoint was proven
// before and has not changed in the list costs nothing more.

// anchor creates the trust anchor, once, and sets it on every client.
func (o *Observer) anchor(ctx context.Context) error {
	if o.trust != nil {
		return nil
	}
	t, err := client.NewTrust(ctx, o.cfg.Trust)
	if err != nil {
		return fmt.Errorf("%w: %v", rpcpool.ErrAllUnreachable, err)
	}
	if note := t.WitnessNote(); note != "" {
		o.logf("warning: %s", note)
	}
	o.logf("verifying the node list from %s", t.Root())
	o.trust = t
	for _, c := range o.pool.Clients() {
		c.SetTrust(t)
	}
	return nil
}

func (o *Observer) closeTrust() {
	if o.trust != nil {
		_ = o.trust.Close()
	}
}

// verifiedNodes returns the nodes of the list whose endpoint is proven:
// from the cache when the list shows the endpoint proven before, else by a
// proof at the list's height. The proofs of a round's new nodes are asked
// maxConcurrentProofs at a time (a thousand nodes registering at once
// would otherwise hold the round for a thousand round trips). A node that
// does not verify is left out of this round, and logged.
func (o *Observer) verifiedNodes(ctx context.Context, list api.NodesAnswer) []api.NodeView {
	out := make([]api.NodeView, 0, len(list.Nodes))
	seen := make(map[string]bool, len(list.Nodes))
	var unproven []api.NodeView
	for _, n := range list.Nodes {
		seen[n.ID] = true
		if n.Endpoint == "" {
			continue
		}
		if ep, ok := o.verified[n.ID]; ok && ep == n.Endpoint {
			out = append(out, n)
			continue
		}
		unproven = append(unproven, n)
	}
	ok := make([]bool, len(unproven))
	sem := make(chan struct{}, maxConcurrentProofs)
	var wg sync.WaitGroup
	// Proofs of new nodes get proofBudget a round: when thousands register
	// at once the rest wait for the next round (they heartbeat meanwhile)
	// rather than delay the probes of every node already proven.
	budget := time.Now().Add(proofBudget)
	for i, n := range unproven {
		if time.Now().After(budget) {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ok[i] = o.proveEndpoint(ctx, n, list.Height)
		})
	}
	wg.Wait()
	for i, n := range unproven {
		if ok[i] {
			o.verified[n.ID] = n.Endpoint
			out = append(out, n)
		}
	}
	for id := range o.verified {
		if !seen[id] {
			delete(o.verified, id)
		}
	}
	return out
}

// maxConcurrentProofs bounds the node record proofs asked at once;
// proofBudget, the time a round starts new ones.
const (
	maxConcurrentProofs = 16
	proofBudget         = time.Second
)

// proveEndpoint reports whether n's endpoint is the one its record,
// proven at height (or the latest), gives; it logs why not.
func (o *Observer) proveEndpoint(ctx context.Context, n api.NodeView, height int64) bool {
	var endpoint string
	var absent bool
	err := o.pool.Do(ctx, o.cfg.RequestTimeout, func(ctx context.Context, c *client.Client) error {
		rec, _, err := c.ProvenNodeRecord(ctx, n.ID, height)
		var qe *client.QueryError
		if errors.As(err, &qe) {
			// The list can be a block ahead of the committed store:
			// prove the latest record instead.
			rec, _, err = c.ProvenNodeRecord(ctx, n.ID, 0)
		}
		if err != nil {
			return err
		}
		absent = rec == nil
		if rec != nil {
			endpoint = rec.Endpoint
		}
		return nil
	})
	switch {
	case err != nil:
		o.logf("node %s not probed this round: its record is not verified: %v", n.ID, err)
	case absent:
		o.logf("node %s not probed: the answer listed it, but the chain's proven state at height %d has no such node", n.ID, height)
	case endpoint != n.Endpoint:
		o.logf("node %s not probed at %q: the chain's proven record at height %d gives endpoint %q", n.ID, n.Endpoint, height, endpoint)
	default:
		return true
	}
	return false
}
