package rundir

import (
	"math"
	"time"
)

// System is the topology a run tested (summary.json "system"): additive,
// absent in runs that predate it.
type System struct {
	// Registry is "sqlite" or "postgres".
	Registry string `json:"registry"`
	// RegistryStandby: the PostgreSQL registry had a synchronous standby.
	RegistryStandby bool `json:"registry_standby,omitempty"`
	Signers         int  `json:"signers,omitempty"`
	// Portals is the number of portal replicas (several share the
	// PostgreSQL registry; clients spread their requests over them).
	Portals int `json:"portals,omitempty"`
	// TLS: the clients reached the system over HTTPS (a testbed run with
	// --tls or system.tls: its own CA; a url target given as https://).
	TLS bool `json:"tls,omitempty"`
	// PortalURL is the first portal as the clients reached it (through
	// the fault proxy on docker and local).
	PortalURL string `json:"portal_url,omitempty"`
}

// Failover is one promotion of the registry's standby (events.json
// "failovers"): times on the simulated clock beside the wall clock.
type Failover struct {
	// Failed is the node that was primary and stopped answering;
	// NewPrimary the standby promoted in its place.
	Failed     string `json:"failed"`
	NewPrimary string `json:"new_primary"`
	// Killed is when a fault killed it (zero when it died otherwise),
	// Detected when the watcher gave up on it, Promoted when the standby
	// ran as a primary.
	Killed       time.Time `json:"killed,omitzero"`
	WallKilled   time.Time `json:"wall_killed,omitzero"`
	Detected     time.Time `json:"detected"`
	WallDetected time.Time `json:"wall_detected"`
	Promoted     time.Time `json:"promoted,omitzero"`
	WallPromoted time.Time `json:"wall_promoted,omitzero"`
	Error        string    `json:"error,omitempty"`
}

// Recovery is how the service came back after a registry failover
// (summary.json "recovery"), from timeseries.csv:
//
//   - FirstCommit is the start of the first one-second bucket at or after
//     the promotion that delivered a certificate: the first commit on the
//     new primary, at bucket resolution.
//   - TimeToRecoverMS is the wall time from the fault (the kill; the
//     detection when nothing was killed) to FirstCommit.
//   - GoodputBefore is goodput per wall second in the window before the
//     fault, GoodputAfter in a window of the same simulated length from
//     FirstCommit (both shortened to what the load covered, so equal), and
//     GoodputRatio their quotient: 1 means the service delivers as it did.
type Recovery struct {
	Fault           time.Time `json:"fault"`
	FirstCommit     time.Time `json:"first_commit,omitzero"`
	TimeToRecoverMS float64   `json:"time_to_recover_ms"`
	Recovered       bool      `json:"recovered"`
	GoodputBefore   float64   `json:"goodput_before"`
	GoodputAfter    float64   `json:"goodput_after"`
	GoodputRatio    float64   `json:"goodput_ratio"`
	WindowSeconds   float64   `json:"window_seconds"`
}

// RecoveryOf measures the recovery from a fault at fault (simulated) whose
// service could return from promoted on, over the rows of classes (nil:
// every class), at timescale simulated seconds per wall second. The window
// before the fault starts at from (the steady load's start; zero: the
// first row).
func RecoveryOf(rows []Row, classes []string, timescale float64, from, fault, promoted time.Time) Recovery {
	rec := Recovery{Fault: fault}
	if timescale <= 0 {
		timescale = 1
	}
	keep := ClassFilter(classes)
	var first, last time.Time
	width := BucketWidth(rows)
	for _, r := range rows {
		if !keep(r.Class) {
			continue
		}
		if first.IsZero() || r.Start.Before(first) {
			first = r.Start
		}
		if end := r.Start.Add(width); end.After(last) {
			last = end
		}
		if r.Delivered > 0 && !r.Start.Before(promoted) && (rec.FirstCommit.IsZero() || r.Start.Before(rec.FirstCommit)) {
			rec.FirstCommit = r.Start
		}
	}
	if from.IsZero() || from.Before(first) {
		from = first
	}
	if rec.FirstCommit.IsZero() {
		return rec
	}
	rec.Recovered = true
	rec.TimeToRecoverMS = math.Max(rec.FirstCommit.Sub(fault).Seconds()/timescale*1000, 0)
	window := math.Min(fault.Sub(from).Seconds(), last.Sub(rec.FirstCommit).Seconds())
	if window <= 0 {
		return rec
	}
	rec.WindowSeconds = window
	w := time.Duration(window * float64(time.Second))
	var before, after int64
	for _, r := range rows {
		if !keep(r.Class) {
			continue
		}
		switch {
		case !r.Start.Before(fault.Add(-w)) && r.Start.Before(fault):
			before += r.Delivered
		case !r.Start.Before(rec.FirstCommit) && r.Start.Before(rec.FirstCommit.Add(w)):
			after += r.Delivered
		}
	}
	wall := WallSeconds(window, timescale)
	rec.GoodputBefore = float64(before) / wall
	rec.GoodputAfter = float64(after) / wall
	if before > 0 {
		rec.GoodputRatio = float64(after) / float64(before)
	}
	return rec
}
