//go:build !linux

package agent

const clockTicksPerSecond = 100

// groupsUsage is measured on Linux only.
func groupsUsage([]int) (cpuTicks uint64, rssBytes uint64) { return 0, 0 }

// totalMemoryMB is known on Linux only.
func totalMemoryMB() int64 { return 0 }
