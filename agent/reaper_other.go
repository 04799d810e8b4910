//go:build !unix

package agent

import (
	"io"
	"time"
)

// Reaper is not supported on this system.
type Reaper struct{}

// StartReaper fails on this system.
func StartReaper(argv, env []string, logf func(format string, args ...any)) (*Reaper, error) {
	return nil, errUnsupported
}

func (r *Reaper) PID() int                 { return 0 }
func (r *Reaper) Add(int)                  {}
func (r *Reaper) Remove(int)               {}
func (r *Reaper) Deadline(int, time.Time)  {}
func (r *Reaper) Close() error             { return nil }
func RunReaper(io.Reader, io.Writer) error { return errUnsupported }
