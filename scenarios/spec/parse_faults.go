package spec

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/golive-dev/golive/chaos/fault"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/scenarios/threshold"
)

func (d *decoder) faults(n *yaml.Node, s *Scenario) []Fault {
	items, ok := d.list(n, "faults")
	if !ok {
		return nil
	}
	var out []Fault
	for i, it := range items {
		if f, ok := d.fault(it, fmt.Sprintf("faults[%d]", i), s); ok {
			out = append(out, f)
		}
	}
	if d.clockOK {
		setFaultEnds(out, s)
		d.checkFaultOverlaps(out, s)
	}
	return out
}

// shareTarget reports whether two targets reach a common component or link.
func shareTarget(a, b Target, sys System) bool {
	for _, x := range a.ExpandIn(sys) {
		if contains(b.ExpandIn(sys), x) {
			return true
		}
	}
	return false
}

// setFaultEnds fills Fault.End (see there).
func setFaultEnds(fs []Fault, s *Scenario) {
	for i := range fs {
		f := &fs[i]
		switch {
		case f.Kind.Spec().Window == fault.WindowNone:
			f.End = f.At
		case f.Windowed():
			f.End = f.Until
		default:
			f.End = s.Clock.End
			for _, r := range fs {
				if r.Kind == fault.Restart && r.At.After(f.At) && r.At.Before(f.End) && shareTarget(f.Target, r.Target, s.System) {
					f.End = r.At
				}
			}
		}
	}
}

func (d *decoder) fault(n *yaml.Node, path string, s *Scenario) (Fault, bool) {
	f, ok := d.mapping(n, path, "kind", "target", "at", "until", "duration", "params")
	if !ok || !d.require(f, path, "kind", "target", "at") {
		return Fault{}, false
	}
	ft := Fault{Pos: d.pos(f.node)}
	kind, ok := d.str(f.get("kind"), path+".kind")
	if !ok {
		return ft, false
	}
	ft.Kind = fault.Kind(kind)
	spec, known := fault.Lookup(ft.Kind)
	if !known {
		var names []string
		for _, k := range fault.Kinds() {
			names = append(names, string(k))
		}
		d.errorf(resolve(f.get("kind")), "%s.kind: unknown fault kind %q%s", path, kind, suggest(kind, names))
		return ft, false
	}
	path = fmt.Sprintf("%s (%s)", path, kind)
	valid := true
	if target, ok := d.str(f.get("target"), path+".target"); ok {
		ft.Target = Target(target)
		_, _, link := ft.Target.Link()
		switch {
		case ft.Kind == fault.KillPrimary || ft.Target == RegistryTarget:
			// The registry's primary is a role, not a fixed process: the
			// one kind that acts on it kills whichever node holds it.
			if ft.Kind != fault.KillPrimary || ft.Target != RegistryTarget {
				d.errorf(resolve(f.get("target")), "%s.target: %s acts on %s, and %s is hurt only by %s", path, kind, targetsFor(ft.Kind, s.System), RegistryTarget, fault.KillPrimary)
				valid = false
			} else if s.System.Registry != RegistryPostgres {
				d.errorf(resolve(f.get("target")), "%s.target: %s needs a PostgreSQL registry: set system.registry: postgres (and registry_standby: true for a failover)", path, kind)
				valid = false
			}
		case len(ft.Target.ExpandIn(s.System)) == 0:
			topo := fmt.Sprintf("%d signer(s)", s.System.Signers)
			if s.System.Portals > 1 {
				topo = fmt.Sprintf("%d portals and %s", s.System.Portals, topo)
			}
			d.errorf(resolve(f.get("target")), "%s.target: %q does not exist with %s; targets are %s", path, target, topo, targetsFor(ft.Kind, s.System))
			valid = false
		case link && !spec.Network():
			d.errorf(resolve(f.get("target")), "%s.target: %s acts on a component (%s), not on the link %q", path, kind, targetsFor(ft.Kind, s.System), target)
			valid = false
		case !link && spec.Network():
			d.errorf(resolve(f.get("target")), "%s.target: %s acts on a link (%s), not on the component %q", path, kind, targetsFor(ft.Kind, s.System), target)
			valid = false
		}
	} else {
		valid = false
	}
	var okAt bool
	ft.At, okAt = d.when(f.get("at"), path+".at")
	valid = valid && okAt
	if f.has("until") && f.has("duration") {
		d.errorf(f.keys["duration"], "%s: give until or duration, not both", path)
		valid = false
	}
	windowKey := ""
	switch {
	case f.has("until"):
		windowKey = "until"
		var ok bool
		ft.Until, ok = d.when(f.get("until"), path+".until")
		valid = valid && ok
	case f.has("duration"):
		windowKey = "duration"
		dur, ok := d.positive(f.get("duration"), path+".duration")
		valid = valid && ok
		if ok && okAt {
			ft.Until = ft.At.Add(dur)
		}
	}
	switch {
	case spec.Window == fault.WindowRequired && windowKey == "":
		d.errorf(f.node, "%s: %s needs until or duration (when it is undone)", path, kind)
		valid = false
	case spec.Window == fault.WindowNone && windowKey != "":
		d.errorf(f.keys[windowKey], "%s.%s: a %s happens at one instant; it has no window", path, windowKey, kind)
		valid = false
	}
	if n := f.get("params"); n != nil {
		valid = d.faultParams(n, path+".params", spec, &ft.Params) && valid
	} else if req := spec.Required(); len(req) > 0 {
		d.errorf(f.node, "%s: params %s required for %s", path, strings.Join(req, ", "), kind)
		valid = false
	}
	ft.Params = spec.WithDefaults(ft.Params)
	if !valid || !d.clockOK {
		return ft, false
	}
	c := s.Clock
	if ft.At.Before(c.Start) || !ft.At.Before(c.End) {
		d.errorf(resolve(f.get("at")), "%s.at: %s is outside the clock's window %s-%s", path, d.fmtTime(ft.At), d.fmtTime(c.Start), d.fmtTime(c.End))
		return ft, false
	}
	if windowKey != "" {
		switch {
		case !ft.Until.After(ft.At):
			d.errorf(resolve(f.get(windowKey)), "%s.%s: the fault ends (%s) before it starts (%s)", path, windowKey, d.fmtTime(ft.Until), d.fmtTime(ft.At))
			return ft, false
		case ft.Until.After(c.End):
			d.errorf(resolve(f.get(windowKey)), "%s.%s: ends at %s, after the clock's end %s (the run would stop with the fault in place)", path, windowKey, d.fmtTime(ft.Until), d.fmtTime(c.End))
			return ft, false
		}
	}
	return ft, true
}

// faultParams decodes the kind's params: each value as its unit is
// written, checked where it is written against the vocabulary's bounds.
func (d *decoder) faultParams(n *yaml.Node, path string, spec fault.Spec, p *fault.Params) bool {
	if len(spec.Params) == 0 {
		d.errorf(resolve(n), "%s: this fault kind takes no params", path)
		return false
	}
	f, ok := d.mapping(n, path, spec.Names()...)
	if !ok {
		return false
	}
	valid := d.require(f, path, spec.Required()...)
	for _, pr := range spec.Params {
		v := f.get(pr.Name)
		if v == nil {
			continue
		}
		kp := path + "." + pr.Name
		var x float64
		switch pr.Unit {
		case fault.Duration:
			dur, ok := d.duration(v, kp)
			if !ok {
				valid = false
				continue
			}
			x = float64(dur)
		case fault.Integer:
			i, ok := d.integer(v, kp)
			if !ok {
				valid = false
				continue
			}
			x = float64(i)
		case fault.Number:
			if x, ok = d.float(v, kp); !ok {
				valid = false
				continue
			}
		}
		if err := pr.Check(x); err != nil {
			d.errorf(resolve(v), "%s: %v", kp, err)
			valid = false
			continue
		}
		pr.Set(p, x)
	}
	if !valid {
		return false
	}
	if err := spec.CheckAcross(*p); err != nil {
		var fe *fault.Error
		if errors.As(err, &fe) && f.has(fe.Param) {
			d.errorf(resolve(f.get(fe.Param)), "%s.%v", path, err)
		} else {
			d.errorf(f.node, "%s: %v", path, err)
		}
		return false
	}
	return true
}

// checkFaultOverlaps refuses two faults of one family on a shared target
// at once: their undo order would be ambiguous (which restart revives a
// twice-killed signer?).
func (d *decoder) checkFaultOverlaps(fs []Fault, s *Scenario) {
	type span struct {
		f      Fault
		lo, hi time.Time
	}
	spans := make([]span, len(fs))
	for i, f := range fs {
		spans[i] = span{f: f, lo: f.At, hi: f.End}
	}
	shares := func(a, b span) bool { return shareTarget(a.f.Target, b.f.Target, s.System) }
	order := make([]int, len(spans))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return spans[order[a]].f.Pos.Line < spans[order[b]].f.Pos.Line })
	for x, i := range order {
		for _, j := range order[:x] {
			a, b := spans[j], spans[i] // a is earlier in the file
			if a.f.Kind.Spec().FamilyName() != b.f.Kind.Spec().FamilyName() || !shares(a, b) {
				continue
			}
			ar, br := a.f.Kind.Spec().Window == fault.WindowNone, b.f.Kind.Spec().Window == fault.WindowNone
			var clash bool
			switch {
			case ar && br:
				clash = a.f.At.Equal(b.f.At)
			case ar:
				clash = !a.f.At.Before(b.lo) && a.f.At.Before(b.hi) && b.f.Windowed()
			case br:
				clash = !b.f.At.Before(a.lo) && b.f.At.Before(a.hi) && a.f.Windowed()
			default:
				clash = a.lo.Before(b.hi) && b.lo.Before(a.hi)
			}
			if clash {
				d.errs = append(d.errs, Error{Pos: b.f.Pos, Msg: fmt.Sprintf(
					"faults: %s of %s at %s overlaps the %s of %s at %s (line %d); one target takes one %s fault at a time",
					b.f.Kind, b.f.Target, d.fmtTime(b.f.At), a.f.Kind, a.f.Target, d.fmtTime(a.f.At), a.f.Pos.Line, b.f.Kind.Spec().FamilyName())})
			}
		}
	}
}

func (d *decoder) phases(n *yaml.Node, s *Scenario) []Phase {
	items, ok := d.list(n, "phases")
	if !ok {
		return nil
	}
	var out []Phase
	names := map[string]int{}
	for i, it := range items {
		path := fmt.Sprintf("phases[%d]", i)
		f, ok := d.mapping(it, path, "name", "from", "until")
		if !ok || !d.require(f, path, "name", "from", "until") {
			continue
		}
		p := Phase{Pos: d.pos(f.node)}
		name, okN := d.str(f.get("name"), path+".name")
		if okN {
			if strings.TrimSpace(name) == "" {
				d.errorf(resolve(f.get("name")), "%s.name: must not be empty", path)
				okN = false
			} else if prev, dup := names[name]; dup {
				d.errorf(resolve(f.get("name")), "%s.name: %q is already used at line %d", path, name, prev)
				okN = false
			}
			names[name] = p.Pos.Line
		}
		p.Name = name
		var okF, okU bool
		p.Start, okF = d.when(f.get("from"), path+".from")
		p.End, okU = d.when(f.get("until"), path+".until")
		if !(okN && okF && okU) {
			continue
		}
		if !p.End.After(p.Start) {
			d.errorf(resolve(f.get("until")), "%s.until: %s is not after from %s", path, d.fmtTime(p.End), d.fmtTime(p.Start))
			continue
		}
		if p.Start.Before(s.Clock.Start) || p.End.After(s.Clock.End) {
			d.errorf(f.node, "%s: %q (%s-%s) lies outside the clock's window %s-%s", path, name, d.fmtTime(p.Start), d.fmtTime(p.End), d.fmtTime(s.Clock.Start), d.fmtTime(s.Clock.End))
			continue
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	for i := 1; i < len(out); i++ {
		if out[i].Start.Before(out[i-1].End) {
			later := out[i]
			if out[i-1].Pos.Line > later.Pos.Line {
				later = out[i-1]
			}
			d.errs = append(d.errs, Error{Pos: later.Pos, Msg: fmt.Sprintf(
				"phases: %q (%s-%s) overlaps %q (%s-%s); phases split the run, they do not overlap",
				out[i].Name, d.fmtTime(out[i].Start), d.fmtTime(out[i].End), out[i-1].Name, d.fmtTime(out[i-1].Start), d.fmtTime(out[i-1].End))})
		}
	}
	return out
}

// checkThreshold parses a threshold with the evaluator's own parser (so a
// file that validates is a file that runs) and checks that "per phase" has
// phases to work on.
func checkThreshold(expr string, s *Scenario) error {
	e, err := threshold.Parse(expr)
	if err != nil {
		return err
	}
	if err := e.Check(s.ThresholdNames()); err != nil {
		return err
	}
	if e.Scope == threshold.PerPhase && len(s.Phases) == 0 {
		return fmt.Errorf("%q: \"per phase\" needs phases, and the scenario has none", expr)
	}
	return nil
}

func (d *decoder) thresholds(n *yaml.Node, path string, s *Scenario) []Threshold {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	var out []Threshold
	for i, it := range items {
		v, ok := d.str(it, fmt.Sprintf("%s[%d]", path, i))
		if !ok {
			continue
		}
		if err := checkThreshold(v, s); err != nil {
			d.errorf(resolve(it), "%s[%d]: %v", path, i, err)
			continue
		}
		out = append(out, Threshold{Expr: strings.TrimSpace(v), Pos: d.pos(resolve(it))})
	}
	return out
}

func (d *decoder) checks(n *yaml.Node, path string) []string {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	var out []string
	for i, it := range items {
		v, ok := d.str(it, fmt.Sprintf("%s[%d]", path, i))
		if !ok {
			continue
		}
		switch {
		case !contains(CheckNames(), v):
			d.errorf(resolve(it), "%s[%d]: unknown check %q%s", path, i, v, suggest(v, CheckNames()))
		case contains(out, v):
			d.errorf(resolve(it), "%s[%d]: %q is listed twice", path, i, v)
		default:
			out = append(out, v)
		}
	}
	return out
}

func (d *decoder) profiles(n *yaml.Node, s *Scenario) map[string]ProfileSpec {
	f, ok := d.mapping(n, "profiles")
	if !ok {
		return nil
	}
	out := map[string]ProfileSpec{}
	for name, v := range f.vals {
		if !validProfile(name) {
			d.errorf(f.keys[name], "profiles: unknown profile %q (want %s)", name, profileList())
			continue
		}
		path := "profiles." + name
		pf, ok := d.mapping(v, path, "note", "reproduces", "thresholds", "checks", "portal", "signer")
		if !ok {
			continue
		}
		var p ProfileSpec
		if n := pf.get("note"); n != nil {
			p.Note, _ = d.str(n, path+".note")
			p.Note = strings.TrimSpace(p.Note)
		}
		if n := pf.get("thresholds"); n != nil {
			p.Thresholds = d.thresholds(n, path+".thresholds", s)
		}
		if n := pf.get("checks"); n != nil {
			p.Checks = d.checks(n, path+".checks")
		}
		if n := pf.get("portal"); n != nil {
			p.Portal = d.portalOverrides(n, path+".portal")
		}
		if n := pf.get("signer"); n != nil {
			p.Signer = d.signerOverrides(n, path+".signer")
		}
		asserts := len(p.Thresholds) > 0 || len(p.Checks) > 0
		if n := pf.get("reproduces"); n != nil {
			if v, ok := d.str(n, path+".reproduces"); ok {
				p.Reproduces = strings.TrimSpace(v)
				if p.Reproduces != "" && !asserts {
					d.errorf(resolve(n), "%s.reproduces: a reproduction needs thresholds or checks that assert the failure it reproduces", path)
				}
			}
		} else if name == portalapi.ProfileNaive2021 && asserts {
			// The naive-2021 profile is the 2021 system: what its block
			// asserts is the 2021 failure showing.
			p.Reproduces = "2021"
		}
		out[name] = p
	}
	return out
}
