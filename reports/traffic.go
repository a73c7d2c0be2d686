package reports

import (
	"fmt"
	"sort"
	"strconv"
)

// trafficRow is one class's requests, bytes and caches (summary.json
// classes.<name>: bytes, not_modified, cache_hit_rate, dead_listings), in
// summary.md and report.html. With profiles compared, every profile's
// classes are listed, so a finder's dead listings under naive-2021 stand
// beside its none under hardened.
type trafficRow struct {
	Profile, Class, Kind                                  string
	Requests, Bytes, NotModified, CacheHit, Dead, SigFail string
	DeadBad                                               bool
}

// trafficRows are the rows of every run shown (one, or each profile).
// None when no class reports bytes: a run directory from before them.
func trafficRows(r *Run) []trafficRow {
	runs := r.Profiles
	if len(runs) == 0 {
		runs = []*Run{r}
	}
	var out []trafficRow
	any := false
	for _, run := range runs {
		if run.Summary == nil {
			continue
		}
		names := make([]string, 0, len(run.Summary.Classes))
		for n := range run.Summary.Classes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			c := run.Summary.Classes[n]
			if c.Bytes > 0 || c.Kind != "" {
				any = true
			}
			row := trafficRow{Profile: run.Name, Class: n, Kind: orDash(c.Kind), Requests: count(c.Requests),
				Bytes: formatBytes(c.Bytes), NotModified: count(c.NotModified), CacheHit: "-", Dead: "-", SigFail: "-"}
			if c.CacheHitRate != nil {
				row.CacheHit = strconv.FormatFloat(*c.CacheHitRate*100, 'f', 1, 64) + "%"
			}
			if c.DeadListings != nil {
				row.Dead, row.DeadBad = count(*c.DeadListings), *c.DeadListings > 0
				if f := c.Finder; f != nil {
					row.Dead += fmt.Sprintf(" of %s", count(f.Answers))
				}
			}
			if c.SignatureFailures != nil {
				row.SigFail = count(*c.SignatureFailures)
			}
			out = append(out, row)
		}
	}
	if !any {
		return nil
	}
	return out
}

// formatBytes is a byte count in B, kB, MB or GB (powers of 1000).
func formatBytes(n int64) string {
	switch {
	case n < 1000:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1000*1000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + " kB"
	case n < 1000*1000*1000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
	}
	return strconv.FormatFloat(float64(n)/1e9, 'f', 2, 64) + " GB"
}
