package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/testcontainers/testcontainers-go"
)

// WorkerHost is implemented by testbeds that run load workers (golive
// worker) beside the topology: docker (containers from the run's image on
// the run's network) and local (child processes).
type WorkerHost interface {
	// WorkerSpace is the directory the coordinator and its workers share,
	// as this host sees it and as a worker sees it, and the portals' URLs
	// as a worker reaches them (each through its fault proxy client link),
	// in PortalURLs' order.
	WorkerSpace() (hostDir, workerDir string, portalURLs []string)
	// StartWorker starts the golive binary with args as the worker name
	// (worker-1, ...); it returns once the worker is started, not ready.
	StartWorker(ctx context.Context, w WorkerSpec) (WorkerProc, error)
}

// WorkerSpec is one worker to start.
type WorkerSpec struct {
	Name string
	Args []string
	// CPUSet pins a docker worker to these CPUs (docker's --cpuset-cpus,
	// "2-3"); "" leaves it unpinned. Local ignores it.
	CPUSet string
}

// WorkerProc is a started worker.
type WorkerProc interface {
	// Done is closed when the worker has exited; Exit then says how and
	// Exited when (this host's clock, as soon as it was known).
	Done() <-chan struct{}
	Exit() error
	Exited() time.Time
	// Kill ends the worker at once (SIGKILL).
	Kill(ctx context.Context) error
}

// workersDir is the shared directory's name inside a run's work directory.
const workersDir = "workers"

// --- local: child processes ---

func (tb *localTestbed) WorkerSpace() (string, string, []string) {
	d := filepath.Join(tb.work, workersDir)
	return d, d, tb.PortalURLs()
}

func (tb *localTestbed) StartWorker(_ context.Context, w WorkerSpec) (WorkerProc, error) {
	if err := os.MkdirAll(filepath.Join(tb.work, workersDir), 0o700); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(tb.logDir, w.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testbed: %s log: %w", w.Name, err)
	}
	cmd := exec.Command(tb.opts.Binary, w.Args...)
	// The run id and owner let golive testbed clean find a worker orphaned
	// by a dead coordinator, like every other child.
	cmd.Env = append(os.Environ(), EnvRun+"="+tb.opts.RunID, EnvOwner+"="+strconv.Itoa(os.Getpid()), "GOLIVE_COMPONENT="+w.Name)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn(cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("testbed: starting %s: %w", w.Name, err)
	}
	p := &localWorker{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		p.at = time.Now()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

type localWorker struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	at   time.Time
}

func (p *localWorker) Done() <-chan struct{} { return p.done }

func (p *localWorker) Exited() time.Time {
	select {
	case <-p.done:
		return p.at
	default:
		return time.Time{}
	}
}

func (p *localWorker) Exit() error {
	select {
	case <-p.done:
		return p.err
	default:
		return errNotRunning
	}
}

func (p *localWorker) Kill(ctx context.Context) error {
	select {
	case <-p.done: // reaped: its pid may belong to someone else by now
		return nil
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("testbed: killing worker: %w", err)
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// --- docker: containers on the run's network ---

func (tb *dockerTestbed) WorkerSpace() (string, string, []string) {
	urls := make([]string, len(tb.clients))
	for i := range urls {
		urls[i] = fmt.Sprintf("%s://%s:%d", scheme(tb.ca), Proxy, innerClientLnk+i)
	}
	return filepath.Join(tb.work, workersDir), workMount + "/" + workersDir, urls
}

func (tb *dockerTestbed) StartWorker(ctx context.Context, w WorkerSpec) (WorkerProc, error) {
	if err := os.MkdirAll(filepath.Join(tb.work, workersDir), 0o700); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	user := fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	req := testcontainers.ContainerRequest{
		Image:          tb.image,
		Name:           "golive-" + tb.opts.RunID + "-" + w.Name,
		Cmd:            w.Args,
		Labels:         tb.labels(),
		Networks:       []string{tb.network.Name},
		NetworkAliases: map[string][]string{tb.network.Name: {w.Name}},
		ConfigModifier: func(cfg *container.Config) { cfg.User = user },
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.Binds = []string{tb.work + ":" + workMount}
			hc.CpusetCpus = w.CPUSet
		},
	}
	// Created without the caller's cancellation, as the components are
	// (see run); Close sweeps the run's label either way.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tb.opts.StartTimeout)
	defer cancel()
	ctr, err := testcontainers.GenericContainer(cctx, testcontainers.GenericContainerRequest{
		ContainerRequest: req, Logger: tcLogger{tb.opts.Logger}, Started: true,
	})
	if err != nil {
		return nil, fmt.Errorf("testbed: starting worker %s: %w", w.Name, err)
	}
	p := &dockerWorker{tb: tb, name: w.Name, id: ctr.GetContainerID(), done: make(chan struct{})}
	go p.watch()
	return p, nil
}

type dockerWorker struct {
	tb       *dockerTestbed
	name, id string
	done     chan struct{}
	mu       sync.Mutex
	err      error
	at       time.Time
}

// watch waits for the container to stop and keeps its exit status and log.
func (p *dockerWorker) watch() {
	defer close(p.done)
	waitC, errC := p.tb.cli.ContainerWait(context.Background(), p.id, container.WaitConditionNotRunning)
	var err error
	var at time.Time
	select {
	case st := <-waitC:
		at = time.Now()
		if st.StatusCode != 0 {
			err = fmt.Errorf("exit status %d", st.StatusCode)
		}
	case werr := <-errC:
		at = time.Now()
		err = fmt.Errorf("waiting for the container: %w", werr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.tb.saveLog(ctx, &dockerComp{name: p.name, id: p.id})
	p.mu.Lock()
	p.err, p.at = err, at
	p.mu.Unlock()
}

func (p *dockerWorker) Exited() time.Time {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.at
	default:
		return time.Time{}
	}
}

func (p *dockerWorker) Done() <-chan struct{} { return p.done }

func (p *dockerWorker) Exit() error {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	default:
		return errNotRunning
	}
}

func (p *dockerWorker) Kill(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.tb.cli.ContainerKill(ctx, p.id, "KILL"); err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("testbed: killing %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var (
	_ WorkerHost = (*localTestbed)(nil)
	_ WorkerHost = (*dockerTestbed)(nil)
)
