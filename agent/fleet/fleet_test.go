package fleet

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
)

func TestAddressesRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, i := range []int{0, 1, hostsPerSubnet - 1, hostsPerSubnet, 9_999, hostsPerA - 1, hostsPerA, MaxNodes - 1} {
		ip := AddrOf(i)
		if v4 := ip.To4(); v4[0] != 127 || v4[3] == 0 || v4[3] == 255 {
			t.Errorf("node %d: address %s; want 127.A.B.C with A >= 1, C in 1..250", i, ip)
		}
		if seen[ip.String()] {
			t.Errorf("node %d: address %s given twice", i, ip)
		}
		seen[ip.String()] = true
		if got, ok := IndexOf(ip); !ok || got != i {
			t.Errorf("IndexOf(%s) = %d, %t; want %d", ip, got, ok, i)
		}
	}
	for _, s := range []string{"127.0.0.1", "127.1.0.0", "127.1.0.251", "127.0.5.1", "127.200.0.1", "10.1.0.1", "::1"} {
		if i, ok := IndexOf(net.ParseIP(s)); ok {
			t.Errorf("IndexOf(%s) = %d; want no node", s, i)
		}
	}
}

func TestKeysFollowSeedAndIndex(t *testing.T) {
	a, b, c := KeyOf(1, 7), KeyOf(1, 7), KeyOf(2, 7)
	if !bytes.Equal(a, b) {
		t.Fatal("KeyOf(1, 7) differs between two calls")
	}
	if bytes.Equal(a, c) || bytes.Equal(a, KeyOf(1, 8)) {
		t.Fatal("KeyOf gives one key to two seeds or two indexes")
	}
	if NodeID("fleet", 42) != "fleet-00042" {
		t.Fatalf("NodeID = %q", NodeID("fleet", 42))
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    int
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := Percentile(d, c.p); got != c.want {
			t.Errorf("p%d = %s; want %s", c.p, got, c.want)
		}
	}
	if got := Percentile(d[:1], 99); got != time.Millisecond {
		t.Errorf("p99 of one = %s", got)
	}
	if Percentile(nil, 50) != 0 {
		t.Error("p50 of none is not 0")
	}
}

func validConfig() Config {
	return Config{Validators: []string{"tcp://127.0.0.1:1"}, Nodes: 10, Duration: time.Minute, Listen: "0.0.0.0:0"}
}

func TestConfigRefusesWhatCannotWork(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no validator", func(c *Config) { c.Validators = nil }, "no validator"},
		{"no nodes", func(c *Config) { c.Nodes = 0 }, "nodes"},
		{"too many nodes", func(c *Config) { c.Nodes = MaxNodes + 1 }, "nodes"},
		{"no duration", func(c *Config) { c.Duration = 0 }, "duration"},
		{"crash fraction above 1", func(c *Config) { c.CrashFraction = 1.5 }, "crash fraction"},
		{"crash fraction NaN", func(c *Config) { c.CrashFraction = nanValue() }, "crash fraction"},
		{"listen on one address", func(c *Config) { c.Listen = "127.0.0.1:9200" }, "0.0.0.0"},
		{"bad prefix", func(c *Config) { c.Prefix = "Fleet_" }, "prefix"},
		{"long prefix", func(c *Config) { c.Prefix = strings.Repeat("f", MaxPrefixLen+1) }, "prefix"},
		{"too many senders", func(c *Config) { c.Senders = MaxSenders + 1 }, "senders"},
		{"jitter", func(c *Config) { c.JitterPercent = MaxJitterPercent + 1 }, "jitter"},
		{"negative capacity", func(c *Config) { c.Capacity.CpuMillis = -1 }, "registration would be refused"},
	} {
		cfg := validConfig()
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate() = %v; want an error naming %q", c.name, err, c.want)
		}
	}
}

func nanValue() float64 { z := 0.0; return z / z }

// TestServerAnswersForTheNodeDialed: one listener, each node on its own
// loopback address; a crashed node's connection closes unanswered.
func TestServerAnswersForTheNodeDialed(t *testing.T) {
	cfg := validConfig()
	cfg.Nodes = 300
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.handler(), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(f.ln) }()
	defer srv.Close()
	hc := &http.Client{Timeout: 5 * time.Second}
	get := func(i int, path string) (int, []byte, error) {
		resp, err := hc.Get("http://" + EndpointOf(i, f.Port()) + path)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	for _, i := range []int{0, 1, 299} {
		code, b, err := get(i, "/healthz")
		if err != nil || code != http.StatusOK {
			t.Fatalf("node %d /healthz: %d %v", i, code, err)
		}
		var v api.AgentHealthView
		if err := json.Unmarshal(b, &v); err != nil || v.NodeID != NodeID(DefaultPrefix, i) || !v.OK {
			t.Fatalf("node %d /healthz answered %s (%v); want node %s ok", i, b, err, NodeID(DefaultPrefix, i))
		}
	}
	f.mu.Lock()
	f.nodes[1].tasks["web/0"] = taskRef{generation: 3, state: taskRunning}
	f.mu.Unlock()
	code, b, err := get(1, "/tasks")
	var tv api.AgentTasksView
	if err != nil || code != http.StatusOK || json.Unmarshal(b, &tv) != nil || len(tv.Tasks) != 1 ||
		tv.Tasks[0].TaskID != "web/0" || tv.Tasks[0].Generation != 3 || !tv.Tasks[0].Healthy {
		t.Fatalf("node 1 /tasks: %d %s %v; want web/0 generation 3, healthy", code, b, err)
	}
	if code, _, err := get(300, "/healthz"); err != nil || code != http.StatusNotFound {
		t.Fatalf("address of no node: %d %v; want 404", code, err)
	}
	f.mu.Lock()
	f.nodes[2].crashed = true
	f.mu.Unlock()
	if code, b, err := get(2, "/healthz"); err == nil {
		t.Fatalf("crashed node answered %d %s; want the connection closed", code, b)
	}
	if f.refused.Load() != 1 {
		t.Fatalf("refused probes %d; want 1", f.refused.Load())
	}
	if code, _, err := get(0, "/healthz"); err != nil || code != http.StatusOK {
		t.Fatalf("node 0 after node 2 crashed: %d %v", code, err)
	}
}

// TestSawStateCountsVerdicts: a crashed node's Down is a detection, a
// live node's Suspect is false, a revived node's late Down is not, and
// an older observation never overrides a newer one.
func TestSawStateCountsVerdicts(t *testing.T) {
	f := &Fleet{start: time.Unix(1000, 0), logf: t.Logf}
	at := func(s int) time.Time { return f.start.Add(time.Duration(s) * time.Second) }
	live := &node{id: "a", state: stateReady}
	crashed := &node{id: "b", state: stateReady, crashed: true, crashAt: at(10)}
	revived := &node{id: "c", state: stateReady, graceUntil: at(30)}

	f.sawState(crashed, stateSuspect, 5, at(12))
	f.sawState(crashed, stateDown, 6, at(14))
	f.sawState(crashed, stateDown, 7, at(15)) // same state: nothing new
	if len(f.detections) != 1 || f.detections[0] != 4*time.Second || f.counts.falseDown+f.counts.falseSuspect != 0 {
		t.Fatalf("crashed node: detections %v, false %d/%d; want one of 4s, none false", f.detections, f.counts.falseSuspect, f.counts.falseDown)
	}
	f.sawState(revived, stateDown, 8, at(25))
	if f.counts.falseDown != 0 {
		t.Fatal("a revived node's Down within its grace counted false")
	}
	f.sawState(live, stateSuspect, 9, at(20))
	f.sawState(live, stateReady, 8, at(21)) // older height: ignored
	f.sawState(live, stateSuspect, 10, at(22))
	if f.counts.falseSuspect != 1 || live.state != stateSuspect {
		t.Fatalf("live node: false suspect %d, state %s; want 1, Suspect", f.counts.falseSuspect, live.state)
	}
	f.sawState(live, stateReady, 11, at(23))
	f.sawState(live, stateDown, 12, at(24))
	if f.counts.falseDown != 1 || len(f.falseNodes) != 2 {
		t.Fatalf("false down %d, listed %v; want 1 and two listed", f.counts.falseDown, f.falseNodes)
	}
	if f.counts.suspect != 2 || f.counts.down != 3 {
		t.Fatalf("verdicts seen %d suspect, %d down; want 2, 3", f.counts.suspect, f.counts.down)
	}
}
