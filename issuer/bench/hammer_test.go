package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// hammer is a closed-loop HTTP/1.1 load generator: conns keep-alive
// connections, each sending its next request as soon as it has read the
// last answer. It writes pre-built request bytes and reads answers with a
// minimal parser, so one core of it drives far more requests than one core
// of a server can answer: what it measures is the server's ceiling, which
// vegeta (about 13 000 requests/s on a core here) cannot reach for a
// cheap route. It counts answers by status and keeps every latency.
type hammer struct {
	addr  string // host:port
	conns int
	// request builds the i-th request's bytes (safe for concurrent use).
	request func(i uint64) []byte
}

type hammerResult struct {
	elapsed   time.Duration
	codes     map[int]int
	latencies []time.Duration
	errors    int
}

// ok is the number of 2xx and 304 answers per second.
func (r hammerResult) ok() float64 {
	n := 0
	for c, k := range r.codes {
		if c/100 == 2 || c == 304 {
			n += k
		}
	}
	return float64(n) / r.elapsed.Seconds()
}

func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	return u.Host
}

// run drives the target for d and returns what came back.
func (h hammer) run(ctx context.Context, d time.Duration) (hammerResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		seq  atomic.Uint64
		mu   sync.Mutex
		res  = hammerResult{codes: map[int]int{}}
		wg   sync.WaitGroup
		errc = make(chan error, h.conns)
	)
	start := time.Now()
	for range h.conns {
		wg.Go(func() {
			codes := map[int]int{}
			var lat []time.Duration
			errs := 0
			defer func() {
				mu.Lock()
				for c, n := range codes {
					res.codes[c] += n
				}
				res.latencies = append(res.latencies, lat...)
				res.errors += errs
				mu.Unlock()
			}()
			var (
				conn net.Conn
				br   *bufio.Reader
			)
			for ctx.Err() == nil {
				if conn == nil {
					c, err := net.Dial("tcp", h.addr)
					if err != nil {
						errc <- err
						return
					}
					conn, br = c, bufio.NewReaderSize(c, 64<<10)
				}
				t0 := time.Now()
				code, keep, err := exchange(conn, br, h.request(seq.Add(1)))
				if err != nil {
					errs++
					conn.Close()
					conn = nil
					continue
				}
				lat = append(lat, time.Since(t0))
				codes[code]++
				if !keep {
					conn.Close()
					conn = nil
				}
			}
			if conn != nil {
				conn.Close()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	select {
	case err := <-errc:
		return res, err
	default:
	}
	return res, nil
}

// exchange writes one request and reads its answer: the status, and
// whether the connection stays open.
func exchange(conn net.Conn, br *bufio.Reader, req []byte) (int, bool, error) {
	if _, err := conn.Write(req); err != nil {
		return 0, false, err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	length, keep := -1, true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(line) <= 2 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, false, err
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, false, errors.New("chunked answers are not supported")
		}
	}
	if length < 0 && code != 304 && code != 204 {
		return 0, false, errors.New("answer without Content-Length")
	}
	if length > 0 {
		if _, err := br.Discard(length); err != nil {
			return 0, false, err
		}
	}
	return code, keep, nil
}

// getRequest is a GET's bytes.
func getRequest(host, pathAndQuery string) []byte {
	return []byte("GET " + pathAndQuery + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: golive-bench\r\n\r\n")
}

// postRequest is a JSON POST's bytes with extra header lines.
func postRequest(host, path string, headers []string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString("POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: golive-bench\r\nContent-Type: application/json\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}
