package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDeterminismRules checks the package's own source (DESIGN §7): only
// allowed imports, no goroutines, and no range over a map outside
// sortedKeys (ranges over maps are found by name: the State's map fields).
func TestDeterminismRules(t *testing.T) {
	allowed := map[string]bool{
		"bytes": true, "crypto/ed25519": true, "encoding/binary": true, "encoding/hex": true,
		"encoding/json": true, "errors": true, "fmt": true, "net/url": true, "sort": true,
		"strconv": true, "strings": true, "unicode/utf8": true,
		"github.com/phalanx-bft/phalanx/types":         true,
		"github.com/phalanx-bft/phalanx/crypto":        true,
		"github.com/phalanx-bft/phalanx/app/scheduler": true,
		"github.com/phalanx-bft/phalanx/app/health":    true,
	}
	var files []string
	for _, dir := range []string{".", "scheduler", "health"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		files = append(files, m...)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[path] {
				t.Errorf("%s imports %s, which consensus code may not use", f, path)
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: goroutine in consensus code", fset.Position(n.Pos()))
			case *ast.FuncDecl:
				if n.Name.Name == "sortedKeys" {
					return false // the one place that ranges over a map
				}
			case *ast.RangeStmt:
				if sel, ok := n.X.(*ast.SelectorExpr); ok && stateMaps[sel.Sel.Name] {
					t.Errorf("%s: range over map %s; use sortedKeys", fset.Position(n.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
	}
}

var stateMaps = map[string]bool{
	"accounts": true, "nodes": true, "workloads": true, "tasks": true, "validators": true,
	"nodeByKey": true, "tasksByNode": true, "tasksByWorkload": true, "pending": true,
	"valUpdates": true, "dirty": true, "PerNode": true, "PerDomain": true,
}
