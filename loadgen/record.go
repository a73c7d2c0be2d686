package loadgen

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/reports/rundir"
)

// Outcome classifies one attempt as docs/run-format.md lists them.
type Outcome string

// The outcomes of an attempt.
const (
	OutcomeOK         Outcome = "ok"          // 201 (any 2xx/3xx but 202 outside ticket polls)
	OutcomeDeferred   Outcome = "deferred"    // 202, or a ticket still pending
	OutcomeTicketDone Outcome = "ticket_done" // a ticket poll found the certificate signed
	OutcomeRejected   Outcome = "rejected"    // 4xx other than 429
	OutcomeOverload   Outcome = "overload"    // 429, 503
	OutcomeError      Outcome = "error"       // other 5xx, a failed ticket
	OutcomeTimeout    Outcome = "timeout"     // the client's timeout expired
	OutcomeTransport  Outcome = "transport"   // no HTTP answer; also dropped sends (attempt 0)
)

// outcomes in column order of timeseries.csv (ticket_done is folded into ok there).
var outcomes = [...]Outcome{OutcomeOK, OutcomeDeferred, OutcomeTicketDone, OutcomeRejected, OutcomeOverload, OutcomeError, OutcomeTimeout, OutcomeTransport}

func outcomeIndex(o Outcome) (int, bool) {
	for i, x := range outcomes {
		if x == o {
			return i, true
		}
	}
	return 0, false
}

// Good reports whether the user got what they came for (or a promise of it).
func (o Outcome) Good() bool {
	return o == OutcomeOK || o == OutcomeDeferred || o == OutcomeTicketDone
}

// ClassifyStatus maps an HTTP status to an outcome (the capacity search
// counts its answers with it too).
func ClassifyStatus(code int) Outcome {
	switch {
	case code == 202:
		return OutcomeDeferred
	case code == 429 || code == 503:
		return OutcomeOverload
	case code >= 500:
		return OutcomeError
	case code >= 400:
		return OutcomeRejected
	default:
		return OutcomeOK
	}
}

// LateAfter is how far behind its intended time a send may start before it
// counts as late.
const LateAfter = 10 * time.Millisecond

// Record is one attempt: a request on the wire, or (Attempt 0) a user
// action that was due but never sent.
type Record struct {
	Class    string
	Seq      uint64 // the user action within the class
	Attempt  int    // 1 the first send; retries, impatient duplicates and ticket polls count on; 0 dropped
	Intended time.Time
	Sent     time.Time // connection obtained (the request goes on the wire); Intended for a dropped send
	Latency  time.Duration
	Code     int
	Outcome  Outcome
	Error    string
	Method   string
	URL      string
	BytesIn  uint64
	BytesOut uint64
}

// Dropped reports whether the record is a send that never happened.
func (r *Record) Dropped() bool { return r.Attempt == 0 }

// Late reports whether the send started more than LateAfter after its intended time.
func (r *Record) Late() bool { return r.Attempt > 0 && r.Sent.Sub(r.Intended) > LateAfter }

// ResponseTime is the latency seen from the intended send time: what the
// user waited, queueing in the client included (no coordinated omission).
func (r *Record) ResponseTime() time.Duration {
	if d := r.Sent.Add(r.Latency).Sub(r.Intended); d > r.Latency {
		return d
	}
	return r.Latency
}

// End is when the attempt finished (the intended time for a dropped send).
func (r *Record) End() time.Time {
	if r.Dropped() {
		return r.Intended
	}
	return r.Sent.Add(r.Latency)
}

func (r *Record) result() vegeta.Result {
	return vegeta.Result{
		Attack: r.Class, Seq: r.Seq, Code: uint16(r.Code), Timestamp: r.Sent, Latency: r.Latency,
		BytesOut: r.BytesOut, BytesIn: r.BytesIn, Error: r.Error, Method: r.Method, URL: r.URL,
	}
}

const metaHeader = "seq,class,intended_unix_ns,attempt,outcome\n"

// Writer streams records as vegeta gob Results plus the meta CSV whose line
// N describes Result N. It is safe for concurrent use; memory is two
// buffers, whatever the run's length.
type Writer struct {
	mu      sync.Mutex
	enc     vegeta.Encoder
	gobBuf  *bufio.Writer
	metaBuf *bufio.Writer
	line    []byte
	closers []io.Closer
	n       uint64
	err     error
}

// NewWriter writes Results to results and the meta CSV (with its header) to meta.
func NewWriter(results, meta io.Writer) (*Writer, error) {
	w := &Writer{gobBuf: bufio.NewWriterSize(results, 256<<10), metaBuf: bufio.NewWriterSize(meta, 64<<10)}
	w.enc = vegeta.NewEncoder(w.gobBuf)
	if _, err := w.metaBuf.WriteString(metaHeader); err != nil {
		return nil, fmt.Errorf("loadgen: writing the meta header: %w", err)
	}
	return w, nil
}

// CreateWriter creates results.gob and results.meta.csv in dir.
func CreateWriter(dir string) (*Writer, error) {
	rf, err := os.Create(filepath.Join(dir, rundir.ResultsFile))
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	mf, err := os.Create(filepath.Join(dir, rundir.MetaFile))
	if err != nil {
		rf.Close()
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	w, err := NewWriter(rf, mf)
	if err != nil {
		rf.Close()
		mf.Close()
		return nil, err
	}
	w.closers = []io.Closer{rf, mf}
	return w, nil
}

// Write appends one record. After the first error every call returns it.
func (w *Writer) Write(r *Record) error {
	res := r.result()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if err := w.enc.Encode(&res); err != nil {
		w.err = fmt.Errorf("loadgen: encoding result %d: %w", w.n, err)
		return w.err
	}
	l := w.line[:0]
	l = strconv.AppendUint(l, r.Seq, 10)
	l = append(l, ',')
	l = append(l, r.Class...)
	l = append(l, ',')
	l = strconv.AppendInt(l, r.Intended.UnixNano(), 10)
	l = append(l, ',')
	l = strconv.AppendInt(l, int64(r.Attempt), 10)
	l = append(l, ',')
	l = append(l, r.Outcome...)
	l = append(l, '\n')
	w.line = l
	if _, err := w.metaBuf.Write(l); err != nil {
		w.err = fmt.Errorf("loadgen: writing meta line %d: %w", w.n, err)
		return w.err
	}
	w.n++
	return nil
}

// Count is the number of records written.
func (w *Writer) Count() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Flush pushes buffered records to the files.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if w.err != nil {
		return w.err
	}
	if err := errors.Join(w.gobBuf.Flush(), w.metaBuf.Flush()); err != nil {
		w.err = fmt.Errorf("loadgen: flushing results: %w", err)
	}
	return w.err
}

// Close flushes and closes the files CreateWriter opened.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.flushLocked()
	for _, c := range w.closers {
		err = errors.Join(err, c.Close())
	}
	w.closers = nil
	return err
}

// ReadRecords decodes a results.gob stream and its meta CSV in step and
// calls fn for each record, in file order.
func ReadRecords(results, meta io.Reader, fn func(*Record) error) error {
	rr, err := NewRecordReader(results, meta)
	if err != nil {
		return err
	}
	for {
		rec, err := rr.Next()
		if err == io.EOF { // bare: a damaged file's errors wrap io.EOF too
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// RecordReader reads records one at a time (a merge pulls from several).
type RecordReader struct {
	dec vegeta.Decoder
	cr  *csv.Reader
	n   uint64
	rec Record
}

// NewRecordReader reads the meta header and returns a reader of results and meta in step.
func NewRecordReader(results, meta io.Reader) (*RecordReader, error) {
	rr := &RecordReader{dec: vegeta.NewDecoder(bufio.NewReaderSize(results, 256<<10)),
		cr: csv.NewReader(bufio.NewReaderSize(meta, 64<<10))}
	rr.cr.FieldsPerRecord = 5
	rr.cr.ReuseRecord = true
	head, err := rr.cr.Read()
	if err != nil {
		return nil, fmt.Errorf("loadgen: reading the meta header: %w", err)
	}
	if got := joinCSV(head); got+"\n" != metaHeader {
		return nil, fmt.Errorf("loadgen: meta header is %q, want %q", got, metaHeader[:len(metaHeader)-1])
	}
	return rr, nil
}

// Next returns the next record (valid until the following call), or
// io.EOF itself (not wrapped) when both files end together; a file that
// ends before the other is an error that wraps io.EOF.
func (rr *RecordReader) Next() (*Record, error) {
	n := rr.n
	var res vegeta.Result
	derr := rr.dec.Decode(&res)
	line, merr := rr.cr.Read()
	if errors.Is(derr, io.EOF) && errors.Is(merr, io.EOF) {
		return nil, io.EOF
	}
	if derr != nil {
		return nil, fmt.Errorf("loadgen: decoding result %d: %w", n, derr)
	}
	if merr != nil {
		return nil, fmt.Errorf("loadgen: reading meta line for result %d: %w", n, merr)
	}
	seq, err1 := strconv.ParseUint(line[0], 10, 64)
	intended, err2 := strconv.ParseInt(line[2], 10, 64)
	attempt, err3 := strconv.Atoi(line[3])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("loadgen: meta line for result %d: %w", n, err)
	}
	if seq != res.Seq || line[1] != res.Attack {
		return nil, fmt.Errorf("loadgen: meta line for result %d names %s/%d, the result %s/%d", n, line[1], seq, res.Attack, res.Seq)
	}
	if _, ok := outcomeIndex(Outcome(line[4])); !ok {
		return nil, fmt.Errorf("loadgen: meta line for result %d: unknown outcome %q", n, line[4])
	}
	rr.n++
	rr.rec = Record{
		Class: res.Attack, Seq: res.Seq, Attempt: attempt, Intended: time.Unix(0, intended),
		Sent: res.Timestamp, Latency: res.Latency, Code: int(res.Code), Outcome: Outcome(line[4]),
		Error: res.Error, Method: res.Method, URL: res.URL, BytesIn: res.BytesIn, BytesOut: res.BytesOut,
	}
	return &rr.rec, nil
}

func joinCSV(f []string) string {
	var b bytes.Buffer
	for i, s := range f {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s)
	}
	return b.String()
}

// addrPort matches host:port pairs inside error strings; the ephemeral
// local port would make every transport error distinct, and vegeta's
// report keeps one map entry per distinct error.
var addrPort = regexp.MustCompile(`(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]|localhost):\d+`)

func errorText(err error) string {
	return addrPort.ReplaceAllString(err.Error(), "$1")
}
