package reports

import (
	"fmt"
	"sort"
	"strings"
)

// vendorView is one run's vendor table: a row per vendor of every vendor
// class (summary.json classes.<name>.vendors).
type vendorView struct {
	Name string // the profile, when the report compares several
	Rows []vendorRow
}

type vendorRow struct {
	Class, Vendor, ReadyAt, Fault string
	Pharmacies                    int
	Actions, Requests, Issued     string
	Pending                       string
	// Errors lists how the other actions ended, most frequent first.
	Errors    string
	ErrorsBad bool
}

// vendorViews is one view per run of the report that had vendor classes.
func vendorViews(run *Run) []vendorView {
	runs := run.Profiles
	if len(runs) == 0 {
		runs = []*Run{run}
	}
	var out []vendorView
	for _, r := range runs {
		var v vendorView
		if len(run.Profiles) > 0 {
			v.Name = r.Name
		}
		classes := make([]string, 0, len(r.Summary.Classes))
		for name, c := range r.Summary.Classes {
			if len(c.Vendors) > 0 {
				classes = append(classes, name)
			}
		}
		sort.Strings(classes)
		for _, cls := range classes {
			vs := r.Summary.Classes[cls].Vendors
			names := make([]string, 0, len(vs))
			for n := range vs {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				s := vs[n]
				row := vendorRow{Class: cls, Vendor: n, Pharmacies: s.Pharmacies, Actions: count(s.Actions),
					Requests: count(s.Requests), Issued: count(s.Issued), Pending: count(s.Pending), ReadyAt: "from the start", Fault: "-"}
				if s.ReadyAt != nil {
					row.ReadyAt = s.ReadyAt.Format("02 Jan 15:04")
				}
				if s.Fault != "" {
					row.Fault = s.Fault
					if s.FaultUntil != nil {
						row.Fault += " until " + s.FaultUntil.Format("02 Jan 15:04")
					}
				}
				type kv struct {
					k string
					n int64
				}
				var errs []kv
				var total int64
				for k, c := range s.Errors {
					errs = append(errs, kv{k, c})
					total += c
				}
				sort.Slice(errs, func(i, j int) bool { return errs[i].n > errs[j].n || errs[i].n == errs[j].n && errs[i].k < errs[j].k })
				parts := make([]string, 0, len(errs))
				for _, e := range errs {
					parts = append(parts, fmt.Sprintf("%s: %d", e.k, e.n))
				}
				row.Errors = strings.Join(parts, ", ")
				if row.Errors == "" {
					row.Errors = "-"
				}
				row.ErrorsBad = s.Actions > 0 && float64(total) > 0.1*float64(s.Actions)
				v.Rows = append(v.Rows, row)
			}
		}
		if len(v.Rows) > 0 {
			out = append(out, v)
		}
	}
	return out
}
