package portalapi

import (
	"strings"
	"testing"
)

func TestPresetPicksByProfileAndNamesTheComponent(t *testing.T) {
	h := func() int { return 1 }
	n := func() int { return 2 }
	if v, err := Preset("finder", ProfileHardened, h, n); err != nil || v != 1 {
		t.Fatalf("hardened: %v %v", v, err)
	}
	if v, err := Preset("finder", ProfileNaive2021, h, n); err != nil || v != 2 {
		t.Fatalf("naive-2021: %v %v", v, err)
	}
	_, err := Preset("finder", "hardend", h, n)
	if err == nil || !strings.HasPrefix(err.Error(), "finder: unknown profile \"hardend\"") || !strings.Contains(err.Error(), ProfileNaive2021) {
		t.Fatalf("unknown profile: %v", err)
	}
}

func TestRouteLimitValidateRefusesNegatives(t *testing.T) {
	if err := (RouteLimit{MaxConcurrent: 1, MaxQueue: 2}).Validate("limit"); err != nil {
		t.Fatal(err)
	}
	for _, l := range []RouteLimit{{MaxConcurrent: -1}, {MaxQueue: -1}, {MaxQueueWait: -1}} {
		if err := l.Validate("limits.issue"); err == nil || !strings.HasPrefix(err.Error(), "limits.issue:") {
			t.Errorf("%+v: %v", l, err)
		}
	}
}
