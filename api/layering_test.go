package api

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering checks what the wire API's consumers compile in (issue 9):
// the CLI's client, the worker agent and the observer read answers and
// sign transactions through this package and verify proofs through
// proof/; none of them may pull in the state machine (app/…), its ABCI
// adapter or its storage (IAVL). This package itself depends on nothing
// but the generated types and crypto.
func TestLayering(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go tool is not on PATH: cannot list dependencies")
	}
	const mod = "github.com/phalanx-bft/phalanx/"
	forbidden := []string{mod + "app", mod + "abci", mod + "node", "github.com/cosmos/iavl"}
	for _, pkgs := range [][]string{
		{mod + "client"}, {mod + "agent/..."}, {mod + "proof"}, {mod + "api"},
	} {
		out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %v: %v\n%s", pkgs, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%v depends on %s", pkgs, dep)
				}
			}
		}
	}
	out, err := exec.Command("go", "list", "-deps", mod+"api").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps api: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, mod) && dep != mod+"api" && dep != mod+"types" && dep != mod+"crypto" {
			t.Errorf("api depends on %s; it may use only types and crypto", dep)
		}
	}
}
