package spec

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/golive-dev/golive/chaos/fault"
)

const schemaPath = "../../docs/scenario.schema.json"

func compileSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("scenario.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("scenario.schema.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return sch, doc.(map[string]any)
}

func TestSchemaAcceptsEveryBuiltin(t *testing.T) {
	sch, _ := compileSchema(t)
	for _, name := range Builtins() {
		src, err := BuiltinSource(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := ToJSONValue(src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s does not validate against the schema:\n%v", name, err)
		}
	}
	v, _ := ToJSONValue([]byte(minimal))
	if err := sch.Validate(v); err != nil {
		t.Errorf("minimal scenario: %v", err)
	}
}

// TestSchemaRejectsWhatTheParserRejects keeps the schema honest: each
// document is refused by both.
func TestSchemaRejectsWhatTheParserRejects(t *testing.T) {
	sch, _ := compileSchema(t)
	base := `name: x
clock: {date: 2021-06-14, start: "08:00", end: "12:00"}
system: {signers: 2}
traffic:
  - {name: a, kind: issue, demand: [{at: "08:00", rate: 1}, {at: "12:00", rate: 1}]}
`
	bad := map[string]string{
		"unknown top-level key":        base + "colour: blue\n",
		"unknown clock key":            strings.Replace(base, `end: "12:00"`, `end: "12:00", timescal: 3`, 1),
		"negative rate":                strings.Replace(base, `rate: 1}, {`, `rate: -1}, {`, 1),
		"bad time":                     strings.Replace(base, `at: "08:00"`, `at: "8 am"`, 1),
		"unknown class kind":           strings.Replace(base, "kind: issue", "kind: issuing", 1),
		"unknown fault kind":           base + "faults: [{kind: explode, target: portal, at: \"09:00\"}]\n",
		"network fault on component":   base + "faults: [{kind: latency, target: signer-1, at: \"09:00\", until: \"10:00\", params: {latency: 1s}}]\n",
		"latency without params":       base + "faults: [{kind: latency, target: \"portal->signers\", at: \"09:00\", until: \"10:00\"}]\n",
		"pause without window":         base + "faults: [{kind: pause, target: portal, at: \"09:00\"}]\n",
		"restart with window":          base + "faults: [{kind: restart, target: portal, at: \"09:00\", duration: 5m}]\n",
		"bad duration":                 base + "faults: [{kind: pause, target: portal, at: \"09:00\", duration: 5 minutes}]\n",
		"unknown portal field":         strings.Replace(base, "signers: 2}", "signers: 2, portal: {limits: {issue: {max_concurent: 3}}}}", 1),
		"portal field wrong type":      strings.Replace(base, "signers: 2}", "signers: 2, portal: {pharmacy_quota: {enabled: \"yes\"}}}", 1),
		"threshold without comparison": base + "thresholds: [\"p99(issue) 500ms\"]\n",
		"unknown check":                base + "checks: [consistancy]\n",
		"unknown profile":              base + "profiles: {paranoid: {note: hi}}\n",
		"capacity with end":            base + "capacity: {class: a, slo: {p99: 200ms}}\n",
		"no end without capacity":      strings.Replace(base, `, end: "12:00"`, "", 1),
	}
	for name, doc := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(doc), "bad.yaml"); err == nil {
				t.Errorf("the parser accepts it")
			}
			v, err := ToJSONValue([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(v); err == nil {
				t.Errorf("the schema accepts it")
			}
		})
	}
	// And the base itself is fine for both.
	if _, err := Parse([]byte(base), "base.yaml"); err != nil {
		t.Fatal(err)
	}
	v, _ := ToJSONValue([]byte(base))
	if err := sch.Validate(v); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaPortalMatchesPortalConfig catches drift between the schema's
// portal overrides and issuer/portal's JSON names.
func TestSchemaPortalMatchesPortalConfig(t *testing.T) {
	_, doc := compileSchema(t)
	portalSchema := doc["$defs"].(map[string]any)["portal"].(map[string]any)
	var names []string
	var walk func(prefix string, s map[string]any)
	walk = func(prefix string, s map[string]any) {
		for k, v := range s["properties"].(map[string]any) {
			sub := v.(map[string]any)
			if sub["type"] == "object" {
				walk(prefix+k+".", sub)
				continue
			}
			names = append(names, prefix+k)
		}
	}
	walk("", portalSchema)
	sort.Strings(names)
	want := PortalFieldNames()
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("schema portal fields differ from portalapi.Config:\nschema: %v\nconfig: %v", names, want)
	}
}

func TestDocsMentionEveryField(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "scenarios.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for _, field := range []string{"timescale", "demand_scale", "time_zone", "pharmacies", "impatient_probability",
		"honour_retry_after", "poll_tickets", "backoff_base", "backoff_max", "end_rate", "every", "length",
		"rate_kbps", "toxicity", "cpus", "jitter", "lockout_mark", "shed_retry_after", "max_steps", "precision",
		"min_goodput", "min_success", "note", "seed"} {
		if !regexp.MustCompile("`([a-z_]+\\.)?" + field + "`").MatchString(text) {
			t.Errorf("docs/scenarios.md does not document `%s`", field)
		}
	}
	for _, k := range fault.Kinds() {
		if !strings.Contains(text, "`"+string(k)+"`") {
			t.Errorf("docs/scenarios.md does not document fault kind %s", k)
		}
	}
	for _, p := range fault.AllParams() {
		if !strings.Contains(text, "`"+p.Name+"`") || !strings.Contains(text, "`"+p.Event+"`") {
			t.Errorf("docs/scenarios.md does not document fault parameter %s (events.json key %s)", p.Name, p.Event)
		}
	}
	for _, c := range CheckNames() {
		if !strings.Contains(text, "`"+c+"`") {
			t.Errorf("docs/scenarios.md does not document check %s", c)
		}
	}
	for _, name := range Builtins() {
		if !strings.Contains(text, "`"+name+"`") {
			t.Errorf("docs/scenarios.md does not list built-in %s", name)
		}
	}
}
