package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// Environment variables the agent sets for every task.
const (
	EnvTaskID         = "PHALANX_TASK_ID"
	EnvTaskGeneration = "PHALANX_TASK_GENERATION"
	EnvNodeID         = "PHALANX_NODE_ID"
	// EnvCheckpointFile names the file the task writes its checkpoint to
	// (at most api.MaxCheckpointBytes); the agent reports its content.
	EnvCheckpointFile = "PHALANX_CHECKPOINT_FILE"
	// EnvCheckpointIn names a file holding the last checkpoint the chain
	// carries for the task (empty when there is none).
	EnvCheckpointIn = "PHALANX_CHECKPOINT_IN"
)

// Exit codes the agent reports for a task it could not run to its end.
const (
	// ExitCodeStartFailed: the command could not be started (not found,
	// not executable); the reason is in the task's log. As a shell says.
	ExitCodeStartFailed = 127
	// ExitCodeLost: the process ended while the agent was not running (it
	// was stopped with the agent, or died with it), so its exit status is
	// unknown.
	ExitCodeLost = -1
	// exitCodeSignalBase + N is reported for a process killed by signal N,
	// as a shell does.
	exitCodeSignalBase = 128
)

// Defaults and limits of the runner.
const (
	DefaultStopGrace = 10 * time.Second
	// MaxStopGrace bounds RunnerConfig.StopGrace.
	MaxStopGrace = 10 * time.Minute
	// killWait bounds the wait for a process group to vanish after SIGKILL.
	killWait = 10 * time.Second
	// groupPoll is the pause between two checks that a group is gone.
	groupPoll = 10 * time.Millisecond
	// keepLogsPerTask is how many generations' log and checkpoint files of
	// one task are kept; older ones are removed when a generation starts.
	keepLogsPerTask = 3
)

// Placement is one task the chain placed on this node: the unit the
// runner starts and fences.
type Placement struct {
	TaskID     string
	Generation uint64
	// Restarts is the chain's restart count for the task; the runner
	// echoes it in reports (the agent never restarts a task itself).
	Restarts uint32
	Command  string
	Args     []string
	Env      map[string]string
	// CheckpointIn is the last checkpoint the chain carries for the task.
	CheckpointIn []byte
	// Checks are the workload's health checks (the agent runs them,
	// checks.go).
	Checks []types.Check
}

// Local task states (a subset of the chain's names, DESIGN §8).
const (
	StateRunning   = "Running"
	StateFailed    = "Failed"
	StateCompleted = "Completed"
)

// TaskStatus is what the runner knows of one placement: what the agent's
// endpoint shows of it (GET /tasks, api.AgentTaskView; the runner fills
// every field but Workload and Index) and the checkpoint's content.
type TaskStatus struct {
	api.AgentTaskView
	// Checkpoint is the content of the checkpoint file, if any.
	Checkpoint []byte `json:"-"`
}

// GroupTracker learns of the process groups the runner creates, so that it
// can kill them if the agent dies (see the reaper).
type GroupTracker interface {
	Add(pgid int)
	Remove(pgid int)
}

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	// Dir holds the tasks' working directories, logs and checkpoint files.
	Dir string
	// NodeID is passed to tasks in PHALANX_NODE_ID.
	NodeID string
	// StopGrace is how long a stopped task gets between SIGTERM and
	// SIGKILL (0: DefaultStopGrace).
	StopGrace time.Duration
	// BaseEnv is the environment every task starts with, before the
	// workload's env and the PHALANX_ variables (nil: only PATH).
	BaseEnv []string
	// Tracker, if set, is told about every task's process group.
	Tracker GroupTracker
	// OnExit, if set, is called when a task's process exits by itself,
	// with the status it will be reported with (from the goroutine that
	// reaped it; Close waits for the calls).
	OnExit func(TaskStatus)
	// Logf receives the runner's messages (may be nil).
	Logf func(format string, args ...any)
}

// Validate reports an impossible setting.
func (c RunnerConfig) Validate() error {
	if c.Dir == "" {
		return errors.New("runner config: task directory is empty")
	}
	if c.StopGrace < 0 || c.StopGrace > MaxStopGrace {
		return fmt.Errorf("runner config: stop grace %s; expected 0 (default %s) to %s", c.StopGrace, DefaultStopGrace, MaxStopGrace)
	}
	return nil
}

// Runner runs placements as OS processes, each in its own process group,
// and fences them: two processes of one task id never run at once. It is
// safe for concurrent use; operations on one task id are serialised,
// operations on different tasks run in parallel.
type Runner struct {
	cfg RunnerConfig

	mu    sync.Mutex
	slots map[string]*slot
	waits sync.WaitGroup // the processes' wait goroutines (and OnExit calls)
}

// slot is one task id. op serialises Start and Stop of the task; proc is
// the latest placement started (guarded by Runner.mu).
type slot struct {
	op   sync.Mutex
	proc *proc
}

type proc struct {
	taskID     string
	gen        uint64
	restarts   uint32
	pid        int // 0 when no process was started (start failure, lost)
	log        string
	checkpoint string
	startedAt  time.Time
	done       chan struct{} // closed once the process is reaped (nil: none)

	// Set when the process ends (guarded by Runner.mu).
	exited   bool
	exitCode int32
	exitedAt time.Time
	stopping bool // stopped by the runner: a fence, not an exit
	// failCode, if set, is the exit code to report instead of the
	// process's: it was ended by Fail (a liveness check).
	failCode *int32
}

// NewRunner checks cfg and creates cfg.Dir.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.BaseEnv == nil {
		path := os.Getenv("PATH")
		if path == "" {
			path = "/usr/local/bin:/usr/bin:/bin"
		}
		cfg.BaseEnv = []string{"PATH=" + path}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("task directory: %w", err)
	}
	return &Runner{cfg: cfg, slots: map[string]*slot{}}, nil
}

func (r *Runner) slot(taskID string) *slot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.slots[taskID]
	if s == nil {
		s = &slot{}
		r.slots[taskID] = s
	}
	return s
}

// TaskEnv is the working directory and environment of placement p's
// process: an exec check runs with them.
func (r *Runner) TaskEnv(p Placement) (dir string, env []string) {
	cp := checkpointPath(r.cfg.Dir, p.TaskID, p.Generation)
	return filepath.Join(r.cfg.Dir, TaskFileName(p.TaskID)), r.env(p, &proc{checkpoint: cp}, cp+".in")
}

// TaskFileName is the file-name form of a task id: "web/0" → "web_0"
// ('_' cannot occur in a task id, so the mapping is one to one).
func TaskFileName(taskID string) string { return strings.ReplaceAll(taskID, "/", "_") }

// LogPath is the log file of a placement under dir.
func LogPath(dir, taskID string, gen uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%s-g%d.log", TaskFileName(taskID), gen))
}

func checkpointPath(dir, taskID string, gen uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%s-g%d.checkpoint", TaskFileName(taskID), gen))
}

// Start runs placement p unless the runner has already started that
// generation of the task (then it returns started false: a placement runs
// at most once). A live process of another generation of the task is
// stopped first, and Start returns an error without starting anything if
// it cannot be stopped. A command that cannot be started is recorded as
// Failed with ExitCodeStartFailed; the error is returned too.
func (r *Runner) Start(ctx context.Context, p Placement) (started bool, err error) {
	s := r.slot(p.TaskID)
	s.op.Lock()
	defer s.op.Unlock()

	r.mu.Lock()
	cur := s.proc
	r.mu.Unlock()
	if cur != nil && cur.gen == p.Generation {
		return false, nil
	}
	if cur != nil {
		if err := r.stopProc(ctx, cur, r.cfg.StopGrace); err != nil {
			return false, fmt.Errorf("task %s: generation %d not started: generation %d is still running: %w", p.TaskID, p.Generation, cur.gen, err)
		}
	}
	pr, err := r.spawn(p)
	r.mu.Lock()
	s.proc = pr
	r.mu.Unlock()
	if err != nil {
		return false, err
	}
	r.pruneFiles(p.TaskID, p.Generation)
	return true, nil
}

// spawn starts p's process; on failure it returns a proc recorded as
// Failed with the error.
func (r *Runner) spawn(p Placement) (*proc, error) {
	dir := r.cfg.Dir
	pr := &proc{
		taskID:     p.TaskID,
		gen:        p.Generation,
		restarts:   p.Restarts,
		log:        LogPath(dir, p.TaskID, p.Generation),
		checkpoint: checkpointPath(dir, p.TaskID, p.Generation),
		startedAt:  time.Now(),
	}
	failed := func(err error) (*proc, error) {
		err = fmt.Errorf("task %s generation %d: %w", p.TaskID, p.Generation, err)
		if f, ferr := os.OpenFile(pr.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); ferr == nil {
			fmt.Fprintf(f, "phalanx agent: %v\n", err)
			f.Close()
		}
		pr.exited, pr.exitCode, pr.exitedAt = true, ExitCodeStartFailed, time.Now()
		return pr, err
	}
	work := filepath.Join(dir, TaskFileName(p.TaskID))
	if err := os.MkdirAll(work, 0o700); err != nil {
		return failed(fmt.Errorf("working directory: %w", err))
	}
	in := pr.checkpoint + ".in"
	if err := os.WriteFile(in, p.CheckpointIn, 0o600); err != nil {
		return failed(fmt.Errorf("checkpoint input: %w", err))
	}
	_ = os.Remove(pr.checkpoint) // a leftover of an earlier run of this home
	logf, err := os.OpenFile(pr.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return failed(fmt.Errorf("log file: %w", err))
	}
	defer logf.Close() // the child holds its own descriptor

	cmd := exec.Command(p.Command, p.Args...)
	cmd.Dir = work
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = r.env(p, pr, in)
	cmd.SysProcAttr = sysProcAttr()
	if err := startProcess(cmd); err != nil {
		return failed(err)
	}
	pr.pid = cmd.Process.Pid
	pr.done = make(chan struct{})
	if r.cfg.Tracker != nil {
		r.cfg.Tracker.Add(pr.pid)
	}
	r.cfg.Logf("task %s generation %d started: pid %d, log %s", p.TaskID, p.Generation, pr.pid, pr.log)
	r.waits.Add(1)
	go r.wait(cmd, pr)
	return pr, nil
}

// env is the task's environment: BaseEnv, the workload's env (sorted by
// name), then the PHALANX_ variables, which win.
func (r *Runner) env(p Placement, pr *proc, checkpointIn string) []string {
	env := append([]string(nil), r.cfg.BaseEnv...)
	names := make([]string, 0, len(p.Env))
	for k := range p.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		env = append(env, k+"="+p.Env[k])
	}
	return append(env,
		EnvTaskID+"="+p.TaskID,
		EnvTaskGeneration+"="+strconv.FormatUint(p.Generation, 10),
		EnvNodeID+"="+r.cfg.NodeID,
		EnvCheckpointFile+"="+pr.checkpoint,
		EnvCheckpointIn+"="+checkpointIn,
	)
}

// wait reaps the process, kills what is left of its group, and records the
// exit.
func (r *Runner) wait(cmd *exec.Cmd, pr *proc) {
	defer r.waits.Done()
	_ = cmd.Wait()
	code := exitCode(cmd.ProcessState)
	// The task is its process group: nothing of it outlives its leader.
	_ = killGroup(pr.pid)
	_ = waitGroupGone(context.Background(), pr.pid, killWait)
	if r.cfg.Tracker != nil {
		r.cfg.Tracker.Remove(pr.pid)
	}
	r.mu.Lock()
	if pr.failCode != nil {
		code = *pr.failCode
	}
	pr.exited, pr.exitCode, pr.exitedAt = true, code, time.Now()
	stopping := pr.stopping
	r.mu.Unlock()
	close(pr.done)
	if stopping {
		return
	}
	st := r.status(pr)
	r.cfg.Logf("task %s generation %d exited: %s, exit code %d", pr.taskID, pr.gen, st.State, code)
	if r.cfg.OnExit != nil {
		r.cfg.OnExit(st)
	}
}

// exitCode is the status a shell would show: the exit code, or 128+N for
// a process killed by signal N.
func exitCode(ps *os.ProcessState) int32 {
	if ps == nil {
		return ExitCodeLost
	}
	if sig, ok := signalOf(ps); ok {
		return exitCodeSignalBase + int32(sig)
	}
	return int32(ps.ExitCode())
}

// Stop stops the task's process, if one is live: SIGTERM to its process
// group, SIGKILL after StopGrace, and returns once the group is gone. The
// task is then forgotten: a stopped placement is not reported.
func (r *Runner) Stop(ctx context.Context, taskID string) error {
	return r.StopWithin(ctx, taskID, r.cfg.StopGrace)
}

// StopWithin is Stop with grace between SIGTERM and SIGKILL instead of
// StopGrace (self-fencing: the process must be gone by a deadline).
func (r *Runner) StopWithin(ctx context.Context, taskID string, grace time.Duration) error {
	s := r.slot(taskID)
	s.op.Lock()
	defer s.op.Unlock()
	r.mu.Lock()
	cur := s.proc
	r.mu.Unlock()
	if cur == nil {
		return nil
	}
	if err := r.stopProc(ctx, cur, grace); err != nil {
		return err
	}
	r.mu.Lock()
	if s.proc == cur {
		s.proc = nil
	}
	r.mu.Unlock()
	return nil
}

// stopProc stops a process and waits for its group to be gone. The caller
// holds the slot's op lock.
func (r *Runner) stopProc(ctx context.Context, pr *proc, grace time.Duration) error {
	r.mu.Lock()
	live := pr.done != nil && !pr.exited
	pr.stopping = pr.stopping || live
	r.mu.Unlock()
	if !live {
		return nil
	}
	r.cfg.Logf("task %s generation %d: stopping pid %d (SIGTERM, SIGKILL after %s)", pr.taskID, pr.gen, pr.pid, grace)
	_ = termGroup(pr.pid)
	graceT := time.NewTimer(grace)
	defer graceT.Stop()
	select {
	case <-pr.done:
		return nil
	case <-graceT.C:
	case <-ctx.Done():
	}
	_ = killGroup(pr.pid)
	kill := time.NewTimer(killWait)
	defer kill.Stop()
	select {
	case <-pr.done:
		return nil
	case <-kill.C:
		return fmt.Errorf("task %s generation %d: pid %d still running %s after SIGKILL", pr.taskID, pr.gen, pr.pid, killWait)
	}
}

// Fail ends generation gen of the task as a failure reported with code
// (a liveness check failed): SIGTERM, SIGKILL after StopGrace, and the
// exit goes to OnExit and the reports like any other, with that code. It
// does nothing if that generation is not running.
func (r *Runner) Fail(ctx context.Context, taskID string, gen uint64, code int32, why string) error {
	s := r.slot(taskID)
	s.op.Lock()
	defer s.op.Unlock()
	r.mu.Lock()
	pr := s.proc
	live := pr != nil && pr.gen == gen && pr.done != nil && !pr.exited
	if live {
		pr.failCode = &code
	}
	r.mu.Unlock()
	if !live {
		return nil
	}
	r.cfg.Logf("task %s generation %d: %s; stopping pid %d (SIGTERM, SIGKILL after %s), reported Failed with exit code %d", taskID, gen, why, pr.pid, r.cfg.StopGrace, code)
	_ = termGroup(pr.pid)
	grace := time.NewTimer(r.cfg.StopGrace)
	defer grace.Stop()
	select {
	case <-pr.done:
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	_ = killGroup(pr.pid)
	select {
	case <-pr.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("task %s generation %d: pid %d still running %s after SIGKILL", taskID, gen, pr.pid, killWait)
	}
}

// RecordExited records a placement the runner did not see end (it ran
// under an earlier agent process) with a known outcome: it is reported
// like an exit and never started. It does nothing if the runner has a
// record of the task's generation already, or a live process of the task.
func (r *Runner) RecordExited(taskID string, gen uint64, restarts uint32, code int32) {
	s := r.slot(taskID)
	s.op.Lock()
	defer s.op.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur := s.proc; cur != nil && (cur.gen == gen || !cur.exited) {
		return
	}
	s.proc = &proc{
		taskID: taskID, gen: gen, restarts: restarts,
		log:        LogPath(r.cfg.Dir, taskID, gen),
		checkpoint: checkpointPath(r.cfg.Dir, taskID, gen),
		exited:     true, exitCode: code, exitedAt: time.Now(),
	}
}

// Adopt makes the running process of task taskID's generation from the
// process of generation to (with restarts), without stopping it: the
// chain put the task back on this node at a new generation that adopts
// the old one (disconnect.reconcile keep_original). Its exit is reported
// as generation to; its log and checkpoint files keep their names, and
// its environment says from.
func (r *Runner) Adopt(taskID string, from, to uint64, restarts uint32) error {
	s := r.slot(taskID)
	s.op.Lock()
	defer s.op.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	pr := s.proc
	if pr == nil || pr.gen != from || pr.exited || pr.stopping || pr.pid == 0 {
		return fmt.Errorf("task %s: generation %d does not adopt generation %d: it is not running here", taskID, to, from)
	}
	pr.gen, pr.restarts = to, restarts
	r.cfg.Logf("task %s generation %d adopted as generation %d: pid %d runs on", taskID, from, to, pr.pid)
	return nil
}

// Forget drops the record of an ended placement (once the chain has its
// outcome). A live process is not forgotten: stop it instead.
func (r *Runner) Forget(taskID string, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.slots[taskID]
	if s == nil || s.proc == nil || s.proc.gen != gen || !s.proc.exited {
		return
	}
	s.proc = nil
}

// Tasks returns the status of every placement the runner knows, by task id.
func (r *Runner) Tasks() []TaskStatus {
	r.mu.Lock()
	procs := make([]*proc, 0, len(r.slots))
	for _, s := range r.slots {
		if s.proc != nil {
			procs = append(procs, s.proc)
		}
	}
	r.mu.Unlock()
	out := make([]TaskStatus, 0, len(procs))
	for _, pr := range procs {
		out = append(out, r.status(pr))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaskID < out[j].TaskID })
	return out
}

// Task returns the status of one task id.
func (r *Runner) Task(taskID string) (TaskStatus, bool) {
	r.mu.Lock()
	s := r.slots[taskID]
	var pr *proc
	if s != nil {
		pr = s.proc
	}
	r.mu.Unlock()
	if pr == nil {
		return TaskStatus{}, false
	}
	return r.status(pr), true
}

// PGIDs returns the process groups of the live tasks.
func (r *Runner) PGIDs() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, s := range r.slots {
		if pr := s.proc; pr != nil && pr.done != nil && !pr.exited {
			out = append(out, pr.pid)
		}
	}
	sort.Ints(out)
	return out
}

func (r *Runner) status(pr *proc) TaskStatus {
	r.mu.Lock()
	st := TaskStatus{AgentTaskView: api.AgentTaskView{
		TaskID: pr.taskID, Generation: pr.gen, PID: pr.pid, Restarts: pr.restarts,
		StartedAt: pr.startedAt, Log: pr.log,
	}}
	switch {
	case !pr.exited:
		st.State, st.Healthy = StateRunning, true
	case pr.exitCode == 0:
		st.State, st.ExitedAt = StateCompleted, pr.exitedAt
	default:
		st.State, st.ExitCode, st.ExitedAt = StateFailed, pr.exitCode, pr.exitedAt
	}
	r.mu.Unlock()
	cp, err := readCheckpoint(pr.checkpoint)
	st.Checkpoint = cp
	if err != nil {
		st.CheckpointErr = err.Error()
	}
	return st
}

// ErrCheckpointTooLarge: a task wrote a checkpoint above the chain's limit.
var ErrCheckpointTooLarge = errors.New("checkpoint too large")

// readCheckpoint reads a checkpoint file, at most api.MaxCheckpointBytes;
// a missing file is no checkpoint.
func readCheckpoint(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, api.MaxCheckpointBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > api.MaxCheckpointBytes {
		return nil, fmt.Errorf("%w: %s holds more than %d bytes, the chain's limit; it is not reported", ErrCheckpointTooLarge, path, api.MaxCheckpointBytes)
	}
	if len(b) == 0 {
		return nil, nil
	}
	return b, nil
}

// Close stops every live task in parallel (each with its grace period) and
// returns once all are gone and every OnExit call has returned.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	ids := make([]string, 0, len(r.slots))
	for id := range r.slots {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := r.slot(id)
			s.op.Lock()
			defer s.op.Unlock()
			r.mu.Lock()
			cur := s.proc
			r.mu.Unlock()
			if cur != nil {
				errs[i] = r.stopProc(ctx, cur, r.cfg.StopGrace)
			}
		}()
	}
	wg.Wait()
	r.waits.Wait()
	return errors.Join(errs...)
}

// pruneFiles removes the log and checkpoint files of generations of the
// task older than the last keepLogsPerTask.
func (r *Runner) pruneFiles(taskID string, gen uint64) {
	if gen <= keepLogsPerTask {
		return
	}
	prefix := TaskFileName(taskID) + "-g"
	entries, err := os.ReadDir(r.cfg.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		g, err := strconv.ParseUint(num, 10, 64)
		if err == nil && g+keepLogsPerTask <= gen {
			_ = os.Remove(filepath.Join(r.cfg.Dir, name))
		}
	}
}
