package register

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestDirMailboxDeliversPrivately(t *testing.T) {
	root := filepath.Join(t.TempDir(), "mail")
	mb, err := NewDirMailbox(root)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	mb.Log = slog.New(slog.NewTextHandler(&logBuf, nil))
	ctx := context.Background()
	const secret = "ACTIVATION-7Q4K-9XZP"
	if err := mb.Send(ctx, "info@loewen-123456.example", "Ihr Aktivierungscode", "Code: "+secret); err != nil {
		t.Fatal(err)
	}
	if err := mb.Send(ctx, "info@loewen-123456.example", "Zweite Nachricht", "hallo"); err != nil {
		t.Fatal(err)
	}
	if err := mb.Send(ctx, "info@adler-654321.example", "Andere Apotheke", "nicht für Löwen"); err != nil {
		t.Fatal(err)
	}

	msgs, err := mb.Messages("info@loewen-123456.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || !strings.Contains(msgs[0].Body, secret) || msgs[1].Subject != "Zweite Nachricht" {
		t.Fatalf("got %+v", msgs)
	}
	if msgs[0].SentAt.IsZero() || msgs[0].To != "info@loewen-123456.example" {
		t.Fatalf("metadata %+v", msgs[0])
	}

	// Permissions: mailbox dirs 0700, messages 0600.
	for _, dir := range []string{root, filepath.Join(root, "info@loewen-123456.example")} {
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v, want 0700", dir, st.Mode().Perm())
		}
	}
	files, _ := filepath.Glob(filepath.Join(root, "*", "*"))
	if len(files) != 3 {
		t.Fatalf("files %v", files)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}

	// The log says something was delivered but never what.
	if !strings.Contains(logBuf.String(), "message delivered") {
		t.Fatalf("no delivery log: %q", logBuf.String())
	}
	if strings.Contains(logBuf.String(), secret) || strings.Contains(logBuf.String(), "Aktivierungscode") {
		t.Fatalf("log leaks message content: %q", logBuf.String())
	}

	// A pharmacy that got nothing has an empty mailbox, not an error.
	none, err := mb.Messages("info@stern-000000.example")
	if err != nil || len(none) != 0 {
		t.Fatalf("%v %v", none, err)
	}
}

func TestDirMailboxRejectsHostileAddresses(t *testing.T) {
	mb, err := NewDirMailbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mb.Log = slog.New(slog.DiscardHandler)
	for _, to := range []string{
		"", "no-at-sign", "../../etc/passwd", "Apotheke <info@x.example>",
		"info@x.example, evil@y.example", "a/b@x.example\n",
	} {
		if err := mb.Send(context.Background(), to, "s", "b"); err == nil {
			t.Errorf("Send to %q accepted", to)
		}
	}
	if err := mb.Send(context.Background(), "info@x.example", "line\r\nBcc: evil@y.example", "b"); err == nil {
		t.Error("subject with line break accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := mb.Send(ctx, "info@x.example", "s", "b"); err == nil {
		t.Error("Send with cancelled context succeeded")
	}
}

func TestSanitisedAddressesDoNotCollide(t *testing.T) {
	// Different addresses must never share a directory; '/' and '%' are
	// legal in a local part but must not become a path separator or alias.
	addrs := []string{"a/b@x.example", "a_b@x.example", "a%2fb@x.example", "a{b@x.example", "ab@x.example", "a.b@x.example"}
	seen := map[string]string{}
	for _, a := range addrs {
		s, err := sanitiseAddress(a)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if strings.ContainsAny(s, `/\ `) {
			t.Fatalf("%s -> %q contains a separator", a, s)
		}
		if prev, ok := seen[s]; ok {
			t.Fatalf("%s and %s both map to %q", prev, a, s)
		}
		seen[s] = a
	}
	// Case is folded on purpose: one pharmacy, one mailbox.
	up, _ := sanitiseAddress("Info@Loewen.example")
	low, _ := sanitiseAddress("info@loewen.example")
	if up != low {
		t.Fatalf("%q != %q", up, low)
	}
}

func TestDirMailboxConcurrentSends(t *testing.T) {
	mb, err := NewDirMailbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mb.Log = slog.New(slog.DiscardHandler)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := mb.Send(context.Background(), "info@x.example", fmt.Sprintf("m%d", i), "b"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	msgs, err := mb.Messages("info@x.example")
	if err != nil || len(msgs) != 50 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
}
