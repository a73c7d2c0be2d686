// Package fraud watches each pharmacy's issuance for the patterns of the
// 2021 insider abuse: a passed-on portal access issued at least 604 fake
// certificates in 19 days, mostly between 21:00 and 24:00, when the pharmacy
// itself was closed. A Detector flags two things per pharmacy:
//
//   - off-hours issuance: more than a few certificates outside the
//     configured opening hours within a window (a pharmacy on night duty
//     issues a handful; a seller of fakes issues dozens);
//   - volume: far more certificates in the last window than the pharmacy's
//     own baseline (its mean per window over its opening hours), and above
//     a floor every pharmacy may always reach.
//
// It only decides; the portal suspends, records and revokes. State is in
// memory and bounded; after a restart the baseline starts again from the
// floor, which errs on the side of flagging.
package fraud

import (
	"container/list"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
	_ "time/tzdata" // opening hours are local time; a static binary on scratch has no zoneinfo

	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// Kind names what an anomaly is about.
type Kind string

const (
	KindOffHours Kind = "off_hours"
	KindVolume   Kind = "volume"
)

// Config tunes a Detector.
type Config struct {
	// Location is the time zone of the opening hours (Europe/Berlin).
	Location *time.Location
	// OpenFrom and OpenUntil are the opening hours as offsets from local
	// midnight (8h and 20h for 08:00-20:00). OpenUntil <= OpenFrom means
	// the pharmacy is open across midnight.
	OpenFrom, OpenUntil time.Duration
	// OffHoursLimit certificates outside opening hours within OffHoursWindow
	// are tolerated (night duty); one more is an anomaly.
	OffHoursLimit  int
	OffHoursWindow time.Duration
	// VolumeWindow is the window the volume rule counts over (1h).
	VolumeWindow time.Duration
	// VolumeFloor certificates per VolumeWindow are always allowed, however
	// small the pharmacy's baseline (and for new pharmacies without one).
	VolumeFloor int
	// BaselineFactor: more than factor x baseline per VolumeWindow is an
	// anomaly (when also above VolumeFloor).
	BaselineFactor float64
	// BaselineWindow is how much history the baseline averages over.
	BaselineWindow time.Duration
	// MaxPharmacies bounds memory; the least recently active pharmacy's
	// state is dropped beyond it.
	MaxPharmacies int
}

// DefaultConfig is the hardened preset: opening hours 08:00-20:00 in
// Europe/Berlin, at most 10 certificates outside them per 24 h, volume
// above 5x the pharmacy's own hourly baseline and above 120 an hour.
//
// 120 an hour is generous: a customer took about 10 minutes in 2021 and got
// two certificates, so one workstation makes about 12 an hour.
func DefaultConfig() Config {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		loc = time.UTC // unreachable: time/tzdata is embedded
	}
	return Config{
		Location:       loc,
		OpenFrom:       8 * time.Hour,
		OpenUntil:      20 * time.Hour,
		OffHoursLimit:  10,
		OffHoursWindow: 24 * time.Hour,
		VolumeWindow:   time.Hour,
		VolumeFloor:    120,
		BaselineFactor: 5,
		BaselineWindow: 7 * 24 * time.Hour,
		MaxPharmacies:  50000,
	}
}

// Validate checks a configuration.
func (c Config) Validate() error {
	switch {
	case c.Location == nil:
		return errors.New("fraud: Location is required")
	case c.OpenFrom < 0 || c.OpenFrom >= 24*time.Hour || c.OpenUntil < 0 || c.OpenUntil > 24*time.Hour:
		return fmt.Errorf("fraud: opening hours %v-%v outside a day", c.OpenFrom, c.OpenUntil)
	case c.OffHoursLimit < 0 || c.OffHoursWindow <= 0:
		return errors.New("fraud: OffHoursLimit must be >= 0 and OffHoursWindow > 0")
	case c.VolumeWindow < time.Minute || c.VolumeFloor < 1:
		return errors.New("fraud: VolumeWindow must be >= 1m and VolumeFloor >= 1")
	case !(c.BaselineFactor >= 1) || math.IsInf(c.BaselineFactor, 0):
		return errors.New("fraud: BaselineFactor must be >= 1")
	case c.BaselineWindow < c.VolumeWindow:
		return errors.New("fraud: BaselineWindow must be at least VolumeWindow")
	case c.MaxPharmacies < 1:
		return errors.New("fraud: MaxPharmacies must be >= 1")
	}
	return nil
}

// Anomaly is one detected pattern.
type Anomaly struct {
	Pharmacy string
	Kind     Kind
	// Since is the first issuance that belongs to the anomaly: the oldest
	// off-hours certificate in the window, or the oldest in the volume
	// window. The portal revokes from here on.
	Since time.Time
	// At is the observation that tripped the rule.
	At time.Time
	// Count is what the rule counted (certificates in its window, this one
	// included); Limit what it allowed.
	Count int
	Limit int
}

func (a Anomaly) String() string {
	return fmt.Sprintf("%s: %d certificates (limit %d) since %s", a.Kind, a.Count, a.Limit, a.Since.UTC().Format(time.RFC3339))
}

// Detector keeps per-pharmacy issuance history. Safe for concurrent use.
type Detector struct {
	cfg Config

	mu     sync.Mutex
	states map[string]*list.Element
	lru    list.List // of *state, most recent first
}

type state struct {
	pharmacy string
	first    time.Time   // first observation: how much baseline history there is
	offHours []time.Time // off-hours issuances within OffHoursWindow, oldest first
	recent   []time.Time // issuances within VolumeWindow, oldest first
	// hourly counts of issuances during opening hours, for the baseline:
	// hours[i] counts the hour starting at hourStart(i).
	hours    []uint32
	hourBase int64 // Unix hour of hours[0]
	// the volume limit changes only when the hour does: cached
	limit     int
	limitHour int64
}

// New builds a detector.
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg, states: map[string]*list.Element{}}, nil
}

// Config returns the detector's configuration.
func (d *Detector) Config() Config { return d.cfg }

// OffHours reports whether t lies outside the opening hours.
func (d *Detector) OffHours(t time.Time) bool {
	lt := t.In(d.cfg.Location)
	y, m, day := lt.Date()
	midnight := time.Date(y, m, day, 0, 0, 0, 0, d.cfg.Location)
	since := lt.Sub(midnight) // DST days: wall-clock offset is close enough for an hour rule
	from, until := d.cfg.OpenFrom, d.cfg.OpenUntil
	if until > from {
		return since < from || since >= until
	}
	return since < from && since >= until
}

// Observe records one issuance by pharmacy at time at and returns the
// anomaly it completes, or nil. The portal calls it before signing, so the
// certificate that trips a rule is never issued. After an anomaly the
// pharmacy's history is cleared: the portal suspends it, and a reinstated
// pharmacy starts afresh.
func (d *Detector) Observe(pharmacy string, at time.Time) *Anomaly {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stateLocked(pharmacy, at)

	// Off-hours rule.
	if d.OffHours(at) {
		st.offHours = append(dropBefore(st.offHours, at.Add(-d.cfg.OffHoursWindow)), at)
		if n := len(st.offHours); n > d.cfg.OffHoursLimit {
			a := &Anomaly{Pharmacy: pharmacy, Kind: KindOffHours, Since: st.offHours[0], At: at, Count: n, Limit: d.cfg.OffHoursLimit}
			d.resetLocked(pharmacy)
			return a
		}
	} else {
		st.countHour(at, d.cfg.BaselineWindow)
	}

	// Volume rule.
	st.recent = append(dropBefore(st.recent, at.Add(-d.cfg.VolumeWindow)), at)
	limit := d.volumeLimitLocked(st, at)
	if n := len(st.recent); n > limit {
		a := &Anomaly{Pharmacy: pharmacy, Kind: KindVolume, Since: st.recent[0], At: at, Count: n, Limit: limit}
		d.resetLocked(pharmacy)
		return a
	}
	// recent never needs more than limit+1 entries to decide.
	if len(st.recent) > limit+1 {
		st.recent = st.recent[len(st.recent)-limit-1:]
	}
	return nil
}

// volumeLimitLocked is max(VolumeFloor, factor x baseline per window).
// The baseline counts only opening hours before the current window, and
// needs a full day of history to count at all.
func (d *Detector) volumeLimitLocked(st *state, at time.Time) int {
	if h := unixHour(at); st.limit > 0 && st.limitHour == h {
		return st.limit
	}
	st.limit, st.limitHour = d.computeLimit(st, at), unixHour(at)
	return st.limit
}

func (d *Detector) computeLimit(st *state, at time.Time) int {
	limit := d.cfg.VolumeFloor
	history := at.Sub(st.first)
	if history < 24*time.Hour {
		return limit
	}
	history = min(history, d.cfg.BaselineWindow)
	winStart := at.Add(-d.cfg.VolumeWindow)
	from := at.Add(-history)
	var total float64
	var openHours float64
	for h := from.Truncate(time.Hour); h.Before(winStart); h = h.Add(time.Hour) {
		if d.OffHours(h) {
			continue
		}
		openHours++
		total += float64(st.hourCount(h))
	}
	if openHours == 0 {
		return limit
	}
	perWindow := total / openHours * d.cfg.VolumeWindow.Hours()
	if l := int(math.Ceil(perWindow * d.cfg.BaselineFactor)); l > limit {
		limit = l
	}
	return limit
}

// Reset forgets a pharmacy's history (reinstated after a suspension).
func (d *Detector) Reset(pharmacy string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resetLocked(pharmacy)
}

// Len is the number of pharmacies with state.
func (d *Detector) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.states)
}

func (d *Detector) resetLocked(pharmacy string) {
	if el, ok := d.states[pharmacy]; ok {
		d.lru.Remove(el)
		delete(d.states, pharmacy)
	}
}

func (d *Detector) stateLocked(pharmacy string, at time.Time) *state {
	if el, ok := d.states[pharmacy]; ok {
		d.lru.MoveToFront(el)
		return el.Value.(*state)
	}
	if len(d.states) >= d.cfg.MaxPharmacies {
		back := d.lru.Back()
		delete(d.states, d.lru.Remove(back).(*state).pharmacy)
	}
	st := &state{pharmacy: pharmacy, first: at}
	d.states[pharmacy] = d.lru.PushFront(st)
	return st
}

// dropBefore drops times at or before cutoff: a window is (cutoff, now].
func dropBefore(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(cutoff) {
		i++
	}
	if i == 0 {
		return ts
	}
	return append(ts[:0], ts[i:]...)
}

func unixHour(t time.Time) int64 { return t.Unix() / 3600 }

// countHour adds one to at's hour, keeping at most window worth of hours.
func (st *state) countHour(at time.Time, window time.Duration) {
	h := unixHour(at)
	keep := int64(window/time.Hour) + 1
	if len(st.hours) == 0 || h-st.hourBase >= 2*keep {
		st.hours, st.hourBase = st.hours[:0], h
	}
	if h < st.hourBase {
		return // out of order by more than an hour: too old to matter
	}
	for h-st.hourBase >= int64(len(st.hours)) {
		st.hours = append(st.hours, 0)
	}
	st.hours[h-st.hourBase]++
	if drop := int64(len(st.hours)) - keep; drop > 0 {
		st.hours = append(st.hours[:0], st.hours[drop:]...)
		st.hourBase += drop
	}
}

func (st *state) hourCount(t time.Time) uint32 {
	i := unixHour(t) - st.hourBase
	if i < 0 || i >= int64(len(st.hours)) {
		return 0
	}
	return st.hours[i]
}

// FromAnomaly is the detector's Config for the portal's anomaly settings
// (their JSON form, portalapi.AnomalyConfig). It lives here, beside
// Config, so the portal that runs the detector and the scenario side that
// counts what the detector needs (scenarios/evidence) read the settings
// the same way without either importing the other.
func FromAnomaly(a portalapi.AnomalyConfig) (Config, error) {
	fc := DefaultConfig()
	loc, err := a.Location()
	if err != nil {
		return fc, err
	}
	from, until, err := a.Hours()
	if err != nil {
		return fc, err
	}
	fc.Location, fc.OpenFrom, fc.OpenUntil = loc, from, until
	fc.OffHoursLimit, fc.OffHoursWindow = a.OffHoursLimit, a.OffHoursWindow.D()
	fc.VolumeWindow, fc.VolumeFloor = a.VolumeWindow.D(), a.VolumeFloor
	fc.BaselineFactor, fc.BaselineWindow = a.BaselineFactor, a.BaselineWindow.D()
	return fc, fc.Validate()
}
