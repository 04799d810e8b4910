package abci

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// logSeed logs the seed of t's randomness and the command that replays it
// (-seed), at the start and again if t fails.
func logSeed(t *testing.T, seed int64) {
	t.Helper()
	rerun := fmt.Sprintf("go test ./abci -run '%s' -seed %d", runPattern(t.Name()), seed)
	t.Logf("seed %d (rerun with: %s)", seed, rerun)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d; rerun with: %s", seed, rerun)
		}
	})
}

// runPattern is a -run pattern that matches the test named name (with its
// subtests' names) and nothing else.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}
