package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Berlin must resolve in FROM-scratch images too

	"gopkg.in/yaml.v3"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// maxFileBytes bounds a scenario file; real ones are a few KB.
const maxFileBytes = 1 << 20

// Load reads and parses the scenario file at path.
func Load(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, Errors{{Pos: Pos{File: path}, Msg: fmt.Sprintf("file is larger than %d bytes", maxFileBytes)}}
	}
	return Parse(data, path)
}

// Parse parses a scenario from data; name is the file name errors carry.
// The error, when not nil, is Errors: every problem found, in file order.
func Parse(data []byte, name string) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{Pos: Pos{File: name, Line: 1, Col: 1}, Msg: "the file is empty"}}
		}
		return nil, Errors{syntaxError(name, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{Pos: Pos{File: name, Line: extra.Line, Col: extra.Column}, Msg: "a scenario file holds one YAML document; this is a second"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, Errors{syntaxError(name, err)}
	}
	d := &decoder{file: name}
	s := d.scenario(doc.Content[0])
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	s.Source, s.Raw = name, data
	return s, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns yaml.v3's "yaml: line N: msg" into a positioned Error
// (the parser knows no column).
func syntaxError(file string, err error) Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Error{Pos: Pos{File: file, Line: line}, Msg: "YAML syntax: " + m[2]}
	}
	return Error{Pos: Pos{File: file, Line: 1}, Msg: "YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (d *decoder) scenario(root *yaml.Node) *Scenario {
	s := &Scenario{Seed: 1, DemandScale: 1, System: System{Profile: portalapi.ProfileHardened, Signers: 1, Portals: 1, Registry: RegistrySQLite}}
	f, ok := d.mapping(root, "scenario", "name", "description", "seed", "demand_scale", "clock", "system",
		"traffic", "faults", "phases", "thresholds", "checks", "profiles", "capacity")
	if !ok {
		return s
	}
	d.require(f, "scenario", "name", "clock", "traffic")
	if n := f.get("name"); n != nil {
		if v, ok := d.str(n, "name"); ok {
			if !nameRE.MatchString(v) {
				d.errorf(resolve(n), "name: %q must be lower-case letters, digits and '-'", v)
			}
			s.Name = v
		}
	}
	if n := f.get("description"); n != nil {
		s.Description, _ = d.str(n, "description")
		s.Description = strings.TrimSpace(s.Description)
	}
	if n := f.get("seed"); n != nil {
		s.Seed, _ = d.integer(n, "seed")
	}
	if n := f.get("demand_scale"); n != nil {
		if v, ok := d.float(n, "demand_scale"); ok {
			if v <= 0 {
				d.errorf(resolve(n), "demand_scale: must be greater than 0")
			}
			s.DemandScale = v
		}
	}
	// Capacity first: it decides whether the clock has an end and which
	// class may go without a demand curve.
	if n := f.get("capacity"); n != nil {
		s.Capacity = d.capacity(n)
	}
	if n := f.get("clock"); n != nil {
		s.Clock = d.clock(n, s.Capacity)
	}
	if n := f.get("system"); n != nil {
		s.System = d.system(n)
	}
	if n := f.get("traffic"); n != nil {
		s.Traffic = d.traffic(n, s)
	}
	if n := f.get("faults"); n != nil {
		s.Faults = d.faults(n, s)
	}
	if n := f.get("phases"); n != nil {
		s.Phases = d.phases(n, s)
	}
	if n := f.get("thresholds"); n != nil {
		s.Thresholds = d.thresholds(n, "thresholds", s)
	}
	if n := f.get("checks"); n != nil {
		s.Checks = d.checks(n, "checks")
	}
	if n := f.get("profiles"); n != nil {
		s.Profiles = d.profiles(n, s)
	}
	if s.Capacity != nil && s.Capacity.Class != "" {
		c, ok := s.Class(s.Capacity.Class)
		switch {
		case !ok:
			d.errorf(resolve(f.get("capacity")), "capacity.class: no traffic class is named %q", s.Capacity.Class)
		case c.Kind != KindIssue && c.Kind != KindVerify:
			d.errorf(resolve(f.get("capacity")), "capacity.class: %q is a %s class; a capacity search drives an issue or verify class", c.Name, c.Kind)
		}
	}
	d.checkPortalConfigs(s, f)
	return s
}

func (d *decoder) clock(n *yaml.Node, capacity *Capacity) Clock {
	c := Clock{}
	f, ok := d.mapping(n, "clock", "date", "time_zone", "start", "end", "timescale")
	if !ok {
		return c
	}
	valid := d.require(f, "clock", "start")
	if capacity == nil {
		valid = d.require(f, "clock", "end") && valid
	} else if f.has("end") {
		d.errorf(f.keys["end"], "clock.end: a capacity search has no fixed end (it lasts max_steps x step); remove it")
		valid = false
	}
	zone := "Europe/Berlin"
	if n := f.get("time_zone"); n != nil {
		if v, ok := d.str(n, "clock.time_zone"); ok {
			zone = v
		} else {
			valid = false
		}
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		d.errorf(resolve(f.get("time_zone")), "clock.time_zone: unknown zone %q (want an IANA name like Europe/Berlin)", zone)
		return c
	}
	c.Location = loc
	haveDate := false
	if n := f.get("date"); n != nil {
		if v, ok := d.str(n, "clock.date"); ok {
			t, err := time.ParseInLocation("2006-01-02", v, loc)
			if err != nil {
				d.errorf(resolve(n), "clock.date: %q is not a date like 2021-06-14", v)
				valid = false
			} else {
				c.Date, d.date, haveDate = v, t, true
			}
		} else {
			valid = false
		}
	}
	read := func(key string) time.Time {
		n := f.get(key)
		if n == nil {
			return time.Time{}
		}
		v, ok := d.str(n, "clock."+key)
		if !ok {
			valid = false
			return time.Time{}
		}
		t, err := parseWhen(v, d.date, haveDate)
		if err != nil {
			d.errorf(resolve(n), "clock.%s: %v", key, err)
			valid = false
			return time.Time{}
		}
		return t.In(loc)
	}
	c.Start = read("start")
	if !haveDate && !c.Start.IsZero() {
		// An RFC 3339 start names the day HH:MM times elsewhere refer to.
		y, m, dd := c.Start.Date()
		d.date, c.Date, haveDate = time.Date(y, m, dd, 0, 0, 0, 0, loc), c.Start.Format("2006-01-02"), true
	}
	c.End = read("end")
	if valid && capacity == nil && !c.End.After(c.Start) {
		d.errorf(resolve(f.get("end")), "clock.end: %s is not after start %s", c.End.Format(time.RFC3339), c.Start.Format(time.RFC3339))
		valid = false
	}
	if n := f.get("timescale"); n != nil {
		if v, ok := d.float(n, "clock.timescale"); ok {
			if v <= 0 || v > 1e6 {
				d.errorf(resolve(n), "clock.timescale: %v must be in (0, 1000000]", v)
			} else {
				c.Timescale = v
			}
		}
		// A bad timescale leaves times readable: go on with the default.
	}
	if !valid {
		return c
	}
	if c.Timescale == 0 {
		c.Timescale = 1
		if capacity == nil {
			// Just fast enough to finish within DefaultWallTarget.
			c.Timescale = math.Max(1, math.Ceil(c.End.Sub(c.Start).Seconds()/DefaultWallTarget.Seconds()))
		}
	}
	if capacity != nil {
		c.End = c.Start.Add(time.Duration(float64(time.Duration(capacity.MaxSteps)*capacity.Step) * c.Timescale))
	}
	d.clockOK, d.loc = true, loc
	return c
}

func (d *decoder) system(n *yaml.Node) System {
	sys := System{Profile: portalapi.ProfileHardened, Signers: 1, Portals: 1, Registry: RegistrySQLite}
	f, ok := d.mapping(n, "system", "profile", "signers", "portals", "hsm", "portal", "signer", "registry", "registry_standby", "tls")
	if !ok {
		return sys
	}
	if n := f.get("profile"); n != nil {
		if v, ok := d.str(n, "system.profile"); ok {
			if !validProfile(v) {
				d.errorf(resolve(n), "system.profile: unknown profile %q%s", v, suggest(v, portalapi.Profiles()))
			}
			sys.Profile = v
		}
	}
	if n := f.get("signers"); n != nil {
		if v, ok := d.intIn(n, "system.signers", 1, 16); ok {
			sys.Signers = v
		}
	}
	if n := f.get("portals"); n != nil {
		if v, ok := d.intIn(n, "system.portals", 1, MaxPortals); ok {
			sys.Portals = v
		}
	}
	if n := f.get("hsm"); n != nil {
		if hf, ok := d.mapping(n, "system.hsm", "slots", "latency"); ok {
			if n := hf.get("slots"); n != nil {
				sys.HSM.Slots, _ = d.intIn(n, "system.hsm.slots", 1, 1000)
			}
			if n := hf.get("latency"); n != nil {
				sys.HSM.Latency, _ = d.duration(n, "system.hsm.latency")
			}
		}
	}
	if n := f.get("registry"); n != nil {
		if v, ok := d.str(n, "system.registry"); ok {
			if v != RegistrySQLite && v != RegistryPostgres {
				d.errorf(resolve(n), "system.registry: unknown registry %q%s", v, suggest(v, []string{RegistrySQLite, RegistryPostgres}))
			} else {
				sys.Registry = v
			}
		}
	}
	if sys.Portals > 1 {
		// Several portals share one registry: PostgreSQL unless the
		// scenario says otherwise, and SQLite (one file, one process) not.
		if n := f.get("registry"); n == nil {
			sys.Registry = RegistryPostgres
		} else if sys.Registry == RegistrySQLite {
			d.errorf(resolve(n), "system.registry: %d portals share one registry: use postgres (or leave registry out)", sys.Portals)
		}
	}
	if n := f.get("registry_standby"); n != nil {
		if v, ok := d.boolean(n, "system.registry_standby"); ok {
			if v && sys.Registry != RegistryPostgres {
				d.errorf(resolve(n), "system.registry_standby: a standby needs system.registry: postgres")
			}
			sys.RegistryStandby = v
		}
	}
	if n := f.get("tls"); n != nil {
		sys.TLS, _ = d.boolean(n, "system.tls")
	}
	if n := f.get("portal"); n != nil {
		sys.Portal = d.portalOverrides(n, "system.portal")
	}
	if n := f.get("signer"); n != nil {
		sys.Signer = d.signerOverrides(n, "system.signer")
	}
	return sys
}

func (d *decoder) signerOverrides(n *yaml.Node, path string) SignerOverrides {
	var o SignerOverrides
	f, ok := d.mapping(n, path, "shed", "shed_retry_after", "reject_unmeetable", "lockout_mark", "lockout_for", "clamp_validity")
	if !ok {
		return o
	}
	boolean := func(key string) *bool {
		if n := f.get(key); n != nil {
			if v, ok := d.boolean(n, path+"."+key); ok {
				return &v
			}
		}
		return nil
	}
	o.Shed, o.RejectUnmeetable, o.ClampValidity = boolean("shed"), boolean("reject_unmeetable"), boolean("clamp_validity")
	if n := f.get("shed_retry_after"); n != nil {
		if v, ok := d.positive(n, path+".shed_retry_after"); ok {
			o.ShedRetryAfter = &v
		}
	}
	if n := f.get("lockout_mark"); n != nil {
		if v, ok := d.intIn(n, path+".lockout_mark", 0, 1<<30); ok {
			o.LockoutMark = &v
		}
	}
	if n := f.get("lockout_for"); n != nil {
		if v, ok := d.duration(n, path+".lockout_for"); ok {
			o.LockoutFor = &v
		}
	}
	return o
}

func (d *decoder) traffic(n *yaml.Node, s *Scenario) []Class {
	items, ok := d.list(n, "traffic")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.errorf(resolve(n), "traffic: at least one class is required")
	}
	var out []Class
	seen := map[string]int{}
	for i, it := range items {
		c, ok := d.class(it, fmt.Sprintf("traffic[%d]", i), s)
		if !ok {
			continue
		}
		if prev, dup := seen[c.Name]; dup {
			d.errorf(resolve(it), "traffic[%d]: class name %q is already used at line %d", i, c.Name, prev)
			continue
		}
		seen[c.Name] = c.Pos.Line
		out = append(out, c)
	}
	if need := registerNeed(out); need > MaxRegisterSize {
		d.errorf(resolve(n), "traffic: the classes need %d register pharmacies in all, more than the %d a register holds; lower their pharmacies", need, MaxRegisterSize)
	}
	return out
}

func (d *decoder) class(n *yaml.Node, path string, s *Scenario) (Class, bool) {
	f, ok := d.mapping(n, path, append([]string{"name", "kind", "pharmacies", "mix", "demand", "client", "booking", "party", "join_at", "mailout"}, vendorKeys...)...)
	if !ok {
		return Class{}, false
	}
	c := Class{Pos: d.pos(f.node)}
	if !d.require(f, path, "name", "kind") {
		return c, false
	}
	name, ok := d.str(f.get("name"), path+".name")
	if !ok {
		return c, false
	}
	if !nameRE.MatchString(name) {
		d.errorf(resolve(f.get("name")), "%s.name: %q must be lower-case letters, digits and '-'", path, name)
	}
	c.Name = name
	path = fmt.Sprintf("traffic %q", name)
	kind, ok := d.str(f.get("kind"), path+".kind")
	if !ok {
		return c, false
	}
	c.Kind = ClassKind(kind)
	if !contains(ClassKinds(), c.Kind) {
		names := make([]string, 0, 5)
		for _, k := range ClassKinds() {
			names = append(names, string(k))
		}
		d.errorf(resolve(f.get("kind")), "%s.kind: unknown kind %q%s", path, kind, suggest(kind, names))
		return c, false
	}
	c.Pharmacies = DefaultPharmacies(c.Kind)
	if n := f.get("pharmacies"); n != nil {
		if c.Kind.accountless() {
			d.errorf(f.keys["pharmacies"], "%s.pharmacies: a %s class uses no pharmacy accounts", path, c.Kind)
		} else if v, ok := d.intIn(n, path+".pharmacies", 1, 20000); ok {
			c.Pharmacies = v
		}
	}
	c.Mix = DefaultMix
	if n := f.get("mix"); n != nil {
		if !c.Kind.Issues() {
			d.errorf(f.keys["mix"], "%s.mix: a %s class issues nothing", path, c.Kind)
		} else {
			c.Mix = d.mix(n, path+".mix")
		}
	}
	if !c.Kind.Issues() {
		c.Mix = Mix{}
	}
	driven := s.Capacity != nil && s.Capacity.Class == name
	switch n := f.get("demand"); {
	case n != nil && driven:
		d.errorf(f.keys["demand"], "%s.demand: the capacity search sets this class's rate; remove its demand", path)
	case n != nil:
		before := len(d.errs)
		c.Demand = d.curve(n, path+".demand")
		// Only a curve without errors of its own can be judged as a whole.
		if d.clockOK && len(d.errs) == before && !c.Demand.IsZero() && !(c.Demand.Total(s.Clock.Start, s.Clock.End) > 0) {
			d.errorf(resolve(n), "%s.demand: offers no requests between the clock's start and end", path)
		}
		if c.Kind.Slow() && len(d.errs) == before && c.Demand.Peak() > MaxSlowConnections {
			d.errorf(resolve(n), "%s.demand: a %s class's rate is the connections it holds; at most %d", path, c.Kind, MaxSlowConnections)
		}
	case !driven:
		d.errorf(f.node, "%s: \"demand\" is required", path)
	}
	c.Client = DefaultClient(c.Kind)
	if n := f.get("client"); n != nil {
		d.client(n, path+".client", &c.Client)
	}
	switch n := f.get("booking"); {
	case c.Kind == KindBooking:
		b := DefaultBooking(s.Clock)
		if n != nil {
			b = d.booking(n, path+".booking", s)
		}
		c.Booking = &b
	case n != nil:
		d.errorf(f.keys["booking"], "%s.booking: only a booking class books", path)
	}
	d.vendorClass(f, path, &c)
	d.party(f, path, s, &c)
	d.mailout(f, path, &c)
	return c, true
}

func (d *decoder) mix(n *yaml.Node, path string) Mix {
	f, ok := d.mapping(n, path, "v", "t", "r")
	if !ok {
		return DefaultMix
	}
	var m Mix
	for key, dst := range map[string]*float64{"v": &m.Vaccination, "t": &m.Test, "r": &m.Recovery} {
		if n := f.get(key); n != nil {
			v, ok := d.float(n, path+"."+key)
			if ok && v < 0 {
				d.errorf(resolve(n), "%s.%s: a share cannot be negative", path, key)
				return DefaultMix
			}
			*dst = v
		}
	}
	sum := m.Vaccination + m.Test + m.Recovery
	if !(sum > 0) {
		d.errorf(f.node, "%s: the shares of v, t and r must add up to more than 0", path)
		return DefaultMix
	}
	return Mix{Vaccination: m.Vaccination / sum, Test: m.Test / sum, Recovery: m.Recovery / sum}
}

func (d *decoder) client(n *yaml.Node, path string, c *Client) {
	f, ok := d.mapping(n, path, "timeout", "retries", "honour_retry_after", "impatient_probability", "poll_tickets", "scale_waits")
	if !ok {
		return
	}
	if n := f.get("timeout"); n != nil {
		if v, ok := d.positive(n, path+".timeout"); ok {
			c.Timeout = v
		}
	}
	if n := f.get("retries"); n != nil {
		if rf, ok := d.mapping(n, path+".retries", "max", "backoff_base", "backoff_max"); ok {
			if n := rf.get("max"); n != nil {
				if v, ok := d.intIn(n, path+".retries.max", 0, 100); ok {
					c.Retries.Max = v
				}
			}
			if n := rf.get("backoff_base"); n != nil {
				if v, ok := d.positive(n, path+".retries.backoff_base"); ok {
					c.Retries.BackoffBase = v
				}
			}
			if n := rf.get("backoff_max"); n != nil {
				if v, ok := d.positive(n, path+".retries.backoff_max"); ok {
					c.Retries.BackoffMax = v
				}
			}
			if c.Retries.BackoffMax < c.Retries.BackoffBase {
				d.errorf(rf.node, "%s.retries: backoff_max %v is below backoff_base %v", path, c.Retries.BackoffMax, c.Retries.BackoffBase)
			}
		}
	}
	if n := f.get("honour_retry_after"); n != nil {
		if v, ok := d.boolean(n, path+".honour_retry_after"); ok {
			c.HonourRetryAfter = v
		}
	}
	if n := f.get("scale_waits"); n != nil {
		if v, ok := d.boolean(n, path+".scale_waits"); ok {
			c.ScaleWaits = v
		}
	}
	if n := f.get("impatient_probability"); n != nil {
		if v, ok := d.fraction(n, path+".impatient_probability", 0, 1); ok {
			c.ImpatientProbability = v
		}
	}
	if n := f.get("poll_tickets"); n != nil {
		if v, ok := d.boolean(n, path+".poll_tickets"); ok {
			c.PollTickets = v
		}
	}
}

// curve reads a demand list: points {at, rate} and shapes {shape, ...},
// in any order (points must be in time order among themselves).
func (d *decoder) curve(n *yaml.Node, path string) Curve {
	var c Curve
	items, ok := d.list(n, path)
	if !ok {
		return c
	}
	if len(items) == 0 {
		d.errorf(resolve(n), "%s: give at least two points or one shape", path)
		return c
	}
	var pointNodes []*yaml.Node
	for i, it := range items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		it = resolve(it)
		if it.Kind == yaml.MappingNode && hasKey(it, "shape") {
			if s, ok := d.shape(it, ip); ok {
				c.Shapes = append(c.Shapes, s)
			}
			continue
		}
		f, ok := d.mapping(it, ip+" (a point {at, rate} or a shape {shape, ...})", "at", "rate")
		if !ok || !d.require(f, ip, "at", "rate") {
			continue
		}
		t, okT := d.when(f.get("at"), ip+".at")
		r, okR := d.rate(f.get("rate"), ip+".rate")
		if okT && okR {
			c.Points = append(c.Points, Point{At: t, Rate: r, Pos: d.pos(it)})
			pointNodes = append(pointNodes, it)
		}
	}
	if len(c.Points) == 1 {
		d.errorf(pointNodes[0], "%s: one point makes no line (the rate is 0 outside the points); add another or use a step shape", path)
	}
	for i := 1; i < len(c.Points); i++ {
		prev, cur := c.Points[i-1], c.Points[i]
		switch {
		case cur.At.Before(prev.At):
			d.errorf(pointNodes[i], "%s: point at %s comes before the previous point at %s (points must be in time order)", path, d.fmtTime(cur.At), d.fmtTime(prev.At))
		case i >= 2 && cur.At.Equal(prev.At) && prev.At.Equal(c.Points[i-2].At):
			d.errorf(pointNodes[i], "%s: a third point at %s (two points at one time make a jump; a third means nothing)", path, d.fmtTime(cur.At))
		}
	}
	return c
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if resolve(n.Content[i]).Value == key {
			return true
		}
	}
	return false
}

func (d *decoder) rate(n *yaml.Node, path string) (float64, bool) {
	v, ok := d.float(n, path)
	if ok && v < 0 {
		d.errorf(resolve(n), "%s: rate %v is negative", path, v)
		return 0, false
	}
	return v, ok
}

var shapeKeys = map[ShapeKind][]string{
	ShapeStep:   {"shape", "from", "until", "rate"},
	ShapeRamp:   {"shape", "from", "until", "rate", "end_rate"},
	ShapeBursts: {"shape", "from", "until", "rate", "every", "length"},
}

func (d *decoder) shape(n *yaml.Node, path string) (Shape, bool) {
	s := Shape{Pos: d.pos(n)}
	kindNode := resolve(n.Content[0])
	for i := 0; i+1 < len(n.Content); i += 2 {
		if resolve(n.Content[i]).Value == "shape" {
			kindNode = n.Content[i+1]
		}
	}
	kind, ok := d.str(kindNode, path+".shape")
	if !ok {
		return s, false
	}
	s.Kind = ShapeKind(kind)
	keys, known := shapeKeys[s.Kind]
	if !known {
		d.errorf(resolve(kindNode), "%s.shape: unknown shape %q%s", path, kind, suggest(kind, []string{"step", "ramp", "bursts"}))
		return s, false
	}
	f, ok := d.mapping(n, fmt.Sprintf("%s (%s)", path, kind), keys...)
	if !ok || !d.require(f, path, keys...) {
		return s, false
	}
	var okF, okU, okR, okE = true, true, true, true
	s.From, okF = d.when(f.get("from"), path+".from")
	s.Until, okU = d.when(f.get("until"), path+".until")
	s.Rate, okR = d.rate(f.get("rate"), path+".rate")
	if s.Kind == ShapeRamp {
		s.EndRate, okE = d.rate(f.get("end_rate"), path+".end_rate")
	}
	if s.Kind == ShapeBursts {
		var okEv, okL bool
		s.Every, okEv = d.positive(f.get("every"), path+".every")
		s.Length, okL = d.positive(f.get("length"), path+".length")
		if okEv && okL && s.Length > s.Every {
			d.errorf(resolve(f.get("length")), "%s.length: %v is longer than every (%v)", path, s.Length, s.Every)
			okE = false
		}
		okE = okE && okEv && okL
	}
	if !(okF && okU && okR && okE) {
		return s, false
	}
	if !s.Until.After(s.From) {
		d.errorf(resolve(f.get("until")), "%s.until: %s is not after from %s", path, d.fmtTime(s.Until), d.fmtTime(s.From))
		return s, false
	}
	if s.Kind == ShapeBursts && s.Until.Sub(s.From)/s.Every > maxBursts {
		d.errorf(resolve(f.get("every")), "%s.every: makes more than %d bursts", path, maxBursts)
		return s, false
	}
	return s, true
}

// Defaults of a capacity step's evidence: at least DefaultMinRequests
// requests and DefaultMinStep of wall time, whatever the rate.
const (
	DefaultMinRequests = 300
	DefaultMinStep     = 5 * time.Second
)

func (d *decoder) capacity(n *yaml.Node) *Capacity {
	c := &Capacity{StartRate: 10, MaxRate: 1000, Growth: 2, Step: 20 * time.Second, MaxSteps: 12, Precision: 0.05,
		MinRequests: DefaultMinRequests, MinDuration: DefaultMinStep, SLO: SLO{MinSuccess: 0.99, MinGoodput: 0.95}}
	f, ok := d.mapping(n, "capacity", "class", "start_rate", "max_rate", "growth", "step", "max_steps", "precision",
		"min_requests", "min_duration", "slo")
	if !ok {
		return c
	}
	d.require(f, "capacity", "class", "slo")
	if n := f.get("class"); n != nil {
		c.Class, _ = d.str(n, "capacity.class")
	}
	positiveRate := func(key string, dst *float64) {
		if n := f.get(key); n != nil {
			if v, ok := d.float(n, "capacity."+key); ok {
				if v <= 0 {
					d.errorf(resolve(n), "capacity.%s: must be greater than 0", key)
				}
				*dst = v
			}
		}
	}
	positiveRate("start_rate", &c.StartRate)
	positiveRate("max_rate", &c.MaxRate)
	if c.MaxRate < c.StartRate {
		d.errorf(f.node, "capacity: max_rate %v is below start_rate %v", c.MaxRate, c.StartRate)
	}
	if n := f.get("growth"); n != nil {
		if v, ok := d.float(n, "capacity.growth"); ok {
			if v <= 1 || v > 100 {
				d.errorf(resolve(n), "capacity.growth: %v must be above 1 (and at most 100)", v)
			}
			c.Growth = v
		}
	}
	if n := f.get("step"); n != nil {
		if v, ok := d.duration(n, "capacity.step"); ok {
			if v < time.Second {
				d.errorf(resolve(n), "capacity.step: %v is too short to measure a p99 (at least 1s)", v)
			}
			c.Step = v
		}
	}
	if n := f.get("max_steps"); n != nil {
		if v, ok := d.intIn(n, "capacity.max_steps", 1, 100); ok {
			c.MaxSteps = v
		}
	}
	if n := f.get("min_requests"); n != nil {
		if v, ok := d.intIn(n, "capacity.min_requests", 1, 10_000_000); ok {
			c.MinRequests = int64(v)
		}
	}
	if n := f.get("min_duration"); n != nil {
		if v, ok := d.duration(n, "capacity.min_duration"); ok {
			if v < time.Second {
				d.errorf(resolve(n), "capacity.min_duration: %v is too short to measure a p99 (at least 1s)", v)
			}
			c.MinDuration = v
		}
	}
	if n := f.get("precision"); n != nil {
		if v, ok := d.float(n, "capacity.precision"); ok {
			if v <= 0 || v >= 1 {
				d.errorf(resolve(n), "capacity.precision: %v must be in (0, 1)", v)
			}
			c.Precision = v
		}
	}
	if n := f.get("slo"); n != nil {
		if sf, ok := d.mapping(n, "capacity.slo", "p99", "min_success", "min_goodput"); ok {
			d.require(sf, "capacity.slo", "p99")
			if n := sf.get("p99"); n != nil {
				c.SLO.P99, _ = d.positive(n, "capacity.slo.p99")
			}
			if n := sf.get("min_success"); n != nil {
				if v, ok := d.fraction(n, "capacity.slo.min_success", 0, 1); ok {
					c.SLO.MinSuccess = v
				}
			}
			if n := sf.get("min_goodput"); n != nil {
				if v, ok := d.fraction(n, "capacity.slo.min_goodput", 0, 1); ok {
					c.SLO.MinGoodput = v
				}
			}
		}
	}
	return c
}

func validProfile(p string) bool { return contains(portalapi.Profiles(), p) }

func profileList() string { return strings.Join(portalapi.Profiles(), " or ") }
