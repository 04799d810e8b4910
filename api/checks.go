package api

import (
	"strings"

	"github.com/phalanx-bft/phalanx/types"
)

// Health checks (issue 14 §2, docs/scheduling.md "Health checks"): the
// agent runs them on each task; a liveness check that fails ends the
// process, reported Failed with ExitCodeUnhealthy; readiness is reported on
// chain, and a rolling update waits for it.

// Check kinds and types (Check.kind, Check.type).
const (
	CheckLiveness  = "liveness"
	CheckReadiness = "readiness"
	CheckExec      = "exec"
	CheckHTTP      = "http"
	CheckTCP       = "tcp"
)

// Defaults a spec file's checks take when a field is left out (a
// transaction must carry every value).
const (
	DefaultCheckIntervalMs       = 10_000
	DefaultCheckTimeoutMs        = 1_000
	DefaultCheckFailureThreshold = 3
)

// Limits of health checks.
const (
	MaxChecks             = 8
	MinCheckIntervalMs    = 100
	MaxCheckIntervalMs    = 3_600_000
	MaxCheckThreshold     = 100
	MaxCheckStartGraceMs  = 3_600_000
	MaxCheckPathLen       = 256
	MaxMinHealthyMs       = 3_600_000
	MaxCheckNameLen       = 63
	MaxCheckCommandArgs   = 16
	MaxCheckCommandArgLen = 1024
)

// ExitCodeUnhealthy is the exit code the agent reports for a task whose
// liveness check failed failure_threshold times in a row and which it
// therefore stopped.
const ExitCodeUnhealthy = -3

// CheckView is the JSON form of types.Check.
type CheckView struct {
	Name             string   `json:"name"`
	Kind             string   `json:"kind"`
	Type             string   `json:"type"`
	Command          []string `json:"command,omitempty"`
	Path             string   `json:"path,omitempty"`
	Port             uint32   `json:"port,omitempty"`
	IntervalMs       int64    `json:"interval_ms"`
	TimeoutMs        int64    `json:"timeout_ms"`
	FailureThreshold uint32   `json:"failure_threshold"`
	StartGraceMs     int64    `json:"start_grace_ms"`
}

func checkViews(cs []types.Check) []CheckView {
	out := []CheckView{}
	for _, c := range cs {
		out = append(out, CheckView{Name: c.Name, Kind: c.Kind, Type: c.Type, Command: append([]string(nil), c.Command...),
			Path: c.Path, Port: c.Port, IntervalMs: c.IntervalMs, TimeoutMs: c.TimeoutMs,
			FailureThreshold: c.FailureThreshold, StartGraceMs: c.StartGraceMs})
	}
	return out
}

// check converts a spec file's check to its stored form, with the
// defaults for what it leaves out.
func (v CheckView) check() types.Check {
	c := types.Check{Name: v.Name, Kind: v.Kind, Type: v.Type, Command: append([]string(nil), v.Command...),
		Path: v.Path, Port: v.Port, IntervalMs: v.IntervalMs, TimeoutMs: v.TimeoutMs,
		FailureThreshold: v.FailureThreshold, StartGraceMs: v.StartGraceMs}
	if c.IntervalMs == 0 {
		c.IntervalMs = DefaultCheckIntervalMs
	}
	if c.TimeoutMs == 0 {
		c.TimeoutMs = min(DefaultCheckTimeoutMs, c.IntervalMs)
	}
	if c.FailureThreshold == 0 {
		c.FailureThreshold = DefaultCheckFailureThreshold
	}
	if c.Type == CheckHTTP && c.Path == "" {
		c.Path = "/"
	}
	return c
}

// HasReadiness reports whether a spec has a readiness check.
func HasReadiness(s *types.WorkloadSpec) bool {
	for _, c := range s.Checks {
		if c.Kind == CheckReadiness {
			return true
		}
	}
	return false
}

// validateChecks checks a spec's health checks and min_healthy_ms.
func validateChecks(s *types.WorkloadSpec) error {
	if len(s.Checks) > MaxChecks {
		return invalid("workload %s has %d checks; the limit is %d", s.Name, len(s.Checks), MaxChecks)
	}
	if s.MinHealthyMs < 0 || s.MinHealthyMs > MaxMinHealthyMs {
		return invalid("workload %s: min_healthy_ms is %d; want 0 to %d", s.Name, s.MinHealthyMs, MaxMinHealthyMs)
	}
	seen := map[string]bool{}
	for _, c := range s.Checks {
		what := "workload " + s.Name + " check " + c.Name
		if err := ValidName("workload "+s.Name+" check name", c.Name, MaxCheckNameLen); err != nil {
			return err
		}
		if seen[c.Name] {
			return invalid("workload %s: two checks are named %s", s.Name, c.Name)
		}
		seen[c.Name] = true
		if c.Kind != CheckLiveness && c.Kind != CheckReadiness {
			return invalid("%s: kind %q; want %q or %q", what, c.Kind, CheckLiveness, CheckReadiness)
		}
		switch c.Type {
		case CheckExec:
			if len(c.Command) == 0 || len(c.Command) > MaxCheckCommandArgs {
				return invalid("%s: an exec check needs a command of 1 to %d arguments (argv; no shell unless you name one)", what, MaxCheckCommandArgs)
			}
			for _, a := range c.Command {
				if a == "" && len(c.Command) == 1 || len(a) > MaxCheckCommandArgLen || strings.ContainsRune(a, 0) {
					return invalid("%s: command argument %q; want non-empty text of at most %d bytes", what, a, MaxCheckCommandArgLen)
				}
			}
			if c.Port != 0 || c.Path != "" {
				return invalid("%s: port and path apply to http and tcp checks", what)
			}
		case CheckHTTP, CheckTCP:
			if c.Port == 0 || c.Port > 65535 {
				return invalid("%s: port %d; want the task's port on 127.0.0.1, 1 to 65535", what, c.Port)
			}
			if len(c.Command) > 0 {
				return invalid("%s: command applies to exec checks", what)
			}
			if c.Type == CheckTCP && c.Path != "" {
				return invalid("%s: path applies to http checks", what)
			}
			if c.Type == CheckHTTP && (!strings.HasPrefix(c.Path, "/") || len(c.Path) > MaxCheckPathLen) {
				return invalid("%s: path %q; want a path starting with / of at most %d bytes", what, c.Path, MaxCheckPathLen)
			}
			if err := validText(what+" path", c.Path, MaxCheckPathLen); err != nil {
				return err
			}
		default:
			return invalid("%s: type %q; want %q, %q or %q", what, c.Type, CheckExec, CheckHTTP, CheckTCP)
		}
		switch {
		case c.IntervalMs < MinCheckIntervalMs || c.IntervalMs > MaxCheckIntervalMs:
			return invalid("%s: interval_ms %d; want %d to %d", what, c.IntervalMs, MinCheckIntervalMs, MaxCheckIntervalMs)
		case c.TimeoutMs < 1 || c.TimeoutMs > c.IntervalMs:
			return invalid("%s: timeout_ms %d; want 1 to interval_ms (%d)", what, c.TimeoutMs, c.IntervalMs)
		case c.FailureThreshold < 1 || c.FailureThreshold > MaxCheckThreshold:
			return invalid("%s: failure_threshold %d; want 1 to %d", what, c.FailureThreshold, MaxCheckThreshold)
		case c.StartGraceMs < 0 || c.StartGraceMs > MaxCheckStartGraceMs:
			return invalid("%s: start_grace_ms %d; want 0 to %d", what, c.StartGraceMs, MaxCheckStartGraceMs)
		}
	}
	return nil
}
