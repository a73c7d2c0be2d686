package spec

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/chaos/fault"
)

const faultBase = `name: f
clock: {date: 2021-06-14, start: "08:00", end: "12:00"}
system: {signers: 2}
traffic:
  - {name: a, kind: issue, demand: [{shape: step, from: "08:00", until: "12:00", rate: 1}]}
faults:
`

// registryFaultBase is faultBase with a PostgreSQL registry and its
// standby: the topology kill-primary acts on.
var registryFaultBase = strings.Replace(faultBase, "system: {signers: 2}", "system: {signers: 2, registry: postgres, registry_standby: true}", 1)

// yamlValue writes a sample value of pr as a scenario would, and returns
// the value the parser should make of it.
func yamlValue(pr fault.Param) (string, float64) {
	switch pr.Unit {
	case fault.Duration:
		d := 20 * time.Millisecond
		if !pr.Required {
			d = 7 * time.Millisecond
		}
		return d.String(), float64(d)
	case fault.Integer:
		return "12", 12
	}
	v := pr.Min + (pr.Max-pr.Min)*0.3
	return fmt.Sprint(v), v
}

// TestEveryFaultParamIsParsed writes every kind with every parameter it
// takes and reads each value back from the parsed fault, then leaves the
// optional ones out and expects the vocabulary's defaults.
func TestEveryFaultParamIsParsed(t *testing.T) {
	for _, k := range fault.Kinds() {
		s := k.Spec()
		target, base := "portal", faultBase
		if s.Network() {
			target = "client->portal"
		}
		if k == fault.KillPrimary {
			target, base = "registry", registryFaultBase
		}
		window := `, until: "10:00"`
		if s.Window == fault.WindowNone {
			window = ""
		}
		var all, required []string
		want := map[string]float64{}
		for _, pr := range s.Params {
			v, x := yamlValue(pr)
			all = append(all, pr.Name+": "+v)
			if pr.Required {
				required = append(required, pr.Name+": "+v)
			}
			want[pr.Name] = x
		}
		doc := func(params []string) string {
			p := ""
			if len(params) > 0 {
				p = ", params: {" + strings.Join(params, ", ") + "}"
			}
			return base + fmt.Sprintf("  - {kind: %s, target: %q, at: \"09:00\"%s%s}\n", k, target, window, p)
		}
		sc, err := Parse([]byte(doc(all)), "f.yaml")
		if err != nil {
			t.Errorf("%s with every param: %v", k, err)
			continue
		}
		got := sc.Faults[0].Params
		for _, pr := range s.Params {
			if pr.Get(got) != want[pr.Name] {
				t.Errorf("%s.%s: parsed %v, wrote %v", k, pr.Name, pr.Get(got), want[pr.Name])
			}
		}
		if sc, err = Parse([]byte(doc(required)), "f.yaml"); err != nil {
			t.Errorf("%s with the required params: %v", k, err)
			continue
		}
		got = sc.Faults[0].Params
		for _, pr := range s.Params {
			if !pr.Required && pr.Get(got) != pr.Default {
				t.Errorf("%s.%s not given: %v, want the default %v", k, pr.Name, pr.Get(got), pr.Default)
			}
		}
	}
}

func TestFaultParamErrors(t *testing.T) {
	for _, c := range []struct{ fault, want string }{
		{`{kind: latency, target: "client->portal", at: "09:00", until: "10:00", params: {latency: 100ms, toxicity: 0}}`,
			`7:111: faults[0] (latency).params.toxicity: 0 affects no connection; remove the fault instead`},
		{`{kind: reset, target: "client->portal", at: "09:00", until: "10:00", params: {toxicity: 1.5}}`,
			`7:93: faults[0] (reset).params.toxicity: 1.5 is outside 0..1`},
		{`{kind: latency, target: "client->portal", at: "09:00", until: "10:00", params: {latency: 1500us}}`,
			`7:94: faults[0] (latency).params.latency: 1.5ms is finer than the fault proxy's resolution of 1ms`},
		{`{kind: latency, target: "client->portal", at: "09:00", until: "10:00", params: {latency: 0}}`,
			`7:94: faults[0] (latency).params.latency: 0s is shorter than 1ms`},
		{`{kind: bandwidth, target: "client->portal", at: "09:00", until: "10:00", params: {rate_kbps: 1.5}}`,
			`7:98: faults[0] (bandwidth).params.rate_kbps: want a whole number`},
		{`{kind: blackhole, target: "client->portal", at: "09:00", until: "10:00", params: {toxicty: 0.5}}`,
			`7:87: faults[0] (blackhole).params: unknown field "toxicty" (did you mean "toxicity"?)`},
		{`{kind: cpu, target: signer-1, at: "09:00", until: "10:00", params: {cpus: 0}}`,
			`7:79: faults[0] (cpu).params.cpus: 0 is outside 0.01..64`},
		{`{kind: partition, target: "client->portal", at: "09:00", until: "10:00", params: {toxicity: 0.5}}`,
			`this fault kind takes no params`},
		{`{kind: isolate, target: "portal->signer-1", at: "09:00", until: "10:00"}`,
			`isolate acts on a component`},
		{`{kind: isolate, target: portal, at: "09:00"}`,
			`faults[0] (isolate): isolate needs until or duration`},
	} {
		_, err := Parse([]byte(faultBase+"  - "+c.fault+"\n"), "f.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.fault, err, c.want)
		}
	}
}

// TestSchemaFaultsMatchTheVocabulary keeps docs/scenario.schema.json's
// fault section (written for editors) in step with package fault.
func TestSchemaFaultsMatchTheVocabulary(t *testing.T) {
	_, doc := compileSchema(t)
	f := doc["$defs"].(map[string]any)["fault"].(map[string]any)
	strs := func(v any) []string {
		var out []string
		for _, x := range v.([]any) {
			out = append(out, x.(string))
		}
		sort.Strings(out)
		return out
	}
	props := f["properties"].(map[string]any)
	var kinds, params []string
	for _, k := range fault.Kinds() {
		kinds = append(kinds, string(k))
	}
	for _, p := range fault.AllParams() {
		params = append(params, p.Name)
	}
	sort.Strings(kinds)
	if got := strs(props["kind"].(map[string]any)["enum"]); !slices.Equal(got, kinds) {
		t.Errorf("schema kinds %v, vocabulary %v", got, kinds)
	}
	var got []string
	for p := range props["params"].(map[string]any)["properties"].(map[string]any) {
		got = append(got, p)
	}
	sort.Strings(got)
	if !slices.Equal(got, params) {
		t.Errorf("schema params %v, vocabulary %v", got, params)
	}

	// Each allOf rule names kinds (enum or const) and says one thing.
	windowed, instant, component, link := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	paramsOf, requiredOf := map[string][]string{}, map[string][]string{}
	for _, r := range f["allOf"].([]any) {
		rule := r.(map[string]any)
		cond, ok := rule["if"].(map[string]any)
		if !ok {
			continue
		}
		kc := cond["properties"].(map[string]any)["kind"].(map[string]any)
		var names []string
		if c, ok := kc["const"]; ok {
			names = []string{c.(string)}
		} else {
			names = strs(kc["enum"])
		}
		then := rule["then"].(map[string]any)
		mark := func(m map[string]bool) {
			for _, n := range names {
				m[n] = true
			}
		}
		switch {
		case then["anyOf"] != nil:
			mark(windowed)
		case then["not"] != nil:
			mark(instant)
		default:
			tp := then["properties"].(map[string]any)
			if target, ok := tp["target"]; ok {
				if strings.Contains(target.(map[string]any)["pattern"].(string), "->") {
					mark(link)
				} else {
					mark(component)
				}
				continue
			}
			pp := tp["params"].(map[string]any)
			pn := pp["propertyNames"].(map[string]any)
			for _, n := range names {
				paramsOf[n] = []string{}
				if e, ok := pn["enum"]; ok {
					paramsOf[n] = strs(e)
				}
				requiredOf[n] = []string{}
				if rq, ok := pp["required"]; ok {
					requiredOf[n] = strs(rq)
				}
			}
		}
	}
	for _, k := range fault.Kinds() {
		s, n := k.Spec(), string(k)
		if windowed[n] != (s.Window == fault.WindowRequired) || instant[n] != (s.Window == fault.WindowNone) {
			t.Errorf("%s: schema window required %v, instant %v; vocabulary window %v", k, windowed[n], instant[n], s.Window)
		}
		if link[n] != s.Network() || component[n] == s.Network() {
			t.Errorf("%s: schema link %v, component %v; vocabulary network %v", k, link[n], component[n], s.Network())
		}
		names, req := s.Names(), s.Required()
		sort.Strings(names)
		sort.Strings(req)
		if req == nil {
			req = []string{}
		}
		if p, ok := paramsOf[n]; !ok || !slices.Equal(p, append([]string{}, names...)) || !slices.Equal(requiredOf[n], req) {
			t.Errorf("%s: schema params %v (required %v), vocabulary %v (required %v)", k, paramsOf[n], requiredOf[n], names, req)
		}
	}
}

// TestRegistryFaultsParse: kill-primary takes the registry and nothing
// else, only on a PostgreSQL registry; the registry takes no other kind;
// system.registry and registry_standby are read and checked.
func TestRegistryFaultsParse(t *testing.T) {
	ok := registryFaultBase + "  - {kind: kill-primary, target: registry, at: \"09:00\"}\n"
	sc, err := Parse([]byte(ok), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sc.System.Registry != RegistryPostgres || !sc.System.RegistryStandby {
		t.Errorf("system %+v, want postgres with a standby", sc.System)
	}
	if f := sc.Faults[0]; f.Kind != fault.KillPrimary || f.Target != RegistryTarget {
		t.Errorf("fault %+v", f)
	}
	def, err := Parse([]byte(faultBase+"  - {kind: kill, target: portal, at: \"09:00\"}\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if def.System.Registry != RegistrySQLite || def.System.RegistryStandby {
		t.Errorf("default system %+v, want sqlite without a standby", def.System)
	}
	for name, c := range map[string]struct{ doc, want string }{
		"kill-primary on sqlite": {faultBase + "  - {kind: kill-primary, target: registry, at: \"09:00\"}\n", "needs a PostgreSQL registry"},
		"kill-primary on portal": {registryFaultBase + "  - {kind: kill-primary, target: portal, at: \"09:00\"}\n", "kill-primary acts on registry"},
		"kill on registry":       {registryFaultBase + "  - {kind: kill, target: registry, at: \"09:00\"}\n", "hurt only by kill-primary"},
		"unknown registry":       {strings.Replace(faultBase, "signers: 2", "signers: 2, registry: mysql", 1), `unknown registry "mysql"`},
		"standby on sqlite":      {strings.Replace(faultBase, "signers: 2", "signers: 2, registry_standby: true", 1), "needs system.registry: postgres"},
		"kill-primary params":    {registryFaultBase + "  - {kind: kill-primary, target: registry, at: \"09:00\", params: {cpus: 1}}\n", "takes no params"},
	} {
		_, err := Parse([]byte(c.doc), "f.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, c.want)
		}
	}
}

// TestSystemTLSParse: system.tls is a boolean, false by default.
func TestSystemTLSParse(t *testing.T) {
	base := faultBase + "  - {kind: kill, target: portal, at: \"09:00\"}\n"
	sc, err := Parse([]byte(strings.Replace(base, "signers: 2", "signers: 2, tls: true", 1)), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !sc.System.TLS {
		t.Error("system.tls: true not read")
	}
	if def, err := Parse([]byte(base), "f.yaml"); err != nil || def.System.TLS {
		t.Errorf("default system.tls %v (%v), want false", def.System.TLS, err)
	}
	if _, err := Parse([]byte(strings.Replace(base, "signers: 2", "signers: 2, tls: maybe", 1)), "f.yaml"); err == nil || !strings.Contains(err.Error(), "system.tls") {
		t.Errorf("tls: maybe: %v, want an error naming system.tls", err)
	}
}
