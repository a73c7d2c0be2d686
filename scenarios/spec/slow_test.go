package spec

import (
	"math"
	"strings"
	"testing"
)

// TestSlowKinds: a slow class's rate is connections held, so it adds no
// requests to the run; it takes no pharmacies, at most MaxSlowConnections,
// and the clock guard does not judge spans by its (unused) client.
func TestSlowKinds(t *testing.T) {
	doc := minimal + `  - name: loris
    kind: slow-header
    demand:
      - {shape: step, from: "08:10", until: "08:20", rate: 300}
`
	s, err := Parse([]byte(doc), "slow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := s.Class("loris")
	if !ok || !c.Kind.Slow() || c.Kind.Issues() || c.Kind.Attacker() || c.Pharmacies != 0 {
		t.Fatalf("class %+v", c)
	}
	if got := s.Requests(0, 1); math.Abs(got-36000/15.0) > 1e-6 {
		t.Errorf("Requests = %v: slow connections counted as requests", got)
	}
	for _, bad := range []struct{ doc, want string }{
		{strings.Replace(doc, "kind: slow-header\n", "kind: slow-body\n    pharmacies: 3\n", 1), "uses no pharmacy accounts"},
		{strings.Replace(doc, "rate: 300", "rate: 2001", 1), "at most 2000"},
	} {
		_, err := Parse([]byte(bad.doc), "bad.yaml")
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("got %v, want an error with %q", err, bad.want)
		}
	}
}

// TestSlowClientsScenario: the built-in holds both attackers inside the
// day, keeps launch-day's hardened thresholds and is a 2021 reproduction
// under naive-2021.
func TestSlowClientsScenario(t *testing.T) {
	s, err := Builtin("slow-clients")
	if err != nil {
		t.Fatal(err)
	}
	ld, err := Builtin("launch-day")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[ClassKind]bool{}
	for _, c := range s.Traffic {
		kinds[c.Kind] = true
		if c.Kind.Slow() && !(c.Demand.Peak() > 0) {
			t.Errorf("%s holds no connection", c.Name)
		}
	}
	if !kinds[KindSlowHeader] || !kinds[KindSlowBody] || !kinds[KindIssue] {
		t.Fatalf("kinds %v", kinds)
	}
	issue, _ := s.Class("issue")
	ldIssue, _ := ld.Class("issue")
	if issue.Demand.Total(s.Clock.Start, s.Clock.End) != ldIssue.Demand.Total(ld.Clock.Start, ld.Clock.End) {
		t.Error("the issue demand is not launch-day's")
	}
	want := map[string]bool{}
	for _, th := range ld.ThresholdsFor("hardened") {
		want[th.Expr] = true
	}
	for _, th := range s.ThresholdsFor("hardened") {
		delete(want, th.Expr)
	}
	if len(want) > 0 {
		t.Errorf("hardened lost launch-day's thresholds %v", want)
	}
	if s.ReproducesFor("naive-2021") != "2021" {
		t.Error("naive-2021 is not labelled a reproduction of 2021")
	}
}
