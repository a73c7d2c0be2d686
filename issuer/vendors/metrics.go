package vendors

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/golive-dev/golive/issuer/routemetrics"
)

// metrics are vendor access's, in its own registry (vendor_*): per route
// as the other components have them, and per vendor, so one vendor's
// failures are told apart from another's.
type metrics struct {
	*routemetrics.Metrics
	vendorRequests *prometheus.CounterVec // vendor, code, problem
	issued         *prometheus.CounterVec // vendor
	incompatible   *prometheus.CounterVec // vendor
}

func newMetrics(v *Vendors) *metrics {
	m := &metrics{
		Metrics: routemetrics.New("vendor", v.log),
		vendorRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendor_issue_requests_total",
			Help: "Vendor issuance and ticket requests by vendor, HTTP status and, when vendor access refused it, the problem code.",
		}, []string{"vendor", "code", "problem"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendor_issued_total", Help: "Certificates issued (201) through each vendor.",
		}, []string{"vendor"}),
		incompatible: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendor_incompatible_total", Help: "Issuance requests refused 422 incompatible_format, by vendor.",
		}, []string{"vendor"}),
	}
	m.Registry.MustRegister(m.vendorRequests, m.issued, m.incompatible)
	return m
}
