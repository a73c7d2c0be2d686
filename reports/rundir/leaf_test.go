package rundir

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/golive-dev/golive"

// goliveImports lists the golive packages the non-test sources in dir import.
func goliveImports(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources in %s: %v", dir, err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == module || strings.HasPrefix(path, module+"/") {
				out[path] = f
			}
		}
	}
	return out
}

// The run directory's contract is a leaf: every producer and reader of run
// directories imports it, so it imports no golive code but other leaves
// (the verdict vocabulary whose keys summary.json carries), which would
// otherwise link one side's implementation into the other.
func TestImportsOnlyLeaves(t *testing.T) {
	for pkg, file := range goliveImports(t, ".") {
		dir := filepath.Join("..", "..", strings.TrimPrefix(pkg, module+"/"))
		for sub, in := range goliveImports(t, dir) {
			t.Errorf("%s imports %s, which is no leaf: %s imports %s", file, pkg, in, sub)
		}
	}
}
