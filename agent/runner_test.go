//go:build unix

package agent

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the helper processes of the tests below:
// the reaper, and an "agent" that starts one task and then waits to be
// killed.
const helperEnv = "PHALANX_AGENT_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "reaper":
		if err := RunReaper(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "runner":
		helperRunner()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperRunner starts the task $HELPER_SCRIPT under a Runner in
// $HELPER_DIR (with a reaper when $HELPER_REAPER is set), prints its pid
// and blocks until killed.
func helperRunner() {
	var tracker GroupTracker
	if os.Getenv("HELPER_REAPER") != "" {
		rp, err := StartReaper([]string{os.Args[0]}, []string{helperEnv + "=reaper"}, nil)
		if err != nil {
			fmt.Println("error", err)
			return
		}
		tracker = rp
	}
	r, err := NewRunner(RunnerConfig{Dir: os.Getenv("HELPER_DIR"), NodeID: "n1", Tracker: tracker})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	if _, err := r.Start(context.Background(), shTask("h/0", 1, os.Getenv("HELPER_SCRIPT"))); err != nil {
		fmt.Println("error", err)
		return
	}
	st, _ := r.Task("h/0")
	fmt.Println("started", st.PID)
	select {}
}

func shTask(id string, gen uint64, script string) Placement {
	return Placement{TaskID: id, Generation: gen, Command: "sh", Args: []string{"-c", script}}
}

func newTestRunner(t *testing.T, grace time.Duration) *Runner {
	t.Helper()
	r, err := NewRunner(RunnerConfig{Dir: t.TempDir(), NodeID: "n1", StopGrace: grace, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// eventually polls cond every 10ms until it holds, failing after within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readPID waits for a task to write a pid file.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	eventually(t, 10*time.Second, "pid file "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

func taskState(r *Runner, id string) TaskStatus {
	st, _ := r.Task(id)
	return st
}

func TestRunnerStartAndStop(t *testing.T) {
	r := newTestRunner(t, 5*time.Second)
	dir := t.TempDir()
	child := filepath.Join(dir, "child.pid")
	// A shell with a child: stopping the task must end both.
	started, err := r.Start(context.Background(), shTask("web/0", 1, "sleep 300 & echo $! > "+child+"; wait"))
	if err != nil || !started {
		t.Fatalf("start: started=%v err=%v", started, err)
	}
	st := taskState(r, "web/0")
	if st.State != StateRunning || !st.Healthy || st.PID == 0 || st.Generation != 1 {
		t.Fatalf("status after start: %+v", st)
	}
	leader, grandchild := st.PID, readPID(t, child)
	if pgid, err := syscall.Getpgid(leader); err != nil || pgid != leader {
		t.Fatalf("task is not its own process group leader: pgid %d, err %v", pgid, err)
	}
	if pgid, _ := syscall.Getpgid(grandchild); pgid != leader {
		t.Fatalf("the task's child is in group %d; expected the task's group %d", pgid, leader)
	}
	// Starting the same placement again does nothing.
	if again, err := r.Start(context.Background(), shTask("web/0", 1, "exit 9")); again || err != nil {
		t.Fatalf("second start of the same placement: started=%v err=%v", again, err)
	}
	if err := r.Stop(context.Background(), "web/0"); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{leader, grandchild} {
		if ProcessAlive(pid) {
			t.Errorf("pid %d still alive after Stop", pid)
		}
	}
	if !groupGone(leader) {
		t.Errorf("process group %d not gone after Stop", leader)
	}
	if _, ok := r.Task("web/0"); ok {
		t.Errorf("a stopped task is still reported")
	}
}

func TestRunnerExitIsReported(t *testing.T) {
	r := newTestRunner(t, time.Second)
	exits := make(chan TaskStatus, 3)
	r.cfg.OnExit = func(st TaskStatus) { exits <- st }
	cases := []struct {
		id, script string
		state      string
		code       int32
	}{
		{"fail/0", "exit 3", StateFailed, 3},
		{"done/0", "exit 0", StateCompleted, 0},
		{"killed/0", "kill -9 $$", StateFailed, 128 + 9},
	}
	for _, c := range cases {
		p := shTask(c.id, 4, c.script)
		p.Restarts = 2
		if _, err := r.Start(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]TaskStatus{}
	for range cases {
		select {
		case st := <-exits:
			got[st.TaskID] = st
		case <-time.After(10 * time.Second):
			t.Fatalf("exits reported: %d of %d", len(got), len(cases))
		}
	}
	for _, c := range cases {
		st := got[c.id]
		if st.State != c.state || st.ExitCode != c.code || st.Restarts != 2 || st.Generation != 4 || st.Healthy {
			t.Errorf("%s: %+v; expected %s, exit code %d, restarts 2 (the chain's), generation 4", c.id, st, c.state, c.code)
		}
		if polled := taskState(r, c.id); polled.State != c.state {
			t.Errorf("%s: Tasks says %s", c.id, polled.State)
		}
	}
	// An exited placement is never started again; a new generation is.
	if again, _ := r.Start(context.Background(), shTask("fail/0", 4, "sleep 300")); again {
		t.Fatal("an exited placement was started again")
	}
	if started, err := r.Start(context.Background(), shTask("fail/0", 5, "sleep 300")); !started || err != nil {
		t.Fatalf("new generation after a failure: started=%v err=%v", started, err)
	}
	if st := taskState(r, "fail/0"); st.Generation != 5 || st.State != StateRunning {
		t.Fatalf("after restart by the chain: %+v", st)
	}
	// Once the chain has the outcome, the record can go.
	r.Forget("done/0", 4)
	if _, ok := r.Task("done/0"); ok {
		t.Fatal("Forget kept the record")
	}
	r.Forget("fail/0", 5) // live: ignored
	if _, ok := r.Task("fail/0"); !ok {
		t.Fatal("Forget dropped a live task")
	}
}

func TestRunnerStartFailure(t *testing.T) {
	r := newTestRunner(t, time.Second)
	started, err := r.Start(context.Background(), Placement{TaskID: "bad/0", Generation: 1, Command: "/nonexistent/phalanx-cmd"})
	if started || err == nil {
		t.Fatalf("start of a missing command: started=%v err=%v", started, err)
	}
	st := taskState(r, "bad/0")
	if st.State != StateFailed || st.ExitCode != ExitCodeStartFailed {
		t.Fatalf("status: %+v; expected Failed with exit code %d", st, ExitCodeStartFailed)
	}
	log, _ := os.ReadFile(st.Log)
	if !strings.Contains(string(log), "/nonexistent/phalanx-cmd") {
		t.Fatalf("log does not say what failed: %q", log)
	}
}

// TestRunnerFencing: a new generation starts only once the old one's
// process group is gone, even when the old one ignores SIGTERM.
func TestRunnerFencing(t *testing.T) {
	const grace = 300 * time.Millisecond
	r := newTestRunner(t, grace)
	dir := t.TempDir()
	oldPIDFile, verdict := filepath.Join(dir, "old.pid"), filepath.Join(dir, "verdict")
	if _, err := r.Start(context.Background(), shTask("job/0", 1, `trap "" TERM; echo $$ > `+oldPIDFile+`; while :; do sleep 1; done`)); err != nil {
		t.Fatal(err)
	}
	oldPID := readPID(t, oldPIDFile)
	// The new generation checks, as its first act, whether the old one is
	// still alive.
	p := shTask("job/0", 2, fmt.Sprintf(`if kill -0 %d 2>/dev/null; then echo overlap > %s; else echo fenced > %s; fi; exec sleep 300`, oldPID, verdict, verdict))
	begin := time.Now()
	started, err := r.Start(context.Background(), p)
	if err != nil || !started {
		t.Fatalf("start generation 2: started=%v err=%v", started, err)
	}
	if took := time.Since(begin); took < grace {
		t.Errorf("generation 2 started %s after the stop began; the old one ignores SIGTERM, so at least the grace %s", took, grace)
	}
	if ProcessAlive(oldPID) {
		t.Fatalf("generation 1 (pid %d) alive after generation 2 started", oldPID)
	}
	eventually(t, 10*time.Second, "verdict file", func() bool {
		b, _ := os.ReadFile(verdict)
		return len(b) > 0
	})
	if b, _ := os.ReadFile(verdict); strings.TrimSpace(string(b)) != "fenced" {
		t.Fatalf("generation 2 saw generation 1 alive: %q", b)
	}
	st := taskState(r, "job/0")
	if st.Generation != 2 || st.State != StateRunning || st.PID == oldPID {
		t.Fatalf("after fencing: %+v", st)
	}
}

func TestRunnerCheckpoint(t *testing.T) {
	r := newTestRunner(t, time.Second)
	// A task writes its checkpoint; the runner reads it back.
	if _, err := r.Start(context.Background(), shTask("batch/0", 1, `printf step-7 > "$PHALANX_CHECKPOINT_FILE"; exec sleep 300`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "checkpoint read", func() bool {
		return string(taskState(r, "batch/0").Checkpoint) == "step-7"
	})
	// The next generation gets the chain's last checkpoint in.
	dir := t.TempDir()
	got := filepath.Join(dir, "got")
	p := shTask("batch/0", 2, `cat "$PHALANX_CHECKPOINT_IN" > `+got+`.tmp && mv `+got+`.tmp `+got+`; exec sleep 300`)
	p.CheckpointIn = []byte("step-7")
	if _, err := r.Start(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "checkpoint handed in", func() bool {
		b, err := os.ReadFile(got)
		return err == nil && string(b) == "step-7"
	})
	// The new generation has not written one yet.
	if cp := taskState(r, "batch/0").Checkpoint; cp != nil {
		t.Fatalf("generation 2 reports generation 1's checkpoint %q", cp)
	}
	// A checkpoint above the limit is not reported, and says why.
	if _, err := r.Start(context.Background(), shTask("big/0", 1, `head -c 5000 /dev/zero > "$PHALANX_CHECKPOINT_FILE"; exec sleep 300`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "oversized checkpoint refused", func() bool {
		st := taskState(r, "big/0")
		return st.Checkpoint == nil && strings.Contains(st.CheckpointErr, "4096")
	})
}

func TestRunnerEnvironment(t *testing.T) {
	t.Setenv("PHALANX_KEYRING_PASSPHRASE", "agent-secret")
	r := newTestRunner(t, time.Second)
	out := filepath.Join(t.TempDir(), "env")
	p := shTask("env/3", 7, "env > "+out+".tmp && mv "+out+".tmp "+out)
	p.Env = map[string]string{"MODE": "prod", EnvTaskID: "spoofed"}
	if _, err := r.Start(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "env written", func() bool { _, err := os.Stat(out); return err == nil })
	b, _ := os.ReadFile(out)
	env := string(b)
	for _, want := range []string{"MODE=prod", "PHALANX_TASK_ID=env/3", "PHALANX_TASK_GENERATION=7", "PHALANX_NODE_ID=n1", "PHALANX_CHECKPOINT_FILE=", "PHALANX_CHECKPOINT_IN="} {
		if !strings.Contains(env, want) {
			t.Errorf("task env lacks %s:\n%s", want, env)
		}
	}
	if strings.Contains(env, "agent-secret") || strings.Contains(env, "PHALANX_TASK_ID=spoofed") {
		t.Errorf("task env leaks the agent's environment or lets the workload spoof PHALANX_TASK_ID:\n%s", env)
	}
}

// startHelper runs the test binary as an agent that starts script as a
// task, and returns the helper and the task's pid.
func startHelper(t *testing.T, script string, reaper bool) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=runner", "HELPER_DIR="+t.TempDir(), "HELPER_SCRIPT="+script)
	if reaper {
		cmd.Env = append(cmd.Env, "HELPER_REAPER=1")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var pid int
	if _, err := fmt.Sscanf(line, "started %d", &pid); err != nil {
		t.Fatalf("helper said %q", line)
	}
	return cmd, pid
}

// TestTasksDieWithAgentPdeathsig: an agent killed with SIGKILL takes its
// task's process with it (Pdeathsig), without a reaper.
func TestTasksDieWithAgentPdeathsig(t *testing.T) {
	if !pdeathsigSupported {
		t.Skip("Pdeathsig is Linux-only")
	}
	helper, pid := startHelper(t, "exec sleep 300", false)
	if !ProcessAlive(pid) {
		t.Fatalf("task pid %d not running", pid)
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	eventually(t, 5*time.Second, fmt.Sprintf("task pid %d dies with its agent", pid), func() bool { return !ProcessAlive(pid) })
}

// TestTasksDieWithAgentReaper: with the reaper, the task's descendants die
// too when the agent is SIGKILLed.
func TestTasksDieWithAgentReaper(t *testing.T) {
	child := filepath.Join(t.TempDir(), "child.pid")
	helper, pid := startHelper(t, "sleep 300 & echo $! > "+child+"; wait", true)
	grandchild := readPID(t, child)
	for _, p := range []int{pid, grandchild} {
		if !ProcessAlive(p) {
			t.Fatalf("pid %d not running", p)
		}
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	for _, p := range []int{pid, grandchild} {
		eventually(t, 5*time.Second, fmt.Sprintf("pid %d dies with its agent", p), func() bool { return !ProcessAlive(p) })
	}
}

// TestReaperDeadline: the reaper SIGKILLs a task's group when its
// self-fencing deadline passes, while the agent side stays quiet (as a
// paused agent would); a deadline moved on in time, or cleared, spares it.
func TestReaperDeadline(t *testing.T) {
	rp, err := StartReaper([]string{os.Args[0]}, []string{helperEnv + "=reaper"}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	r, err := NewRunner(RunnerConfig{Dir: t.TempDir(), NodeID: "n1", Tracker: rp, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	start := func(id string) int {
		t.Helper()
		if _, err := r.Start(context.Background(), shTask(id, 1, "sleep 300 & wait")); err != nil {
			t.Fatal(err)
		}
		return taskState(r, id).PID
	}
	fenced, moved, cleared := start("fenced/0"), start("moved/0"), start("cleared/0")
	now := time.Now()
	rp.Deadline(fenced, now.Add(300*time.Millisecond))
	rp.Deadline(moved, now.Add(300*time.Millisecond))
	rp.Deadline(cleared, now.Add(300*time.Millisecond))
	rp.Deadline(moved, now.Add(time.Hour))
	rp.Deadline(cleared, time.Time{})
	eventually(t, 5*time.Second, "the fenced task is killed at its deadline", func() bool { return taskState(r, "fenced/0").State == StateFailed })
	if st := taskState(r, "fenced/0"); st.ExitCode != exitCodeSignalBase+int32(syscall.SIGKILL) {
		t.Errorf("fenced task: %+v; want killed by SIGKILL", st)
	}
	if time.Since(now) < 300*time.Millisecond {
		t.Errorf("killed %s after the deadline was set; want at least 300ms", time.Since(now))
	}
	// The reaper checks every reaperDeadlineCheck: past the old deadline
	// by several checks, the others still run.
	time.Sleep(300*time.Millisecond + 5*reaperDeadlineCheck - time.Since(now))
	for _, id := range []string{"moved/0", "cleared/0"} {
		if st := taskState(r, id); st.State != StateRunning || !ProcessAlive(st.PID) {
			t.Errorf("%s: %+v; want still running (its deadline was moved on or cleared)", id, st)
		}
	}
}
