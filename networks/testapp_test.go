package networks

import (
	"path/filepath"
	"slices"
	"testing"
)

// A network made for a benchmark baseline (InitOptions.TestApp) records
// the app in its manifest, and every validator starts with --test-app.
func TestInitTestAppReachesTheValidatorsCommandLine(t *testing.T) {
	m := initNet(t, InitOptions{Validators: 2, BasePort: 21900, TestApp: "kvstore"})
	back, err := LoadManifest(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range back.Validators {
		if v.TestApp != "kvstore" {
			t.Fatalf("%s: test app %q after a round trip; want kvstore", v.Name, v.TestApp)
		}
		args := ValidatorProcess(v).Args
		if i := slices.Index(args, "--test-app"); i < 0 || i+1 >= len(args) || args[i+1] != "kvstore" {
			t.Fatalf("%s starts as %v; want --test-app kvstore", v.Name, args)
		}
	}
	plain := initNet(t, InitOptions{Validators: 1, BasePort: 21950})
	if args := ValidatorProcess(plain.Validators[0]).Args; slices.Contains(args, "--test-app") {
		t.Fatalf("a Phalanx validator starts as %v", args)
	}
}

func TestInitTestAppRefusals(t *testing.T) {
	for name, o := range map[string]InitOptions{
		"unknown app": {TestApp: "nope"},
		"with agents": {TestApp: "kvstore", Agents: 1},
		"multi-host":  {TestApp: "kvstore", Hostnames: []string{"a.example", "b.example"}},
	} {
		o.Dir = filepath.Join(t.TempDir(), "net")
		if _, err := InitTestnet(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
