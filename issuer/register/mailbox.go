package register

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Mailbox delivers a message to a register contact address. The portal
// sends activation codes through it; in production it would be mail or
// post, here it is a directory per pharmacy.
type Mailbox interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Message is one delivered message.
type Message struct {
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Body    string    `json:"body"`
	SentAt  time.Time `json:"sent_at"`
}

// DirMailbox stores each message as its own 0600 file under
// dir/<sanitised address>/ (directories 0700). Each pharmacy's directory is
// its mailbox: the operator hands that directory to the pharmacy the
// register lists, so only the register's contact can read its codes.
//
// Bodies carry secrets (activation codes) and are never logged.
type DirMailbox struct {
	dir string
	seq atomic.Uint64
	// Log receives one line per delivery (recipient and size only); nil
	// means slog.Default().
	Log *slog.Logger
}

// NewDirMailbox creates dir (0700) if needed.
func NewDirMailbox(dir string) (*DirMailbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	return &DirMailbox{dir: dir}, nil
}

// Dir returns the directory holding one address's messages.
func (m *DirMailbox) Dir(to string) (string, error) {
	name, err := sanitiseAddress(to)
	if err != nil {
		return "", err
	}
	return filepath.Join(m.dir, name), nil
}

// Send writes one message atomically (temp file, then rename), so a reader
// never sees half a message.
func (m *DirMailbox) Send(ctx context.Context, to, subject, body string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mailbox send: %w", err)
	}
	if strings.ContainsAny(subject, "\r\n") {
		return errors.New("mailbox send: subject contains a line break")
	}
	box, err := m.Dir(to)
	if err != nil {
		return fmt.Errorf("mailbox send: %w", err)
	}
	if err := os.MkdirAll(box, 0o700); err != nil {
		return fmt.Errorf("mailbox send: %w", err)
	}
	now := time.Now().UTC()
	data, err := json.Marshal(Message{To: to, Subject: subject, Body: body, SentAt: now})
	if err != nil {
		return fmt.Errorf("mailbox send: %w", err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	// Names sort in delivery order: time, then a per-process sequence.
	name := fmt.Sprintf("%019d-%010d-%s.json", now.UnixNano(), m.seq.Add(1), hex.EncodeToString(rnd[:]))
	tmp, err := os.CreateTemp(box, ".tmp-*")
	if err != nil {
		return fmt.Errorf("mailbox send: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already uses 0600; Chmod guards against a changed default.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("mailbox send: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("mailbox send: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("mailbox send: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(box, name)); err != nil {
		return fmt.Errorf("mailbox send: %w", err)
	}
	log := m.Log
	if log == nil {
		log = slog.Default()
	}
	log.LogAttrs(ctx, slog.LevelInfo, "mailbox: message delivered",
		slog.String("to", to), slog.Int("bytes", len(body)))
	return nil
}

// Messages returns the messages delivered to an address, oldest first. An
// address that never received mail has none (and no error).
func (m *DirMailbox) Messages(to string) ([]Message, error) {
	box, err := m.Dir(to)
	if err != nil {
		return nil, fmt.Errorf("mailbox read: %w", err)
	}
	ents, err := os.ReadDir(box)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mailbox read: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	out := make([]Message, 0, len(names))
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(box, n))
		if err != nil {
			return nil, fmt.Errorf("mailbox read: %w", err)
		}
		var msg Message
		if err := json.Unmarshal(data, &msg); err != nil {
			return nil, fmt.Errorf("mailbox read %s: %w", n, err)
		}
		out = append(out, msg)
	}
	return out, nil
}

// sanitiseAddress turns an address into a safe directory name: a bare
// address (no display name), lower-cased (mail systems treat local parts
// case-insensitively in practice), [a-z0-9@._+-] kept and every other byte
// written as %XX, so two different addresses never share a directory, and
// path separators and dot-only names cannot survive.
func sanitiseAddress(to string) (string, error) {
	a, err := mail.ParseAddress(to)
	if err != nil || a.Name != "" || a.Address != to {
		return "", fmt.Errorf("address %q is not a bare e-mail address", to)
	}
	var b strings.Builder
	lower := strings.ToLower(to)
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '@', c == '.', c == '_', c == '+', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	s := b.String()
	if strings.Trim(s, ".") == "" || strings.HasPrefix(s, ".") || len(s) > 200 {
		return "", fmt.Errorf("address %q cannot name a mailbox", to)
	}
	return s, nil
}
