package dcc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds nesting so hostile input cannot exhaust the stack; a DCC
// payload nests three levels deep.
const maxDepth = 16

// Parse decodes a JSON payload strictly: the top level must be one object;
// unknown fields, duplicated keys, nulls, wrong JSON types, non-integer
// numbers for dn/sd, invalid UTF-8 and trailing data are errors. Required
// keys must be present (dob may be ""). On failure it returns nil and a
// *ValidationError listing every problem found (a syntax error stops the
// search). Parse checks structure only; Validate checks content.
func Parse(data []byte) (*Certificate, error) {
	c, errs := parse(data, false)
	if len(errs) > 0 {
		return nil, &ValidationError{Errors: errs}
	}
	return c, nil
}

// ParseDraft is Parse for a payload on its way to an issuer: ci may be
// missing because the issuer assigns the UVCI (and fills fnt/gnt) before
// validating and signing. Everything else is as strict as Parse.
func ParseDraft(data []byte) (*Certificate, error) {
	c, errs := parse(data, true)
	if len(errs) > 0 {
		return nil, &ValidationError{Errors: errs}
	}
	return c, nil
}

// ParseAndValidate parses and validates a payload. On failure it returns
// nil and a *ValidationError with the structural problems followed by the
// content problems of the fields that were readable.
func ParseAndValidate(data []byte, opts ValidateOptions) (*Certificate, error) {
	c, errs := parse(data, false)
	if c != nil {
		err := c.Validate(opts)
		var ve *ValidationError
		if errors.As(err, &ve) {
			reported := map[string]bool{}
			for _, fe := range errs {
				reported[fe.Field] = true
			}
			for _, fe := range ve.Errors {
				// A field Parse already flagged (missing, wrong type) would
				// only be reported again as empty or zero.
				if !reported[fe.Field] {
					errs = append(errs, fe)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Errors: errs}
	}
	return c, nil
}

// parse returns the certificate as far as it could be read (nil when the
// input is not a JSON object) and the structural problems.
func parse(data []byte, draft bool) (*Certificate, []FieldError) {
	if !utf8.Valid(data) {
		return nil, []FieldError{{Code: "invalid_utf8", Message: "payload is not valid UTF-8"}}
	}
	root, err := decodeTree(data)
	if err != nil {
		return nil, []FieldError{{Code: "syntax", Message: err.Error()}}
	}
	b := &builder{draft: draft}
	if root.kind != kindObject {
		b.typeError("", root, "an object")
		return nil, b.errs
	}
	c := &Certificate{}
	b.object("", root, []string{"ver", "nam", "dob"}, func(key, field string, v *jsonNode) {
		switch key {
		case "ver":
			b.str(field, v, &c.Ver)
		case "dob":
			b.str(field, v, &c.Dob)
		case "nam":
			b.name(field, v, &c.Nam)
		case "v":
			c.V = entries(b, field, v, b.vaccination)
		case "t":
			c.T = entries(b, field, v, b.test)
		case "r":
			c.R = entries(b, field, v, b.recovery)
		default:
			b.unknown(field)
		}
	})
	return c, b.errs
}

type jsonKind uint8

const (
	kindObject jsonKind = iota
	kindArray
	kindString
	kindNumber
	kindBool
	kindNull
)

func (k jsonKind) String() string {
	return [...]string{"object", "array", "string", "number", "boolean", "null"}[k]
}

// jsonNode is a decoded JSON value that keeps every object member in
// order, duplicates included, which encoding/json's maps would hide.
type jsonNode struct {
	kind    jsonKind
	text    string // string value or number literal
	keys    []string
	members []*jsonNode
	items   []*jsonNode
}

func decodeTree(data []byte) (*jsonNode, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := readNode(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON near byte %d: %w", dec.InputOffset(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the payload at byte %d", dec.InputOffset())
	}
	return n, nil
}

func readNode(dec *json.Decoder, depth int) (*jsonNode, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &jsonNode{kind: kindArray}
		if t == '{' {
			n.kind = kindObject
		}
		for dec.More() {
			if n.kind == kindObject {
				key, err := dec.Token()
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, key.(string))
			}
			child, err := readNode(dec, depth+1)
			if err != nil {
				return nil, err
			}
			if n.kind == kindObject {
				n.members = append(n.members, child)
			} else {
				n.items = append(n.items, child)
			}
		}
		if _, err := dec.Token(); err != nil { // closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		return &jsonNode{kind: kindString, text: t}, nil
	case json.Number:
		return &jsonNode{kind: kindNumber, text: string(t)}, nil
	case bool:
		return &jsonNode{kind: kindBool}, nil
	default:
		return &jsonNode{kind: kindNull}, nil
	}
}

type builder struct {
	errs  []FieldError
	draft bool // ci may be missing
}

func (b *builder) add(field, code, format string, args ...any) {
	b.errs = append(b.errs, FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (b *builder) typeError(field string, v *jsonNode, want string) {
	if v.kind == kindNull {
		b.add(field, "null", "must be %s, not null", want)
		return
	}
	b.add(field, "type", "must be %s, got %s", want, v.kind)
}

func (b *builder) unknown(field string) {
	b.add(field, "unknown_field", "is not a field of the DCC schema")
}

// object hands each member of n to set once, reporting duplicated keys
// and missing required keys.
func (b *builder) object(path string, n *jsonNode, required []string, set func(key, field string, v *jsonNode)) {
	seen := map[string]bool{}
	for i, key := range n.keys {
		field := join(path, key)
		if seen[key] {
			b.add(field, "duplicate_key", "appears more than once")
			continue
		}
		seen[key] = true
		set(key, field, n.members[i])
	}
	for _, key := range required {
		if !seen[key] {
			b.add(join(path, key), "required", "is required")
		}
	}
}

func (b *builder) str(field string, v *jsonNode, dst *string) {
	if v.kind != kindString {
		b.typeError(field, v, "a string")
		return
	}
	*dst = v.text
}

var integerLiteral = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

func (b *builder) integer(field string, v *jsonNode, dst *int) {
	if v.kind != kindNumber {
		b.typeError(field, v, "an integer")
		return
	}
	// Strict: 1.0 and 1e0 are integers to JSON Schema but not to the
	// issuer, which writes dn and sd as plain integers.
	if !integerLiteral.MatchString(v.text) {
		b.add(field, "not_integer", "must be an integer, got %s", v.text)
		return
	}
	n, err := strconv.Atoi(v.text)
	if err != nil {
		b.add(field, "out_of_range", "%s does not fit an integer", v.text)
		return
	}
	*dst = n
}

func (b *builder) name(field string, v *jsonNode, n *Name) {
	if v.kind != kindObject {
		b.typeError(field, v, "an object")
		return
	}
	b.object(field, v, nil, func(key, f string, m *jsonNode) {
		switch key {
		case "fn":
			b.str(f, m, &n.Fn)
		case "fnt":
			b.str(f, m, &n.Fnt)
		case "gn":
			b.str(f, m, &n.Gn)
		case "gnt":
			b.str(f, m, &n.Gnt)
		default:
			b.unknown(f)
		}
	})
}

// entries reads one of the v, t and r arrays.
func entries[E any](b *builder, field string, v *jsonNode, read func(string, *jsonNode, *E)) []E {
	if v.kind != kindArray {
		b.typeError(field, v, "an array")
		return nil
	}
	out := make([]E, len(v.items))
	for i, item := range v.items {
		f := fmt.Sprintf("%s[%d]", field, i)
		if item.kind != kindObject {
			b.typeError(f, item, "an object")
			continue
		}
		read(f, item, &out[i])
	}
	return out
}

func (b *builder) vaccination(path string, n *jsonNode, e *Vaccination) {
	strs := map[string]*string{"tg": &e.Tg, "vp": &e.Vp, "mp": &e.Mp, "ma": &e.Ma, "dt": &e.Dt, "co": &e.Co, "is": &e.Is, "ci": &e.Ci}
	ints := map[string]*int{"dn": &e.Dn, "sd": &e.Sd}
	b.entry(path, n, []string{"tg", "vp", "mp", "ma", "dn", "sd", "dt", "co", "is", "ci"}, strs, ints)
}

func (b *builder) test(path string, n *jsonNode, e *Test) {
	strs := map[string]*string{"tg": &e.Tg, "tt": &e.Tt, "nm": &e.Nm, "ma": &e.Ma, "sc": &e.Sc, "tr": &e.Tr, "tc": &e.Tc, "co": &e.Co, "is": &e.Is, "ci": &e.Ci}
	b.entry(path, n, []string{"tg", "tt", "sc", "tr", "co", "is", "ci"}, strs, nil)
}

func (b *builder) recovery(path string, n *jsonNode, e *Recovery) {
	strs := map[string]*string{"tg": &e.Tg, "fr": &e.Fr, "co": &e.Co, "is": &e.Is, "df": &e.Df, "du": &e.Du, "ci": &e.Ci}
	b.entry(path, n, []string{"tg", "fr", "co", "is", "df", "du", "ci"}, strs, nil)
}

func (b *builder) entry(path string, n *jsonNode, required []string, strs map[string]*string, ints map[string]*int) {
	if b.draft {
		required = slices.DeleteFunc(slices.Clone(required), func(k string) bool { return k == "ci" })
	}
	b.object(path, n, required, func(key, field string, v *jsonNode) {
		if p, ok := strs[key]; ok {
			b.str(field, v, p)
		} else if p, ok := ints[key]; ok {
			b.integer(field, v, p)
		} else {
			b.unknown(field)
		}
	})
}
