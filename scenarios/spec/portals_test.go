package spec

import (
	"slices"
	"strings"
	"testing"
)

const portalsBase = `name: p
clock: {date: 2021-06-14, start: "08:00", end: "12:00"}
system: {signers: 2, portals: 3}
traffic:
  - {name: a, kind: issue, demand: [{shape: step, from: "08:00", until: "12:00", rate: 1}]}
`

// TestSystemPortals: system.portals is read, defaults to 1, and is bounded.
func TestSystemPortals(t *testing.T) {
	s, err := Parse([]byte(portalsBase), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.System.Portals != 3 || s.System.Registry != RegistryPostgres {
		t.Errorf("portals = %d on %s, want 3 on postgres (several portals imply it)", s.System.Portals, s.System.Registry)
	}
	if _, err := Parse([]byte(strings.Replace(portalsBase, "portals: 3", "portals: 3, registry: sqlite", 1)), "p.yaml"); err == nil ||
		!strings.Contains(err.Error(), "share one registry") {
		t.Errorf("3 portals on sqlite: %v, want a refusal", err)
	}
	one, err := Parse([]byte(strings.Replace(portalsBase, ", portals: 3", "", 1)), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if one.System.Portals != 1 || one.System.Registry != RegistrySQLite {
		t.Errorf("portals default = %d on %s, want 1 on sqlite (verdicts of existing scenarios unchanged)", one.System.Portals, one.System.Registry)
	}
	for _, bad := range []string{"portals: 0", "portals: 17", "portals: two"} {
		_, err := Parse([]byte(strings.Replace(portalsBase, "portals: 3", bad, 1)), "p.yaml")
		if err == nil || !strings.Contains(err.Error(), "system.portals") {
			t.Errorf("%s: error %v, want one naming system.portals", bad, err)
		}
	}
}

// TestPortalTargets: with several portals a fault names portal-N or every
// portal; with one, portal-N does not exist.
func TestPortalTargets(t *testing.T) {
	three := System{Signers: 2, Portals: 3}
	for target, want := range map[Target][]string{
		"portal-2":         {"portal-2"},
		"portal":           {"portal-1", "portal-2", "portal-3"},
		"portals":          {"portal-1", "portal-2", "portal-3"},
		"client->portal-3": {"client->portal-3"},
		"client->portal":   {"client->portal-1", "client->portal-2", "client->portal-3"},
		"portal->signer-2": {"portal->signer-2"},
		"portal-4":         nil,
		"portal-02":        nil,
		"client->portal-0": nil,
		"portal->portal-1": nil,
	} {
		if got := target.ExpandIn(three); !slices.Equal(got, want) {
			t.Errorf("%s with 3 portals: %v, want %v", target, got, want)
		}
	}
	one := System{Signers: 2, Portals: 1}
	if got := Target("portal").ExpandIn(one); !slices.Equal(got, []string{"portal"}) {
		t.Errorf("portal with one portal: %v", got)
	}
	if got := Target("portal-1").ExpandIn(one); got != nil {
		t.Errorf("portal-1 with one portal: %v, want nothing (it is called portal)", got)
	}

	s, err := Parse([]byte(portalsBase+`faults:
  - {kind: kill, target: portal-2, at: "09:00"}
  - {kind: restart, target: portal-2, at: "10:00"}
  - {kind: partition, target: client->portal-1, at: "10:30", until: "11:00"}
`), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Faults) != 3 || s.Faults[0].End != s.Faults[1].At {
		t.Errorf("faults %+v: the restart of portal-2 should end its kill", s.Faults)
	}
	_, err = Parse([]byte(portalsBase+`faults:
  - {kind: kill, target: portal-5, at: "09:00"}
`), "p.yaml")
	if err == nil || !strings.Contains(err.Error(), "portal-1..3") {
		t.Errorf("kill portal-5 of 3: %v, want the valid targets listed", err)
	}
	// A kill of every portal overlaps a kill of one of them.
	_, err = Parse([]byte(portalsBase+`faults:
  - {kind: pause, target: portal, at: "09:00", until: "10:00"}
  - {kind: kill, target: portal-2, at: "09:30"}
`), "p.yaml")
	if err == nil || !strings.Contains(err.Error(), "overlaps") {
		t.Errorf("kill portal-2 inside a pause of every portal: %v, want an overlap error", err)
	}
}
