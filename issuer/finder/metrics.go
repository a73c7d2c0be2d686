package finder

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/routemetrics"
)

// metrics are the finder's, in its own registry (finder_*).
type metrics struct {
	*routemetrics.Metrics
	cache       *prometheus.CounterVec // result: hit, miss
	hit, miss   prometheus.Counter     // cache's two series, resolved once (every search counts one)
	stale       *prometheus.CounterVec // reason: registry, overload
	rejected    *prometheus.CounterVec // reason (overload.Reason)
	refreshes   *prometheus.CounterVec // result: ok, error
	refreshTime prometheus.Histogram
}

func newMetrics(f *Finder) *metrics {
	m := &metrics{
		Metrics: routemetrics.New("finder", f.log),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "finder_cache_lookups_total",
			Help: "Searches answered from the snapshot's cached answers (hit) or computed (miss).",
		}, []string{"result"}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "finder_stale_answers_total",
			Help: "Answers marked stale: the registry could not be read (registry), or admission turned the search away and the previous snapshot answered (overload).",
		}, []string{"reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "finder_admission_rejected_total",
			Help: "Searches turned away by the finder's admission control, by reason.",
		}, []string{"reason"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "finder_snapshot_refreshes_total",
			Help: "Snapshot rebuilds from the registry, by result.",
		}, []string{"result"}),
		refreshTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "finder_snapshot_refresh_duration_seconds",
			Help:    "Time to read the registry's pharmacy activity for one snapshot.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	m.hit, m.miss = m.cache.WithLabelValues("hit"), m.cache.WithLabelValues("miss")
	m.Registry.MustRegister(m.cache, m.stale, m.rejected, m.refreshes, m.refreshTime,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "finder_snapshot_age_seconds",
			Help: "Age of the snapshot searches read (grows while the registry cannot be read).",
		}, func() float64 {
			if s := f.snap.Load(); s != nil {
				return f.clock().Sub(s.at).Seconds()
			}
			return 0
		}),
	)
	for _, st := range finderapi.Statuses() {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "finder_pharmacies",
			Help:        "Pharmacies in the snapshot, by the status the finder shows.",
			ConstLabels: prometheus.Labels{"status": string(st)},
		}, func() float64 {
			if s := f.snap.Load(); s != nil {
				return float64(s.counts[st])
			}
			return 0
		}))
	}
	if l := f.limiter; l != nil {
		m.Registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "finder_admission_queue_depth",
				Help: "Searches waiting for admission.",
			}, func() float64 { return float64(l.Queued()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "finder_admission_in_flight",
				Help: "Searches being computed.",
			}, func() float64 { return float64(l.InFlight()) }),
		)
	}
	return m
}
