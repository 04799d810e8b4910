package api_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
)

// TestCheckValidation: a spec's health checks take defaults for what a
// spec file leaves out, and a bad check is refused with code 12 and a
// message that says what was expected.
func TestCheckValidation(t *testing.T) {
	const head = `{"name": "w", "command": "x", "replicas": 1, "resources": {"cpu_millis": 1, "memory_mb": 1}, `
	spec, err := api.ParseWorkloadSpecJSON([]byte(head + `"checks": [{"name": "up", "kind": "readiness", "type": "http", "port": 8080}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := spec.Checks[0]
	if c.Path != "/" || c.IntervalMs != api.DefaultCheckIntervalMs || c.TimeoutMs != api.DefaultCheckTimeoutMs || c.FailureThreshold != api.DefaultCheckFailureThreshold {
		t.Errorf("defaults: %+v", c)
	}
	for _, tc := range []struct{ checks, want string }{
		{`[{"name": "c", "kind": "sometimes", "type": "tcp", "port": 80}]`, `kind "sometimes"; want "liveness" or "readiness"`},
		{`[{"name": "c", "kind": "liveness", "type": "http", "port": 0}]`, "port 0; want the task's port on 127.0.0.1, 1 to 65535"},
		{`[{"name": "c", "kind": "liveness", "type": "exec"}]`, "an exec check needs a command"},
		{`[{"name": "c", "kind": "liveness", "type": "exec", "command": ["true"], "port": 80}]`, "port and path apply to http and tcp checks"},
		{`[{"name": "c", "kind": "liveness", "type": "tcp", "port": 80, "path": "/x"}]`, "path applies to http checks"},
		{`[{"name": "c", "kind": "liveness", "type": "http", "port": 80, "path": "x"}]`, `path "x"; want a path starting with /`},
		{`[{"name": "c", "kind": "liveness", "type": "udp", "port": 80}]`, `type "udp"; want "exec", "http" or "tcp"`},
		{`[{"name": "c", "kind": "liveness", "type": "tcp", "port": 80, "interval_ms": 50}]`, "interval_ms 50; want 100 to 3600000"},
		{`[{"name": "c", "kind": "liveness", "type": "tcp", "port": 80, "interval_ms": 1000, "timeout_ms": 2000}]`, "timeout_ms 2000; want 1 to interval_ms (1000)"},
		{`[{"name": "c", "kind": "liveness", "type": "tcp", "port": 80, "failure_threshold": 101}]`, "failure_threshold 101; want 1 to 100"},
		{`[{"name": "c", "kind": "liveness", "type": "tcp", "port": 80, "start_grace_ms": -1}]`, "start_grace_ms -1"},
		{`[{"name": "c", "kind": "liveness", "type": "tcp", "port": 80}, {"name": "c", "kind": "readiness", "type": "tcp", "port": 81}]`, "two checks are named c"},
		{`[{"name": "Bad", "kind": "liveness", "type": "tcp", "port": 80}]`, `check name "Bad"`},
	} {
		_, err := api.ParseWorkloadSpecJSON([]byte(head + `"checks": ` + tc.checks + `}`))
		if !errors.Is(err, api.ErrInvalidMessage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("checks %s: %v; want code 12 saying %q", tc.checks, err, tc.want)
		}
	}
	if _, err := api.ParseWorkloadSpecJSON([]byte(head + `"min_healthy_ms": -5}`)); err == nil || !strings.Contains(err.Error(), "min_healthy_ms is -5") {
		t.Errorf("min_healthy_ms -5: %v", err)
	}
	many := strings.Repeat(`{"name": "cN", "kind": "liveness", "type": "tcp", "port": 80},`, api.MaxChecks+1)
	for i := 0; i <= api.MaxChecks; i++ {
		many = strings.Replace(many, `"cN"`, `"c`+string(rune('a'+i))+`"`, 1)
	}
	if _, err := api.ParseWorkloadSpecJSON([]byte(head + `"checks": [` + strings.TrimSuffix(many, ",") + `]}`)); err == nil || !strings.Contains(err.Error(), "checks; the limit is 8") {
		t.Errorf("%d checks: %v", api.MaxChecks+1, err)
	}
}

// TestDisconnectValidation: a disconnect policy's limits and defaults, in
// the spec file as the chain checks them.
func TestDisconnectValidation(t *testing.T) {
	const head = `{"name": "w", "command": "x", "replicas": 1, "resources": {"cpu_millis": 1, "memory_mb": 1}, `
	spec, err := api.ParseWorkloadSpecJSON([]byte(head + `"disconnect": {"lost_after_ms": 20000, "reconcile": "keep_original"}}`))
	if err != nil || spec.Disconnect.LostAfterMs != 20000 || spec.Disconnect.Reconcile != api.KeepOriginal {
		t.Fatalf("a valid policy: %+v, %v", spec.Disconnect, err)
	}
	spec, err = api.ParseWorkloadSpecJSON([]byte(head + `"disconnect": {"reconcile": "keep_replacement"}}`))
	if err != nil || api.HasDisconnect(&spec) {
		t.Fatalf("keep_replacement with no lost_after is no policy (written \"\"): %+v, %v", spec.Disconnect, err)
	}
	if v := api.NewSpecView(spec); v.Disconnect.Reconcile != api.KeepReplacement || v.Disconnect.LostAfterMs != 0 {
		t.Errorf("the view of no policy: %+v", v.Disconnect)
	}
	for _, tc := range []struct{ extra, want string }{
		{`"disconnect": {"lost_after_ms": 1999}`, "disconnect.lost_after_ms is 1999; want 0 (params.fence_timeout_ms) or 2000 to 86400000"},
		{`"disconnect": {"lost_after_ms": 86400001}`, "disconnect.lost_after_ms is 86400001"},
		{`"disconnect": {"lost_after_ms": -1}`, "disconnect.lost_after_ms is -1"},
		{`"disconnect": {"reconcile": "longest_running"}`, `disconnect.reconcile "longest_running"; want "keep_replacement"`},
		{`"disconnect": {"lost_after_ms": 5000}, "replace_order": "start-first"`, "a disconnect policy applies to replace_order stop-first"},
		{`"disconnect": {"lost_after_ms": 5000, "lost": 1}`, `unknown field "lost"`},
	} {
		_, err := api.ParseWorkloadSpecJSON([]byte(head + tc.extra + `}`))
		if !errors.Is(err, api.ErrInvalidMessage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want code 12 saying %q", tc.extra, err, tc.want)
		}
	}
	_, err = api.ParseWorkloadSpecJSON([]byte(`{"name": "d", "type": "system", "command": "x", "resources": {"cpu_millis": 1, "memory_mb": 1}, "disconnect": {"reconcile": "keep_original"}}`))
	if !errors.Is(err, api.ErrInvalidMessage) || !strings.Contains(err.Error(), "a system task belongs to its node") {
		t.Errorf("a system workload with a policy: %v", err)
	}
}
