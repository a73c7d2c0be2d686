// Package threshold parses and evaluates pass/fail conditions on a run,
// k6-style: "p99(issue) < 500ms", "rate(status>=500) < 1%",
// "goodput >= 0.95*offered over 1m", "lost == 0". A condition holds over
// the whole run, in every phase ("per phase"), or in every sliding window
// of simulated time ("over 1m"); "abortOnFail" marks the ones the engine
// stops a running scenario for.
//
// The parser is a hand-written lexer and recursive descent: the grammar is
// small, and hand-written code can say at which column an expression broke.
package threshold

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Op is a comparison operator.
type Op string

// The comparison operators.
const (
	Less      Op = "<"
	LessEq    Op = "<="
	Greater   Op = ">"
	GreaterEq Op = ">="
	Equal     Op = "=="
	NotEqual  Op = "!="
)

// holds applies the operator.
func (o Op) holds(a, b float64) bool {
	switch o {
	case Less:
		return a < b
	case LessEq:
		return a <= b
	case Greater:
		return a > b
	case GreaterEq:
		return a >= b
	case Equal:
		return a == b
	case NotEqual:
		return a != b
	}
	return false
}

// Kind says what a metric measures and so which units and scopes fit it.
type Kind int

// The metric kinds.
const (
	Latency   Kind = iota // milliseconds (written with any Go duration unit): pNN, max, mean
	Fraction              // 0..1: rate(...)
	Count                 // a number of events: count(...), late_sends, lost, ...
	PerSecond             // requests per second: goodput, offered, sent
	Ratio                 // a plain ratio: retry_amplification
)

// Metric is the left-hand side of a threshold, or the factor's metric on
// the right.
type Metric struct {
	Name string // "p99", "max", "mean", "rate", "count", "goodput", "lost", ...
	Kind Kind
	// Quantile is in (0,1) for pNN, 1 for max, 0 for mean.
	Quantile float64
	Filter   Filter
	// WholeRunOnly metrics exist only in summary.json (consistency and
	// fraud figures, the mean latency): no per-phase or windowed value.
	WholeRunOnly bool
}

// Filter selects requests. Zero value: every request.
type Filter struct {
	Class   string // "" = all classes
	Status  *StatusCond
	Outcome *OutcomeCond
	// ClassCol is the 1-based column of Class in the source, for errors
	// that Check finds after parsing.
	ClassCol int
	// Component is the part of the system a cost metric (cpu_per_issue,
	// cpu_per_request) prices: portal, signer-N, signers, proxy, system.
	Component string
}

// StatusCond compares the HTTP status code.
type StatusCond struct {
	Op   Op
	Code int
}

// OutcomeCond compares the outcome (see Outcomes).
type OutcomeCond struct {
	Op   Op // Equal or NotEqual
	Name string
}

func (f Filter) String() string {
	var parts []string
	if f.Class != "" {
		parts = append(parts, "class="+f.Class)
	}
	if f.Status != nil {
		parts = append(parts, fmt.Sprintf("status%s%d", f.Status.Op, f.Status.Code))
	}
	if f.Outcome != nil {
		parts = append(parts, "outcome"+string(f.Outcome.Op)+f.Outcome.Name)
	}
	return strings.Join(parts, ", ")
}

// Scope is where a threshold must hold.
type Scope int

// The scopes.
const (
	WholeRun Scope = iota
	PerPhase
	Window // every sliding window of Expr.Window simulated time
)

// Expr is one parsed threshold.
type Expr struct {
	Src    string
	Metric Metric
	Op     Op
	// The right-hand side is Value, or Value*Factor when Factor is set.
	// Latencies are in milliseconds, fractions in 0..1.
	Value  float64
	Factor *Metric
	Scope  Scope
	Window time.Duration
	// Abort asks the engine to stop the run when the threshold fails
	// mid-run (see Live).
	Abort bool
}

func (e *Expr) String() string { return e.Src }

// Outcomes are the request outcomes timeseries.csv counts, with the status
// codes each stands for (0 = no response). Overload is 429 or 503: the two
// are not told apart in the per-second counts.
var Outcomes = []struct {
	Name     string
	Statuses func(code int) bool
	Codes    string
}{
	{"ok", func(c int) bool { return c == 200 || c == 201 }, "200/201"},
	{"deferred", func(c int) bool { return c == 202 }, "202"},
	{"rejected", func(c int) bool { return c >= 400 && c < 500 && c != 429 }, "4xx except 429"},
	{"overload", func(c int) bool { return c == 429 || c == 503 }, "429/503"},
	{"error", func(c int) bool { return c >= 500 && c < 600 && c != 503 }, "5xx except 503"},
	{"timeout", func(c int) bool { return c == 0 }, "none"},
	{"transport", func(c int) bool { return c == 0 }, "none"},
}

func outcomeIndex(name string) int {
	for i, o := range Outcomes {
		if o.Name == name {
			return i
		}
	}
	return -1
}

// summaryFigures are the whole-run-only metrics, read from summary.json.
var summaryFigures = map[string]Kind{
	"lost": Count, "duplicates": Count, "acknowledged": Count, "tickets_pending": Count,
	"fraud_issued": Count, "fraud_escaped": Count, "fraud_revoked": Count,
	"recovery_goodput_ratio": Ratio,
	"past_timeout":           Count,
	"came_in_vain":           Count,
}

// Integrity says whether e judges what must hold however busy the machine
// is: nothing acknowledged lost or duplicated, no fraud issued. A starved
// machine excuses a slow run, never a lost certificate.
func (e *Expr) Integrity() bool {
	switch e.Metric.Name {
	case "lost", "duplicates", "fraud_issued", "fraud_escaped", "fraud_revoked":
		return true
	}
	return false
}

// costFigures are summary.json's cost (CPU time per request of a
// component; docs/run-format.md#cost): times, whole-run only, with the
// component in parentheses (default system).
var costFigures = map[string]string{
	"cpu_per_issue":   "cpu_ms_per_delivered",
	"cpu_per_request": "cpu_ms_per_request",
}

// bucketFigures are computed from timeseries.csv buckets (and so can be
// judged per phase or per window).
var bucketFigures = map[string]Kind{
	"goodput": PerSecond, "offered": PerSecond, "sent": PerSecond, "accepted": PerSecond,
	"late_sends": Count, "dropped_sends": Count, "retry_amplification": Ratio,
}

// ---- lexer ----

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tNumber
	tOp // < <= > >= == != =
	tLParen
	tRParen
	tComma
	tStar
	tPercent
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset
}

// Error is a parse error with the 1-based column it points at.
type Error struct {
	Src    string
	Column int
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("threshold %q: column %d: %s", e.Src, e.Column, e.Msg)
}

// errorAt builds an Error at a byte offset; the column counts characters,
// so a "µ" earlier in the line does not shift it.
func errorAt(src string, pos int, msg string) *Error {
	return &Error{src, utf8.RuneCountInString(src[:pos]) + 1, msg}
}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case letterLen(src[i:]) > 0:
			j := i + letterLen(src[i:])
			for j < len(src) {
				if n := letterLen(src[j:]); n > 0 {
					j += n
				} else if isDigit(src[j]) || src[j] == '.' || src[j] == '-' {
					j++
				} else {
					break
				}
			}
			toks = append(toks, token{tIdent, src[i:j], i})
			i = j
		case isDigit(c) || (c == '.' && i+1 < len(src) && isDigit(src[i+1])):
			j := i
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			if j < len(src) && src[j] == '.' {
				j++
				for j < len(src) && isDigit(src[j]) {
					j++
				}
			}
			toks = append(toks, token{tNumber, src[i:j], i})
			i = j
		case c == '<' || c == '>' || c == '=' || c == '!':
			j := i + 1
			if j < len(src) && src[j] == '=' {
				j++
			}
			op := src[i:j]
			if op == "!" {
				return nil, errorAt(src, i, `"!" must be followed by "="`)
			}
			toks = append(toks, token{tOp, op, i})
			i = j
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == ',':
			toks = append(toks, token{tComma, ",", i})
			i++
		case c == '*':
			toks = append(toks, token{tStar, "*", i})
			i++
		case c == '%':
			toks = append(toks, token{tPercent, "%", i})
			i++
		default:
			r, _ := utf8.DecodeRuneInString(src[i:])
			return nil, errorAt(src, i, fmt.Sprintf("unexpected character %q", r))
		}
	}
	return append(toks, token{tEOF, "", len(src)}), nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// letterLen is the byte length of the word character s starts with, or 0.
// Besides ASCII letters, the two micro signs Go's time.ParseDuration takes
// in "µs" (U+00B5 micro sign, U+03BC Greek mu) count, so "500µs" is a
// number and a unit like "500us".
func letterLen(s string) int {
	switch {
	case s == "":
		return 0
	case isLetter(s[0]):
		return 1
	case strings.HasPrefix(s, "\u00b5"), strings.HasPrefix(s, "\u03bc"):
		return 2
	}
	return 0
}

// latencyUnits are Go's duration units (time.ParseDuration) in
// milliseconds, the unit a latency threshold is kept in. A factor, not
// ParseDuration, so "1.2345678ms" keeps every digit.
var latencyUnits = map[string]float64{
	"ns": 1e-6, "us": 1e-3, "\u00b5s": 1e-3, "\u03bcs": 1e-3,
	"ms": 1, "s": 1e3, "m": 60e3, "h": 3600e3,
}

// timeUnits lists latencyUnits for error messages.
const timeUnits = "ns, us (or µs), ms, s, m, h"

// latencyMS reads a number and the word that touches it ("500" "us",
// "1" "m30s") as milliseconds; ok is false when the word is not a time.
func latencyMS(num, unit string) (ms float64, ok bool) {
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, false
	}
	if f, ok := latencyUnits[unit]; ok {
		return v * f, true
	}
	// A compound such as "1m30s": the lexer reads "m30s" as one word.
	d, err := time.ParseDuration(num + unit)
	if err != nil {
		return 0, false
	}
	return float64(d) / float64(time.Millisecond), true
}

// ---- parser ----

type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, format string, a ...any) error {
	return errorAt(p.src, t.pos, fmt.Sprintf(format, a...))
}

// Parse reads one threshold:
//
//	threshold = metric op rhs [ "over" duration | "per" "phase" ] [ "abortOnFail" ]
//	metric    = name [ "(" [ filter { "," filter } ] ")" ]
//	filter    = class | "class" "=" class | "status" op int | "outcome" ("=="|"!=") outcome
//	rhs       = number [ unit ] [ "*" metric ]
//	unit      = "ns" | "us" | "µs" | "ms" | "s" | "m" | "h" | "%"   (a latency may also take "1m30s")
func Parse(src string) (*Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	e := &Expr{Src: strings.TrimSpace(src)}
	if p.peek().kind == tEOF {
		return nil, p.errAt(p.peek(), "expected a metric such as p99, rate(status>=500) or lost")
	}
	m, err := p.metric()
	if err != nil {
		return nil, err
	}
	e.Metric = m
	opTok := p.next()
	if opTok.kind != tOp || opTok.text == "=" {
		return nil, p.errAt(opTok, "expected a comparison (<, <=, >, >=, ==, !=)")
	}
	e.Op = Op(opTok.text)
	if err := p.rhs(e); err != nil {
		return nil, err
	}
	if err := p.suffix(e); err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		hint := ""
		if t.kind == tIdent {
			hint = Suggest(t.text, []string{"abortOnFail", "over", "per"})
		}
		return nil, p.errAt(t, "unexpected %q after the threshold%s", t.text, hint)
	}
	return e, nil
}

// checkLimit refuses a limit that cannot mean what it says: a time without
// a unit (is "3" 3 ms or 3 s?), a rate outside 0-100 %, and a bound no
// count, rate or time can cross ("lost < 0"). num is the number's token;
// e.Value is not set yet, the number is read again from num.
func (p *parser) checkLimit(e *Expr, num token, hasUnit bool) error {
	v, _ := strconv.ParseFloat(num.text, 64)
	m := e.Metric
	switch m.Kind {
	case Latency:
		if !hasUnit {
			return p.errAt(num, "a time needs a unit: write %s%s or %sms (%s)", num.text, "s", num.text, timeUnits)
		}
	case Fraction:
		pct := v
		if !hasUnit {
			pct = v * 100
		}
		if pct > 100 {
			if hasUnit {
				return p.errAt(num, "a rate is at most 100%%, not %s%%", num.text)
			}
			return p.errAt(num, "a rate is at most 1 (100%%): write %s%% or %s", num.text, trimFloat(v/100))
		}
	}
	// Every metric is a count, a share, a rate or a time: none is below 0.
	if v == 0 && e.Op == Less {
		return p.errAt(num, "%s < 0 can never hold: %s is never negative (did you mean %s == 0?)", m.Name, m.Name, m.Name)
	}
	return nil
}

// col is a token's 1-based column in characters.
func (p *parser) col(t token) int { return utf8.RuneCountInString(p.src[:t.pos]) + 1 }

// MustParse is Parse for thresholds written in code; it panics on error.
func MustParse(src string) *Expr {
	e, err := Parse(src)
	if err != nil {
		panic(err)
	}
	return e
}

func (p *parser) metric() (Metric, error) {
	t := p.next()
	if t.kind != tIdent {
		return Metric{}, p.errAt(t, "expected a metric such as p99, rate(status>=500) or lost")
	}
	m := Metric{Name: t.text}
	switch name := t.text; {
	case name == "max":
		m.Kind, m.Quantile = Latency, 1
	case name == "mean":
		m.Kind, m.WholeRunOnly = Latency, true
	case name == "rate":
		m.Kind = Fraction
	case name == "count":
		m.Kind = Count
	case len(name) > 1 && name[0] == 'p' && isDigit(name[1]):
		q, err := strconv.ParseFloat(name[1:], 64)
		if err != nil || q <= 0 || q >= 100 {
			return Metric{}, p.errAt(t, "%q is not a percentile between p0 and p100 (e.g. p99, p99.9)", name)
		}
		m.Kind, m.Quantile = Latency, q/100
	default:
		if _, ok := costFigures[name]; ok {
			return p.costMetric(m)
		}
		if _, ok := classFigures[name]; ok {
			return p.classFigureMetric(m)
		}
		if k, ok := summaryFigures[name]; ok {
			m.Kind, m.WholeRunOnly = k, true
		} else if k, ok := bucketFigures[name]; ok {
			m.Kind = k
		} else {
			return Metric{}, p.errAt(t, "unknown metric %q%s", name, Suggest(name, metricNames()))
		}
	}
	if p.peek().kind != tLParen {
		if m.Name == "rate" || m.Name == "count" {
			return Metric{}, p.errAt(p.peek(), "%s needs a filter in parentheses, e.g. %s(status>=500)", m.Name, m.Name)
		}
		return m, nil
	}
	lp := p.next()
	if m.WholeRunOnly && m.Kind != Latency {
		return Metric{}, p.errAt(lp, "%s takes no filter", m.Name)
	}
	for p.peek().kind != tRParen {
		if err := p.filter(&m); err != nil {
			return Metric{}, err
		}
		switch t := p.peek(); t.kind {
		case tComma:
			p.next()
		case tRParen:
		default:
			return Metric{}, p.errAt(t, `expected "," or ")"`)
		}
	}
	p.next()
	if m.Kind != Fraction && m.Kind != Count && (m.Filter.Status != nil || m.Filter.Outcome != nil) {
		return Metric{}, p.errAt(lp, "%s takes only a class filter, e.g. %s(issue)", m.Name, m.Name)
	}
	return m, nil
}

// costMetric reads a cost metric's optional "(COMPONENT)".
func (p *parser) costMetric(m Metric) (Metric, error) {
	m.Kind, m.WholeRunOnly, m.Filter.Component = Latency, true, "system"
	if p.peek().kind != tLParen {
		return m, nil
	}
	p.next()
	c := p.next()
	if c.kind != tIdent {
		return Metric{}, p.errAt(c, "expected a component: portal, signer-1, signers, proxy or system")
	}
	m.Filter.Component = c.text // "signer-1" lexes as one identifier
	if r := p.next(); r.kind != tRParen {
		return Metric{}, p.errAt(r, `expected ")" after the component`)
	}
	return m, nil
}

func (p *parser) filter(m *Metric) error {
	t := p.next()
	if t.kind != tIdent {
		return p.errAt(t, "expected a class, class=NAME, status>=CODE or outcome==NAME")
	}
	op := p.peek()
	if op.kind != tOp {
		// A bare name is a class.
		return p.setClass(m, t, t.text)
	}
	p.next()
	v := p.next()
	switch t.text {
	case "class":
		if op.text != "=" && op.text != "==" {
			return p.errAt(op, `class takes "=" or "=="`)
		}
		if v.kind != tIdent {
			return p.errAt(v, "expected a class name")
		}
		return p.setClass(m, v, v.text)
	case "status":
		if m.Filter.Status != nil {
			return p.errAt(t, "status given twice")
		}
		if op.text == "=" {
			op.text = "=="
		}
		code, err := strconv.Atoi(v.text)
		if v.kind != tNumber || err != nil || code < 100 || code > 599 {
			return p.errAt(v, "expected a status code between 100 and 599")
		}
		m.Filter.Status = &StatusCond{Op(op.text), code}
	case "outcome":
		if m.Filter.Outcome != nil {
			return p.errAt(t, "outcome given twice")
		}
		if op.text == "=" {
			op.text = "=="
		}
		if op.text != "==" && op.text != "!=" {
			return p.errAt(op, `outcome takes "==" or "!="`)
		}
		if v.kind != tIdent || outcomeIndex(v.text) < 0 {
			names := make([]string, len(Outcomes))
			for i, o := range Outcomes {
				names[i] = o.Name
			}
			return p.errAt(v, "expected an outcome: %s", strings.Join(names, ", "))
		}
		m.Filter.Outcome = &OutcomeCond{Op(op.text), v.text}
	default:
		return p.errAt(t, "unknown filter %q (use class, status or outcome)", t.text)
	}
	return nil
}

func (p *parser) setClass(m *Metric, at token, class string) error {
	if m.Filter.Class != "" {
		return p.errAt(at, "class given twice")
	}
	m.Filter.Class = class
	m.Filter.ClassCol = p.col(at)
	return nil
}

func (p *parser) rhs(e *Expr) error {
	t := p.next()
	if t.kind != tNumber {
		return p.errAt(t, "expected a value")
	}
	v, err := strconv.ParseFloat(t.text, 64)
	if err != nil {
		return p.errAt(t, "bad number %q", t.text)
	}
	// A unit must touch its number: "500ms", "1%".
	u := p.peek()
	hasUnit := u.pos == t.pos+len(t.text) && (u.kind == tIdent || u.kind == tPercent)
	if hasUnit {
		p.next()
		ms, isTime := latencyMS(t.text, u.text)
		switch {
		case isTime:
			if e.Metric.Kind != Latency {
				return p.errAt(u, "unit %s fits only a latency (pNN, max, mean)", u.text)
			}
			v = ms
		case u.text == "%":
			if e.Metric.Kind != Fraction {
				return p.errAt(u, "%% fits only rate(...)")
			}
			v /= 100
		default:
			return p.errAt(u, "unknown unit %q (use %s, or %% for a rate)", u.text, timeUnits)
		}
	}
	if p.peek().kind != tStar {
		if err := p.checkLimit(e, t, hasUnit); err != nil {
			return err
		}
	}
	e.Value = v
	if p.peek().kind != tStar {
		return nil
	}
	star := p.next()
	if hasUnit {
		return p.errAt(star, "a factor times a metric takes no unit, e.g. 0.95*offered")
	}
	f, err := p.metric()
	if err != nil {
		return err
	}
	if f.Kind != e.Metric.Kind {
		return p.errAt(star, "%s and %s measure different things", e.Metric.Name, f.Name)
	}
	e.Factor = &f
	return nil
}

func (p *parser) suffix(e *Expr) error {
	t := p.peek()
	if t.kind != tIdent {
		return nil
	}
	switch t.text {
	case "over":
		p.next()
		d, err := p.duration()
		if err != nil {
			return err
		}
		e.Scope, e.Window = Window, d
	case "per":
		p.next()
		if ph := p.next(); ph.kind != tIdent || ph.text != "phase" {
			return p.errAt(ph, `expected "phase" after "per"`)
		}
		e.Scope = PerPhase
	}
	if e.Scope != WholeRun {
		for _, m := range []*Metric{&e.Metric, e.Factor} {
			if m != nil && m.WholeRunOnly {
				return p.errAt(t, "%s is known only for the whole run, not %s", m.Name, map[Scope]string{PerPhase: "per phase", Window: "per window"}[e.Scope])
			}
		}
	}
	if a := p.peek(); a.kind == tIdent && a.text == "abortOnFail" {
		p.next()
		e.Abort = true
	}
	return nil
}

// duration reads "1m", "30s", "1m30s", "2h": any time.ParseDuration text.
func (p *parser) duration() (time.Duration, error) {
	start := p.peek()
	var d time.Duration
	for p.peek().kind == tNumber {
		n := p.next()
		u := p.peek()
		if u.kind != tIdent || u.pos != n.pos+len(n.text) {
			return 0, p.errAt(u, "expected a unit (%s) right after %s", timeUnits, n.text)
		}
		p.next()
		// The lexer reads "m30s" of "1m30s" as one word; ParseDuration
		// takes the whole.
		part, err := time.ParseDuration(n.text + u.text)
		if err != nil {
			return 0, p.errAt(u, "bad duration %q (use %s, e.g. 1m30s)", n.text+u.text, timeUnits)
		}
		d += part
	}
	if d <= 0 {
		return 0, p.errAt(start, "expected a window length such as 1m or 30s")
	}
	return d, nil
}

// UnmarshalText parses a threshold, so scenario files (YAML, JSON) can list
// thresholds as plain strings and get the parser's column errors.
func (e *Expr) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*e = *p
	return nil
}

// MarshalText returns the source text.
func (e Expr) MarshalText() ([]byte, error) { return []byte(e.Src), nil }
