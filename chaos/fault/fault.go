// Package fault is the fault vocabulary: every kind a scenario can
// schedule and the injector can apply, what it acts on, whether it is
// undone at a scheduled time, and its parameters with their names, units,
// bounds and defaults. The scenario parser (scenarios/spec), the injector
// (chaos) and the docs' tests all read the one table in kinds.go.
//
// Adding a network kind that is a toxiproxy toxic is one entry there: the
// injector applies every toxic the same way. A process kind also needs its
// action in chaos (a test there fails until it has one) and the testbed
// operation behind it.
//
// The package imports nothing but the standard library, so the scenario
// parser can use it without linking the testbed, docker or toxiproxy.
package fault

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind names what a fault does.
type Kind string

// Acts says what a kind acts on.
type Acts int

const (
	// OnComponent faults act on a process: portal, signer-N.
	OnComponent Acts = iota + 1
	// OnLink faults act on a link through the fault proxy: client->portal,
	// portal->signer-N.
	OnLink
)

// Window says whether a kind is undone at a scheduled time.
type Window int

const (
	// WindowRequired kinds are undone at the end of their window.
	WindowRequired Window = iota + 1
	// WindowOptional kinds without a window last until a later restart or
	// the end of the run.
	WindowOptional
	// WindowNone kinds happen at one instant and have no undo.
	WindowNone
)

// Unit is how a parameter is written and what its numbers mean.
type Unit int

const (
	// Duration is wall time written in Go syntax ("250ms"), a whole number
	// of milliseconds: the fault proxy's resolution. Its value is in
	// nanoseconds (a time.Duration).
	Duration Unit = iota + 1
	// Integer is a whole number.
	Integer
	// Number is a real number.
	Number
)

// Resolution is the finest duration a parameter can carry: toxiproxy takes
// whole milliseconds, and a finer part would be dropped without a word.
const Resolution = time.Millisecond

// Params are a fault's settings; which ones a kind takes is in its Spec.
// Durations are wall time. A zero value means "not given": the Spec's
// default applies (a parameter whose default is not zero refuses zero).
type Params struct {
	Latency  time.Duration // latency: added delay
	Jitter   time.Duration // latency: ± spread
	RateKBps int64         // bandwidth: KB (1000 bytes) per second
	After    time.Duration // reset: how long after the answer starts the connection is reset
	Toxicity float64       // network toxics: fraction of connections affected
	CPUs     float64       // cpu: CPU limit in cores
}

// Param declares one parameter.
type Param struct {
	// Name is the key under a scenario fault's params.
	Name string
	// Event is the key in events.json's faults[].params (durations in
	// milliseconds). It predates this vocabulary and is kept stable.
	Event string
	Unit  Unit
	// Required parameters must be given; the others default to Default.
	Required bool
	// Default, Min and Max are values in the unit (nanoseconds for a
	// Duration); Max 0 means no upper bound.
	Default, Min, Max float64
	// field binds the parameter to its Params field.
	field func(*Params) any
	// check is an extra rule beyond the bounds.
	check func(v float64) error
}

// Get returns p's value of the parameter in its unit.
func (pr Param) Get(p Params) float64 {
	switch f := pr.field(&p).(type) {
	case *time.Duration:
		return float64(*f)
	case *int64:
		return float64(*f)
	case *float64:
		return *f
	}
	panic("fault: parameter " + pr.Name + " bound to an unsupported field")
}

// Set stores v (in the parameter's unit) in p.
func (pr Param) Set(p *Params, v float64) {
	switch f := pr.field(p).(type) {
	case *time.Duration:
		*f = time.Duration(v)
	case *int64:
		*f = int64(v)
	case *float64:
		*f = v
	default:
		panic("fault: parameter " + pr.Name + " bound to an unsupported field")
	}
}

// Format writes v the way a scenario would ("100ms", "0.25").
func (pr Param) Format(v float64) string {
	if pr.Unit == Duration {
		return time.Duration(v).String()
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// EventValue is v as events.json records it: durations in milliseconds.
func (pr Param) EventValue(v float64) float64 {
	if pr.Unit == Duration {
		return v / float64(time.Millisecond)
	}
	return v
}

// Check refuses a value outside the parameter's bounds or finer than
// Resolution; the message does not repeat the parameter's name.
func (pr Param) Check(v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("want a finite number, got %v", v)
	case pr.Unit == Integer && v != math.Trunc(v):
		return fmt.Errorf("want a whole number, got %v", v)
	case pr.Unit == Duration && math.Mod(v, float64(Resolution)) != 0:
		return fmt.Errorf("%s is finer than the fault proxy's resolution of %v", pr.Format(v), Resolution)
	case v < pr.Min && pr.Unit == Duration && pr.Min > 0:
		return fmt.Errorf("%s is shorter than %s", pr.Format(v), pr.Format(pr.Min))
	case v < pr.Min || (pr.Max > 0 && v > pr.Max):
		if pr.Max == 0 {
			return fmt.Errorf("%s is below %s", pr.Format(v), pr.Format(pr.Min))
		}
		return fmt.Errorf("%s is outside %s..%s", pr.Format(v), pr.Format(pr.Min), pr.Format(pr.Max))
	}
	if pr.check != nil {
		return pr.check(v)
	}
	return nil
}

// Spec declares a kind.
type Spec struct {
	Kind   Kind
	Acts   Acts
	Window Window
	// Family groups kinds that cannot act on one target at once (their
	// undo order would be ambiguous); empty means the kind alone.
	Family string
	// Params the kind takes, required ones first.
	Params []Param
	// Toxic is how a network kind is applied on the fault proxy; nil for a
	// process kind and for partition (the link is switched off instead).
	Toxic *Toxic
	// check is a rule across parameters (jitter at most latency).
	check func(Params) *Error
}

// Toxic is a toxiproxy toxic a network kind adds to each link it targets,
// with the fault's toxicity.
type Toxic struct {
	// Type is toxiproxy's toxic type.
	Type string
	// Stream is "downstream" (the answers, towards the caller) or
	// "upstream" (the requests, towards the server).
	Stream string
	// Attrs are the toxic's attributes from the fault's params.
	Attrs func(Params) map[string]int64
}

// Error is a problem with a fault's parameters.
type Error struct {
	// Param is the parameter at fault; empty for the params as a whole.
	Param string
	Msg   string
}

func (e *Error) Error() string {
	if e.Param == "" {
		return e.Msg
	}
	return e.Param + ": " + e.Msg
}

// Network reports whether the kind acts on a link rather than a component.
func (s Spec) Network() bool { return s.Acts == OnLink }

// FamilyName is the kind's family, or the kind itself when it has none.
func (s Spec) FamilyName() string {
	if s.Family != "" {
		return s.Family
	}
	return string(s.Kind)
}

// Param returns the kind's parameter called name.
func (s Spec) Param(name string) (Param, bool) {
	for _, p := range s.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// Required lists the names of the kind's required parameters.
func (s Spec) Required() []string {
	var out []string
	for _, p := range s.Params {
		if p.Required {
			out = append(out, p.Name)
		}
	}
	return out
}

// Names lists the names of every parameter the kind takes.
func (s Spec) Names() []string {
	out := make([]string, len(s.Params))
	for i, p := range s.Params {
		out[i] = p.Name
	}
	return out
}

// WithDefaults returns p with every parameter the kind takes that is not
// given set to its default.
func (s Spec) WithDefaults(p Params) Params {
	for _, pr := range s.Params {
		if pr.Default != 0 && pr.Get(p) == 0 {
			pr.Set(&p, pr.Default)
		}
	}
	return p
}

// Validate checks p for the kind: required parameters given, every value
// in bounds, no parameter the kind does not take, and the rules across
// parameters. The error is an *Error.
func (s Spec) Validate(p Params) error {
	for _, pr := range allParams {
		if _, ok := s.Param(pr.Name); !ok && pr.Get(p) != 0 {
			return &Error{Param: pr.Name, Msg: fmt.Sprintf("%s takes no parameter %s", s.Kind, pr.Name)}
		}
	}
	for _, pr := range s.Params {
		v := pr.Get(p)
		if v == 0 && pr.Required {
			return &Error{Param: pr.Name, Msg: fmt.Sprintf("%s needs the parameter %s", s.Kind, pr.Name)}
		}
		if v == 0 && pr.Default != 0 {
			continue // not given: the default applies
		}
		if err := pr.Check(v); err != nil {
			return &Error{Param: pr.Name, Msg: err.Error()}
		}
	}
	return s.CheckAcross(p)
}

// CheckAcross applies the kind's rules across parameters alone (the
// parser checks each value where it is written); the error is an *Error
// or nil.
func (s Spec) CheckAcross(p Params) error {
	if s.check == nil {
		return nil
	}
	if e := s.check(p); e != nil {
		return e
	}
	return nil
}

// Event is p as events.json records it: the kind's parameters by their
// Event key, leaving out an optional one at its default; nil when none is
// left.
func (s Spec) Event(p Params) map[string]float64 {
	p = s.WithDefaults(p)
	var out map[string]float64
	for _, pr := range s.Params {
		v := pr.Get(p)
		if !pr.Required && v == pr.Default {
			continue
		}
		if out == nil {
			out = map[string]float64{}
		}
		out[pr.Event] = pr.EventValue(v)
	}
	return out
}

// Format writes p as a scenario would ("latency=100ms toxicity=0.25"),
// leaving out an optional parameter at its default.
func (s Spec) Format(p Params) string {
	p = s.WithDefaults(p)
	var parts []string
	for _, pr := range s.Params {
		if v := pr.Get(p); pr.Required || v != pr.Default {
			parts = append(parts, pr.Name+"="+pr.Format(v))
		}
	}
	return strings.Join(parts, " ")
}

var (
	byKind    = map[Kind]Spec{}
	allParams []Param
)

// register indexes the table; a malformed entry is a programming error.
func register(specs []Spec) {
	seen := map[string]Param{}
	for _, s := range specs {
		if _, dup := byKind[s.Kind]; dup {
			panic("fault: kind " + string(s.Kind) + " declared twice")
		}
		if (s.Toxic != nil) && !s.Network() {
			panic("fault: " + string(s.Kind) + " has a toxic but acts on a component")
		}
		byKind[s.Kind] = s
		for _, p := range s.Params {
			if q, ok := seen[p.Name]; ok {
				if q.Event != p.Event || q.Unit != p.Unit {
					panic("fault: parameter " + p.Name + " declared twice differently")
				}
				continue
			}
			seen[p.Name] = p
			allParams = append(allParams, p)
		}
	}
	sort.Slice(allParams, func(i, j int) bool { return allParams[i].Name < allParams[j].Name })
}

func init() { register(table) }

// Kinds lists every kind in the table's order.
func Kinds() []Kind {
	out := make([]Kind, len(table))
	for i, s := range table {
		out[i] = s.Kind
	}
	return out
}

// Lookup returns the kind's declaration.
func Lookup(k Kind) (Spec, bool) {
	s, ok := byKind[k]
	return s, ok
}

// Spec returns the kind's declaration; the zero Spec for an unknown kind.
func (k Kind) Spec() Spec { return byKind[k] }

// Known reports whether k is in the vocabulary.
func (k Kind) Known() bool { _, ok := byKind[k]; return ok }

// Network reports whether the kind acts on a link rather than a component.
func (k Kind) Network() bool { return k.Spec().Network() }

// AllParams lists every parameter of every kind once, by name.
func AllParams() []Param { return append([]Param(nil), allParams...) }
