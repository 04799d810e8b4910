package rpcforge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// heightMethods are the methods Freeze answers for a frozen node: those
// that take a height and serve the latest block without one.
var heightMethods = map[string]bool{"commit": true, "validators": true, "header": true, "block": true, "block_results": true}

// Freeze makes the proxy serve the validator as a node whose latest
// block is at (at > 0) would, as a node that is behind — catching up
// after a restart or a pause — does: status reports latest_block_height
// at; commit, validators, header, block and block_results of a height
// above at are answered with CometBFT's own error ("height H must be less
// than or equal to the current blockchain height AT"), and without a
// height they serve height at. Only single calls are frozen (a batch is
// relayed as it is). Freeze(0) ends it.
func (p *Proxy) Freeze(at int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = max(at, 0)
}

// frozenAt is the height the proxy is frozen at (0: not frozen).
func (p *Proxy) frozenAt() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frozen
}

// freezeCall applies Freeze to call c: it returns the error to answer
// with (a height above the frozen one), or the parameters to ask the
// validator with instead (no height: the frozen one), or neither.
func (p *Proxy) freezeCall(c Call) (errData string, params json.RawMessage) {
	at := p.frozenAt()
	if at == 0 || !heightMethods[c.Method] {
		return "", nil
	}
	obj := map[string]json.RawMessage{}
	if len(c.Params) > 0 && json.Unmarshal(c.Params, &obj) != nil {
		return "", nil // positional parameters: relayed as they are
	}
	var h int64
	if raw, ok := obj["height"]; ok && string(raw) != "null" {
		s := strings.Trim(string(raw), `"`)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return "", nil
		}
		h = n
	}
	if h > at {
		return fmt.Sprintf("height %d must be less than or equal to the current blockchain height %d", h, at), nil
	}
	if h == 0 {
		obj["height"] = json.RawMessage(strconv.Quote(strconv.FormatInt(at, 10)))
		b, _ := json.Marshal(obj)
		return "", b
	}
	return "", nil
}

// writeRPCError answers one JSON-RPC call with CometBFT's internal error
// carrying data.
func writeRPCError(w http.ResponseWriter, id json.RawMessage, data string) {
	if len(id) == 0 {
		id = json.RawMessage(`-1`)
	}
	b, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"id":      id,
		"error":   map[string]any{"code": -32603, "message": "Internal error", "data": data},
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(b)
}

// freezeStatus rewrites a status result's latest_block_height to the
// frozen height.
func freezeStatus(result json.RawMessage, at int64) json.RawMessage {
	var st map[string]json.RawMessage
	if json.Unmarshal(result, &st) != nil {
		return nil
	}
	var si map[string]json.RawMessage
	if json.Unmarshal(st["sync_info"], &si) != nil {
		return nil
	}
	si["latest_block_height"] = json.RawMessage(strconv.Quote(strconv.FormatInt(at, 10)))
	st["sync_info"], _ = json.Marshal(si)
	b, _ := json.Marshal(st)
	return b
}
