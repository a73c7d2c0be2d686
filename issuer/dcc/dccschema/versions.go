package dccschema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// FileSuffix ends the name of each version's schema in a schema folder:
// "1.3.0.combined-schema.json" (the layout of the shared specification's
// dcc/schema-versions).
const FileSuffix = ".combined-schema.json"

// maxSchemaFile bounds one schema file; the official ones are about 10 KiB.
const maxSchemaFile = 1 << 20

// Set holds the official schema of every DCC version found in a folder,
// compiled, and picks the one a payload's "ver" names. The project does
// not ship the schemas (their licence and the shared folder's rules keep
// them there); LoadDir reads them at run time. A Set is safe for
// concurrent use.
type Set struct {
	versions []schemaVersion // ascending
}

type schemaVersion struct {
	v      semver
	schema *jsonschema.Schema
}

type semver [3]int

func (v semver) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

// parseSemver reads "1.3.0". Leading zeros and signs are refused, as the
// schema's own pattern for ver intends.
func parseSemver(s string) (semver, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return semver{}, false
	}
	var v semver
	for i, p := range parts {
		if p == "" || len(p) > 4 || (len(p) > 1 && p[0] == '0') || strings.Trim(p, "0123456789") != "" {
			return semver{}, false
		}
		v[i], _ = strconv.Atoi(p)
	}
	return v, true
}

// LoadDir compiles every <version>.combined-schema.json in dir.
func LoadDir(dir string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dccschema: reading schema folder: %w", err)
	}
	s := &Set{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), FileSuffix)
		if !ok || e.IsDir() {
			continue
		}
		v, ok := parseSemver(name)
		if !ok {
			continue
		}
		path := filepath.Join(dir, e.Name())
		sch, err := compileFile(path, false)
		if err != nil {
			return nil, err
		}
		s.versions = append(s.versions, schemaVersion{v: v, schema: sch})
	}
	if len(s.versions) == 0 {
		return nil, fmt.Errorf("dccschema: no <version>%s files in %s", FileSuffix, dir)
	}
	slices.SortFunc(s.versions, func(a, b schemaVersion) int { return slices.Compare(a.v[:], b.v[:]) })
	return s, nil
}

// compileFile compiles one combined schema. assertFormats makes formats
// ("date", "date-time") assertions rather than the annotations JSON Schema
// 2020-12 makes them by default. Each schema gets its own compiler:
// several versions share one $id.
func compileFile(path string, assertFormats bool) (*jsonschema.Schema, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dccschema: %w", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(io.LimitReader(f, maxSchemaFile))
	if err != nil {
		return nil, fmt.Errorf("dccschema: reading %s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	if assertFormats {
		c.AssertFormat()
	}
	url := "file:///" + filepath.ToSlash(filepath.Base(path))
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("dccschema: %s: %w", path, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("dccschema: compiling %s: %w", path, err)
	}
	return sch, nil
}

// Versions lists the loaded schema versions, ascending.
func (s *Set) Versions() []string {
	out := make([]string, len(s.versions))
	for i, v := range s.versions {
		out[i] = v.v.String()
	}
	return out
}

// ErrNoSchema says the Set has no schema for a payload's version.
var ErrNoSchema = errors.New("no official schema for this version")

// pick returns the schema for ver: the file of that exact version, else
// the newest one of the same major.minor (patch releases only add value
// descriptions and loosen patterns).
func (s *Set) pick(ver string) (schemaVersion, error) {
	v, ok := parseSemver(ver)
	if !ok {
		return schemaVersion{}, fmt.Errorf("%w: ver %q is not a version like 1.3.0", ErrNoSchema, ver)
	}
	var best *schemaVersion
	for i := range s.versions {
		c := &s.versions[i]
		if c.v == v {
			return *c, nil
		}
		if c.v[0] == v[0] && c.v[1] == v[1] {
			best = c // ascending: the last match is the newest
		}
	}
	if best == nil {
		return schemaVersion{}, fmt.Errorf("%w: %s (the folder has %s)", ErrNoSchema, v, strings.Join(s.Versions(), ", "))
	}
	return *best, nil
}

// ValidatePayload checks a DCC payload, as JSON, against the schema of
// the version its "ver" names. Formats are annotations, as in the official
// schema's own test suite, whose valid samples carry date-times such as
// "2021-06-11T17:30:00+0200" that an asserted "date-time" refuses: a
// verifier must not reject what the schema's authors call valid. The error is a *Violation when the payload
// does not conform, ErrNoSchema (wrapped) when no schema fits its version.
func (s *Set) ValidatePayload(payloadJSON []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payloadJSON))
	if err != nil {
		return fmt.Errorf("dccschema: payload is not JSON: %w", err)
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return errors.New("dccschema: payload is not a JSON object")
	}
	ver, _ := obj["ver"].(string)
	if ver == "" {
		return fmt.Errorf("dccschema: %w: the payload has no ver", ErrNoSchema)
	}
	sv, err := s.pick(ver)
	if err != nil {
		return fmt.Errorf("dccschema: %w", err)
	}
	if err := sv.schema.Validate(inst); err != nil {
		return violation(sv.v.String(), err)
	}
	return nil
}

// Violation is a payload that does not conform to its schema.
type Violation struct {
	Version  string    // the schema version applied
	Problems []Problem // at least one
}

// Problem is one failed schema keyword.
type Problem struct {
	At      string // JSON pointer into the payload, "" for the whole
	Keyword string // the failed keyword: "pattern", "required", "format", ...
	Message string // may quote the payload's values
}

func (v *Violation) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the payload violates the DCC %s schema: ", v.Version)
	for i, p := range v.Problems {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(v.Problems)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		at := p.At
		if at == "" {
			at = "/"
		}
		fmt.Fprintf(&b, "at %s: %s", at, p.Message)
	}
	return b.String()
}

var printer = message.NewPrinter(language.English)

// pointerEscaper escapes a JSON pointer token (RFC 6901).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// violation flattens the validator's tree of causes into its leaves.
func violation(version string, err error) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("dccschema: %w", err)
	}
	v := &Violation{Version: version}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			p := Problem{Message: e.ErrorKind.LocalizedString(printer)}
			if len(e.InstanceLocation) > 0 {
				for _, tok := range e.InstanceLocation {
					p.At += "/" + pointerEscaper.Replace(tok)
				}
			}
			if kw := e.ErrorKind.KeywordPath(); len(kw) > 0 {
				p.Keyword = kw[len(kw)-1]
			}
			v.Problems = append(v.Problems, p)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return v
}
