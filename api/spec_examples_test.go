package api_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
)

// TestExamplesParse: every spec under examples/ is one the chain accepts,
// and its JSON view reads back to the same spec.
func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../examples/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := api.ParseWorkloadSpecJSON(b)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		v := api.NewSpecView(spec)
		if back := v.Spec(); back.String() != spec.String() {
			t.Errorf("%s: the view reads back as %v; want %v", f, back, spec)
		}
	}
}
