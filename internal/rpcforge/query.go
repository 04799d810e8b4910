package rpcforge

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
)

// QueryRequest is an abci_query as the client asked it.
type QueryRequest struct {
	Path   string
	Data   []byte
	Height int64 // 0: latest
	Prove  bool
}

// QueryForger rewrites the answer of an abci_query in place: resp is the
// validator's answer, decoded (Value, Key, ProofOps, Height, Code, Log…);
// what it holds on return is what the client gets. It runs for every
// abci_query (POST, batch or GET) whose answer is not a JSON-RPC error;
// leave resp alone for the queries not to forge.
type QueryForger func(req QueryRequest, resp *abci.QueryResponse)

// ForgeQuery sets the rule for abci_query answers; nil removes it. It
// runs before a ForgeMethod("abci_query") rule, if both are set.
func (p *Proxy) ForgeQuery(fn QueryForger) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.query = fn
}

// ForgePath is ForgeQuery for the JSON answers of one path (at any
// height): fn gets the answer's value decoded as JSON into a fresh T, and
// what it leaves there is JSON-encoded into the answer. Key and height are
// left as the validator gave them. Queries with prove=true are not
// touched: Phalanx answers them with the stored record (protobuf) and its
// proof ops, not JSON; forge those with ForgeQuery. Failed queries (code
// != 0) are not touched either. It replaces any ForgeQuery rule.
func ForgePath[T any](p *Proxy, path string, fn func(v *T)) {
	p.ForgeQuery(func(req QueryRequest, resp *abci.QueryResponse) {
		if req.Path != path || req.Prove || resp.Code != 0 {
			return
		}
		v := new(T)
		if err := DecodeValue(resp, v); err != nil {
			return
		}
		fn(v)
		_ = EncodeValue(resp, v)
	})
}

// DecodeValue decodes the JSON in an abci_query answer's value into out
// (Phalanx's answers to queries without proof are JSON; with prove=true
// the value is the stored protobuf record).
func DecodeValue(resp *abci.QueryResponse, out any) error {
	if err := json.Unmarshal(resp.Value, out); err != nil {
		return fmt.Errorf("rpcforge: abci_query value into %T: %w", out, err)
	}
	return nil
}

// EncodeValue sets an abci_query answer's value to the JSON of v.
func EncodeValue(resp *abci.QueryResponse, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("rpcforge: encode %T: %w", v, err)
	}
	resp.Value = b
	return nil
}

// DecodeResult decodes a JSON-RPC result as CometBFT encodes it (cmtjson:
// int64 as strings, []byte as base64, amino-style type tags) into out,
// e.g. a *ctypes.ResultCommit, *ctypes.ResultValidators, *ctypes.ResultStatus.
func DecodeResult(result json.RawMessage, out any) error {
	if err := cmtjson.Unmarshal(result, out); err != nil {
		return fmt.Errorf("rpcforge: result into %T: %w", out, err)
	}
	return nil
}

// EncodeResult encodes v as CometBFT's RPC server would.
func EncodeResult(v any) (json.RawMessage, error) {
	b, err := cmtjson.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rpcforge: encode %T: %w", v, err)
	}
	return b, nil
}

// Forge is ForgeCall with the result decoded (DecodeResult) into a fresh
// T, for fn to change in place, and encoded back (EncodeResult). A result
// that does not decode into T is sent unchanged. T is the result type of
// the method: ctypes.ResultCommit for "commit", ctypes.ResultValidators
// for "validators", ctypes.ResultStatus for "status",
// ctypes.ResultBlockResults for "block_results", ctypes.ResultHeader for
// "header", ctypes.ResultABCIQuery for "abci_query"…
func Forge[T any](p *Proxy, method string, fn func(c Call, r *T)) {
	p.ForgeCall(method, func(c Call, raw json.RawMessage) json.RawMessage {
		v := new(T)
		if err := DecodeResult(raw, v); err != nil {
			return nil
		}
		fn(c, v)
		b, err := EncodeResult(v)
		if err != nil {
			return nil
		}
		return b
	})
}

// forgeQueryResult runs fn on an abci_query result.
func forgeQueryResult(c Call, result json.RawMessage, fn QueryForger) (json.RawMessage, error) {
	req, err := ParseQueryParams(c.Params)
	if err != nil {
		return nil, err
	}
	var res ctypes.ResultABCIQuery
	if err := cmtjson.Unmarshal(result, &res); err != nil {
		return nil, err
	}
	fn(req, &res.Response)
	return cmtjson.Marshal(&res)
}

// ParseQueryParams reads the parameters of an abci_query call (Call.Params):
// an object {"path","data","height","prove"} or the array [path, data,
// height, prove].
func ParseQueryParams(params json.RawMessage) (QueryRequest, error) {
	var q QueryRequest
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(params, &raw); err != nil {
		var arr []json.RawMessage
		if err2 := json.Unmarshal(params, &arr); err2 != nil {
			return q, fmt.Errorf("rpcforge: abci_query params %s: neither an object nor an array", params)
		}
		raw = map[string]json.RawMessage{}
		for i, name := range []string{"path", "data", "height", "prove"} {
			if i < len(arr) {
				raw[name] = arr[i]
			}
		}
	}
	if v, ok := raw["path"]; ok {
		if err := json.Unmarshal(v, &q.Path); err != nil {
			return q, fmt.Errorf("rpcforge: abci_query path %s: %w", v, err)
		}
	}
	if v, ok := raw["data"]; ok && string(v) != "null" {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return q, fmt.Errorf("rpcforge: abci_query data %s: %w", v, err)
		}
		s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
		b, err := hex.DecodeString(s)
		if err != nil {
			return q, fmt.Errorf("rpcforge: abci_query data %q: %w", s, err)
		}
		q.Data = b
	}
	if v, ok := raw["height"]; ok && string(v) != "null" {
		s := strings.Trim(string(v), `"`)
		if s != "" {
			h, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return q, fmt.Errorf("rpcforge: abci_query height %s: %w", v, err)
			}
			q.Height = h
		}
	}
	if v, ok := raw["prove"]; ok && string(v) != "null" {
		s := strings.Trim(string(v), `"`)
		q.Prove = s == "true"
	}
	return q, nil
}
