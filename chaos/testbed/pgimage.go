package testbed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/testcontainers/testcontainers-go"
)

// PGImageRepo is the repository of the registry's PostgreSQL image; the
// tag is a hash of everything in it.
const PGImageRepo = "golive-postgres"

// pgImageLabel carries the full content hash of the build context.
const pgImageLabel = "dev.golive.postgres.sha256"

// The image is built from nothing: the machine's own PostgreSQL server
// binary, its modules, its share directory, the time zone data and every
// shared library ldd names for them, in a FROM scratch image. No registry
// is reachable, and Debian's packages on the host are what the local
// testbed runs too, so both targets test one PostgreSQL. There is no shell
// and no initdb in it: the testbed makes the data directories on the host
// (initdb, pg_basebackup) and bind-mounts them.
const pgDockerfile = `FROM scratch
COPY rootfs/ /
ENV LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:%[1]s/lib LC_ALL=C TZ=UTC
ENTRYPOINT ["%[1]s/bin/postgres"]
`

// pgImageFiles lists the host files the image holds: the server, its
// modules (not the JIT, which pulls in LLVM and is switched off), the share
// directory, time zones, and the libraries they link.
func pgImageFiles(binDir string) ([]string, error) {
	root := filepath.Dir(binDir) // /usr/lib/postgresql/15
	files := []string{filepath.Join(binDir, "postgres")}
	mods, _ := filepath.Glob(filepath.Join(root, "lib", "*.so"))
	for _, m := range mods {
		if !strings.Contains(filepath.Base(m), "llvmjit") {
			files = append(files, m)
		}
	}
	// The libraries the server and its modules link, by ldd.
	libs := map[string]bool{}
	for _, f := range slices.Clone(files) {
		out, err := exec.Command("ldd", f).Output()
		if err != nil {
			return nil, fmt.Errorf("testbed: ldd %s: %w", f, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			fields := strings.Fields(line)
			for i, fld := range fields {
				if strings.HasPrefix(fld, "/") && (i == 0 || fields[i-1] == "=>") {
					libs[fld] = true
				}
			}
		}
	}
	for l := range libs {
		files = append(files, l)
	}
	share := filepath.Join("/usr/share/postgresql", filepath.Base(root))
	for _, dir := range []string{share, "/usr/share/zoneinfo"} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			// Regular files, and links to them (zoneinfo links whole
			// directories: posix/ -> .).
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("testbed: %s: %w", dir, err)
		}
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// EnsurePGImage returns the tag of the PostgreSQL image for the binaries
// in binDir and the account uid:gid they run as (in /etc/passwd), building
// it only when no image with the same content exists.
func EnsurePGImage(ctx context.Context, binDir string, uid, gid uint32, log *slog.Logger) (string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	files, err := pgImageFiles(binDir)
	if err != nil {
		return "", err
	}
	root := filepath.Dir(binDir)
	dockerfile := fmt.Sprintf(pgDockerfile, root)
	passwd := fmt.Sprintf("root:x:0:0::/:/nonexistent\npostgres:x:%d:%d::/pg:/nonexistent\n", uid, gid)
	group := fmt.Sprintf("root:x:0:\npostgres:x:%d:\n", gid)
	// The content hash: every file's path, mode and bytes, and the
	// generated ones.
	h := sha256.New()
	for _, s := range []string{dockerfile, passwd, group} {
		fmt.Fprintf(h, "%d\n%s", len(s), s)
	}
	for _, f := range files {
		fi, err := os.Stat(f) // follows links: the content counts
		if err != nil {
			return "", fmt.Errorf("testbed: %w", err)
		}
		fmt.Fprintf(h, "%s %o %d\n", f, fi.Mode().Perm(), fi.Size())
		if err := hashFile(h, f); err != nil {
			return "", err
		}
	}
	digest := hex.EncodeToString(h.Sum(nil))
	tag := PGImageRepo + ":" + digest[:16]
	cli, err := dockerClient()
	if err != nil {
		return "", err
	}
	defer cli.Close()
	dir, found, err := imageOrContext(ctx, cli, tag, "golive-pgimage-")
	if err != nil {
		return "", err
	}
	if found {
		return tag, nil
	}
	defer os.RemoveAll(dir)
	rootfs := filepath.Join(dir, "rootfs")
	for _, f := range files {
		dst := filepath.Join(rootfs, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", fmt.Errorf("testbed: image build context: %w", err)
		}
		// Symbolic links are followed: the image gets the file under the
		// name the loader asks for.
		src, err := filepath.EvalSymlinks(f)
		if err != nil {
			return "", fmt.Errorf("testbed: image build context: %w", err)
		}
		if err := linkOrCopy(src, dst); err != nil {
			return "", fmt.Errorf("testbed: image build context: %s: %w", f, err)
		}
	}
	for name, body := range map[string]string{"Dockerfile": dockerfile, "rootfs/etc/passwd": passwd, "rootfs/etc/group": group} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", fmt.Errorf("testbed: image build context: %w", err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return "", fmt.Errorf("testbed: image build context: %w", err)
		}
	}
	// The socket directory's parent and /tmp exist in every PostgreSQL
	// container.
	for _, d := range []string{"tmp", "pg"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o1777); err != nil {
			return "", fmt.Errorf("testbed: image build context: %w", err)
		}
	}
	log.Info("testbed: building the PostgreSQL image", "tag", tag, "files", len(files))
	prov, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tcLogger{log}))
	if err != nil {
		return "", fmt.Errorf("testbed: docker provider: %w", err)
	}
	defer prov.Close()
	req := &testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		Context: dir, Repo: PGImageRepo, Tag: digest[:16], KeepImage: true,
		BuildOptionsModifier: func(o *build.ImageBuildOptions) {
			o.Labels = map[string]string{LabelTestbed: "1", pgImageLabel: digest}
		},
	}}
	got, err := prov.BuildImage(ctx, req)
	if err != nil {
		return "", fmt.Errorf("testbed: building image %s: %w", tag, err)
	}
	return got, nil
}

func hashFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("testbed: hashing %s: %w", path, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("testbed: hashing %s: %w", path, err)
	}
	return nil
}
