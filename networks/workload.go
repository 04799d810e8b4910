package networks

import (
	"context"
	"fmt"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/types"
)

// workloadCommitTimeout bounds the wait for CreateWorkload to commit.
const workloadCommitTimeout = 30 * time.Second

// CreateWorkload creates a workload on a running network (`testnet start
// --workload`, `make localnet`): CreateWorkload signed by the network's
// admin key, sent to the first validator that answers, unless a workload
// of that name exists already (a restarted network keeps its chain). It
// returns whether it created the workload, and the workload as the chain
// holds it.
func CreateWorkload(ctx context.Context, m *Manifest, spec types.WorkloadSpec) (bool, api.WorkloadView, error) {
	kr, err := keyring.New(m.Dir, keyring.BackendTest, nil)
	if err != nil {
		return false, api.WorkloadView{}, err
	}
	admin, err := kr.Signer(m.AdminKey)
	if err != nil {
		return false, api.WorkloadView{}, fmt.Errorf("admin key %q: %w", m.AdminKey, err)
	}
	var lastErr error
	for _, v := range m.Validators {
		c, err := client.NewWithConfig(client.Config{Node: v.RPC, CommitTimeout: workloadCommitTimeout})
		if err != nil {
			return false, api.WorkloadView{}, err
		}
		var wv api.WorkloadView
		_, err = c.Query(ctx, client.WorkloadPath(spec.Name), &wv)
		if err == nil {
			return false, wv, nil
		}
		if !client.IsNotFound(err) {
			lastErr = fmt.Errorf("%s: %w", v.Name, err)
			continue // this validator does not answer: try the next
		}
		if _, err := c.SignAndBroadcast(ctx, admin, &types.CreateWorkload{Spec: spec}, client.TxOptions{}); err != nil {
			return false, api.WorkloadView{}, fmt.Errorf("create workload %s through %s: %w", spec.Name, v.Name, err)
		}
		if _, err := c.Query(ctx, client.WorkloadPath(spec.Name), &wv); err != nil {
			return true, api.WorkloadView{}, fmt.Errorf("workload %s created, but reading it back: %w", spec.Name, err)
		}
		return true, wv, nil
	}
	return false, api.WorkloadView{}, fmt.Errorf("create workload %s: no validator answers: %w", spec.Name, lastErr)
}
