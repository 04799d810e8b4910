package rpcpool

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
)

// fakeNode answers every abci_query with code and value, as CometBFT's
// JSON-RPC does.
func fakeNode(t *testing.T, code uint32, value string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		resp := map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": map[string]any{
			"response": map[string]any{"code": code, "log": "nope", "value": base64.StdEncoding.EncodeToString([]byte(value)), "height": "5"},
		}}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// deadURL is an address nothing listens on.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "tcp://" + addr
}

func TestPoolFailsOver(t *testing.T) {
	live := fakeNode(t, 0, `{"height": 5}`)
	var logged []string
	p, err := New([]string{deadURL(t), live.URL}, client.Config{}, func(f string, a ...any) { logged = append(logged, f) })
	if err != nil {
		t.Fatal(err)
	}
	var used string
	query := func(ctx context.Context, c *client.Client) error {
		used = c.Node()
		_, err := c.Query(ctx, "/summary", nil)
		return err
	}
	if err := p.Do(context.Background(), time.Second, query); err != nil {
		t.Fatalf("Do with one live node: %v", err)
	}
	if used != live.URL || p.Current().Node() != live.URL {
		t.Fatalf("used %s, current %s; expected the live node %s", used, p.Current().Node(), live.URL)
	}
	// The live node is now asked first.
	if err := p.Do(context.Background(), time.Second, query); err != nil || used != live.URL {
		t.Fatalf("second Do used %s: %v", used, err)
	}
}

func TestPoolAppErrorIsAnAnswer(t *testing.T) {
	refusing := fakeNode(t, api.ErrNotFound.Code, "")
	other := fakeNode(t, 0, `{}`)
	p, err := New([]string{refusing.URL, other.URL}, client.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Do(context.Background(), time.Second, func(ctx context.Context, c *client.Client) error {
		_, err := c.Query(ctx, "/nodes/x", nil)
		return err
	})
	if !errors.Is(err, api.ErrNotFound) || p.Current().Node() != refusing.URL {
		t.Fatalf("an application's answer moved the pool on: err %v, current %s", err, p.Current().Node())
	}
}

func TestPoolAllDown(t *testing.T) {
	p, err := New([]string{deadURL(t), deadURL(t)}, client.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	err = p.Do(context.Background(), time.Second, func(ctx context.Context, c *client.Client) error {
		calls++
		_, err := c.Query(ctx, "/summary", nil)
		return err
	})
	if !errors.Is(err, ErrAllUnreachable) || calls != 2 {
		t.Fatalf("err %v after %d calls; expected ErrAllUnreachable after 2", err, calls)
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	ceiling := 100 * time.Millisecond
	for i := range 10 {
		d := b.Next()
		if d < ceiling/2 || d > ceiling {
			t.Fatalf("attempt %d: %s; expected within [%s, %s]", i, d, ceiling/2, ceiling)
		}
		ceiling = min(2*ceiling, time.Second)
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset: %s", d)
	}
}
