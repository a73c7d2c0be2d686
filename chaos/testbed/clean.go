package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
)

// CleanOptions select what Clean removes.
type CleanOptions struct {
	// All includes runs whose owning golive process is still alive
	// (normally those are live runs, not leftovers).
	All bool
	// RunPrefix limits the sweep to run ids with this prefix.
	RunPrefix string
	// Images also removes the golive-testbed images (the warm cache).
	Images bool
	// DryRun lists without removing.
	DryRun bool
}

// Removed lists what Clean found (and, unless DryRun, removed).
type Removed struct {
	Containers []string // name (run)
	Networks   []string
	Images     []string
	Processes  []string // pid (run, component)
	Dirs       []string
	// DockerSkipped says why containers were not looked at.
	DockerSkipped string
}

// Empty reports whether nothing was found.
func (r Removed) Empty() bool {
	return len(r.Containers)+len(r.Networks)+len(r.Images)+len(r.Processes)+len(r.Dirs) == 0
}

// Clean finds what testbed runs left behind: containers and networks with
// the testbed label, local children (by their environment in the process
// list, so a lost pid file does not hide one) and work directories. It
// skips runs whose owner process is alive unless All.
func Clean(ctx context.Context, o CleanOptions) (Removed, error) {
	var r Removed
	var errs []error
	match := func(run, owner string) bool {
		if !strings.HasPrefix(run, o.RunPrefix) {
			return false
		}
		return o.All || !ownerAlive(owner)
	}
	if err := DockerAvailable(ctx); err != nil {
		r.DockerSkipped = err.Error()
	} else if err := cleanDocker(ctx, o, match, &r); err != nil {
		errs = append(errs, err)
	}
	if err := cleanProcesses(o, match, &r); err != nil {
		errs = append(errs, err)
	}
	if err := cleanDirs(o, match, &r); err != nil {
		errs = append(errs, err)
	}
	return r, errors.Join(errs...)
}

func ownerAlive(owner string) bool {
	pid, err := strconv.Atoi(owner)
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	return syscall.Kill(pid, 0) == nil
}

func cleanDocker(ctx context.Context, o CleanOptions, match func(run, owner string) bool, r *Removed) error {
	cli, err := dockerClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	var errs []error
	f := filters.NewArgs(filters.Arg("label", LabelTestbed+"=1"))
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("testbed clean: listing containers: %w", err)
	}
	for _, c := range ctrs {
		if !match(c.Labels[LabelRun], c.Labels[LabelOwner]) {
			continue
		}
		n := strings.TrimPrefix(strings.Join(c.Names, ","), "/")
		r.Containers = append(r.Containers, n)
		if o.DryRun {
			continue
		}
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("testbed clean: removing container %s: %w", n, err))
		}
	}
	nws, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("testbed clean: listing networks: %w", err))...)
	}
	for _, nw := range nws {
		if !match(nw.Labels[LabelRun], nw.Labels[LabelOwner]) {
			continue
		}
		r.Networks = append(r.Networks, nw.Name)
		if o.DryRun {
			continue
		}
		if err := cli.NetworkRemove(ctx, nw.ID); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("testbed clean: removing network %s: %w", nw.Name, err))
		}
	}
	if o.Images {
		imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: f})
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("testbed clean: listing images: %w", err))...)
		}
		for _, im := range imgs {
			n := im.ID
			if len(im.RepoTags) > 0 {
				n = im.RepoTags[0]
			}
			r.Images = append(r.Images, n)
			if o.DryRun {
				continue
			}
			if _, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("testbed clean: removing image %s: %w", n, err))
			}
		}
	}
	return errors.Join(errs...)
}

// LocalProcess is a testbed child found in the process list.
type LocalProcess struct {
	PID              int
	Run, Owner, Name string
}

// FindLocalProcesses lists live processes that carry a testbed run id in
// their environment.
func FindLocalProcesses() ([]LocalProcess, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("testbed: reading the process list: %w", err)
	}
	var out []LocalProcess
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue // gone, or not ours to read
		}
		p := LocalProcess{PID: pid}
		for _, kv := range bytes.Split(env, []byte{0}) {
			k, v, _ := strings.Cut(string(kv), "=")
			switch k {
			case EnvRun:
				p.Run = v
			case EnvOwner:
				p.Owner = v
			case "GOLIVE_COMPONENT":
				p.Name = v
			}
		}
		if p.Run != "" && !zombie(pid) {
			out = append(out, p)
		}
	}
	return out, nil
}

// zombie reports whether pid has exited but not been reaped: it holds no
// resources and cannot be killed.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}

func cleanProcesses(o CleanOptions, match func(run, owner string) bool, r *Removed) error {
	procs, err := FindLocalProcesses()
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range procs {
		if !match(p.Run, p.Owner) {
			continue
		}
		r.Processes = append(r.Processes, fmt.Sprintf("%d (run %s, %s)", p.PID, p.Run, p.Name))
		if o.DryRun {
			continue
		}
		if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("testbed clean: killing %d: %w", p.PID, err))
		}
	}
	return errors.Join(errs...)
}

// cleanDirs removes run work directories whose owner is gone.
func cleanDirs(o CleanOptions, match func(run, owner string) bool, r *Removed) error {
	ents, err := os.ReadDir(WorkRoot())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("testbed clean: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(WorkRoot(), e.Name())
		owner, _ := os.ReadFile(filepath.Join(dir, "owner"))
		if !match(e.Name(), strings.TrimSpace(string(owner))) {
			continue
		}
		r.Dirs = append(r.Dirs, dir)
		if o.DryRun {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("testbed clean: %w", err))
		}
	}
	return errors.Join(errs...)
}

// makeWorkDir creates the run's work directory with an owner file, so
// clean can tell a live run's directory from a leftover.
func makeWorkDir(run string) (string, error) {
	if err := os.MkdirAll(WorkRoot(), 0o755); err != nil {
		return "", fmt.Errorf("testbed: %w", err)
	}
	dir := filepath.Join(WorkRoot(), run)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("testbed: work directory for run %s: %w", run, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("testbed: %w", err)
	}
	return dir, nil
}
