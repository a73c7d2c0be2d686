package spec

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Builtins lists the names of the scenarios embedded in the binary, sorted.
func Builtins() []string {
	entries, err := fs.ReadDir(builtinFS, "builtin")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// BuiltinSource is the YAML text of the built-in scenario name.
func BuiltinSource(name string) ([]byte, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("scenario: no built-in scenario %q (built-ins: %s)", name, strings.Join(Builtins(), ", "))
	}
	data, err := builtinFS.ReadFile(path.Join("builtin", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("scenario: no built-in scenario %q (built-ins: %s)", name, strings.Join(Builtins(), ", "))
	}
	return data, nil
}

// Builtin parses the built-in scenario name.
func Builtin(name string) (*Scenario, error) {
	data, err := BuiltinSource(name)
	if err != nil {
		return nil, err
	}
	return Parse(data, "builtin/"+name+".yaml")
}

// Resolve loads nameOrPath: a file when it names one (or looks like a
// path), else the built-in of that name.
func Resolve(nameOrPath string) (*Scenario, error) {
	if looksLikePath(nameOrPath) {
		return Load(nameOrPath)
	}
	if _, err := os.Stat(nameOrPath); err == nil {
		return Load(nameOrPath)
	}
	return Builtin(nameOrPath)
}

func looksLikePath(s string) bool {
	return strings.ContainsAny(s, `/\`) || strings.HasSuffix(s, ".yaml") || strings.HasSuffix(s, ".yml")
}
