package register

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// Entry is one issuing party in a register: a pharmacy (the pharmacy
// register) or a doctors' practice (the practice register, Kind practice).
type Entry struct {
	// Kind is the party: "" or "pharmacy" in the pharmacy register,
	// "practice" in the practice register (see PartyKind).
	Kind        Kind   `json:"kind,omitempty"`
	TelematikID string `json:"telematik_id"`
	// BSNR and LANR identify a practice (see ValidBSNR, ValidLANR); a
	// pharmacy has neither.
	BSNR       string `json:"bsnr,omitempty"`
	LANR       string `json:"lanr,omitempty"`
	Name       string `json:"name"`
	Street     string `json:"street"`
	PostalCode string `json:"postal_code"`
	City       string `json:"city"`
	// Email is the register's contact address: activation codes go here,
	// never to an address the applicant types in.
	Email string `json:"email"`
	// Member is true for association members; non-members used the 2021
	// "guest account" path.
	Member bool `json:"member"`
}

// Validate checks one entry's fields.
func (e Entry) Validate() error {
	kind := e.PartyKind()
	if !kind.Valid() {
		return fmt.Errorf("kind %q is neither %s nor %s", e.Kind, KindPharmacy, KindPractice)
	}
	if err := ValidTelematikIDOf(kind, e.TelematikID); err != nil {
		return err
	}
	if kind == KindPractice {
		if err := ValidBSNR(e.BSNR); err != nil {
			return err
		}
		if err := ValidLANR(e.LANR); err != nil {
			return err
		}
	} else if e.BSNR != "" || e.LANR != "" {
		return errors.New("a pharmacy entry has no bsnr or lanr")
	}
	for _, f := range []struct{ name, v string }{
		{"name", e.Name}, {"street", e.Street}, {"city", e.City},
	} {
		if strings.TrimSpace(f.v) == "" {
			return fmt.Errorf("%s is empty", f.name)
		}
		if !utf8.ValidString(f.v) || len(f.v) > 200 {
			return fmt.Errorf("%s is not valid UTF-8 of at most 200 bytes", f.name)
		}
	}
	if !validPostalCode(e.PostalCode) {
		return fmt.Errorf("postal_code %q is not 5 digits", e.PostalCode)
	}
	if err := validEmail(e.Email); err != nil {
		return err
	}
	return nil
}

func validPostalCode(s string) bool {
	if len(s) != 5 {
		return false
	}
	for i := 0; i < 5; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return fmt.Errorf("email %q is not a bare address", s)
	}
	return nil
}

// Register is an immutable, validated set of entries; safe for concurrent use.
type Register struct {
	byID map[string]Entry
}

// New builds a register from entries, validating each and rejecting
// duplicate Telematik-IDs.
func New(entries []Entry) (*Register, error) {
	r := &Register{byID: make(map[string]Entry, len(entries))}
	for i, e := range entries {
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		if _, dup := r.byID[e.TelematikID]; dup {
			return nil, fmt.Errorf("entry %d: duplicate telematik_id %s", i+1, e.TelematikID)
		}
		r.byID[e.TelematikID] = e
	}
	return r, nil
}

// Lookup returns the entry for a Telematik-ID.
func (r *Register) Lookup(telematikID string) (Entry, bool) {
	e, ok := r.byID[telematikID]
	return e, ok
}

// Len is the number of entries.
func (r *Register) Len() int { return len(r.byID) }

// Entries returns all entries ordered by Telematik-ID.
func (r *Register) Entries() []Entry {
	out := make([]Entry, 0, len(r.byID))
	for _, e := range r.byID {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TelematikID < out[j].TelematikID })
	return out
}

// maxLine bounds one register line; real entries are a few hundred bytes.
const maxLine = 64 << 10

// Load reads a register file in JSON Lines format: one JSON object (an
// Entry) per line, blank lines ignored.
//
// JSON Lines rather than CSV: names and streets carry commas, quotes,
// hyphens and umlauts, which JSON quotes unambiguously and CSV dialects
// (separator, quoting, encoding) get wrong in practice; every record is one
// physical line, so an error names the line exactly (a quoted CSV field may
// span lines); fields are named, so adding one later does not shift columns;
// and unknown fields are rejected, so a typo in a column name is an error,
// not a silently empty field.
//
// Errors name the file and line.
func Load(path string) (*Register, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load register: %w", err)
	}
	defer f.Close()
	r, err := Read(f, path)
	if err != nil {
		return nil, fmt.Errorf("load register: %w", err)
	}
	return r, nil
}

// Read parses JSON Lines from rd; name prefixes error positions.
func Read(rd io.Reader, name string) (*Register, error) {
	reg := &Register{byID: map[string]Entry{}}
	firstLine := map[string]int{}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\ufeff")) // tolerate a BOM from spreadsheet exports
		}
		if len(raw) == 0 {
			continue
		}
		e, err := parseLine(raw)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if prev, dup := firstLine[e.TelematikID]; dup {
			return nil, fmt.Errorf("%s:%d: duplicate telematik_id %s (first on line %d)", name, line, e.TelematikID, prev)
		}
		firstLine[e.TelematikID] = line
		reg.byID[e.TelematikID] = e
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, maxLine)
		}
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return reg, nil
}

func parseLine(raw []byte) (Entry, error) {
	var e Entry
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("parse entry: %w", err)
	}
	if dec.More() {
		return Entry{}, errors.New("parse entry: more than one JSON value on the line")
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// Save writes entries as JSON Lines, atomically (temp file + rename), so a
// portal reloading the register never reads half a file.
func Save(path string, entries []Entry) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("save register: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	w := bufio.NewWriter(tmp)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i, e := range entries {
		if err := e.Validate(); err != nil {
			tmp.Close()
			return fmt.Errorf("save register: entry %d: %w", i+1, err)
		}
		if err := enc.Encode(e); err != nil {
			tmp.Close()
			return fmt.Errorf("save register: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("save register: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("save register: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save register: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save register: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save register: %w", err)
	}
	return nil
}
