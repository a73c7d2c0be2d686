package spec

import (
	"fmt"
	"strings"
	"testing"
)

func registerScenario(classes ...string) string {
	var b strings.Builder
	b.WriteString(`name: reg
clock: {date: 2021-06-14, start: "08:00", end: "09:00"}
traffic:
`)
	for i, c := range classes {
		fmt.Fprintf(&b, "  - {name: c%d, %s, demand: [{at: \"08:00\", rate: 1}, {at: \"09:00\", rate: 1}]}\n", i, c)
	}
	return b.String()
}

func TestRegisterSizeFollowsTheScenario(t *testing.T) {
	s, err := Parse([]byte(registerScenario("kind: issue, pharmacies: 3000", "kind: stolen-credentials, pharmacies: 2", "kind: forged-onboarding, pharmacies: 5")), "reg.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.RegisterSize(); got != 3002 {
		t.Fatalf("register size %d, want 3002 (issue + stolen accounts; forged ones are not in the register)", got)
	}
	small := mustBuiltin(t, "launch-day")
	if got := small.RegisterSize(); got != DefaultRegisterSize {
		t.Fatalf("launch-day register %d, want the default %d", got, DefaultRegisterSize)
	}
}

func TestRegisterLimitIsCheckedByValidate(t *testing.T) {
	var cs []string
	for range 6 {
		cs = append(cs, "kind: issue, pharmacies: 20000")
	}
	_, err := Parse([]byte(registerScenario(cs...)), "reg.yaml")
	if err == nil || !strings.Contains(err.Error(), "need 120000 register pharmacies in all, more than the 100000") {
		t.Fatalf("want the register limit named, got %v", err)
	}
}
