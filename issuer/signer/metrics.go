package signer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics live in the server's own registry so that tests (and a process
// running several replicas) can create many servers.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	inFlight  prometheus.Gauge
	signTime  prometheus.Histogram
	queueWait prometheus.Histogram
	lockouts  prometheus.Counter
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signer_requests_total",
			Help: "Sign requests by HTTP status code (499: the client went away).",
		}, []string{"code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "signer_in_flight_requests",
			Help: "Sign requests being handled (queued or signing).",
		}),
		signTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "signer_sign_duration_seconds",
			Help:    "Time a signature holds an HSM slot (modelled latency plus the real signing).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "signer_queue_wait_seconds",
			Help:    "Time a request waited for an HSM slot.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "signer_lockouts_total",
			Help: "Times the signer locked its client out.",
		}),
	}
	m.reg.MustRegister(m.requests, m.inFlight, m.signTime, m.queueWait, m.lockouts,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "signer_queue_depth",
			Help: "Requests waiting for an HSM slot.",
		}, func() float64 { return float64(s.waiting.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "signer_hsm_slots_busy",
			Help: "HSM slots holding a signature.",
		}, func() float64 { return float64(len(s.slots)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "signer_hsm_slots",
			Help: "HSM slots configured.",
		}, func() float64 { return float64(cap(s.slots)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "signer_locked_out",
			Help: "1 while the signer locks its client out.",
		}, func() float64 {
			if locked, _ := s.lockedOut(); locked {
				return 1
			}
			return 0
		}),
	)
	return m
}
