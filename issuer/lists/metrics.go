package lists

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/golive-dev/golive/issuer/lists/listsapi"
	"github.com/golive-dev/golive/issuer/routemetrics"
)

// metrics are the lists', in their own registry (lists_*). Cache hit rate
// of apps: lists_requests_total{code="304"} against code="200".
type metrics struct {
	*routemetrics.Metrics
	reloads  *prometheus.CounterVec // result: ok, error
	versions prometheus.Counter
	deltas   *prometheus.CounterVec // kind: delta, full, shed_full
	rejected *prometheus.CounterVec // reason (overload.Reason)
}

func newMetrics(l *Lists) *metrics {
	m := &metrics{
		Metrics: routemetrics.New("lists", l.log),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lists_revocation_reloads_total",
			Help: "Reads of the revocation list from the registry, by result.",
		}, []string{"result"}),
		versions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lists_revocation_versions_total",
			Help: "New revocation list versions published after the first.",
		}),
		deltas: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lists_revocation_deltas_total",
			Help: "Delta answers: a delta (delta), the full list for a version not known here (full), or the full list because admission turned the computation away (shed_full).",
		}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lists_admission_rejected_total",
			Help: "Delta computations turned away by admission control, by reason.",
		}, []string{"reason"}),
	}
	m.Registry.MustRegister(m.reloads, m.versions, m.deltas, m.rejected)
	for _, t := range listsapi.HashTypes() {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "lists_revocation_entries",
			Help:        "Entries of the current revocation list, by hash type.",
			ConstLabels: prometheus.Labels{"type": t},
		}, func() float64 {
			if r := l.rev.Load(); r != nil {
				return float64(len(r.list[t]))
			}
			return 0
		}))
	}
	return m
}
