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
// sortedKeys (ranges over maps are found by name: the State's map fields,
// on the State receiver s). container/heap orders by the Less it is given.
// math/big and
// math/bits are integer arithmetic; math may be imported for its integer
// limits (math.MaxInt64, …) anywhere, and for floating point only in
// floatFiles, which compute display values for queries.
func TestDeterminismRules(t *testing.T) {
	allowed := map[string]bool{
		"bytes": true, "crypto/ed25519": true, "encoding/binary": true, "encoding/hex": true,
		"encoding/json": true, "errors": true, "fmt": true, "net/url": true, "sort": true,
		"strconv": true, "strings": true, "unicode/utf8": true, "math/big": true, "math/bits": true,
		"crypto/sha256": true, "slices": true, "container/heap": true,
		"github.com/phalanx-bft/phalanx/types":         true,
		"github.com/phalanx-bft/phalanx/crypto":        true,
		"github.com/phalanx-bft/phalanx/app/scheduler": true,
		"github.com/phalanx-bft/phalanx/app/health":    true,
		"github.com/phalanx-bft/phalanx/api":           true,
	}
	var files []string
	// api/ holds the validation, limits and errors the state machine
	// applies: consensus code too.
	for _, dir := range []string{".", "scheduler", "health", "../api"} {
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
			if path == "math" && (floatFiles[filepath.ToSlash(f)] || onlyIntLimits(file, imp)) {
				continue
			}
			if path == "time" && wallClockFiles[filepath.ToSlash(f)] {
				continue
			}
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
				sel, ok := n.X.(*ast.SelectorExpr)
				if !ok {
					break
				}
				base, _ := sel.X.(*ast.Ident)
				if stateMaps[sel.Sel.Name] && base != nil && base.Name == "s" {
					t.Errorf("%s: range over map %s; use sortedKeys", fset.Position(n.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
	}
}

// stateMaps are the State's map fields (ranged as s.X).
var stateMaps = map[string]bool{
	"accounts": true, "nodes": true, "workloads": true, "tasks": true, "validators": true,
	"nodeByKey": true, "tasksByNode": true, "workloadTasks": true, "pending": true,
	"valUpdates": true, "dirty": true, "reports": true, "accountByVal": true, "obsCache": true,
	"rollouts": true, "rollDirty": true, "evictNodes": true, "nodePos": true,
}

// onlyIntLimits reports whether every use of the math import in file is
// one of its integer limit constants.
func onlyIntLimits(file *ast.File, imp *ast.ImportSpec) bool {
	name := "math"
	if imp.Name != nil {
		name = imp.Name.Name
	}
	ok := true
	ast.Inspect(file, func(n ast.Node) bool {
		sel, isSel := n.(*ast.SelectorExpr)
		if !isSel {
			return true
		}
		if id, isID := sel.X.(*ast.Ident); isID && id.Name == name && !intLimit(sel.Sel.Name) {
			ok = false
		}
		return true
	})
	return ok
}

func intLimit(name string) bool {
	for _, p := range []string{"MaxInt", "MinInt", "MaxUint"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// floatFiles may import math: their floats reach query answers only.
var floatFiles = map[string]bool{"health/display.go": true}

// wallClockFiles may import time: the answers of a worker agent's endpoint
// (api/agent.go), which the state machine never reads.
var wallClockFiles = map[string]bool{"../api/agent.go": true}
