package threshold

// classFigures are per-class whole-run figures of summary.json
// (classes.CLASS.KEY), named with their class: "cache_hit_rate(lists)",
// "dead_listings(finder)". A class is required: there is no run-wide
// cache hit rate or dead-listing count to fall back on.
var classFigures = map[string]Kind{
	"cache_hit_rate":     Fraction, // the share of the class's requests answered 304
	"not_modified":       Count,    // its requests answered 304
	"bytes":              Count,    // the response bytes it received
	"dead_listings":      Count,    // finder answers listing as issuing a pharmacy that could not issue
	"signature_failures": Count,    // lists whose signature did not verify with the pinned key
}

// classFigureMetric reads a class figure's required "(CLASS)".
func (p *parser) classFigureMetric(m Metric) (Metric, error) {
	m.Kind, m.WholeRunOnly = classFigures[m.Name], true
	if lp := p.peek(); lp.kind != tLParen {
		return Metric{}, p.errAt(lp, "%s needs a class in parentheses, e.g. %s(finder)", m.Name, m.Name)
	}
	p.next()
	c := p.next()
	if c.kind != tIdent {
		return Metric{}, p.errAt(c, "expected a class name")
	}
	if err := p.setClass(&m, c, c.text); err != nil {
		return Metric{}, err
	}
	if r := p.next(); r.kind != tRParen {
		return Metric{}, p.errAt(r, `expected ")" after the class: %s takes only a class`, m.Name)
	}
	return m, nil
}

// classFigureName is how Source.Figure names a class figure.
func classFigureName(m *Metric) (string, bool) {
	if _, ok := classFigures[m.Name]; !ok || m.Filter.Class == "" {
		return "", false
	}
	return m.Name + "(" + m.Filter.Class + ")", true
}
