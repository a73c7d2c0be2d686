package portal

import (
	"net/http"

	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/simclock"
)

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
