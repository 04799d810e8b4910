package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// Health checks (issue 14 §2, ADR 0022). The agent runs a task's checks
// from its workload's spec while the process runs: each check's first run
// start_grace_ms after the start, then one every interval_ms, each bounded
// by timeout_ms.
//
//   - liveness: failure_threshold failures in a row end the process
//     (Runner.Fail: SIGTERM, SIGKILL after the stop grace), reported
//     Failed with api.ExitCodeUnhealthy, so the chain restarts it by its
//     policy (generation + 1, backoff), exactly like an exit;
//   - readiness: the task is ready once every readiness check has passed,
//     and no longer after one of them failed failure_threshold times in a
//     row; the heartbeat reports it (TaskReport.ready) as soon as it
//     changes.
//
// exec runs the command (argv, no shell) in the task's directory with the
// task's environment; http GETs http://127.0.0.1:PORT/PATH (2xx or 3xx
// pass); tcp connects to 127.0.0.1:PORT.

// taskChecks is the check state of one running placement.
type taskChecks struct {
	gen    uint64
	cancel context.CancelFunc
	// readiness: the readiness checks' current verdicts, by name (a
	// check that has not passed yet counts as failing).
	readiness map[string]bool
	// last: what the last failing check said ("" when none failed).
	last string
}

// startChecks runs the checks of placement p, if any, until ctx ends or
// the process is gone.
func (a *Agent) startChecks(ctx context.Context, p Placement) {
	if len(p.Checks) == 0 {
		return
	}
	cctx, cancel := context.WithCancel(ctx)
	tc := &taskChecks{gen: p.Generation, cancel: cancel, readiness: map[string]bool{}}
	for _, c := range p.Checks {
		if c.Kind == api.CheckReadiness {
			tc.readiness[c.Name] = false
		}
	}
	a.mu.Lock()
	if old := a.checks[p.TaskID]; old != nil {
		old.cancel()
	}
	if a.checks == nil {
		a.checks = map[string]*taskChecks{}
	}
	a.checks[p.TaskID] = tc
	a.mu.Unlock()
	for _, c := range p.Checks {
		a.checkWG.Add(1)
		go func() {
			defer a.checkWG.Done()
			a.runCheck(cctx, p, c)
		}()
	}
}

// runCheck runs one check of placement p until ctx ends or the process
// is gone.
func (a *Agent) runCheck(ctx context.Context, p Placement, c types.Check) {
	wait := time.Duration(c.StartGraceMs) * time.Millisecond
	fails := uint32(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = time.Duration(c.IntervalMs) * time.Millisecond
		st, ok := a.runner.Task(p.TaskID)
		if !ok || st.Generation != p.Generation || st.State != StateRunning {
			return
		}
		err := probe(ctx, a.runner, p, c)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			fails = 0
			a.checkResult(p, c, true, "")
			continue
		}
		fails++
		msg := fmt.Sprintf("%s check %s failed (%d of %d): %v", c.Kind, c.Name, fails, c.FailureThreshold, err)
		if fails < c.FailureThreshold {
			a.logf("task %s generation %d: %s", p.TaskID, p.Generation, msg)
			continue
		}
		a.checkResult(p, c, false, msg)
		if c.Kind == api.CheckLiveness {
			id, gen := p.TaskID, p.Generation
			a.op(ctx, id, func(ctx context.Context) {
				if err := a.runner.Fail(ctx, id, gen, api.ExitCodeUnhealthy, msg); err != nil {
					a.logf("task %s: %v", id, err)
				}
			})
			return
		}
	}
}

// checkResult records a check's verdict; a change of the task's readiness
// is reported by the next heartbeat, sent at once.
func (a *Agent) checkResult(p Placement, c types.Check, pass bool, msg string) {
	a.mu.Lock()
	tc := a.checks[p.TaskID]
	if tc == nil || tc.gen != p.Generation {
		a.mu.Unlock()
		return
	}
	before := tc.ready()
	if c.Kind == api.CheckReadiness {
		tc.readiness[c.Name] = pass
	}
	if !pass {
		tc.last = msg
	} else if tc.ready() {
		tc.last = ""
	}
	after := tc.ready()
	a.mu.Unlock()
	if before != after {
		a.logf("task %s generation %d: ready %v%s", p.TaskID, p.Generation, after, map[bool]string{true: "", false: " (" + msg + ")"}[after || msg == ""])
		kick(a.hbNow)
	}
}

func (tc *taskChecks) ready() bool {
	for _, ok := range tc.readiness {
		if !ok {
			return false
		}
	}
	return true
}

// taskReady reports whether generation gen of task id is ready (true when
// its workload has no readiness check), and what its last failing check
// said.
func (a *Agent) taskReady(id string, gen uint64) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	tc := a.checks[id]
	if tc == nil || tc.gen != gen {
		return true, ""
	}
	return tc.ready(), tc.last
}

// stopChecks ends the checks of task id unless they are of generation
// keep.
func (a *Agent) stopChecks(id string, keep uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if tc := a.checks[id]; tc != nil && tc.gen != keep {
		tc.cancel()
		delete(a.checks, id)
	}
}

// probe runs check c once against placement p.
func probe(ctx context.Context, r *Runner, p Placement, c types.Check) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(c.TimeoutMs)*time.Millisecond)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(c.Port)))
	switch c.Type {
	case api.CheckExec:
		cmd := exec.CommandContext(ctx, c.Command[0], c.Command[1:]...)
		cmd.Dir, cmd.Env = r.TaskEnv(p)
		cmd.WaitDelay = time.Second
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			return fmt.Errorf("no answer within %d ms", c.TimeoutMs)
		}
		if err != nil {
			if len(out) > 200 {
				out = out[len(out)-200:]
			}
			return fmt.Errorf("%v: %q", err, out)
		}
		return nil
	case api.CheckHTTP:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+c.Path, nil)
		if err != nil {
			return err
		}
		resp, err := checkHTTP.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("no answer within %d ms", c.TimeoutMs)
			}
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s: status %d; want 2xx or 3xx", c.Path, resp.StatusCode)
		}
		return nil
	case api.CheckTCP:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return errors.New("unknown check type " + c.Type)
}

// checkHTTP is the client of http checks: no redirects followed (a 3xx
// passes), no keep-alive between probes.
var checkHTTP = &http.Client{
	Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
