package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Streaming replication without a driver: a standby is a base backup of
// the primary (pg_basebackup) with standby.signal and primary_conninfo;
// settings that must change at run time (synchronous_standby_names when a
// standby joins or a primary is left alone) go into postgresql.auto.conf
// and a SIGHUP, because a -c setting on the command line would outrank
// the file; promotion is the file "promote" and SIGUSR1, what pg_ctl promote
// does.

// Standby creates a cluster as a base backup of the primary reached with
// the libpq connection string from (host=... port=... user=...; the
// password, if any, is o.Password) and makes it follow the primary at
// follow (a connection string as the standby will reach it: another host
// name inside a container network). It is not started.
func Standby(ctx context.Context, o Options, from, follow string) (*Server, error) {
	s, err := New(o)
	if err != nil {
		return nil, err
	}
	if err := s.Rebuild(ctx, from, follow); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Rebuild replaces the (stopped) cluster's data directory with a fresh
// base backup of the primary at from and makes it follow follow: how a
// former primary rejoins as a standby of the one promoted in its place.
func (s *Server) Rebuild(ctx context.Context, from, follow string) error {
	if s.Running() {
		return errors.New("pgserver: rebuild of a running server")
	}
	ctx, cancel := context.WithTimeout(ctx, s.startTimeout)
	defer cancel()
	if err := os.RemoveAll(s.data); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	// --checkpoint=fast: do not wait for the primary's next checkpoint.
	cmd := s.command(ctx, "pg_basebackup", "-d", from, "-D", s.data, "-X", "stream", "--checkpoint=fast", "--no-sync")
	if s.password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+s.password)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgserver: pg_basebackup from %s: %v: %s", redact(from), err, tail(out, 800))
	}
	return s.Follow(follow)
}

// Command is one of the server's programs (createdb, pg_controldata) run
// as the server's account with its environment.
func (s *Server) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return s.command(ctx, name, args...)
}

// Follow makes the (stopped) cluster a standby of the primary at conninfo
// from its next start.
func (s *Server) Follow(conninfo string) error {
	if s.password != "" {
		conninfo += " password=" + quoteConn(s.password)
	}
	if err := s.SetConf(map[string]string{"primary_conninfo": conninfo, "synchronous_standby_names": ""}); err != nil {
		return err
	}
	sig := filepath.Join(s.data, "standby.signal")
	if err := os.WriteFile(sig, nil, 0o600); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return s.chown(sig)
}

func redact(conninfo string) string {
	f := strings.Fields(conninfo)
	for i, kv := range f {
		if strings.HasPrefix(kv, "password=") {
			f[i] = "password=…"
		}
	}
	return strings.Join(f, " ")
}

// quoteConn quotes a value for a libpq connection string.
func quoteConn(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// AllowNetwork lets every address connect (with the password, or trust
// when the server has none) and stream replication: a server in a
// container is reached from the container network's addresses.
func (s *Server) AllowNetwork() error {
	method := "trust"
	if s.password != "" {
		method = "scram-sha-256"
	}
	hba := filepath.Join(s.data, "pg_hba.conf")
	f, err := os.OpenFile(hba, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	_, err = fmt.Fprintf(f, "host all all 0.0.0.0/0 %s\nhost replication all 0.0.0.0/0 %s\n", method, method)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgserver: %s: %w", hba, err)
	}
	return nil
}

// SetConf writes settings into postgresql.auto.conf (later lines win, as
// ALTER SYSTEM's would); a running server reads them on Reload.
func (s *Server) SetConf(settings map[string]string) error {
	path := filepath.Join(s.data, "postgresql.auto.conf")
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(settings[k], "'", "''"))
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	_, err = f.Write(b.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgserver: %s: %w", path, err)
	}
	return s.chown(path)
}

// Reload makes the running server read its configuration files again.
func (s *Server) Reload() error { return s.signal(syscall.SIGHUP) }

// Promote asks a running standby to end recovery and become a primary;
// ClusterState says when it has.
func (s *Server) Promote() error {
	if err := s.RequestPromote(); err != nil {
		return err
	}
	return s.signal(syscall.SIGUSR1)
}

// RequestPromote leaves the promote file the standby acts on at
// its next SIGUSR1 (to be sent by whoever runs the postmaster: a
// container's is not our child).
func (s *Server) RequestPromote() error {
	sig := filepath.Join(s.data, "promote")
	if err := os.WriteFile(sig, nil, 0o600); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return s.chown(sig)
}

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return errors.New("pgserver: not started")
	}
	select {
	case <-done:
		return errors.New("pgserver: not running")
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("pgserver: %v to postgres: %w", sig, err)
	}
	return nil
}

// Cluster states as pg_controldata prints them.
const (
	StateProduction = "in production"
	StateRecovery   = "in archive recovery"
)

// ClusterState is the "Database cluster state" of pg_controldata: "in
// production" for a primary, "in archive recovery" for a standby.
func (s *Server) ClusterState(ctx context.Context) (string, error) {
	out, err := s.command(ctx, "pg_controldata", "-D", s.data).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("pgserver: pg_controldata: %v: %s", err, tail(out, 400))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Database cluster state:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("pgserver: pg_controldata printed no cluster state")
}

// Pid is the postmaster's process id, 0 when it is not running.
func (s *Server) Pid() int {
	if !s.Running() {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

// BinDir is the directory of the PostgreSQL binaries the server uses.
func (s *Server) BinDir() string { return s.bin }

// SetPort fixes the port a server that was never started will listen on
// (a testbed that publishes it from a container knows it already).
func (s *Server) SetPort(port int) { s.port = port }

// Owner is the account the server runs as (this process's when it is not
// root).
func (s *Server) Owner() (uid, gid uint32) {
	if s.cred != nil {
		return s.cred.Uid, s.cred.Gid
	}
	return uint32(os.Getuid()), uint32(os.Getgid())
}
