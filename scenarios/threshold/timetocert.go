package threshold

import (
	"fmt"
	"math"

	"github.com/golive-dev/golive/reports/rundir"
)

// TimeToCertClass is the pseudo-class of the customers' time to
// certificate: p99(time_to_cert) < 15m judges summary.json's
// time_to_cert_ms (whole run, or each phase with "per phase"), not request
// latencies. A percentile beyond the run (more customers left without a
// certificate than it leaves out) is infinite: it fails every upper limit.
const TimeToCertClass = "time_to_cert"

// TimeToCertSource is a Source that knows the time to certificate, of the
// whole run (phase "") or of one phase; ok is false when it does not.
type TimeToCertSource interface {
	TimeToCert(phase string) (t *rundir.TimeToCert, ok bool, err error)
}

// TimeToCert implements TimeToCertSource from summary.json.
func (r *RunDir) TimeToCert(phase string) (*rundir.TimeToCert, bool, error) {
	r.loadSummary()
	if r.typ == nil {
		return nil, false, r.errs.sum
	}
	if phase == "" {
		return r.typ.TimeToCert, r.typ.TimeToCert != nil, nil
	}
	for _, p := range r.typ.Phases {
		if p.Name == phase {
			return p.TimeToCert, p.TimeToCert != nil, nil
		}
	}
	return nil, false, nil
}

// timeToCertSide is the measure of a time_to_cert percentile in a scope.
func timeToCertSide(src Source, m *Metric, phase string) (measure, error) {
	ts, ok := src.(TimeToCertSource)
	if !ok {
		return measure{}, fmt.Errorf("%s(%s) needs summary.json: %w", m.Name, TimeToCertClass, ErrNoData)
	}
	t, ok, err := ts.TimeToCert(phase)
	if err != nil {
		return measure{}, err
	}
	if !ok || t.Actions == 0 {
		return measure{}, fmt.Errorf("no customer issuance to give a time to certificate: %w", ErrNoData)
	}
	var v *float64
	switch m.Quantile {
	case 0.5:
		v = t.P50
	case 0.9:
		v = t.P90
	case 0.99:
		v = t.P99
	case 1:
		v = t.Max
	default:
		return measure{}, fmt.Errorf("%s(%s): summary.json keeps p50, p90, p99 and max: %w", m.Name, TimeToCertClass, ErrNoData)
	}
	note := fmt.Sprintf("summary.json time_to_cert_ms; %d of %d customers left without one", t.WithoutCert, t.Actions)
	if v == nil {
		return measure{math.Inf(1), note + ": beyond the run"}, nil
	}
	return measure{*v, note}, nil
}
