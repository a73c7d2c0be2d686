package main

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// instantForms names the forms parseInstant accepts, for help texts and
// error messages.
const instantForms = "2021-06-14T10:00:00Z, 2021-06-14T12:00:00+02:00, 2021-06-14T12:00:00+0200, " +
	"2021-06-14T10:00:00 (UTC), any fraction like 10:00:00.123456789123Z, a space for T, or 2021-06-14 (midnight UTC)"

// instantRe is RFC 3339 loosened the ways people and other tools write it:
// a space or lower-case t, seconds optional, a fraction of any length
// (with . or ,), the offset as Z, ±hh:mm, ±hhmm or ±hh, or none at all.
var instantRe = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$`)

// parseInstant reads a point in time in one of instantForms. A time
// without an offset is UTC, a fraction beyond nanoseconds is cut off.
func parseInstant(s string) (time.Time, error) {
	m := instantRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return time.Time{}, fmt.Errorf("%q is not a time like %s", s, instantForms)
	}
	date, hh, mm, ss, frac, zone := m[1], m[2], m[3], m[4], m[5], m[6]
	if hh == "" {
		hh, mm = "00", "00"
	}
	if ss == "" {
		ss = "00"
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	frac += strings.Repeat("0", 9-len(frac))
	switch {
	case zone == "" || zone == "z" || zone == "Z":
		zone = "Z"
	case len(zone) == 3: // ±hh
		zone += ":00"
	case len(zone) == 5: // ±hhmm
		zone = zone[:3] + ":" + zone[3:]
	}
	// time.Parse checks the ranges: month 13, 30 February, offset hour 25.
	t, err := time.Parse(time.RFC3339Nano, date+"T"+hh+":"+mm+":"+ss+"."+frac+zone)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a valid time (%v); use a form like %s", s, errAfterColon(err), instantForms)
	}
	return t, nil
}

// errAfterColon keeps the part of a time.Parse error that says what is
// out of range, without the layout it echoes.
func errAfterColon(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}
