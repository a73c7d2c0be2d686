package portal

import (
	"net/http"
	"time"

	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/simclock"
)

// BusinessClock is GET and PUT /v1/admin/business-clock: the simulated
// business day fraud rules judge opening hours on. SimStart holds at
// WallStart and simulated time runs Timescale times faster than the wall;
// a zero SimStart means real time.
type BusinessClock struct {
	SimStart  time.Time `json:"sim_start,omitzero"`
	WallStart time.Time `json:"wall_start,omitzero"`
	Timescale float64   `json:"timescale,omitempty"`
	// Now is the business time at the answer (GET and PUT responses).
	Now time.Time `json:"now,omitzero"`
}

func (p *Portal) businessClockView() BusinessClock {
	now := p.now()
	b := p.business.Load()
	if b == nil {
		return BusinessClock{Now: now}
	}
	return BusinessClock{SimStart: b.SimStart, WallStart: b.WallStart, Timescale: b.Scale, Now: b.Sim(now)}
}

func (p *Portal) handleGetBusinessClock(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.businessClockView())
}

func (p *Portal) handleSetBusinessClock(w http.ResponseWriter, r *http.Request) {
	var b BusinessClock
	if pr := problem.DecodeJSON(r, &b, p.cfg.MaxBodyBytes); pr != nil {
		problem.Write(w, *pr)
		return
	}
	if b.SimStart.IsZero() {
		p.SetBusinessClock(nil)
	} else {
		if !(b.Timescale > 0 && b.Timescale <= 1e6) {
			problem.Write(w, problem.Validation(problem.FieldError{Field: "timescale", Code: "out_of_range",
				Message: "timescale must be in (0, 1000000]"}))
			return
		}
		if b.WallStart.IsZero() {
			b.WallStart = p.now()
		}
		p.SetBusinessClock(&simclock.Clock{SimStart: b.SimStart, WallStart: b.WallStart, Scale: b.Timescale})
	}
	p.audit(r.Context(), "admin", "business_clock.set", "portal", map[string]any{
		"sim_start": b.SimStart, "wall_start": b.WallStart, "timescale": b.Timescale})
	writeJSON(w, http.StatusOK, p.businessClockView())
}
