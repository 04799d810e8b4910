package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// The Proven* methods return a JSON view (as Query does) that is checked
// against the stored record proven at the same height (as QueryProof
// does): every field of the view that comes from the record must match it.
// Fields the node derives from other records (a node's task list, a
// workload's task counts, ages) are not covered by the proof.
//
// When the object does not exist, the error is the node's not-found
// answer (IsNotFound is true), and, when the absence could be proven too,
// it says so.

// ProvenNode returns node id's view, checked against its proven record.
func (c *Client) ProvenNode(ctx context.Context, id string) (api.NodeView, *Proof, error) {
	var v api.NodeView
	p, err := c.provenView(ctx, NodePath(id), &v, func(rec []byte) (any, error) {
		var n types.Node
		if err := n.Unmarshal(rec); err != nil {
			return nil, err
		}
		want := api.NodeRecordView(&n)
		// Derived from other records and the block time: not proven.
		want.Tasks, want.LastHeartbeatAgeMs, want.Health = v.Tasks, v.LastHeartbeatAgeMs, v.Health
		if want.Drain != nil && v.Drain != nil {
			want.Drain.Remaining = v.Drain.Remaining // counted from its tasks
		}
		return want, nil
	})
	return v, p, err
}

// ProvenWorkload returns workload name's view, checked against its proven
// record.
func (c *Client) ProvenWorkload(ctx context.Context, name string) (api.WorkloadView, *Proof, error) {
	var v api.WorkloadView
	p, err := c.provenView(ctx, WorkloadPath(name), &v, func(rec []byte) (any, error) {
		var w types.Workload
		if err := w.Unmarshal(rec); err != nil {
			return nil, err
		}
		want := v // derived counters and task list come from the view
		want.Name, want.Spec, want.Version = w.Spec.Name, api.NewSpecView(w.Spec), w.Version
		want.CreatedHeight, want.Replicas = w.CreatedHeight, w.Spec.Replicas
		if w.Spec.Type == api.TypeSystem {
			want.Replicas = v.Replicas // its task count: derived
		}
		return want, nil
	})
	return v, p, err
}

// ProvenAccount returns account addr's view, checked against its proven
// record.
func (c *Client) ProvenAccount(ctx context.Context, addr []byte) (api.AccountView, *Proof, error) {
	var v api.AccountView
	if len(addr) != crypto.AddressLen {
		return v, nil, fmt.Errorf("account address is %d bytes; expected %d", len(addr), crypto.AddressLen)
	}
	p, err := c.provenView(ctx, AccountPath(addr), &v, func(rec []byte) (any, error) {
		var a types.Account
		if err := a.Unmarshal(rec); err != nil {
			return nil, err
		}
		want := api.AccountRecordView(&a)
		return want, nil
	})
	return v, p, err
}

// ProvenParams returns the parameters, checked against their proven record.
func (c *Client) ProvenParams(ctx context.Context) (api.ParamsView, *Proof, error) {
	var v api.ParamsView
	p, err := c.provenView(ctx, "/params", &v, func(rec []byte) (any, error) {
		var params types.Params
		if err := params.Unmarshal(rec); err != nil {
			return nil, err
		}
		return api.NewParamsView(params), nil
	})
	return v, p, err
}

// ProvenTask returns task id's record ("{workload}/{index}") as proven
// at height (0: the latest committed one): the placement a worker may
// act on. A task the chain does not have is proven absent (nil record,
// no error).
func (c *Client) ProvenTask(ctx context.Context, id string, height int64) (*types.Task, *Proof, error) {
	p, err := c.QueryProofAt(ctx, TaskPath(id), height)
	if err != nil {
		return nil, nil, err
	}
	if p.Value == nil {
		return nil, p, nil
	}
	var t types.Task
	if err := t.Unmarshal(p.Value); err != nil || t.Id != id {
		return nil, nil, fmt.Errorf("%w: query %s: the proven record is not task %s (%v)", ErrProofInvalid, p.Path, id, err)
	}
	return &t, p, nil
}

// ProvenNodeRecord returns node id's record as proven at height (0: the
// latest committed one); nil when it is proven absent.
func (c *Client) ProvenNodeRecord(ctx context.Context, id string, height int64) (*types.Node, *Proof, error) {
	p, err := c.QueryProofAt(ctx, NodePath(id), height)
	if err != nil {
		return nil, nil, err
	}
	if p.Value == nil {
		return nil, p, nil
	}
	var n types.Node
	if err := n.Unmarshal(p.Value); err != nil || n.Id != id {
		return nil, nil, fmt.Errorf("%w: query %s: the proven record is not node %s (%v)", ErrProofInvalid, p.Path, id, err)
	}
	return &n, p, nil
}

// ProvenWorkloadRecord returns workload name's record (its spec and
// version) as proven at height (0: the latest committed one); nil when
// it is proven absent.
func (c *Client) ProvenWorkloadRecord(ctx context.Context, name string, height int64) (*types.Workload, *Proof, error) {
	p, err := c.QueryProofAt(ctx, WorkloadPath(name), height)
	if err != nil {
		return nil, nil, err
	}
	if p.Value == nil {
		return nil, p, nil
	}
	var w types.Workload
	if err := w.Unmarshal(p.Value); err != nil || w.Spec.Name != name {
		return nil, nil, fmt.Errorf("%w: query %s: the proven record is not workload %s (%v)", ErrProofInvalid, p.Path, name, err)
	}
	return &w, p, nil
}

// provenAttempts bounds how often provenView retries when a block is
// committed between the JSON query and the proof query.
const provenAttempts = 3

// provenView runs the JSON query of path into out, then the proven query
// at the same height, and compares: expect builds, from the proven record,
// the view the node should have answered.
func (c *Client) provenView(ctx context.Context, path string, out any, expect func(record []byte) (any, error)) (*Proof, error) {
	for attempt := 1; ; attempt++ {
		height, err := c.Query(ctx, path, out)
		if err != nil {
			if IsNotFound(err) {
				return nil, c.proveAbsence(ctx, path, err)
			}
			return nil, err
		}
		p, err := c.QueryProofAt(ctx, path, height)
		if err != nil {
			var qe *QueryError
			// The JSON answer can be one block ahead of the committed
			// store for a moment: try again.
			if errors.As(err, &qe) && attempt < provenAttempts {
				continue
			}
			return nil, err
		}
		if p.Value == nil {
			return nil, fmt.Errorf("%w: query %s: the node answered an object, but its record is proven absent at height %d", ErrProofInvalid, path, height)
		}
		want, err := expect(p.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: query %s: proven record does not decode: %v", ErrProofInvalid, path, err)
		}
		if diff := jsonDiff(want, out); len(diff) > 0 {
			return nil, fmt.Errorf("%w: query %s: the node's JSON answer disagrees with the record proven at height %d in %s", ErrProofInvalid, path, height, strings.Join(diff, ", "))
		}
		return p, nil
	}
}

// proveAbsence tries to prove that path's record does not exist, and
// returns notFound annotated with the outcome.
func (c *Client) proveAbsence(ctx context.Context, path string, notFound error) error {
	p, err := c.QueryProof(ctx, path)
	switch {
	case err != nil:
		return fmt.Errorf("%w (absence not proven: %v)", notFound, err)
	case p.Value != nil:
		return fmt.Errorf("%w: query %s: the node answered not found, but the record is proven present at height %d", ErrProofInvalid, path, p.Height)
	}
	return &absentError{err: notFound, proof: p}
}

type absentError struct {
	err   error
	proof *Proof
}

func (e *absentError) Error() string {
	return fmt.Sprintf("%v (absence proven against app hash %X at height %d)", e.err, e.proof.AppHash, e.proof.HeaderHeight)
}
func (e *absentError) Unwrap() error { return e.err }

// jsonDiff names the top-level JSON fields in which a and b differ.
func jsonDiff(a, b any) []string {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return []string{"(not comparable)"}
	}
	if bytes.Equal(ja, jb) {
		return nil
	}
	var ma, mb map[string]json.RawMessage
	if json.Unmarshal(ja, &ma) != nil || json.Unmarshal(jb, &mb) != nil {
		return []string{"(value)"}
	}
	keys := map[string]bool{}
	for k := range ma {
		keys[k] = true
	}
	for k := range mb {
		keys[k] = true
	}
	var diff []string
	for k := range keys {
		if !bytes.Equal(ma[k], mb[k]) {
			diff = append(diff, fmt.Sprintf("%s (proven %s, answered %s)", k, ma[k], mb[k]))
		}
	}
	sort.Strings(diff)
	return diff
}
