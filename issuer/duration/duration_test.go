package duration_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/duration"
)

func TestDurationJSON(t *testing.T) {
	var v struct {
		D duration.Duration `json:"d"`
	}
	if err := json.Unmarshal([]byte(`{"d":"1h30m"}`), &v); err != nil || v.D.D() != 90*time.Minute {
		t.Fatalf("1h30m: %v, %v", v.D.D(), err)
	}
	out, err := json.Marshal(v)
	if err != nil || string(out) != `{"d":"1h30m0s"}` {
		t.Errorf("marshal: %s, %v", out, err)
	}
	for _, bad := range []string{`{"d":"soon"}`, `{"d":90}`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := json.Unmarshal([]byte(`{"d":"soon"}`), &v); err == nil || !strings.Contains(err.Error(), `duration "soon"`) {
		t.Errorf("error does not name the value: %v", err)
	}
}
