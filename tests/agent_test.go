package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAgentRunsTasks: a worker agent on one validator runs the task the
// chain places on its node as an OS process, the chain shows it Running
// with the checkpoint the task writes; an observer's reports count; when
// the agent is killed with SIGKILL its task dies with it, the observer
// sees the node unreachable and the chain takes the task off it; the
// restarted agent gets the next generation with the checkpoint handed in.
func TestAgentRunsTasks(t *testing.T) {
	needE2E(t)
	v := initValidator(t, "agent-test", 200*time.Millisecond)
	v.start()
	waitHeight(t, v.rpcAddr, 2, 90*time.Second)
	common := []string{"--keyring-backend", "test", "--node", v.rpcAddr}

	// The node's key lives in the agent's home; an operator registers the
	// node with its public key (registration is closed on this chain).
	agentHome := filepath.Join(t.TempDir(), "agent")
	mustRun(t, "keys", "add", "n1", "--home", agentHome, "--keyring-backend", "test")
	var key struct {
		PubKey string `json:"pub_key"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "keys", "show", "n1", "--home", agentHome, "--keyring-backend", "test", "-o", "json")), &key); err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mustRun(t, append([]string{"tx", "node", "register", "n1", "--cpu", "2000", "--memory", "2048", "--zone", "z1",
		"--endpoint", listen, "--node-pubkey", key.PubKey, "--from", "admin", "--home", v.home, "--yes"}, common...)...)
	// A second node, in another zone, alive throughout and cordoned (the
	// task stays on n1): with n1 the only node, losing it would leave
	// every zone without a Ready node, and eviction pacing evicts nothing
	// then (ADR 0012).
	spareHome := filepath.Join(t.TempDir(), "spare")
	mustRun(t, "keys", "add", "n2", "--home", spareHome, "--keyring-backend", "test")
	if err := json.Unmarshal([]byte(mustRun(t, "keys", "show", "n2", "--home", spareHome, "--keyring-backend", "test", "-o", "json")), &key); err != nil {
		t.Fatal(err)
	}
	spareListen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mustRun(t, append([]string{"tx", "node", "register", "n2", "--cpu", "2000", "--memory", "2048", "--zone", "z2",
		"--endpoint", spareListen, "--node-pubkey", key.PubKey, "--from", "admin", "--home", v.home, "--yes"}, common...)...)
	mustRun(t, append([]string{"tx", "node", "cordon", "n2", "--from", "admin", "--home", v.home, "--yes"}, common...)...)
	startBackground(t, filepath.Join(spareHome, "agent.log"), append([]string{"agent", "--home", spareHome, "--node-id", "n2", "--key", "n2",
		"--zone", "z2", "--listen", spareListen, "--cpu", "2000", "--memory", "2048", "--stop-grace", "2s",
		"--genesis", filepath.Join(v.home, "config", "genesis.json")}, common...)...)

	// A task that counts, resuming from the checkpoint it is handed.
	spec := filepath.Join(t.TempDir(), "count.json")
	script := `i=$(cat "$PHALANX_CHECKPOINT_IN"); echo "generation $PHALANX_TASK_GENERATION resumes from ${i:-nothing}"; ` +
		`i=${i:-0}; while :; do i=$((i+1)); printf "$i" > "$PHALANX_CHECKPOINT_FILE"; sleep 0.2; done`
	specJSON, _ := json.Marshal(map[string]any{"name": "count", "command": "sh", "args": []string{"-c", script},
		"replicas": 1, "resources": map[string]int{"cpu_millis": 100, "memory_mb": 64}})
	if err := os.WriteFile(spec, specJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, append([]string{"tx", "workload", "create", "-f", spec, "--from", "admin", "--home", v.home, "--yes"}, common...)...)
	// The observer signs with the admin key: every admin transaction goes
	// first, so that the two never race for the admin's sequence.
	agentArgs := append([]string{"agent", "--home", agentHome, "--node-id", "n1", "--key", "n1", "--zone", "z1",
		"--listen", listen, "--cpu", "2000", "--memory", "2048", "--stop-grace", "2s",
		"--genesis", filepath.Join(v.home, "config", "genesis.json")}, common...)
	ag := startBackground(t, filepath.Join(agentHome, "agent.log"), agentArgs...)
	startBackground(t, filepath.Join(v.home, "observer.log"), "observer", "--home", v.home, "--key", "admin",
		"--breaker-cooldown", "1s", "--keyring-backend", "test", "--node", v.rpcAddr)

	first := waitCountTask(t, v, 30*time.Second, "count/0 Running on n1 with a checkpoint", func(tk countTask) bool {
		return tk.Node == "n1" && tk.State == "Running" && len(tk.LastCheckpoint) > 0
	})
	pid := agentTaskPID(t, listen, "count/0", first.Generation)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the agent says count/0 runs as pid %d, but: %v", pid, err)
	}
	// The observer's report for a window is decided and scored.
	waitUntil(t, 30*time.Second, "the observer's votes scored (admin account with agreements > 0)", func() (bool, string) {
		var acc struct {
			Agreements uint64 `json:"agreements"`
		}
		out, err := run(t, "query", "account", "admin", "--home", v.home, "--keyring-backend", "test", "--node", v.rpcAddr, "-o", "json")
		if err != nil {
			return false, fmt.Sprintf("query account: %v: %s", err, strings.TrimSpace(out))
		}
		if err := json.Unmarshal([]byte(out), &acc); err != nil {
			return false, fmt.Sprintf("query account JSON: %v: %s", err, strings.TrimSpace(out))
		}
		return acc.Agreements > 0, strings.TrimSpace(out)
	})

	// SIGKILL the agent: its task dies with it.
	killedAt := time.Now()
	ag.kill()
	waitUntil(t, 5*time.Second, fmt.Sprintf("task pid %d dies with the agent", pid), func() (bool, string) {
		return !pidAlive(pid), fmt.Sprintf("pid %d alive", pid)
	})
	// The observer sees the node unreachable; the chain takes the task off it.
	off := waitCountTask(t, v, 30*time.Second, "count/0 taken off n1", func(tk countTask) bool {
		return tk.Generation > first.Generation && tk.Node != "n1"
	})
	t.Logf("agent killed: count/0 off n1 after %s (%s, generation %d)", time.Since(killedAt).Round(10*time.Millisecond), off.State, off.Generation)

	// The agent comes back: the node is reachable again, and the task is
	// placed on it with a new generation and the last checkpoint.
	startBackground(t, filepath.Join(agentHome, "agent.log"), agentArgs...)
	again := waitCountTask(t, v, 60*time.Second, "count/0 Running on n1 again", func(tk countTask) bool {
		return tk.Node == "n1" && tk.State == "Running" && tk.Generation > off.Generation
	})
	log := filepath.Join(agentHome, "tasks", fmt.Sprintf("count_0-g%d.log", again.Generation))
	waitUntil(t, 10*time.Second, "the new generation resumes from the checkpoint", func() (bool, string) {
		b, err := os.ReadFile(log)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(string(b), "resumes from ") && !strings.Contains(string(b), "resumes from nothing"), fmt.Sprintf("%s: %q", log, tailFile(log, 200))
	})

	// Issue 14 §1: a batch (examples/batch.json: 4 completions, 2 at a
	// time) runs each task once to completion and reports Complete.
	mustRun(t, append([]string{"tx", "workload", "create", "-f", "../examples/batch.json", "--from", "admin", "--home", v.home, "--yes"}, common...)...)
	waitUntil(t, 60*time.Second, "workload render Complete", func() (bool, string) {
		out, err := run(t, "query", "workload", "render", "--node", v.rpcAddr, "-o", "json")
		if err != nil {
			return false, fmt.Sprintf("query workload: %v: %s", err, strings.TrimSpace(out))
		}
		var wl struct {
			Batch struct {
				Status    string `json:"status"`
				Succeeded int    `json:"succeeded"`
				Active    int    `json:"active"`
			} `json:"batch"`
		}
		if err := json.Unmarshal([]byte(out), &wl); err != nil {
			return false, err.Error()
		}
		if wl.Batch.Active > 2 {
			t.Fatalf("render: %d tasks active; parallelism is 2", wl.Batch.Active)
		}
		return wl.Batch.Status == "Complete" && wl.Batch.Succeeded == 4, fmt.Sprintf("%+v", wl.Batch)
	})
	for i := 0; i < 4; i++ {
		logs, _ := filepath.Glob(filepath.Join(agentHome, "tasks", fmt.Sprintf("render_%d-g*.log", i)))
		if len(logs) != 1 || !strings.Contains(tailFile(logs[0], 200), fmt.Sprintf("render/%d done", i)) {
			t.Fatalf("render/%d: want one run to completion, got logs %v", i, logs)
		}
	}
	// A service runs until it is stopped: its task exiting with code 0 is
	// restarted in place (generation + 1), not left Completed.
	once := filepath.Join(t.TempDir(), "once.json")
	if err := os.WriteFile(once, []byte(`{"name":"once","command":"sh","args":["-c","sleep 1"],"replicas":1,`+
		`"resources":{"cpu_millis":100,"memory_mb":64},"restart_policy":{"max_restarts":5,"backoff_base_ms":500,"backoff_max_ms":500}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, append([]string{"tx", "workload", "create", "-f", once, "--from", "admin", "--home", v.home, "--yes"}, common...)...)
	waitUntil(t, 60*time.Second, "service once restarted after its exit 0 (generation 3)", func() (bool, string) {
		out, err := run(t, "query", "tasks", "--workload", "once", "--node", v.rpcAddr, "-o", "json")
		if err != nil {
			return false, fmt.Sprintf("query tasks: %v: %s", err, strings.TrimSpace(out))
		}
		var ans struct {
			Tasks []countTask `json:"tasks"`
		}
		if err := json.Unmarshal([]byte(out), &ans); err != nil || len(ans.Tasks) != 1 {
			return false, fmt.Sprintf("%v: %s", err, out)
		}
		tk := ans.Tasks[0]
		if tk.State == "Completed" {
			t.Fatalf("service task once/0 left Completed: %s", out)
		}
		return tk.Generation >= 3, strings.TrimSpace(out)
	})
}

// countTask is a task as `phalanxd query tasks -o json` shows it.
type countTask struct {
	ID             string `json:"id"`
	Node           string `json:"node"`
	Generation     uint64 `json:"generation"`
	State          string `json:"state"`
	LastCheckpoint []byte `json:"last_checkpoint"`
}

func waitCountTask(t *testing.T, v *validator, within time.Duration, what string, cond func(countTask) bool) countTask {
	t.Helper()
	var found countTask
	waitUntil(t, within, what, func() (bool, string) {
		out, err := run(t, "query", "tasks", "--workload", "count", "--node", v.rpcAddr, "-o", "json")
		if err != nil {
			return false, fmt.Sprintf("query tasks: %v: %s", err, strings.TrimSpace(out))
		}
		var ans struct {
			Tasks []countTask `json:"tasks"`
		}
		if err := json.Unmarshal([]byte(out), &ans); err != nil {
			return false, fmt.Sprintf("query tasks JSON: %v: %s", err, strings.TrimSpace(out))
		}
		for _, tk := range ans.Tasks {
			if cond(tk) {
				found = tk
				return true, ""
			}
		}
		return false, fmt.Sprintf("tasks %+v", ans.Tasks)
	})
	return found
}

// agentTaskPID asks the agent's endpoint for the pid of a task.
func agentTaskPID(t *testing.T, listen, id string, gen uint64) int {
	t.Helper()
	resp, err := http.Get("http://" + listen + "/tasks/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tv struct {
		PID        int    `json:"pid"`
		Generation uint64 `json:"generation"`
		State      string `json:"state"`
		Healthy    bool   `json:"healthy"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tv); err != nil {
		t.Fatal(err)
	}
	if tv.Generation != gen || tv.State != "Running" || !tv.Healthy || tv.PID <= 0 {
		t.Fatalf("agent /tasks/%s: %+v; expected generation %d Running", id, tv, gen)
	}
	return tv.PID
}

// pidAlive: pid exists and is not a zombie.
func pidAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// bgProc is a phalanxd process other than a validator.
type bgProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startBackground runs phalanxd args with its output appended to logPath and
// kills it at the end of the test.
func startBackground(t *testing.T, logPath string, args ...string) *bgProc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &bgProc{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			p.kill()
		}
		if t.Failed() {
			t.Logf("--- %s (tail) ---\n%s", logPath, tailFile(logPath, 4000))
		}
	})
	return p
}

func (p *bgProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}
