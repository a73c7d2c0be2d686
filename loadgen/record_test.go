package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestWriterConcurrentRoundTrip(t *testing.T) {
	var gob, meta bytes.Buffer
	w, err := NewWriter(&gob, &meta)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_700_000_000, 0)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				seq := uint64(g*each + i)
				r := &Record{Class: fmt.Sprintf("c%d", g%2), Seq: seq, Attempt: 1 + i%3, Intended: base.Add(time.Duration(seq) * time.Millisecond),
					Sent: base.Add(time.Duration(seq)*time.Millisecond + 2*time.Millisecond), Latency: time.Duration(seq) * time.Microsecond,
					Code: 201, Outcome: OutcomeOK, Method: "POST", URL: "http://x/v1/certificates"}
				if err := w.Write(r); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.Count() != goroutines*each {
		t.Fatalf("Count %d", w.Count())
	}
	// vegeta's own decoder reads every record.
	dec := vegeta.NewDecoder(bytes.NewReader(gob.Bytes()))
	n := 0
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("vegeta decode after %d: %v", n, err)
		}
		n++
	}
	if n != goroutines*each {
		t.Fatalf("vegeta decoded %d results, want %d", n, goroutines*each)
	}
	// Meta line N matches result N.
	seen := map[uint64]bool{}
	err = ReadRecords(bytes.NewReader(gob.Bytes()), bytes.NewReader(meta.Bytes()), func(r *Record) error {
		seq := r.Seq
		want := base.Add(time.Duration(seq) * time.Millisecond)
		if !r.Intended.Equal(want) || r.Attempt != 1+int(seq%each)%3 || r.Class != fmt.Sprintf("c%d", seq/each%2) || r.Latency != time.Duration(seq)*time.Microsecond {
			return fmt.Errorf("record %d mismatched: %+v", seq, r)
		}
		if !r.Late() == (r.Sent.Sub(r.Intended) > LateAfter) {
			return fmt.Errorf("Late wrong for %+v", r)
		}
		seen[seq] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != goroutines*each {
		t.Fatalf("read %d distinct records", len(seen))
	}
}

func TestReadRecordsRejectsBadInput(t *testing.T) {
	var gob, meta bytes.Buffer
	w, _ := NewWriter(&gob, &meta)
	w.Write(&Record{Class: "a", Seq: 1, Attempt: 1, Outcome: OutcomeOK})
	w.Write(&Record{Class: "a", Seq: 2, Attempt: 1, Outcome: OutcomeOK})
	w.Flush()
	nop := func(*Record) error { return nil }
	lines := strings.SplitAfter(meta.String(), "\n")
	for name, m := range map[string]string{
		"bad header":   "seq,class\n" + strings.Join(lines[1:], ""),
		"missing line": strings.Join(lines[:2], ""),
		"wrong seq":    lines[0] + strings.Replace(lines[1], "1,", "7,", 1) + lines[2],
		"bad outcome":  lines[0] + strings.Replace(lines[1], ",ok", ",fine", 1) + lines[2],
		"not a number": lines[0] + strings.Replace(lines[1], ",1,ok", ",x,ok", 1) + lines[2],
	} {
		if err := ReadRecords(bytes.NewReader(gob.Bytes()), strings.NewReader(m), nop); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := ReadRecords(bytes.NewReader(gob.Bytes()), bytes.NewReader(meta.Bytes()), nop); err != nil {
		t.Fatalf("good input rejected: %v", err)
	}
}

func TestErrorTextDropsPorts(t *testing.T) {
	a := errorText(errors.New("read tcp 127.0.0.1:54321->127.0.0.1:8080: read: connection reset by peer"))
	b := errorText(errors.New("read tcp 127.0.0.1:40000->127.0.0.1:8080: read: connection reset by peer"))
	if a != b || strings.Contains(a, "54321") {
		t.Fatalf("errorText kept ports: %q %q", a, b)
	}
}

func TestClassifyStatus(t *testing.T) {
	for code, want := range map[int]Outcome{201: OutcomeOK, 200: OutcomeOK, 202: OutcomeDeferred, 400: OutcomeRejected,
		401: OutcomeRejected, 409: OutcomeRejected, 429: OutcomeOverload, 503: OutcomeOverload, 500: OutcomeError, 502: OutcomeError, 504: OutcomeError} {
		if got := ClassifyStatus(code); got != want {
			t.Errorf("%d: %s, want %s", code, got, want)
		}
	}
}
