package rundir

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TimeseriesColumns are timeseries.csv's columns in file order. Readers
// find columns by name, so columns are only ever added at the end.
var TimeseriesColumns = []string{
	"sim_time", "class", "offered", "sent", "late", "dropped",
	"ok", "deferred", "rejected", "overload", "error", "timeout", "transport",
	"p50_ms", "p90_ms", "p99_ms", "max_ms", "retries", "delivered", "deferrals", "accepted",
}

// TimeseriesHeader is timeseries.csv's first line.
var TimeseriesHeader = strings.Join(TimeseriesColumns, ",")

// OutcomeColumns are the outcome columns in the order of Counts.Outcomes.
var OutcomeColumns = []string{"ok", "deferred", "rejected", "overload", "error", "timeout", "transport"}

// Counts are one timeseries row's counters, or their sum over rows.
// Everything but Delivered, Deferrals and Accepted counts attempts in the
// bucket of their intended send time; those three count user actions in
// the bucket in which the answer reached the user (docs/run-format.md).
type Counts struct {
	// Offered is the user actions due (first attempts sent, or dropped);
	// Sent the attempts sent (retries, duplicates and ticket polls
	// included); Late the sends more than 10 ms behind their intended
	// time; Dropped the actions never sent.
	Offered, Sent, Late, Dropped int64
	// The outcomes of the attempts: OK is 201 (and other 2xx) plus ticket
	// polls that found the certificate; Deferred is 202 plus polls that
	// found the ticket still pending.
	OK, Deferred, Rejected, Overload, Error, Timeout, Transport int64
	Retries                                                     int64
	// Delivered is goodput: certificates that reached their user (a 201,
	// or the poll that found a deferred ticket done), once per action.
	Delivered int64
	// Deferrals are actions answered 202 (handed a ticket), once per action.
	Deferrals int64
	// Accepted are actions answered with a certificate or a ticket (201 or
	// 202), once per action, at the first such answer: the work the service
	// took on, which is not yet goodput when it was a ticket.
	Accepted int64
}

// Add adds o's counters to c.
func (c *Counts) Add(o Counts) {
	c.Offered += o.Offered
	c.Sent += o.Sent
	c.Late += o.Late
	c.Dropped += o.Dropped
	c.OK += o.OK
	c.Deferred += o.Deferred
	c.Rejected += o.Rejected
	c.Overload += o.Overload
	c.Error += o.Error
	c.Timeout += o.Timeout
	c.Transport += o.Transport
	c.Retries += o.Retries
	c.Delivered += o.Delivered
	c.Deferrals += o.Deferrals
	c.Accepted += o.Accepted
}

// Outcomes are the outcome counters in OutcomeColumns order.
func (c Counts) Outcomes() [7]int64 {
	return [7]int64{c.OK, c.Deferred, c.Rejected, c.Overload, c.Error, c.Timeout, c.Transport}
}

// Responses is every sent attempt with an outcome.
func (c Counts) Responses() int64 {
	return c.OK + c.Deferred + c.Rejected + c.Overload + c.Error + c.Timeout + c.Transport
}

// Failures are attempts that failed for reasons of the service, not of
// the request: overload, 5xx, timeouts and transport errors. 4xx
// rejections are the service working as intended.
func (c Counts) Failures() int64 { return c.Overload + c.Error + c.Timeout + c.Transport }

// Row is one line of timeseries.csv: one class in one bucket (one second)
// of simulated time.
type Row struct {
	Start time.Time
	Class string
	Counts
	// P50, P90, P99 and Max are the bucket's latencies from the intended
	// send time, in milliseconds.
	P50, P90, P99, Max float64
}

// TimeseriesWriter writes timeseries.csv rows.
type TimeseriesWriter struct {
	w    *bufio.Writer
	buf  []byte
	last time.Time
	ts   []byte
}

// NewTimeseriesWriter writes the header to w and returns a writer for the rows.
func NewTimeseriesWriter(w io.Writer) (*TimeseriesWriter, error) {
	tw := &TimeseriesWriter{w: bufio.NewWriterSize(w, 64<<10)}
	if _, err := tw.w.WriteString(TimeseriesHeader + "\n"); err != nil {
		return nil, fmt.Errorf("timeseries.csv header: %w", err)
	}
	return tw, nil
}

// ValidClass reports whether a class name can go into the run directory's
// CSV files unquoted: non-empty, without commas, quotes or newlines.
func ValidClass(name string) bool {
	return name != "" && !strings.ContainsAny(name, ",\"\r\n")
}

// Write appends one row (buffered; Flush writes it out).
func (tw *TimeseriesWriter) Write(r *Row) error {
	if !ValidClass(r.Class) {
		return fmt.Errorf("timeseries.csv: class %q must be non-empty without commas, quotes or newlines", r.Class)
	}
	if !r.Start.Equal(tw.last) || tw.ts == nil || r.Start.Location() != tw.last.Location() {
		// Every class of one second shares the timestamp: format it once.
		tw.ts = r.Start.AppendFormat(tw.ts[:0], time.RFC3339Nano)
		tw.last = r.Start
	}
	b := append(tw.buf[:0], tw.ts...)
	b = append(b, ',')
	b = append(b, r.Class...)
	c := &r.Counts
	for _, v := range [...]int64{c.Offered, c.Sent, c.Late, c.Dropped, c.OK, c.Deferred, c.Rejected,
		c.Overload, c.Error, c.Timeout, c.Transport} {
		b = append(b, ',')
		b = strconv.AppendInt(b, v, 10)
	}
	for _, v := range [...]float64{r.P50, r.P90, r.P99, r.Max} {
		b = append(b, ',')
		b = strconv.AppendFloat(b, v, 'f', 3, 64)
	}
	for _, v := range [...]int64{c.Retries, c.Delivered, c.Deferrals, c.Accepted} {
		b = append(b, ',')
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, '\n')
	tw.buf = b
	if _, err := tw.w.Write(b); err != nil {
		return fmt.Errorf("timeseries.csv: %w", err)
	}
	return nil
}

// Flush writes buffered rows out.
func (tw *TimeseriesWriter) Flush() error {
	if err := tw.w.Flush(); err != nil {
		return fmt.Errorf("timeseries.csv: %w", err)
	}
	return nil
}

// WriteTimeseriesFile writes rows as dir/timeseries.csv.
func WriteTimeseriesFile(dir string, rows []Row) (err error) {
	f, err := os.Create(filepath.Join(dir, TimeseriesFile))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	tw, err := NewTimeseriesWriter(f)
	if err != nil {
		return err
	}
	for i := range rows {
		if err := tw.Write(&rows[i]); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// TimeseriesReader streams timeseries.csv rows; it keeps none of them.
type TimeseriesReader struct {
	cr   *csv.Reader
	path string
	col  []int // by TimeseriesColumns index; -1 when absent
	// Legacy is true for a file written before the delivered, deferrals
	// and accepted columns: Delivered is then taken from OK, Deferrals from
	// Deferred and Accepted from OK+Deferred (per attempt, the closest the
	// old columns come).
	Legacy  bool
	lastRaw string
	lastT   time.Time
}

// NewTimeseriesReader reads the header; path names the file in errors.
// Columns are found by name, so columns added later (and unknown ones) do
// not break a reader; every column up to retries is required, delivered,
// deferrals and accepted may be missing (Legacy).
func NewTimeseriesReader(r io.Reader, path string) (*TimeseriesReader, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 256<<10))
	cr.ReuseRecord = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file, want the header %s", path, TimeseriesHeader)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pos := map[string]int{}
	for i, h := range head {
		pos[strings.TrimSpace(h)] = i
	}
	tr := &TimeseriesReader{cr: cr, path: path, col: make([]int, len(TimeseriesColumns))}
	var missing []string
	for i, name := range TimeseriesColumns {
		p, ok := pos[name]
		if !ok {
			p = -1
			if i < colDelivered {
				missing = append(missing, name)
			}
		}
		tr.col[i] = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s:1: header lacks column(s) %v (have %v)", path, missing, head)
	}
	tr.Legacy = tr.col[colDelivered] < 0 || tr.col[colDeferrals] < 0 || tr.col[colAccepted] < 0
	return tr, nil
}

const (
	colCounts    = 2  // offered .. transport: 11 integer columns
	colLatency   = 13 // p50_ms .. max_ms
	colRetries   = 17
	colDelivered = 18
	colDeferrals = 19
	colAccepted  = 20
)

// Read returns the next row, or io.EOF after the last.
func (tr *TimeseriesReader) Read() (Row, error) {
	rec, err := tr.cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Row{}, io.EOF
		}
		return Row{}, fmt.Errorf("%s: %w", tr.path, err)
	}
	line, _ := tr.cr.FieldPos(0)
	get := func(i int) string {
		if p := tr.col[i]; p >= 0 && p < len(rec) {
			return rec[p]
		}
		return ""
	}
	var r Row
	if raw := get(0); raw != tr.lastRaw || tr.lastT.IsZero() {
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return Row{}, fmt.Errorf("%s:%d: sim_time %q is not RFC 3339", tr.path, line, raw)
		}
		tr.lastRaw, tr.lastT = raw, t
	}
	r.Start = tr.lastT
	if r.Class = get(1); r.Class == "" {
		return Row{}, fmt.Errorf("%s:%d: empty class", tr.path, line)
	}
	c := &r.Counts
	ints := [...]*int64{&c.Offered, &c.Sent, &c.Late, &c.Dropped, &c.OK, &c.Deferred, &c.Rejected,
		&c.Overload, &c.Error, &c.Timeout, &c.Transport}
	for k, dst := range ints {
		if err := tr.int(get(colCounts+k), colCounts+k, line, dst); err != nil {
			return Row{}, err
		}
	}
	for k, dst := range [...]*float64{&r.P50, &r.P90, &r.P99, &r.Max} {
		s := get(colLatency + k)
		if s == "" {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return Row{}, fmt.Errorf("%s:%d: %s %q is not a non-negative number", tr.path, line, TimeseriesColumns[colLatency+k], s)
		}
		*dst = v
	}
	for k, dst := range [...]*int64{&c.Retries, &c.Delivered, &c.Deferrals, &c.Accepted} {
		if err := tr.int(get(colRetries+k), colRetries+k, line, dst); err != nil {
			return Row{}, err
		}
	}
	if tr.Legacy {
		if tr.col[colDelivered] < 0 {
			c.Delivered = c.OK
		}
		if tr.col[colDeferrals] < 0 {
			c.Deferrals = c.Deferred
		}
		if tr.col[colAccepted] < 0 {
			c.Accepted = c.OK + c.Deferred
		}
	}
	return r, nil
}

func (tr *TimeseriesReader) int(s string, col, line int, dst *int64) error {
	if s == "" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("%s:%d: %s %q is not a non-negative integer", tr.path, line, TimeseriesColumns[col], s)
	}
	*dst = v
	return nil
}

// ReadTimeseries reads every row of a timeseries.csv stream.
func ReadTimeseries(r io.Reader, path string) ([]Row, error) {
	tr, err := NewTimeseriesReader(r, path)
	if err != nil {
		return nil, err
	}
	var out []Row
	for {
		row, err := tr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
}

// ReadTimeseriesFile reads dir/timeseries.csv; a missing file is an error
// wrapping fs.ErrNotExist.
func ReadTimeseriesFile(dir string) ([]Row, error) {
	path := filepath.Join(dir, TimeseriesFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadTimeseries(f, path)
}
