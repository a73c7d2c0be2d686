package threshold

import (
	"fmt"
	"sort"
	"strings"
)

// Names are the classes and phases a scenario or a run has: a threshold
// naming another is a mistake (p99(isue) would otherwise pass with "no
// requests"), found by Check before any load.
type Names struct {
	Classes []string
	Phases  []string
}

// Check refuses a threshold that names a class the scenario or run does
// not have, with a suggestion; time_to_cert is always known. An empty
// Names.Classes checks nothing (the classes are unknown).
func (e *Expr) Check(n Names) error {
	if len(n.Classes) == 0 {
		return nil
	}
	for _, m := range []*Metric{&e.Metric, e.Factor} {
		if m == nil || m.Filter.Class == "" || m.Filter.Class == TimeToCertClass {
			continue
		}
		if !contains(n.Classes, m.Filter.Class) {
			known := append(append([]string(nil), n.Classes...), TimeToCertClass)
			return &Error{Src: e.Src, Column: m.Filter.ClassCol,
				Msg: fmt.Sprintf("unknown class %q%s", m.Filter.Class, Suggest(m.Filter.Class, known))}
		}
	}
	return nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// metricNames lists every metric name the parser knows, for suggestions.
func metricNames() []string {
	names := []string{"max", "mean", "rate", "count", "p50", "p90", "p95", "p99", "p99.9"}
	for k := range summaryFigures {
		names = append(names, k)
	}
	for k := range costFigures {
		names = append(names, k)
	}
	for k := range classFigures {
		names = append(names, k)
	}
	for k := range bucketFigures {
		names = append(names, k)
	}
	return names
}

// Suggest is " (did you mean X?)" for the known name closest to s, or the
// list of known names when none is close.
func Suggest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if dd := editDistance(strings.ToLower(s), strings.ToLower(k)); dd < bestD {
			best, bestD = k, dd
		}
	}
	if best == "" {
		ks := append([]string(nil), known...)
		sort.Strings(ks)
		return " (want one of " + strings.Join(ks, ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
