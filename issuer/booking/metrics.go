package booking

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/golive-dev/golive/issuer/routemetrics"
)

// metrics are the booking's, in its own registry (booking_*).
type metrics struct {
	*routemetrics.Metrics
	booked     prometheus.Counter
	cancelled  *prometheus.CounterVec // by: citizen, pharmacy, issuance
	notices    *prometheus.CounterVec // channel, in_time: yes, no
	visits     *prometheus.CounterVec // outcome
	cameInVain prometheus.Counter
	refused    *prometheus.CounterVec // code
	rejected   *prometheus.CounterVec // reason (overload.Reason)
}

func newMetrics(b *Booking) *metrics {
	mt := &metrics{
		Metrics: routemetrics.New("booking", b.log),
		booked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "booking_bookings_total", Help: "Bookings made (201).",
		}),
		cancelled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booking_cancelled_total", Help: "Bookings cancelled, by who: citizen, pharmacy, issuance (the follower).",
		}, []string{"by"}),
		notices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booking_notices_total", Help: "Cancellation notices, by channel and whether they reach the citizen before the start.",
		}, []string{"channel", "in_time"}),
		visits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booking_visits_total", Help: "Visits recorded by the counter, by outcome: issued, ticket, failed.",
		}, []string{"outcome"}),
		cameInVain: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "booking_came_in_vain_total", Help: "Visits that failed without a notice reaching the citizen in time.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booking_refused_total", Help: "Requests refused, by problem code.",
		}, []string{"code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booking_admission_rejected_total", Help: "Requests turned away by the booking's admission control, by reason.",
		}, []string{"reason"}),
	}
	mt.Registry.MustRegister(mt.booked, mt.cancelled, mt.notices, mt.visits, mt.cameInVain, mt.refused, mt.rejected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "booking_issuance_down", Help: "1 while the follower sees issuance down (follow_issuance only).",
		}, func() float64 {
			if b.issuanceDown.Load() {
				return 1
			}
			return 0
		}),
	)
	if l := b.limiter; l != nil {
		mt.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "booking_admission_in_flight", Help: "Booking requests being served.",
		}, func() float64 { return float64(l.InFlight()) }))
	}
	return mt
}
