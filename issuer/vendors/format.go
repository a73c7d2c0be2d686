package vendors

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/vendors/vendorapi"
)

// The fields a DCC payload may carry, by object: a name outside them is
// the vendor's own (a translation it forgot), not the schema's.
var (
	topFields     = []string{"type", "payload"}
	payloadFields = []string{"ver", "nam", "dob", "v", "t", "r"}
	namFields     = []string{"fn", "fnt", "gn", "gnt"}
	entryFields   = map[string][]string{
		"v": {"tg", "vp", "mp", "ma", "dn", "sd", "dt", "co", "is", "ci"},
		"t": {"tg", "tt", "nm", "ma", "sc", "tr", "tc", "co", "is", "ci"},
		"r": {"tg", "fr", "co", "is", "df", "du", "ci"},
	}
	// dateFields are the dates of each entry (sc is a date-time).
	dateFields = map[string][]string{"v": {"dt"}, "t": {"sc"}, "r": {"fr", "df", "du"}}
	intFields  = map[string][]string{"v": {"dn", "sd"}}
)

// Local date notations that are not ISO 8601: 14.06.1980, 14/06/1980, 1980/06/14.
var (
	dottedDate = regexp.MustCompile(`^\d{1,2}\.\d{1,2}\.\d{2,4}`)
	slashDate  = regexp.MustCompile(`^\d{1,4}/\d{1,2}/\d{1,4}`)
)

// checkFormat finds the first fields of an issuance body a vendor sent in
// a format of its own; nil when the body is not JSON (the portal says so)
// or every field it can judge is in the portal's format. Values are never
// echoed: they may be a birth date.
func checkFormat(body []byte) *problem.Problem {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	var errs []problem.FieldError
	add := func(field, msg string) {
		if len(errs) < 10 {
			errs = append(errs, problem.FieldError{Field: field, Code: vendorapi.CodeIncompatible, Message: msg})
		}
	}
	unknown(top, "", topFields, add)
	var payload map[string]json.RawMessage
	if raw, ok := top["payload"]; !ok || json.Unmarshal(raw, &payload) != nil {
		return finish(errs)
	}
	unknown(payload, "payload.", payloadFields, add)
	var nam map[string]json.RawMessage
	if raw, ok := payload["nam"]; ok && json.Unmarshal(raw, &nam) == nil {
		unknown(nam, "payload.nam.", namFields, add)
	}
	if raw, ok := payload["dob"]; ok {
		checkDate(raw, "payload.dob", add)
	}
	for _, typ := range []string{"v", "t", "r"} {
		var entries []map[string]json.RawMessage
		raw, ok := payload[typ]
		if !ok || json.Unmarshal(raw, &entries) != nil {
			continue
		}
		for i, e := range entries {
			prefix := fmt.Sprintf("payload.%s[%d].", typ, i)
			unknown(e, prefix, entryFields[typ], add)
			for _, f := range dateFields[typ] {
				if raw, ok := e[f]; ok {
					checkDate(raw, prefix+f, add)
				}
			}
			for _, f := range intFields[typ] {
				var s string
				if raw, ok := e[f]; ok && json.Unmarshal(raw, &s) == nil {
					add(prefix+f, "a number is sent as a JSON number, not a string")
				}
			}
		}
	}
	return finish(errs)
}

func unknown(m map[string]json.RawMessage, prefix string, known []string, add func(string, string)) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !contains(known, k) {
			add(prefix+safeName(k), "unknown field; the portal takes "+strings.Join(known, ", "))
		}
	}
}

// safeName keeps a field name printable and short in a problem.
func safeName(k string) string {
	if len(k) > 40 {
		k = k[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r > 0x7e {
			return '?'
		}
		return r
	}, k)
}

func checkDate(raw json.RawMessage, field string, add func(string, string)) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return
	}
	switch {
	case dottedDate.MatchString(s):
		add(field, "dates are ISO 8601 (YYYY-MM-DD), not DD.MM.YYYY")
	case slashDate.MatchString(s):
		add(field, "dates are ISO 8601 (YYYY-MM-DD), not with slashes")
	}
}

func finish(errs []problem.FieldError) *problem.Problem {
	if len(errs) == 0 {
		return nil
	}
	pr := problem.New(422, vendorapi.CodeIncompatible, "a field is not in the portal's format: "+errs[0].Message)
	pr.Field = errs[0].Field
	pr.Errors = errs
	return &pr
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
