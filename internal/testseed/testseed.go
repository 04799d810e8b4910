// Package testseed logs the seed of a randomised test with the command
// that replays it. Only tests import it.
package testseed

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// Log logs seed and the go test command that replays t with it (pkg is the
// package's path as go test takes it, e.g. ./app; the package has a -seed
// flag), at the start and again if t fails.
func Log(t testing.TB, pkg string, seed int64) {
	t.Helper()
	sel := "-run '" + RunPattern(t.Name()) + "'"
	if _, bench := t.(*testing.B); bench {
		sel = "-run '^$' -bench '" + RunPattern(t.Name()) + "'"
	}
	rerun := fmt.Sprintf("go test %s %s -seed %d", pkg, sel, seed)
	t.Logf("seed %d (rerun with: %s)", seed, rerun)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d; rerun with: %s", seed, rerun)
		}
	})
}

// RunPattern is a -run pattern that matches the test named name (a
// subtest's full name) and nothing else.
func RunPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}
