package rundir

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// HistogramUnit is the unit of the values in histogram.hdr.
const HistogramUnit = time.Microsecond

// WriteHistogram writes one histogram.hdr line: "class,base64" of the
// HdrHistogram V2 compressed encoding of the class's latencies in
// HistogramUnit.
func WriteHistogram(w io.Writer, class string, h *hdr.Histogram) error {
	if !ValidClass(class) {
		return fmt.Errorf("histogram.hdr: class %q must be non-empty without commas, quotes or newlines", class)
	}
	enc, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		return fmt.Errorf("histogram.hdr: encoding the %s histogram: %w", class, err)
	}
	// Encode already yields the base64 text of a V2 log line.
	if _, err := fmt.Fprintf(w, "%s,%s\n", class, enc); err != nil {
		return fmt.Errorf("histogram.hdr: %w", err)
	}
	return nil
}

// HistogramLineError is a malformed line of histogram.hdr.
type HistogramLineError struct {
	Line int
	Err  error
}

func (e *HistogramLineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *HistogramLineError) Unwrap() error { return e.Err }

// ReadHistogramLines calls fn for every "class,base64" line of
// histogram.hdr in file order (blank lines and # comments skipped), so a
// reader can keep the classes' order; a malformed line stops it with a
// *HistogramLineError.
func ReadHistogramLines(r io.Reader, fn func(class string, h *hdr.Histogram) error) error {
	sc := bufio.NewScanner(r)
	// A histogram with a wide range is tens of kilobytes of base64.
	sc.Buffer(make([]byte, 0, 64<<10), 32<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		class, enc, ok := strings.Cut(line, ",")
		if !ok || class == "" || enc == "" {
			return &HistogramLineError{Line: n, Err: errors.New("want class,base64")}
		}
		h, err := DecodeHistogram(enc)
		if err != nil {
			return &HistogramLineError{Line: n, Err: fmt.Errorf("class %s: %w", class, err)}
		}
		if err := fn(class, h); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return &HistogramLineError{Line: n + 1, Err: err}
	}
	return nil
}

// ReadHistograms parses histogram.hdr into one histogram per class;
// lines of the same class are merged.
func ReadHistograms(r io.Reader) (map[string]*hdr.Histogram, error) {
	out := map[string]*hdr.Histogram{}
	err := ReadHistogramLines(r, func(class string, h *hdr.Histogram) error {
		if prev, ok := out[class]; ok {
			prev.Merge(h)
		} else {
			out[class] = h
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeHistogram reads one histogram of a histogram.hdr line: the V2
// encoding hdrhistogram-go's Encode returns (already base64). It turns
// the library's panics on short or corrupt input into errors, and still
// reads a line base64-encoded once more.
func DecodeHistogram(enc string) (h *hdr.Histogram, err error) {
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(raw) < 8 {
		return nil, fmt.Errorf("only %d bytes, too short for an HdrHistogram V2 encoding", len(raw))
	}
	if _, err := base64.StdEncoding.DecodeString(string(raw)); err == nil {
		enc = string(raw) // base64 inside base64: the inner text is Decode's input
	}
	defer func() {
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("corrupt HdrHistogram encoding: %v", p)
		}
	}()
	h, err = hdr.Decode([]byte(enc))
	if err != nil {
		return nil, fmt.Errorf("decode HdrHistogram: %w", err)
	}
	return h, nil
}
