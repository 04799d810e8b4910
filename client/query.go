package client

import (
	"time"

	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	cmttypes "github.com/cometbft/cometbft/types"
	ics23 "github.com/cosmos/ics23/go"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/proof"
)

// QueryError is a query the application answered with a non-zero code
// (api/errors.go: 21 not found, …).
type QueryError struct {
	Path   string
	Code   uint32
	Log    string
	Height int64
}

func (e *QueryError) Error() string { return fmt.Sprintf("code %d: %s", e.Code, e.Log) }

// Is makes errors.Is(err, api.ErrNotFound) and the like work.
func (e *QueryError) Is(target error) bool {
	t, ok := target.(*api.Error)
	return ok && t.Code == e.Code
}

// IsNotFound reports whether err says the queried object does not exist.
func IsNotFound(err error) bool {
	return errors.Is(err, api.ErrNotFound) || errors.Is(err, api.ErrNodeNotFound) ||
		errors.Is(err, api.ErrWorkloadNotFound) || errors.Is(err, api.ErrUnknownAccount)
}

// QueryRaw runs an abci_query on path at the latest height and returns the
// answer's bytes (JSON for the paths of DESIGN §8) and its height.
func (c *Client) QueryRaw(ctx context.Context, path string) ([]byte, int64, error) {
	res, err := c.rpc.ABCIQueryWithOptions(ctx, path, nil, rpcclient.ABCIQueryOptions{})
	if err != nil {
		return nil, 0, c.rpcError("abci_query "+path, err)
	}
	r := res.Response
	if r.Code != 0 {
		return nil, r.Height, &QueryError{Path: path, Code: r.Code, Log: r.Log, Height: r.Height}
	}
	return r.Value, r.Height, nil
}

// Query runs an abci_query on path and decodes the JSON answer into out
// (skipped when out is nil). It returns the height the answer is from.
func (c *Client) Query(ctx context.Context, path string, out any) (int64, error) {
	value, height, err := c.QueryRaw(ctx, path)
	if err != nil {
		return height, err
	}
	if out != nil {
		if err := json.Unmarshal(value, out); err != nil {
			return height, fmt.Errorf("query %s: decode answer into %T: %w", path, out, err)
		}
	}
	return height, nil
}

// AccountPath is the query path of an account.
func AccountPath(addr []byte) string {
	return "/accounts/" + strings.ToUpper(hex.EncodeToString(addr))
}

// NodePath is the query path of a node.
func NodePath(id string) string { return "/nodes/" + url.PathEscape(id) }

// WorkloadPath is the query path of a workload.
func WorkloadPath(name string) string { return "/workloads/" + url.PathEscape(name) }

// TaskPath is the query path of a task, id "{workload}/{index}".
func TaskPath(id string) string { return "/tasks/" + id }

// recordKey is the store key of a single-record path.
func recordKey(path string) []byte {
	p, _, _ := strings.Cut(path, "?")
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	return []byte(strings.Trim(p, "/"))
}

// Account returns the account addr (20 bytes). An account the chain does
// not know yields an error for which IsNotFound is true.
func (c *Client) Account(ctx context.Context, addr []byte) (api.AccountView, error) {
	var v api.AccountView
	if len(addr) != crypto.AddressLen {
		return v, fmt.Errorf("account address is %d bytes; expected %d", len(addr), crypto.AddressLen)
	}
	_, err := c.Query(ctx, AccountPath(addr), &v)
	return v, err
}

// NextSequence is the sequence the account's next transaction must carry
// as of the last committed block: 0 for an account the chain does not know
// yet. It does not count transactions pending in the mempool (see the
// package doc).
func (c *Client) NextSequence(ctx context.Context, addr []byte) (uint64, error) {
	acc, err := c.Account(ctx, addr)
	if IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return acc.Sequence, nil
}

// Proof is a query answer whose value was verified against a header.
type Proof struct {
	Path string
	// Key is the store key; Value its stored record (the gogoproto encoding
	// of the record's type), nil when absence was proven.
	Key   []byte
	Value []byte
	// Height is the height of the state the value is from.
	Height int64
	// HeaderHeight (Height+1) is the header whose AppHash the proof
	// verified against; its commit was checked against the validator set.
	HeaderHeight int64
	AppHash      []byte
	// HeaderTime is that header's time (BFT time): the state at Height
	// held at least until then, as the next block's changes bear that
	// time.
	HeaderTime time.Time
}

// ErrProofInvalid: a query answer did not verify.
var ErrProofInvalid = errors.New("proof does not verify")

// QueryProven runs QueryProof and returns the verified key, value (nil
// when the record is proven absent) and the height of the state.
func (c *Client) QueryProven(ctx context.Context, path string) (key, value []byte, height int64, err error) {
	p, err := c.QueryProof(ctx, path)
	if err != nil {
		return nil, nil, 0, err
	}
	return p.Key, p.Value, p.Height, nil
}

// QueryProof asks for the stored record behind a single-object path
// (/nodes/{id}, /workloads/{name}, /tasks/{workload}/{index},
// /accounts/{addr}, /params) with prove=true, waits (at most
// CommitTimeout) for the header of the next height, has the client's
// trust anchor verify that header (light client verification from the
// root of trust, cross-checked with witnesses), and verifies the ics23
// proof against the header's app hash. Any failure to verify is an error
// wrapping ErrProofInvalid; a client without a trust anchor gets
// ErrNoTrust.
func (c *Client) QueryProof(ctx context.Context, path string) (*Proof, error) {
	return c.QueryProofAt(ctx, path, 0)
}

// QueryProofAt is QueryProof for the state at a given height (0: the
// latest committed one). The node keeps a limited number of past heights
// (app.toml keep_blocks).
func (c *Client) QueryProofAt(ctx context.Context, path string, height int64) (*Proof, error) {
	if height < 0 {
		return nil, fmt.Errorf("query %s: height %d is negative", path, height)
	}
	res, err := c.rpc.ABCIQueryWithOptions(ctx, path, nil, rpcclient.ABCIQueryOptions{Height: height, Prove: true})
	if err != nil {
		return nil, c.rpcError("abci_query "+path, err)
	}
	r := res.Response
	if r.Code != 0 {
		return nil, &QueryError{Path: path, Code: r.Code, Log: r.Log, Height: r.Height}
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: query %s at height %d: %s", ErrProofInvalid, path, r.Height, fmt.Sprintf(format, args...))
	}
	if r.Height <= 0 || height > 0 && r.Height != height {
		return nil, bad("answer is for height %d; asked for %d", r.Height, height)
	}
	if r.ProofOps == nil || len(r.ProofOps.Ops) != 1 {
		n := 0
		if r.ProofOps != nil {
			n = len(r.ProofOps.Ops)
		}
		return nil, bad("answer carries %d proof operations; expected 1 of type %q", n, proof.OpType)
	}
	op := r.ProofOps.Ops[0]
	if op.Type != proof.OpType {
		return nil, bad("proof type %q; expected %q", op.Type, proof.OpType)
	}
	if len(r.Key) == 0 || !bytes.Equal(op.Key, r.Key) {
		return nil, bad("proof is for key %q, answer for key %q", op.Key, r.Key)
	}
	// A record's store key is its path without the slashes (app/records.go;
	// app.TestStoreKeyForPath): a proof of another record is no answer.
	if want := recordKey(path); !bytes.Equal(r.Key, want) {
		return nil, bad("the answer proves key %q; %s is stored under %q", r.Key, path, want)
	}
	var cp ics23.CommitmentProof
	if err := cp.Unmarshal(op.Data); err != nil {
		return nil, bad("proof does not decode: %v", err)
	}

	hh := r.Height + 1
	sh, err := c.verifiedHeader(ctx, hh)
	if err != nil {
		// Keep the cause matchable (ErrNoTrust, ErrTrustRoot, ErrDivergence).
		return nil, fmt.Errorf("%w: query %s at height %d: header %d: %w", ErrProofInvalid, path, r.Height, hh, err)
	}
	value := r.Value
	if len(value) == 0 {
		value = nil
	}
	if !proof.Verify(sh.AppHash, &cp, r.Key, value) {
		what := "membership of the value"
		if value == nil {
			what = "absence of the key"
		}
		return nil, bad("%s is not proven against app hash %X of header %d", what, []byte(sh.AppHash), hh)
	}
	return &Proof{
		Path: path, Key: r.Key, Value: value,
		Height: r.Height, HeaderHeight: hh, AppHash: sh.AppHash, HeaderTime: sh.Time,
	}, nil
}

// verifiedHeader returns the header of height h verified by the
// client's trust anchor, once this client's node has committed it (at
// most CommitTimeout).
func (c *Client) verifiedHeader(ctx context.Context, h int64) (*cmttypes.SignedHeader, error) {
	t := c.Trust()
	if t == nil {
		return nil, fmt.Errorf("%w: proofs are checked against headers verified from a trusted validator set; set one (SetTrust; --genesis or --trust-height/--trust-hash on the command line)", ErrNoTrust)
	}
	if err := c.waitForHeight(ctx, h, min(headerPoll, c.cfg.PollInterval)); err != nil {
		return nil, err
	}
	return t.Header(ctx, h)
}

// Validators returns CometBFT's validator set at height h (0: the latest)
// and the height it is from.
func (c *Client) Validators(ctx context.Context, h int64) ([]*cmttypes.Validator, int64, error) {
	var height *int64
	if h > 0 {
		height = &h
	}
	perPage := 100
	var out []*cmttypes.Validator
	var at int64
	for page := 1; ; page++ {
		p := page
		res, err := c.rpc.Validators(ctx, height, &p, &perPage)
		if err != nil {
			return nil, 0, c.rpcError("validators", err)
		}
		out = append(out, res.Validators...)
		at = res.BlockHeight
		if height == nil {
			height = &at // the same height for every page
		}
		if len(res.Validators) == 0 || len(out) >= res.Total {
			break
		}
	}
	return out, at, nil
}
