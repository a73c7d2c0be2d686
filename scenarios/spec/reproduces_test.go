package spec

import (
	"strings"
	"testing"
)

func TestReproduces(t *testing.T) {
	for _, tc := range []struct {
		name, profiles string
		naive, hard    string
		err            string
	}{
		{name: "naive-2021 with thresholds reproduces 2021 by default",
			profiles: "profiles:\n  naive-2021: {thresholds: [\"p99(issue) > 3s\"]}\n  hardened: {thresholds: [\"p99(issue) < 3s\"]}\n",
			naive:    "2021"},
		{name: "naive-2021 with only checks reproduces too",
			profiles: "profiles:\n  naive-2021: {checks: [consistency]}\n", naive: "2021"},
		{name: "naive-2021 without assertions is no reproduction",
			profiles: "profiles:\n  naive-2021: {note: just a run}\n"},
		{name: "turned off",
			profiles: "profiles:\n  naive-2021: {reproduces: \"\", thresholds: [\"p99(issue) > 3s\"]}\n"},
		{name: "another profile may reproduce something else",
			profiles: "profiles:\n  hardened: {reproduces: the 2022 outage, thresholds: [\"lost > 0\"]}\n",
			hard:     "the 2022 outage"},
		{name: "a reproduction needs assertions",
			profiles: "profiles:\n  hardened: {reproduces: \"2021\", note: x}\n",
			err:      "profiles.hardened.reproduces: a reproduction needs thresholds or checks"},
		{name: "not a string",
			profiles: "profiles:\n  naive-2021: {reproduces: [2021], thresholds: [\"lost > 0\"]}\n",
			err:      "profiles.naive-2021.reproduces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(minimal+tc.profiles), "tiny.yaml")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.ReproducesFor("naive-2021"); got != tc.naive {
				t.Errorf("naive-2021 reproduces %q, want %q", got, tc.naive)
			}
			if got := s.ReproducesFor("hardened"); got != tc.hard {
				t.Errorf("hardened reproduces %q, want %q", got, tc.hard)
			}
		})
	}
}

// Every built-in whose naive-2021 block asserts something is a
// reproduction of 2021, and no hardened block is.
func TestBuiltinReproductions(t *testing.T) {
	n := 0
	for _, name := range Builtins() {
		s, err := Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.ReproducesFor("hardened") != "" {
			t.Errorf("%s: hardened is labelled a reproduction", name)
		}
		p, ok := s.Profiles["naive-2021"]
		if !ok {
			continue
		}
		n++
		if p.Reproduces != "2021" {
			t.Errorf("%s: naive-2021 reproduces %q, want 2021", name, p.Reproduces)
		}
	}
	if n < 4 {
		t.Errorf("%d built-ins with a naive-2021 block, want at least 4", n)
	}
}
