package mailout

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/golive-dev/golive/issuer/routemetrics"
)

// metrics are the mail-out's, in its own registry (mailout_*).
type metrics struct {
	*routemetrics.Metrics
	jobs     prometheus.Counter
	accepted prometheus.Counter
	items    *prometheus.CounterVec // outcome: issued, failed, retry
	refused  *prometheus.CounterVec // code
	rejected *prometheus.CounterVec // reason (overload.Reason)
	signTime prometheus.Histogram
}

func newMetrics(m *Mailout) *metrics {
	mt := &metrics{
		Metrics: routemetrics.New("mailout", m.log),
		jobs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailout_jobs_accepted_total", Help: "Jobs accepted (202).",
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailout_items_accepted_total", Help: "Items of accepted jobs.",
		}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailout_items_total",
			Help: "Items worked off, by outcome: issued, failed (for good), retry (no signer; due again later).",
		}, []string{"outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailout_refused_total", Help: "Requests refused, by problem code.",
		}, []string{"code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailout_admission_rejected_total", Help: "Requests turned away by the mail-out's admission control, by reason.",
		}, []string{"reason"}),
		signTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mailout_sign_duration_seconds", Help: "Time to sign one item.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	mt.Registry.MustRegister(mt.jobs, mt.accepted, mt.items, mt.refused, mt.rejected, mt.signTime,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mailout_unfinished_items", Help: "Items accepted and not yet issued or failed (counted every few seconds).",
		}, func() float64 { return float64(m.unfinished.Load()) }),
	)
	if l := m.lanes; l != nil {
		mt.Registry.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "mailout_yield_waits_total", Help: "Batch steps that waited for a gap in interactive issuance.",
			}, func() float64 { return float64(l.Stats().Waits) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "mailout_yield_wait_seconds_total", Help: "Time batch work spent waiting for gaps in interactive issuance.",
			}, func() float64 { return l.Stats().Waited.Seconds() }),
		)
	}
	if l := m.limiter; l != nil {
		mt.Registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "mailout_admission_in_flight", Help: "API requests being served.",
			}, func() float64 { return float64(l.InFlight()) }),
		)
	}
	return mt
}
