// Package routemetrics instruments the routes of the issuer's public read
// components (the pharmacy finder, the verifier apps' lists), each in its
// own Prometheus registry: requests by route and status code, latency and
// bytes sent by route. A handler's panic becomes a problem 500 and a log
// line, and every answer says nosniff.
package routemetrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/golive-dev/golive/issuer/problem"
)

// Metrics counts one component's requests.
type Metrics struct {
	// Registry holds these metrics; the component adds its own to it.
	Registry *prometheus.Registry
	requests *prometheus.CounterVec   // route, code
	latency  *prometheus.HistogramVec // route
	bytes    *prometheus.CounterVec   // route
	log      *slog.Logger
}

// New makes <namespace>_requests_total, <namespace>_request_duration_seconds
// and <namespace>_response_bytes_total in a new registry.
func New(namespace string, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_total",
			Help: "Requests by route pattern and HTTP status code (304 is a cache revalidation).",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "request_duration_seconds",
			Help:    "Time from request to the end of the response, by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}, []string{"route"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "response_bytes_total",
			Help: "Response body bytes sent, by route pattern.",
		}, []string{"route"}),
		log: log,
	}
	m.Registry.MustRegister(m.requests, m.latency, m.bytes)
	return m
}

// Wrap instruments h as route (the mux pattern).
func (m *Metrics) Wrap(route string, h http.Handler) http.Handler {
	// The common codes' series are resolved once: a public read route
	// answers tens of thousands of requests a second.
	common := map[int]prometheus.Counter{}
	for _, c := range []int{http.StatusOK, http.StatusNotModified} {
		common[c] = m.requests.WithLabelValues(route, strconv.Itoa(c))
	}
	requests := func(code int) prometheus.Counter {
		if c, ok := common[code]; ok {
			return c
		}
		return m.requests.WithLabelValues(route, strconv.Itoa(code))
	}
	latency := m.latency.WithLabelValues(route)
	bytes := m.bytes.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &Recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				// The type only: a panic value may quote the request.
				m.log.Error("handler panic", "route", route, "panic", fmt.Sprintf("%T", v))
				if rec.Status == 0 {
					problem.Write(rec, problem.Internal("internal error"))
				}
			}
			status := rec.Status
			if status == 0 {
				status = http.StatusOK
			}
			requests(status).Inc()
			latency.Observe(time.Since(start).Seconds())
			bytes.Add(float64(rec.Bytes))
		}()
		rec.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(rec, r)
	})
}

// Recorder remembers the status code a handler answered and counts the
// body bytes: what metrics and access logs read after the handler. One
// type for every component's middleware.
type Recorder struct {
	http.ResponseWriter
	Status int
	Bytes  int
}

func (r *Recorder) WriteHeader(code int) {
	if r.Status == 0 {
		r.Status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *Recorder) Write(b []byte) (int, error) {
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.Bytes += n
	return n, err
}

func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
