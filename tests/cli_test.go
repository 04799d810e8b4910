package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSingleValidatorCLI is the quick start on one validator: init, start,
// transactions through the CLI, queries back over RPC, a rejection with its
// code, a proven query, and the events through `phalanxd watch`.
func TestSingleValidatorCLI(t *testing.T) {
	needE2E(t)
	v := initValidator(t, "cli-test", 200*time.Millisecond)
	v.start()
	waitHeight(t, v.rpcAddr, 2, 90*time.Second)
	common := []string{"--home", v.home, "--keyring-backend", "test", "--node", v.rpcAddr, "--yes"}

	mustRun(t, "keys", "add", "n1", "--home", v.home, "--keyring-backend", "test")
	out := mustRun(t, append([]string{"tx", "node", "register", "n1", "--cpu", "4000", "--memory", "8192", "--zone", "a",
		"--label", "disk=ssd", "--endpoint", "127.0.0.1:9100", "--node-key", "n1", "--from", "admin", "-o", "json"}, common...)...)
	var res struct {
		Hash   string `json:"txhash"`
		Height int64  `json:"height"`
		Code   uint32 `json:"code"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("register output is not the JSON result: %v\n%s", err, out)
	}
	if res.Code != 0 || res.Height == 0 || !isUpperHex(res.Hash) {
		t.Fatalf("register result: %+v", res)
	}
	mustRun(t, append([]string{"tx", "node", "heartbeat", "n1", "--from", "n1"}, common...)...)

	spec := filepath.Join(t.TempDir(), "web.json")
	if err := os.WriteFile(spec, []byte(`{"name": "web", "command": "sleep", "args": ["3600"], "env": {"MODE": "prod"},
  "replicas": 2, "resources": {"cpu_millis": 1000, "memory_mb": 512},
  "constraints": [{"label": "disk", "op": "=", "value": "ssd"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, append([]string{"tx", "workload", "create", "-f", spec, "--from", "admin"}, common...)...)
	if !strings.Contains(out, "code: 0") {
		t.Fatalf("workload create output lacks code 0:\n%s", out)
	}
	// The same spec again is a no-op, not an error (idempotent).
	out = mustRun(t, append([]string{"tx", "workload", "create", "-f", spec, "--from", "admin"}, common...)...)
	if !strings.Contains(out, "unchanged") {
		t.Fatalf("re-creating the same workload did not say unchanged:\n%s", out)
	}

	// Placement happens in the end-of-block pass; poll with a deadline.
	waitUntil(t, 20*time.Second, "2 tasks of web Assigned on n1", func() (bool, string) {
		out := mustRun(t, "query", "tasks", "--workload", "web", "--node", v.rpcAddr, "-o", "json")
		var tasks struct {
			Tasks []struct {
				ID         string `json:"id"`
				Node       string `json:"node"`
				State      string `json:"state"`
				Generation uint64 `json:"generation"`
			} `json:"tasks"`
		}
		if err := json.Unmarshal([]byte(out), &tasks); err != nil {
			t.Fatalf("tasks JSON: %v\n%s", err, out)
		}
		placed := 0
		for _, tk := range tasks.Tasks {
			if tk.Node == "n1" && tk.State == "Assigned" && tk.Generation > 0 {
				placed++
			}
		}
		return placed == 2, out
	})

	out = mustRun(t, "query", "nodes", "--node", v.rpcAddr)
	if !strings.Contains(out, "n1") || !strings.Contains(out, "Ready") {
		t.Fatalf("query nodes text lacks n1 Ready:\n%s", out)
	}
	out = mustRun(t, "query", "node", "n1", "--prove", "--home", v.home, "--node", v.rpcAddr)
	if !strings.Contains(out, "verified") {
		t.Fatalf("proven query did not report verification:\n%s", out)
	}

	// Lists come a page at a time: --limit, --after, --all, filters; a
	// malformed filter is a bad request (code 27), not an empty answer.
	for i, zone := range []string{"b", "b", "c"} {
		id := fmt.Sprintf("n%d", i+2)
		mustRun(t, "keys", "add", id, "--home", v.home, "--keyring-backend", "test")
		mustRun(t, append([]string{"tx", "node", "register", id, "--cpu", "1000", "--memory", "1024", "--zone", zone,
			"--endpoint", fmt.Sprintf("127.0.0.1:%d", 9101+i), "--node-key", id, "--from", "admin"}, common...)...)
	}
	var page struct {
		Nodes []struct {
			ID   string `json:"id"`
			Zone string `json:"zone"`
		} `json:"nodes"`
		Next string `json:"next"`
	}
	pageIDs := func(args ...string) ([]string, string) {
		t.Helper()
		out := mustRun(t, append([]string{"query", "nodes", "--node", v.rpcAddr, "-o", "json"}, args...)...)
		page.Nodes, page.Next = nil, ""
		if err := json.Unmarshal([]byte(out), &page); err != nil {
			t.Fatalf("query nodes %v: %v\n%s", args, err, out)
		}
		var ids []string
		for _, n := range page.Nodes {
			ids = append(ids, n.ID)
		}
		return ids, page.Next
	}
	if ids, next := pageIDs("--limit", "2"); strings.Join(ids, ",") != "n1,n2" || next != "n2" {
		t.Fatalf("query nodes --limit 2: %v next %q; want n1,n2 next n2", ids, next)
	}
	if ids, next := pageIDs("--limit", "2", "--after", "n2"); strings.Join(ids, ",") != "n3,n4" || next != "" {
		t.Fatalf("query nodes --limit 2 --after n2: %v next %q; want n3,n4 and no next", ids, next)
	}
	if ids, _ := pageIDs("--all"); strings.Join(ids, ",") != "n1,n2,n3,n4" {
		t.Fatalf("query nodes --all: %v", ids)
	}
	if ids, _ := pageIDs("--zone", "b", "--all"); strings.Join(ids, ",") != "n2,n3" {
		t.Fatalf("query nodes --zone b --all: %v", ids)
	}
	out = mustRun(t, "query", "nodes", "--limit", "1", "--node", v.rpcAddr)
	if !strings.Contains(out, "n1") || strings.Contains(out, "n2 ") || !strings.Contains(out, "--after n1") {
		t.Fatalf("query nodes --limit 1 (text) shows one node and how to go on:\n%s", out)
	}
	if out, err := run(t, "query", "nodes", "--state", "Sleeping", "--node", v.rpcAddr); err == nil || !strings.Contains(out, "invalid --state") {
		t.Fatalf("query nodes --state Sleeping: err=%v\n%s", err, out)
	}
	if out, err := run(t, "query", "tasks", "--limit", "5000", "--node", v.rpcAddr); err == nil || !strings.Contains(out, "1..1000") {
		t.Fatalf("query tasks --limit 5000: err=%v\n%s", err, out)
	}
	bad, err := v.rpc().ABCIQuery(context.Background(), "/tasks?colour=red", nil)
	if err != nil || bad.Response.Code != 27 || !strings.Contains(bad.Response.Log, `unknown parameter "colour"`) {
		t.Fatalf("abci_query /tasks?colour=red: err=%v code %d %q; want code 27 naming the parameter", err, bad.Response.Code, bad.Response.Log)
	}

	// A rejected transaction exits non-zero with the app's numbered message.
	out, err = run(t, append([]string{"tx", "node", "cordon", "nope", "--from", "admin"}, common...)...)
	if err == nil || !strings.Contains(out, "code 14") {
		t.Fatalf("cordon of an unknown node: err=%v\n%s", err, out)
	}
	// The node's own key may not drain (operator role needed): code 10.
	out, err = run(t, append([]string{"tx", "node", "drain", "n1", "--from", "n1"}, common...)...)
	if err == nil || !strings.Contains(out, "code 10") {
		t.Fatalf("drain by a node key: err=%v\n%s", err, out)
	}
	// A node with tasks is not removed without --force (code 34); one
	// without tasks is, and its slot is free.
	out, err = run(t, append([]string{"tx", "node", "remove", "n1", "--from", "admin"}, common...)...)
	if err == nil || !strings.Contains(out, "code 34") {
		t.Fatalf("remove of a node with tasks: err=%v\n%s", err, out)
	}
	out = mustRun(t, append([]string{"tx", "node", "remove", "n4", "--reason", "retired", "--from", "admin"}, common...)...)
	if !strings.Contains(out, "node_removed") {
		t.Fatalf("tx node remove n4 output lacks the node_removed event:\n%s", out)
	}
	if ids, _ := pageIDs("--all"); strings.Join(ids, ",") != "n1,n2,n3" {
		t.Fatalf("query nodes --all after removing n4: %v", ids)
	}
	// admin is an observer, but not jailed: code 35.
	out, err = run(t, append([]string{"tx", "observer", "unjail", "admin", "--from", "admin"}, common...)...)
	if err == nil || !strings.Contains(out, "code 35") {
		t.Fatalf("unjail of an observer that is not jailed: err=%v\n%s", err, out)
	}

	// watch replays the history: the registration and the placements.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := exec.CommandContext(ctx, binary, "watch", "--node", v.rpcAddr, "--from-height", "1", "-q")
	stdout, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Process.Kill(); _ = w.Wait() }()
	// The scan ends at the three events, or when the context's 30s kill
	// the watch.
	want := map[string]bool{"node_status": false, "workload": false, "task_placed": false}
	sc := bufio.NewScanner(stdout)
	lines := 0
	for sc.Scan() {
		line := sc.Text()
		lines++
		for k := range want {
			if strings.Contains(line, " "+k+" ") {
				want[k] = true
			}
		}
		if want["node_status"] && want["workload"] && want["task_placed"] {
			break
		}
	}
	for k, seen := range want {
		if !seen {
			t.Fatalf("watch did not show a %s event within 30s (%d lines read; seen: %v)", k, lines, want)
		}
	}
	last := heightNow(t, v.rpcAddr)
	if err := v.stop(); err != nil {
		t.Fatalf("clean shutdown on SIGTERM: %v", err)
	}

	// rollback moves CometBFT and the app back one height together; the
	// next start re-executes that block and goes on.
	out = mustRun(t, "rollback", "--home", v.home)
	if !strings.Contains(out, "Rolled back to height") {
		t.Fatalf("rollback output:\n%s", out)
	}
	v.start()
	waitHeight(t, v.rpcAddr, last+3, 60*time.Second)
	info, err := v.rpc().ABCIInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	next := info.Response.LastBlockHeight + 1
	waitHeight(t, v.rpcAddr, next, 30*time.Second)
	hdr, err := v.rpc().Header(context.Background(), &next)
	if err != nil || !bytes.Equal(hdr.Header.AppHash, info.Response.LastBlockAppHash) {
		t.Fatalf("after rollback and restart the app hash disagrees with header %d: %v", next, err)
	}
}
