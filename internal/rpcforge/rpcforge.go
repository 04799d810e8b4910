// Package rpcforge is a forging CometBFT RPC proxy for tests: an
// adversary between a client and a real validator. It forwards every
// request to the validator unchanged — JSON-RPC POST (single and batch),
// URI-style GET (/abci_query?path="..."), and the /websocket endpoint that
// subscriptions use — except where a rule set by the test says otherwise:
// rewrite an abci_query answer (ForgeQuery), rewrite any method's result
// (ForgeMethod, ForgeCall, Forge), refuse, hang or fail a method (Drop),
// or slow it down (Delay).
// It counts the calls of each method, so that a test can assert a client
// did or did not ask.
//
// Rules may be set, replaced and cleared at any time, from any goroutine;
// a request sees the rules in force when its answer comes back from the
// validator (Drop: when it arrives). Forging functions run outside the
// proxy's lock, possibly concurrently.
//
// What goes over a websocket once it is open (subscribe calls and the
// events pushed back) is relayed byte for byte: not counted, not forged;
// WebsocketMethod counts and drops the connections themselves.
package rpcforge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// WebsocketMethod is the pseudo-method under which Count counts the
// connections to /websocket, and that Drop takes to refuse, hang or fail
// their upgrade. The JSON-RPC calls made over a websocket (subscribe,
// unsubscribe) are relayed as they are: not counted, not forged.
const WebsocketMethod = "websocket"

// DropMode is what Drop does to a method's requests.
type DropMode int

const (
	// Refuse closes the client's connection without an answer (the
	// client sees EOF / connection reset), as a crashed node would.
	Refuse DropMode = iota + 1
	// Hang never answers: the request waits until the client gives up
	// (its context or timeout) or the proxy is closed.
	Hang
	// Fail answers with a JSON-RPC error (code -32603, "rpcforge: METHOD
	// refused") and HTTP 500, as CometBFT does for an internal error,
	// without asking the validator. For /websocket: HTTP 503.
	Fail
)

func (d DropMode) String() string {
	switch d {
	case Refuse:
		return "refuse"
	case Hang:
		return "hang"
	case Fail:
		return "fail"
	}
	return fmt.Sprintf("DropMode(%d)", int(d))
}

// Call is one JSON-RPC call as the proxy received it.
type Call struct {
	Method string
	// Params are the call's parameters as JSON: an object (or an array for
	// positional parameters) as the client sent it in a POST. A GET's
	// query parameters are turned into the object the POST form would
	// carry: "..." strings stay JSON strings, 0x… hex becomes the
	// upper-case hex string of bytes.HexBytes, true/false booleans, and
	// numbers JSON strings (as cmtjson writes int64), e.g.
	// /abci_query?path="/x"&height=5 gives {"height":"5","path":"/x"}.
	Params json.RawMessage
	// Batch tells the call came in a batch (POST of a JSON array).
	Batch bool
}

// Proxy is a forging RPC proxy listening on 127.0.0.1.
type Proxy struct {
	upstream *url.URL
	ln       net.Listener
	srv      *http.Server
	hc       *http.Client
	ws       *httputil.ReverseProxy
	closed   chan struct{}
	once     sync.Once

	connMu sync.Mutex
	conns  map[net.Conn]struct{} // every client connection, hijacked ones included

	mu     sync.Mutex
	query  QueryForger
	forge  map[string]CallForger
	drops  map[string]DropMode
	delays map[string]time.Duration
	counts map[string]int
	frozen int64 // Freeze
}

// CallForger rewrites the result of a call: it gets the call and the
// validator's result (the JSON of the "result" member of the JSON-RPC
// answer) and returns the result to send instead; nil keeps the result.
// It is not called on JSON-RPC error answers.
type CallForger func(c Call, result json.RawMessage) json.RawMessage

// Options configure New. The zero value is fine.
type Options struct {
	// Timeout bounds each request to the validator (default 30s); it does
	// not apply to websocket connections.
	Timeout time.Duration
}

// New starts a proxy of upstream, the RPC address of a real CometBFT node
// (tcp://HOST:PORT or http://HOST:PORT), on 127.0.0.1 on a port the OS
// chooses. Close stops it.
func New(upstream string, opts Options) (*Proxy, error) {
	u, err := upstreamURL(upstream)
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("rpcforge: listen: %w", err)
	}
	p := &Proxy{
		upstream: u,
		ln:       ln,
		closed:   make(chan struct{}),
		conns:    map[net.Conn]struct{}{},
		forge:    map[string]CallForger{},
		drops:    map[string]DropMode{},
		delays:   map[string]time.Duration{},
		counts:   map[string]int{},
		hc: &http.Client{
			Timeout: opts.Timeout,
			Transport: &http.Transport{
				Proxy:               nil,
				DisableCompression:  true,
				MaxIdleConnsPerHost: 16,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	p.ws = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = u.Host
		},
		ErrorLog: nil,
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second, ConnState: p.track}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func upstreamURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "tcp://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("rpcforge: upstream %q: %w", s, err)
	}
	switch u.Scheme {
	case "tcp", "http":
		u.Scheme = "http"
	case "https":
	default:
		return nil, fmt.Errorf("rpcforge: upstream %q: scheme %q; expected tcp://HOST:PORT or http(s)://HOST:PORT", s, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("rpcforge: upstream %q has no host", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// URL is the proxy's address, tcp://127.0.0.1:PORT, for client.New and
// --node.
func (p *Proxy) URL() string { return "tcp://" + p.ln.Addr().String() }

// Upstream is the validator's address as the proxy uses it (http://…).
func (p *Proxy) Upstream() string { return p.upstream.String() }

// Close stops the proxy: it closes the listener and every connection,
// including websockets and requests held by Hang.
func (p *Proxy) Close() error {
	var err error
	p.once.Do(func() {
		close(p.closed)
		err = p.srv.Close()
		// http.Server.Close leaves hijacked connections (websockets) open.
		p.connMu.Lock()
		for c := range p.conns {
			_ = c.Close()
		}
		p.conns = map[net.Conn]struct{}{}
		p.connMu.Unlock()
		p.hc.CloseIdleConnections()
	})
	return err
}

// track keeps the set of client connections for Close; a hijacked
// connection stays in it (the server no longer reports its state).
func (p *Proxy) track(c net.Conn, st http.ConnState) {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	switch st {
	case http.StateNew:
		select {
		case <-p.closed:
			_ = c.Close()
		default:
			p.conns[c] = struct{}{}
		}
	case http.StateClosed:
		delete(p.conns, c)
	}
}

// ForgeMethod rewrites the results of method (e.g. "commit", "validators",
// "status", "block_results", "header"): fn gets the validator's result
// and returns the one to send (nil: unchanged). A nil fn removes the rule.
// It replaces any earlier ForgeMethod/ForgeCall/Forge rule of the method.
func (p *Proxy) ForgeMethod(method string, fn func(result json.RawMessage) json.RawMessage) {
	if fn == nil {
		p.ForgeCall(method, nil)
		return
	}
	p.ForgeCall(method, func(_ Call, r json.RawMessage) json.RawMessage { return fn(r) })
}

// ForgeCall is ForgeMethod with the call's parameters (e.g. the height of
// a "commit").
func (p *Proxy) ForgeCall(method string, fn CallForger) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if fn == nil {
		delete(p.forge, method)
		return
	}
	p.forge[method] = fn
}

// Drop makes the proxy refuse, hang or fail every request of method (a
// JSON-RPC method, or WebsocketMethod) until Restore. A batch holding a
// dropped method is dropped as a whole. Dropped calls are still counted.
func (p *Proxy) Drop(method string, mode DropMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drops[method] = mode
}

// Delay holds every request of method (or WebsocketMethod) for d before
// passing it on, as a slow or distant node would; a client that gives up
// first gets no answer. A batch waits for the longest delay of its
// methods. Drop takes precedence. Restore or Delay(method, 0) ends it.
func (p *Proxy) Delay(method string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d <= 0 {
		delete(p.delays, method)
		return
	}
	p.delays[method] = d
}

// Restore undoes Drop(method) and Delay(method).
func (p *Proxy) Restore(method string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.drops, method)
	delete(p.delays, method)
}

// ClearRules removes every ForgeQuery, ForgeMethod/ForgeCall/Forge,
// Drop, Delay and Freeze rule: the proxy forwards everything unchanged again. Counts stay.
func (p *Proxy) ClearRules() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.query = nil
	p.forge = map[string]CallForger{}
	p.drops = map[string]DropMode{}
	p.delays = map[string]time.Duration{}
	p.frozen = 0
}

// Count is how many calls of method the proxy received (forwarded,
// forged or dropped) since New or ResetCounts. Each call of a batch
// counts; a GET /status counts as "status"; WebsocketMethod counts
// websocket connections.
func (p *Proxy) Count(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[method]
}

// Counts is a copy of every method's count.
func (p *Proxy) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// ResetCounts sets every count to zero.
func (p *Proxy) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[string]int{}
}

// rpcRequest is one JSON-RPC request; the id is kept as the client wrote it.
type rpcRequest struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/websocket" || strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		p.serveWebsocket(w, r)
		return
	}
	switch r.Method {
	case http.MethodPost:
		p.servePost(w, r)
	case http.MethodGet, http.MethodHead:
		p.serveGet(w, r)
	default:
		p.forwardPlain(w, r, nil)
	}
}

func (p *Proxy) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	if p.dropped(w, r, []string{WebsocketMethod}, nil, false) {
		return
	}
	p.ws.ServeHTTP(w, r)
}

// dropped counts methods and applies a Drop rule if one of them has one,
// or waits out their Delay; it reports whether the request was handled
// (dropped, or given up during the delay).
func (p *Proxy) dropped(w http.ResponseWriter, r *http.Request, methods []string, ids []json.RawMessage, batch bool) bool {
	p.mu.Lock()
	mode, drop := DropMode(0), false
	var delay time.Duration
	for _, m := range methods {
		p.counts[m]++
		if d, ok := p.drops[m]; ok && !drop {
			mode, drop = d, true
		}
		delay = max(delay, p.delays[m])
	}
	p.mu.Unlock()
	if !drop {
		if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return true
			case <-p.closed:
				return true
			}
		}
		return false
	}
	switch mode {
	case Hang:
		select {
		case <-r.Context().Done():
		case <-p.closed:
		}
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
			}
		}
	case Fail:
		if len(methods) == 1 && methods[0] == WebsocketMethod {
			http.Error(w, "rpcforge: websocket refused", http.StatusServiceUnavailable)
			return true
		}
		var out []json.RawMessage
		for i, m := range methods {
			id := json.RawMessage(`-1`)
			if i < len(ids) && len(ids[i]) > 0 {
				id = ids[i]
			}
			b, _ := json.Marshal(map[string]any{
				"jsonrpc": "2.0",
				"id":      id,
				"error":   map[string]any{"code": -32603, "message": "Internal error", "data": "rpcforge: " + m + " refused"},
			})
			out = append(out, b)
		}
		body := out[0]
		if batch {
			body, _ = json.Marshal(out)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(body)
	default: // Refuse
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	}
	return true
}

func (p *Proxy) servePost(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	trimmed := bytes.TrimSpace(body)
	var calls []Call
	var ids []json.RawMessage
	batch := len(trimmed) > 0 && trimmed[0] == '['
	if batch {
		var reqs []rpcRequest
		if json.Unmarshal(trimmed, &reqs) == nil {
			for _, q := range reqs {
				calls = append(calls, Call{Method: q.Method, Params: q.Params, Batch: true})
				ids = append(ids, q.ID)
			}
		}
	} else {
		var q rpcRequest
		if json.Unmarshal(trimmed, &q) == nil && q.Method != "" {
			calls = append(calls, Call{Method: q.Method, Params: q.Params})
			ids = append(ids, q.ID)
		}
	}
	methods := make([]string, len(calls))
	for i, c := range calls {
		methods[i] = c.Method
	}
	if p.dropped(w, r, methods, ids, batch) {
		return
	}
	if !batch && len(calls) == 1 {
		errData, params := p.freezeCall(calls[0])
		if errData != "" {
			writeRPCError(w, ids[0], errData)
			return
		}
		if params != nil {
			calls[0].Params = params
			body, _ = json.Marshal(rpcRequest{ID: ids[0], Method: calls[0].Method, Params: params})
			body = append([]byte(`{"jsonrpc":"2.0",`), body[1:]...)
		}
	}
	p.forwardPlain(w, r, body, func(resp []byte) []byte {
		return p.rewritePost(resp, batch, calls, ids)
	})
}

func (p *Proxy) serveGet(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/")
	if method == "" || strings.Contains(method, "/") {
		p.forwardPlain(w, r, nil)
		return
	}
	c := Call{Method: method, Params: uriParams(r.URL.Query())}
	if p.dropped(w, r, []string{method}, nil, false) {
		return
	}
	if errData, params := p.freezeCall(c); errData != "" {
		writeRPCError(w, nil, errData)
		return
	} else if params != nil {
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(params, &obj)
		q := r.URL.Query()
		q.Set("height", strings.Trim(string(obj["height"]), `"`))
		r.URL.RawQuery = q.Encode()
		c.Params = params
	}
	p.forwardPlain(w, r, nil, func(resp []byte) []byte {
		return p.rewriteOne(resp, c)
	})
}

// uriParams turns URI query parameters into the JSON object of the POST
// form (see Call.Params).
func uriParams(q url.Values) json.RawMessage {
	obj := make(map[string]json.RawMessage, len(q))
	for k, vs := range q {
		if len(vs) == 0 {
			continue
		}
		v := vs[0]
		switch {
		case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
			if json.Valid([]byte(v)) {
				obj[k] = json.RawMessage(v)
			} else {
				b, _ := json.Marshal(v[1 : len(v)-1])
				obj[k] = b
			}
		case strings.HasPrefix(v, "0x") || strings.HasPrefix(v, "0X"):
			b, _ := json.Marshal(strings.ToUpper(v[2:]))
			obj[k] = b
		case v == "true" || v == "false":
			obj[k] = json.RawMessage(v)
		default:
			b, _ := json.Marshal(v)
			obj[k] = b
		}
	}
	b, _ := json.Marshal(obj)
	return b
}

// forwardPlain sends the request (with body, if not nil; else r.Body) to
// the validator and copies the answer back, through rewrite if given.
func (p *Proxy) forwardPlain(w http.ResponseWriter, r *http.Request, body []byte, rewrite ...func([]byte) []byte) {
	target := *p.upstream
	target.Path = p.upstream.Path + r.URL.Path
	target.RawQuery = r.URL.RawQuery
	var rd io.Reader = r.Body
	if body != nil {
		rd = bytes.NewReader(body)
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target.String(), rd)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, vs := range r.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Accept-Encoding", "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
			continue
		}
		out.Header[k] = vs
	}
	if body != nil {
		out.ContentLength = int64(len(body))
	}
	resp, err := p.hc.Do(out)
	if err != nil {
		// The validator is unreachable: look like it to the client.
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, herr := hj.Hijack(); herr == nil {
				_ = c.Close()
				return
			}
		}
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for _, f := range rewrite {
		data = f(data)
	}
	for k, vs := range resp.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Connection", "Keep-Alive", "Transfer-Encoding", "Trailer":
			continue
		}
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(data)
}

// rewritePost applies the forging rules to the answer of a POST; an
// answer it cannot parse, or with nothing to forge, is returned as is.
func (p *Proxy) rewritePost(resp []byte, batch bool, calls []Call, ids []json.RawMessage) []byte {
	if len(calls) == 0 || !p.anyRule(calls) {
		return resp
	}
	if !batch {
		return p.rewriteOne(resp, calls[0])
	}
	var answers []json.RawMessage
	if json.Unmarshal(resp, &answers) != nil {
		return resp
	}
	byID := make(map[string]Call, len(calls))
	for i, c := range calls {
		byID[string(bytes.TrimSpace(ids[i]))] = c
	}
	changed := false
	for i, a := range answers {
		var env struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(a, &env) != nil {
			continue
		}
		c, ok := byID[string(bytes.TrimSpace(env.ID))]
		if !ok && i < len(calls) {
			c, ok = calls[i], true
		}
		if !ok {
			continue
		}
		if n := p.rewriteOne(a, c); !bytes.Equal(n, a) {
			answers[i], changed = n, true
		}
	}
	if !changed {
		return resp
	}
	b, err := json.Marshal(answers)
	if err != nil {
		return resp
	}
	return b
}

func (p *Proxy) anyRule(calls []Call) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range calls {
		if _, ok := p.forge[c.Method]; ok {
			return true
		}
		if c.Method == "status" && p.frozen > 0 {
			return true
		}
		if c.Method == "abci_query" && p.query != nil {
			return true
		}
	}
	return false
}

// rewriteOne applies the rules of c's method to one JSON-RPC answer.
func (p *Proxy) rewriteOne(answer []byte, c Call) []byte {
	p.mu.Lock()
	fn := p.forge[c.Method]
	var q QueryForger
	if c.Method == "abci_query" {
		q = p.query
	}
	frozen := int64(0)
	if c.Method == "status" {
		frozen = p.frozen
	}
	p.mu.Unlock()
	if fn == nil && q == nil && frozen == 0 {
		return answer
	}
	var env map[string]json.RawMessage
	if json.Unmarshal(answer, &env) != nil {
		return answer
	}
	result, ok := env["result"]
	if !ok || (len(env["error"]) > 0 && string(env["error"]) != "null") {
		return answer
	}
	orig := result
	if q != nil {
		if n, err := forgeQueryResult(c, result, q); err == nil {
			result = n
		}
	}
	if frozen > 0 {
		if n := freezeStatus(result, frozen); n != nil {
			result = n
		}
	}
	if fn != nil {
		if n := fn(c, result); n != nil {
			result = n
		}
	}
	if bytes.Equal(orig, result) {
		return answer
	}
	env["result"] = result
	b, err := json.Marshal(env)
	if err != nil {
		return answer
	}
	return b
}
