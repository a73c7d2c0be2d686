package staffweb

import (
	"bytes"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/problem"
)

func TestSessionsExpireAndStayBounded(t *testing.T) {
	now := time.Date(2021, 6, 14, 9, 0, 0, 0, time.UTC)
	s := newSessions(3, 30*time.Minute, 12*time.Hour)
	for i, id := range []string{"a", "b", "c"} {
		s.put(id, &session{created: now}, now.Add(time.Duration(i)*time.Minute))
	}
	if s.get("a", now.Add(3*time.Minute)) == nil { // a is now the most recent
		t.Fatal("a live session was not found")
	}
	s.put("d", &session{created: now}, now.Add(4*time.Minute)) // over max: the longest idle (b) goes
	if s.get("b", now.Add(5*time.Minute)) != nil || s.get("c", now.Add(5*time.Minute)) == nil || s.get("d", now.Add(5*time.Minute)) == nil {
		t.Fatal("eviction did not drop the longest idle session")
	}
	if s.get("a", now.Add(3*time.Minute+30*time.Minute)) != nil {
		t.Fatal("an idle session outlived the idle timeout")
	}
	s.put("e", &session{created: now}, now.Add(11*time.Hour))
	if s.get("e", now.Add(12*time.Hour)) != nil {
		t.Fatal("a session outlived its maximum age")
	}
}

func TestSealedValuesAreBound(t *testing.T) {
	k, err := newKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed := k.seal("cert", "PHARMACY1", []byte("URN:UVCI:01:DE:X"))
	if got, err := k.open("cert", "PHARMACY1", sealed); err != nil || string(got) != "URN:UVCI:01:DE:X" {
		t.Fatalf("open: %q %v", got, err)
	}
	for _, c := range []struct{ purpose, binding, text string }{
		{"cert", "PHARMACY2", sealed}, {"ticket", "PHARMACY1", sealed},
		{"cert", "PHARMACY1", sealed[:len(sealed)-2] + "AA"}, {"cert", "PHARMACY1", "!!"},
	} {
		if _, err := k.open(c.purpose, c.binding, c.text); err == nil {
			t.Errorf("opened with %s/%s", c.purpose, c.binding)
		}
	}
	if k.checkCSRF("sid-a", k.csrfToken("sid-b")) || !k.checkCSRF("sid-a", k.csrfToken("sid-a")) || k.checkCSRF("", k.csrfToken("")) {
		t.Fatal("CSRF tokens are not bound to their session")
	}
}

func TestFieldErrorsLandOnTheirFields(t *testing.T) {
	v, _ := kindBySlug("vaccination")
	pr := problem.Validation(
		problem.FieldError{Field: "payload.v[0].vp", Code: "required"},
		problem.FieldError{Field: "payload.v[0].mp", Code: "unknown_code"},
		problem.FieldError{Field: "payload.nam", Code: "required"},
		problem.FieldError{Field: "payload.v[0].is", Code: "max_length"},
		problem.FieldError{Field: "payload.v[0].dt", Code: "future_date"},
	)
	got := map[string]string{}
	for _, fe := range fieldErrors(v, &pr) {
		got[fe.Field] = fe.Code
	}
	want := map[string]string{"mp": "unknown_code", "fn": "required", "": "max_length", "dt": "future_date"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for f, c := range want {
		if got[f] != c {
			t.Errorf("%q: %q, want %q (all: %v)", f, got[f], c, got)
		}
	}
}

func TestGermanDates(t *testing.T) {
	for in, want := range map[string]string{"31.05.1980": "1980-05-31", "1.2.1980": "1980-02-01", "05.1980": "1980-05",
		"1980": "1980", "1980-05-31": "1980-05-31", "31.13.1980": "1980-13-31", "gestern": "gestern"} {
		if got := isoDate(in); got != want {
			t.Errorf("isoDate(%q) = %q, want %q", in, got, want)
		}
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{"2021-06-14T07:45": "2021-06-14T07:45:00+02:00",
		"14.06.2021 07:45": "2021-06-14T07:45:00+02:00", "2021-01-14T07:45:30": "2021-01-14T07:45:30+01:00", "morgen": "morgen"} {
		if got := sampleTime(in, berlin); got != want {
			t.Errorf("sampleTime(%q) = %q, want %q", in, got, want)
		}
	}
}
