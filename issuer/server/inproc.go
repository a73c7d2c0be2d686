package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// inprocTransport hands requests for in-process signers (role all)
// straight to their handlers. The portal keeps the signer's HTTP API
// (serialised payload, bearer token, the signer's own validation), so the
// signer trusts its front end no more than over a network; what goes is a
// loopback TCP round trip per certificate, which cost more CPU than the
// signature. Hosts name the replicas: http://dsc-1.inproc and so on.
type inprocTransport map[string]http.Handler

func (t inprocTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close() // a RoundTripper always closes the body
	}
	h, ok := t[req.URL.Host]
	if !ok {
		return nil, fmt.Errorf("in-process signer %q: no such replica", req.URL.Host)
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The server side's view of the request, as net/http would build it.
	sreq := req.Clone(ctx)
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "in-process"
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	w := &memResponse{header: http.Header{}}
	done := make(chan any, 1)
	go func() {
		// A handler that panics fails this call, not the process, as
		// net/http's server would contain it.
		defer func() { done <- recover() }()
		h.ServeHTTP(w, sreq)
	}()
	select {
	case p := <-done:
		if p != nil {
			return nil, fmt.Errorf("in-process signer %q: handler panicked: %v", req.URL.Host, p)
		}
	case <-ctx.Done():
		// The handler sees the same context and stops on its own; its
		// answer, written to w, is dropped.
		return nil, ctx.Err()
	}
	code := w.code
	if code == 0 {
		code = http.StatusOK
	}
	body := w.body.Bytes()
	return &http.Response{
		Status:        strconv.Itoa(code) + " " + http.StatusText(code),
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// memResponse is an http.ResponseWriter into memory.
type memResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *memResponse) Header() http.Header { return w.header }

func (w *memResponse) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *memResponse) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(b)
}
