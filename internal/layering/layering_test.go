package layering_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// listTimeout bounds one `go list` (it loads packages, it does not compile;
// seconds normally, more on a busy machine with a cold cache).
const listTimeout = 3 * time.Minute

// clients are the packages that must not link the issuer's implementation:
// the patterns of issue 12's acceptance check, then the rest of the
// scenario side, the fault injection and the portal's client, which talk
// to the issuer only over HTTP or through a `golive serve` process.
var clients = []string{"./loadgen/...", "./scenarios/spec", "./scenarios/threshold", "./reports/...",
	"./scenarios/...", "./chaos/...", "./issuer/portal/portalclient"}

// forbidden are the dependencies a client must not link, by import path
// prefix: the heavy libraries (the databases' drivers, PDF, argon2) and the
// issuer packages that bring them.
var forbidden = []string{
	"modernc.org/sqlite",
	"github.com/jackc/pgx", // the registry's PostgreSQL driver (a testbed starts servers with internal/pgserver, which has none)
	"codeberg.org/go-pdf/fpdf",
	"golang.org/x/crypto/argon2",
	"github.com/golive-dev/golive/issuer/store",
	"github.com/golive-dev/golive/issuer/printout",
	"github.com/golive-dev/golive/issuer/auth",
	"github.com/golive-dev/golive/issuer/server",
}

// forbiddenExact are implementation packages whose contract packages are
// below them (portal/portalapi is allowed, portal is not; so are
// finder/finderapi and lists/listsapi).
var forbiddenExact = []string{
	"github.com/golive-dev/golive/issuer/portal",
	"github.com/golive-dev/golive/issuer/signer",
	"github.com/golive-dev/golive/issuer/signerclient",
	"github.com/golive-dev/golive/issuer/finder",
	"github.com/golive-dev/golive/issuer/lists",
	"github.com/golive-dev/golive/issuer/vendors",
}

// gonumPDF is gonum/plot's PDF backend: package plot imports every backend
// (vgall.go, unless built with -tags minimal), so the report writer's
// charts reach fpdf through it. That edge is the report's plotting
// library, not the issuer, and is the only way fpdf may be reached.
const gonumPDF = "gonum.org/v1/plot/vg/vgpdf"

func isForbidden(pkg string) bool {
	if slices.Contains(forbiddenExact, pkg) {
		return true
	}
	for _, p := range forbidden {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

// TestClientsDoNotLinkTheIssuer runs `go list -deps` over the clients and
// fails with the import chain of every forbidden package one reaches.
func TestClientsDoNotLinkTheIssuer(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH, so the import graph cannot be listed")
	}
	root := filepath.Join("..", "..") // the module root, from internal/layering
	roots := strings.Fields(goList(t, root, append([]string{"list"}, clients...)...))
	if len(roots) < 4 {
		t.Fatalf("go list %v matched only %v", clients, roots)
	}
	imports := map[string][]string{}
	out := goList(t, root, append([]string{"list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}, clients...)...)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		imports[f[0]] = f[1:]
	}
	viaGonum := false
	for _, r := range roots {
		// Breadth first from r, remembering how each package was reached.
		from := map[string]string{r: ""}
		queue := []string{r}
		for len(queue) > 0 {
			pkg := queue[0]
			queue = queue[1:]
			if isForbidden(pkg) {
				t.Errorf("%s links %s: %s", r, pkg, chain(from, pkg))
				continue
			}
			for _, dep := range imports[pkg] {
				if _, seen := from[dep]; seen {
					continue
				}
				if dep == gonumPDF {
					viaGonum = true
					continue
				}
				from[dep] = pkg
				queue = append(queue, dep)
			}
		}
	}
	if viaGonum {
		t.Logf("codeberg.org/go-pdf/fpdf is in the graph only through %s (gonum/plot's PDF backend, linked by the report's charts)", gonumPDF)
	}
}

func chain(from map[string]string, pkg string) string {
	var c []string
	for p := pkg; p != ""; p = from[p] {
		c = append(c, p)
	}
	slices.Reverse(c)
	return strings.Join(c, " -> ")
}

func goList(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
