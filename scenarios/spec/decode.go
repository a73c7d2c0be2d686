package spec

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/golive-dev/golive/scenarios/threshold"
)

// decoder walks a yaml.Node tree by hand rather than through
// yaml.Unmarshal, so every problem carries its own line and column, and
// one pass reports all of them instead of stopping at the first.
type decoder struct {
	file string
	errs Errors

	// The clock, once decoded: "HH:MM" times need the date and zone.
	clockOK bool
	date    time.Time // midnight of the scenario's date in its zone
	loc     *time.Location
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, format string, a ...any) {
	d.errs = append(d.errs, Error{Pos: d.pos(n), Msg: fmt.Sprintf(format, a...)})
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing (null)"
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unexpected node"
}

// fields is a decoded mapping: value and key nodes by key.
type fields struct {
	node *yaml.Node
	vals map[string]*yaml.Node
	keys map[string]*yaml.Node
}

func (f fields) get(k string) *yaml.Node { return f.vals[k] }

func (f fields) has(k string) bool { _, ok := f.vals[k]; return ok }

// mapping checks that n is a mapping whose keys are all in known, each at
// most once. Unknown keys are reported with the closest known one.
func (d *decoder) mapping(n *yaml.Node, path string, known ...string) (fields, bool) {
	n = resolve(n)
	f := fields{node: n, vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: want a mapping, got %s", path, describe(n))
		return f, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys must be plain names", path)
			continue
		}
		if prev, dup := f.keys[k.Value]; dup {
			d.errorf(k, "%s: %q given twice (first at line %d)", path, k.Value, prev.Line)
			continue
		}
		if len(known) > 0 && !contains(known, k.Value) {
			d.errorf(k, "%s: unknown field %q%s", path, k.Value, suggest(k.Value, known))
			continue
		}
		f.keys[k.Value], f.vals[k.Value] = k, v
	}
	return f, true
}

// require reports each missing key at the mapping.
func (d *decoder) require(f fields, path string, keys ...string) bool {
	ok := true
	for _, k := range keys {
		if !f.has(k) {
			d.errorf(f.node, "%s: %q is required", path, k)
			ok = false
		}
	}
	return ok
}

func (d *decoder) list(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: want a list, got %s", path, describe(n))
		return nil, false
	}
	return n.Content, true
}

func (d *decoder) scalar(n *yaml.Node, path, want string) (*yaml.Node, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, "%s: want %s, got %s", path, want, describe(n))
		return n, false
	}
	return n, true
}

func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	n, ok := d.scalar(n, path, "a string")
	if !ok {
		return "", false
	}
	// A date or time written without quotes is still text to us.
	if n.Tag != "!!str" && n.Tag != "!!timestamp" {
		d.errorf(n, "%s: want a string, got %s (quote it)", path, describe(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) float(n *yaml.Node, path string) (float64, bool) {
	n, ok := d.scalar(n, path, "a number")
	if !ok {
		return 0, false
	}
	var v float64
	if (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&v) != nil {
		d.errorf(n, "%s: want a number, got %s", path, describe(n))
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		d.errorf(n, "%s: want a finite number, got %s", path, n.Value)
		return 0, false
	}
	return v, true
}

func (d *decoder) integer(n *yaml.Node, path string) (int64, bool) {
	n, ok := d.scalar(n, path, "a whole number")
	if !ok {
		return 0, false
	}
	var v int64
	if n.Tag != "!!int" || n.Decode(&v) != nil {
		d.errorf(n, "%s: want a whole number, got %s", path, describe(n))
		return 0, false
	}
	return v, true
}

// intIn reads a whole number in [lo, hi].
func (d *decoder) intIn(n *yaml.Node, path string, lo, hi int64) (int, bool) {
	v, ok := d.integer(n, path)
	if !ok {
		return 0, false
	}
	if v < lo || v > hi {
		d.errorf(resolve(n), "%s: %d is outside %d..%d", path, v, lo, hi)
		return 0, false
	}
	return int(v), true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	n, ok := d.scalar(n, path, "true or false")
	if !ok {
		return false, false
	}
	var v bool
	if n.Tag != "!!bool" || n.Decode(&v) != nil {
		d.errorf(n, "%s: want true or false, got %s", path, describe(n))
		return false, false
	}
	return v, true
}

// duration reads Go duration syntax ("250ms", "1h30m", or 0).
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	n, ok := d.scalar(n, path, "a duration")
	if !ok {
		return 0, false
	}
	if n.Tag == "!!int" && n.Value == "0" {
		return 0, true
	}
	v, err := time.ParseDuration(n.Value)
	if n.Tag != "!!str" || err != nil {
		d.errorf(n, "%s: want a duration like 250ms, 30s or 1h30m, got %s", path, describe(n))
		return 0, false
	}
	if v < 0 {
		d.errorf(n, "%s: duration %s is negative", path, n.Value)
		return 0, false
	}
	return v, true
}

// positive reads a duration > 0.
func (d *decoder) positive(n *yaml.Node, path string) (time.Duration, bool) {
	v, ok := d.duration(n, path)
	if ok && v == 0 {
		d.errorf(resolve(n), "%s: must be longer than 0", path)
		return 0, false
	}
	return v, ok
}

// fraction reads a number in [lo, hi].
func (d *decoder) fraction(n *yaml.Node, path string, lo, hi float64) (float64, bool) {
	v, ok := d.float(n, path)
	if ok && (v < lo || v > hi) {
		d.errorf(resolve(n), "%s: %v is outside %v..%v", path, v, lo, hi)
		return 0, false
	}
	return v, ok
}

var clockRE = regexp.MustCompile(`^(\d{1,2}):(\d{2})(?::(\d{2}))?$`)

// parseWhen reads "HH:MM[:SS]" on the scenario's date (24:00 is the
// following midnight) or an RFC 3339 time.
func parseWhen(v string, date time.Time, haveDate bool) (time.Time, error) {
	if m := clockRE.FindStringSubmatch(v); m != nil {
		h, _ := strconv.Atoi(m[1])
		mi, _ := strconv.Atoi(m[2])
		s := 0
		if m[3] != "" {
			s, _ = strconv.Atoi(m[3])
		}
		if h > 24 || mi > 59 || s > 59 || (h == 24 && (mi != 0 || s != 0)) {
			return time.Time{}, fmt.Errorf("%q is not a time of day (00:00 to 24:00)", v)
		}
		if !haveDate {
			return time.Time{}, fmt.Errorf("%q needs clock.date (or write an RFC 3339 time)", v)
		}
		return time.Date(date.Year(), date.Month(), date.Day(), h, mi, s, 0, date.Location()), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither HH:MM nor an RFC 3339 time like 2021-06-14T07:45:00+02:00", v)
	}
	if date.Location() != nil {
		t = t.In(date.Location())
	}
	return t, nil
}

// when reads a simulated instant. Without a valid clock it reports
// nothing: the clock's own error already explains it.
func (d *decoder) when(n *yaml.Node, path string) (time.Time, bool) {
	v, ok := d.str(n, path)
	if !ok {
		return time.Time{}, false
	}
	if !d.clockOK {
		return time.Time{}, false
	}
	t, err := parseWhen(v, d.date, true)
	if err != nil {
		d.errorf(resolve(n), "%s: %v", path, err)
		return time.Time{}, false
	}
	return t, true
}

func (d *decoder) fmtTime(t time.Time) string {
	if d.clockOK && t.In(d.loc).Format("2006-01-02") == d.date.Format("2006-01-02") {
		if t.Second() != 0 {
			return t.In(d.loc).Format("15:04:05")
		}
		return t.In(d.loc).Format("15:04")
	}
	return t.Format(time.RFC3339)
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// suggest names the known word closest to s, when one is close.
// suggest is threshold.Suggest: one spelling helper for scenario keys and
// threshold names.
func suggest(s string, known []string) string { return threshold.Suggest(s, known) }

// jsonValue turns a YAML node into what encoding/json would produce for
// the same document (maps, slices, strings, float64, bool, nil). Dates and
// times stay strings.
func jsonValue(n *yaml.Node) (any, error) {
	n = resolve(n)
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return jsonValue(n.Content[0])
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolve(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: non-scalar key", k.Line)
			}
			v, err := jsonValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := jsonValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			err := n.Decode(&b)
			return b, err
		case "!!int", "!!float":
			var f float64
			err := n.Decode(&f)
			return f, err
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// ToJSONValue parses a YAML document into JSON-compatible values (what a
// JSON Schema validator takes); dates and times stay strings.
func ToJSONValue(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return jsonValue(&doc)
}
