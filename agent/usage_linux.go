//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// clockTicksPerSecond is USER_HZ, the unit of /proc/PID/stat CPU times; it
// is 100 on every Linux architecture Go supports.
const clockTicksPerSecond = 100

// groupsUsage sums the CPU time (clock ticks) and resident memory (bytes)
// of every process in the given process groups, from /proc.
func groupsUsage(pgids []int) (cpuTicks uint64, rssBytes uint64) {
	if len(pgids) == 0 {
		return 0, 0
	}
	want := make(map[int]bool, len(pgids))
	for _, g := range pgids {
		want[g] = true
	}
	d, err := os.Open("/proc")
	if err != nil {
		return 0, 0
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	page := uint64(os.Getpagesize())
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		// After "pid (comm)": state(3) ppid(4) pgrp(5) … utime(14)
		// stime(15) … rss(24); f[0] is field 3.
		f := bytes.Fields(b[i+1:])
		if len(f) < 22 {
			continue
		}
		pg, _ := strconv.Atoi(string(f[2]))
		if !want[pg] {
			continue
		}
		ut, _ := strconv.ParseUint(string(f[11]), 10, 64)
		st, _ := strconv.ParseUint(string(f[12]), 10, 64)
		rss, _ := strconv.ParseUint(string(f[21]), 10, 64)
		cpuTicks += ut + st
		rssBytes += rss * page
	}
	return cpuTicks, rssBytes
}

// totalMemoryMB reads MemTotal from /proc/meminfo (0 if unknown).
func totalMemoryMB() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			fields := strings.Fields(rest)
			if len(fields) >= 1 {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	return 0
}
