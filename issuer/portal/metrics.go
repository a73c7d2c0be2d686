package portal

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/golive-dev/golive/issuer/overload"
)

// metrics live in the portal's own registry so tests (and a process running
// several portals) can create many.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec   // route, code
	latency  *prometheus.HistogramVec // route
	// shed is the server-side time of 429 and 503 answers: the promise
	// that overload is answered at once, apart from the client's own
	// queueing for a connection and a CPU.
	shed      *prometheus.HistogramVec // route, code
	inFlight  prometheus.Gauge
	rejected  *prometheus.CounterVec // limiter, reason
	quota     prometheus.Counter
	logins    *prometheus.CounterVec // outcome: failed, throttled
	issued    *prometheus.CounterVec // type, path
	deferred  prometheus.Counter
	revoked   prometheus.Counter
	fraud     *prometheus.CounterVec // kind
	signTime  prometheus.Histogram
	signError *prometheus.CounterVec // reason
}

func newMetrics(p *Portal) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_requests_total",
			Help: "Requests by route pattern and HTTP status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portal_request_duration_seconds",
			Help:    "Time from request to the end of the response, by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
		shed: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portal_shed_duration_seconds",
			Help:    "Server-side time of 429 and 503 answers, from the handler's start to the response, by route and code.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}, []string{"route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portal_in_flight_requests",
			Help: "Requests being handled (admitted or waiting for admission).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_admission_rejected_total",
			Help: "Requests turned away by admission control, by limiter and reason.",
		}, []string{"limiter", "reason"}),
		quota: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portal_quota_rejected_total",
			Help: "Issuance requests refused because the pharmacy was over its quota (429).",
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_login_failures_total",
			Help: "Client-credential logins that failed (wrong or unknown credentials) or were refused by the login throttle (429).",
		}, []string{"outcome"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_certificates_issued_total",
			Help: "Certificates signed and recorded, by type and path (direct or deferred).",
		}, []string{"type", "path"}),
		deferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portal_requests_deferred_total",
			Help: "Issuance requests persisted as tickets because no signer could sign in time.",
		}),
		revoked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portal_certificates_revoked_total",
			Help: "Certificates revoked (admin or anomaly).",
		}),
		fraud: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_fraud_events_total",
			Help: "Fraud events recorded, by kind.",
		}, []string{"kind"}),
		signTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portal_sign_duration_seconds",
			Help:    "Time of the signing step (every replica attempt included).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		signError: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_sign_errors_total",
			Help: "Failed signing steps by reason (no_signer, deadline, rejected, other).",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.shed, m.inFlight, m.rejected, m.quota, m.logins, m.issued,
		m.deferred, m.revoked, m.fraud, m.signTime, m.signError,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "portal_signers_available",
			Help: "Signer replicas that could take a call now.",
		}, func() float64 { return float64(p.signers.Available()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "portal_deferred_backlog",
			Help: "Deferred issuance requests waiting for a signer.",
		}, func() float64 { return float64(p.backlog.Load()) }),
	)
	for _, l := range p.limiters {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "portal_admission_queue_depth",
				Help:        "Requests waiting for admission, by limiter.",
				ConstLabels: prometheus.Labels{"limiter": l.Name()},
			}, func() float64 { return float64(l.Queued()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "portal_admission_in_flight",
				Help:        "Requests holding an admission slot, by limiter.",
				ConstLabels: prometheus.Labels{"limiter": l.Name()},
			}, func() float64 { return float64(l.InFlight()) }),
		)
	}
	return m
}

// handler serves the portal's metrics and its components'.
func (m *metrics) handler(components []Component) http.Handler {
	g := prometheus.Gatherers{m.reg}
	for _, c := range components {
		g = append(g, c.Metrics())
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

func (m *metrics) observe(route string, status int, took time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		m.shed.WithLabelValues(route, strconv.Itoa(status)).Observe(took.Seconds())
	}
}

// limiterMap keeps overload limiters by name for metrics.
type limiterMap map[string]*overload.Limiter
