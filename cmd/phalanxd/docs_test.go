package main

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/cli.md from the command tree")

// TestCLIDocsUpToDate keeps docs/cli.md equal to what the commands say.
func TestCLIDocsUpToDate(t *testing.T) {
	var buf bytes.Buffer
	if err := writeCLIDocs(&buf, rootCmd()); err != nil {
		t.Fatal(err)
	}
	const path = "../../docs/cli.md"
	if *updateDocs {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./cmd/phalanxd -run TestCLIDocsUpToDate -update-docs)", err)
	}
	if !bytes.Equal(have, buf.Bytes()) {
		t.Fatal("docs/cli.md is out of date: go test ./cmd/phalanxd -run TestCLIDocsUpToDate -update-docs")
	}
}
