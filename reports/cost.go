package reports

import (
	"fmt"

	"github.com/golive-dev/golive/reports/rundir"
)

// costView is summary.json's cost as report.html and summary.md show it:
// one row per component, then the signers' and the system's sums.
type costView struct {
	Source string // what the kernel counted, in words
	Rows   []costRow
	Notes  []string
}

type costRow struct {
	Component, CPU, PerRequest, PerCert string
	Sum                                 bool
}

func viewCost(c *rundir.Cost) *costView {
	if c == nil || len(c.Components) == 0 {
		return nil
	}
	v := &costView{Notes: c.Notes}
	switch c.Source {
	case rundir.CostSourceCgroup:
		v.Source = "container cgroup CPU usage (Docker stats API)"
	case rundir.CostSourceProc:
		v.Source = "/proc/PID/stat utime+stime of each child process"
	default:
		v.Source = c.Source
	}
	v.Source += fmt.Sprintf(", over %s requests and %s delivered certificates in %.0f s", count(c.Requests), count(c.Delivered), c.WallSeconds)
	row := func(name string, cc rundir.ComponentCost, sum bool) costRow {
		r := costRow{Component: name, CPU: fmt.Sprintf("%.2f s", cc.CPUSeconds), PerRequest: cpuMS(cc.CPUMsPerRequest), PerCert: "–", Sum: sum}
		if cc.CPUMsPerDelivered != nil {
			r.PerCert = cpuMS(*cc.CPUMsPerDelivered)
		}
		if cc.Restarts > 0 {
			r.CPU += fmt.Sprintf(" (≥, %d restarts)", cc.Restarts)
		}
		return r
	}
	for _, name := range c.Names() {
		v.Rows = append(v.Rows, row(name, c.Components[name], false))
	}
	if c.Signers != nil {
		v.Rows = append(v.Rows, row("signers (sum)", *c.Signers, true))
	}
	v.Rows = append(v.Rows, row("system (sum)", c.System, true))
	if c.Generator != nil {
		v.Rows = append(v.Rows, row("load generator (not in the sum)", *c.Generator, false))
	}
	return v
}

// cpuMS formats CPU milliseconds, in µs below one.
func cpuMS(v float64) string {
	if v < 1 {
		return fmt.Sprintf("%.0f µs", v*1000)
	}
	return fmt.Sprintf("%.2f ms", v)
}
