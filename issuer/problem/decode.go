package problem

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays DecodeJSON accepts.
// No request in this service nests more than a few levels; the bound keeps
// a hostile body from costing stack or time.
const MaxDepth = 32

// DefaultMaxBytes applies when DecodeJSON gets maxBytes <= 0.
const DefaultMaxBytes = 1 << 20

// maxFieldErrors bounds how many field errors one problem lists.
const maxFieldErrors = 20

// DecodeJSON decodes a request body into dst (a non-nil pointer) strictly,
// or returns the problem to send. It requires Content-Type application/json
// (charset, if given, utf-8), reads at most maxBytes, and rejects: an empty
// body, invalid UTF-8 (also escaped lone surrogates, which encoding/json
// would silently turn into U+FFFD), malformed JSON, nesting deeper than
// MaxDepth, duplicate keys, keys that do not name a field of dst exactly
// (encoding/json alone matches case-insensitively, so {"Name":..,"name":..}
// would smuggle a second value past a validator), values of the wrong type,
// and trailing data after the first value.
//
// Field paths in the problem use JSON names: "v[0].dn".
func DecodeJSON(r *http.Request, dst any, maxBytes int64) *Problem {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	cts := r.Header.Values("Content-Type")
	if len(cts) != 1 {
		p := UnsupportedMediaType(strings.Join(cts, ", "))
		return &p
	}
	mt, params, err := mime.ParseMediaType(cts[0])
	if err != nil || mt != "application/json" {
		p := UnsupportedMediaType(cts[0])
		return &p
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		p := UnsupportedMediaType(cts[0])
		return &p
	}
	if r.Body == nil || r.Body == http.NoBody {
		p := BadRequest("empty_body", "", "request body is empty")
		return &p
	}
	if r.ContentLength > maxBytes {
		p := PayloadTooLarge(maxBytes)
		return &p
	}
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			p := PayloadTooLarge(maxBytes)
			return &p
		}
		p := BadRequest("body_unreadable", "", "could not read request body")
		return &p
	}
	return DecodeBytes(raw, dst)
}

// DecodeBytes applies DecodeJSON's checks (all but media type and size) to
// an already read body.
func DecodeBytes(raw []byte, dst any) *Problem {
	rv := reflect.ValueOf(dst)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
		p := Internal("decoder misuse")
		return &p
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		p := BadRequest("empty_body", "", "request body is empty")
		return &p
	}
	if !utf8.Valid(raw) {
		p := BadRequest("invalid_utf8", "", "request body is not valid UTF-8")
		return &p
	}
	if off, ok := surrogatesPaired(raw); !ok {
		p := BadRequest("invalid_utf8", "", fmt.Sprintf("unpaired UTF-16 surrogate escape at byte %d", off))
		return &p
	}
	if p := scan(raw, rv.Type().Elem()); p != nil {
		return p
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		// The scan catches nearly everything with a precise path; this is
		// the backstop for what only the real decoder sees.
		p := fromDecodeError(err)
		return &p
	}
	return nil
}

func fromDecodeError(err error) Problem {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return BadRequest("invalid_type", te.Field, fmt.Sprintf("JSON %s cannot be stored here", te.Value))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if uq, e := strconv.Unquote(name); e == nil {
			name = uq
		}
		return BadRequest("unknown_field", name, "unknown field")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return BadRequest("malformed_json", "", fmt.Sprintf("invalid JSON at byte %d", se.Offset))
	}
	return BadRequest("invalid_value", "", "a value could not be decoded")
}

// surrogatesPaired reports whether every \uD800-\uDFFF escape inside a JSON
// string is a high surrogate directly followed by a low one.
func surrogatesPaired(raw []byte) (int, bool) {
	in := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !in {
			if c == '"' {
				in = true
			}
			continue
		}
		switch c {
		case '"':
			in = false
		case '\\':
			if i+1 >= len(raw) {
				return i, true // malformed; the scanner reports it
			}
			if raw[i+1] != 'u' {
				i++
				continue
			}
			u, ok := hex4(raw, i+2)
			if !ok {
				return i, true
			}
			switch {
			case u >= 0xDC00 && u <= 0xDFFF:
				return i, false
			case u >= 0xD800 && u <= 0xDBFF:
				if i+7 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' {
					return i, false
				}
				lo, ok := hex4(raw, i+8)
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return i, false
				}
				i += 11
			default:
				i += 5
			}
		}
	}
	return 0, true
}

func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw[at:at+4]), 16, 16)
	return rune(v), err == nil
}

var (
	numberType    = reflect.TypeFor[json.Number]()
	timeType      = reflect.TypeFor[time.Time]()
	unmarshalerT  = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshal = reflect.TypeFor[encoding.TextUnmarshaler]()
)

type frame struct {
	obj       bool
	t         reflect.Type // container's type; nil when unchecked
	fields    map[string]reflect.Type
	seen      map[string]struct{}
	key       string
	keyOK     bool // key known: the value's type is checked against childT
	childT    reflect.Type
	expectKey bool
	idx       int
}

type scanner struct {
	root  reflect.Type
	stack []*frame
	errs  []FieldError
}

// scan walks the token stream once, checking syntax, depth, duplicate keys,
// exact field names and value kinds against dst's type.
func scan(raw []byte, root reflect.Type) *Problem {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	rootT := checked(root)
	s := &scanner{root: rootT}
	if rootT != nil && rootT.Kind() == reflect.Struct {
		// A struct body must be an object: "null" or "[]" would decode to
		// a zero request that later code might trust.
		first := bytes.TrimLeft(raw, " \t\r\n")
		if len(first) > 0 && (first[0] == '[' || first[0] == 'n' || first[0] == '"' || first[0] == 't' ||
			first[0] == 'f' || first[0] == '-' || (first[0] >= '0' && first[0] <= '9')) {
			p := BadRequest("invalid_type", "", "request body must be a JSON object")
			return &p
		}
	}
	done := false
	for !done {
		tok, err := dec.Token()
		if err != nil {
			p := syntaxProblem(err, dec.InputOffset())
			return &p
		}
		if len(s.stack) > 0 {
			top := s.stack[len(s.stack)-1]
			if top.obj && top.expectKey {
				if tok == json.Delim('}') {
					s.pop()
					done = len(s.stack) == 0
					continue
				}
				s.key(top, tok.(string))
				continue
			}
			if !top.obj && tok == json.Delim(']') {
				s.pop()
				done = len(s.stack) == 0
				continue
			}
		}
		t, path := s.slot()
		if p := s.value(tok, t, path); p != nil {
			return p
		}
		if len(s.stack) == 0 {
			done = true // scalar root
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		p := BadRequest("trailing_data", "", fmt.Sprintf("unexpected data after the JSON value at byte %d", dec.InputOffset()))
		return &p
	}
	if len(s.errs) > 0 {
		first := s.errs[0]
		p := BadRequest(first.Code, first.Field, first.Message)
		p.Errors = s.errs
		return &p
	}
	return nil
}

func syntaxProblem(err error, off int64) Problem {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return BadRequest("malformed_json", "", "JSON ends early")
	}
	return BadRequest("malformed_json", "", fmt.Sprintf("invalid JSON near byte %d", off))
}

func (s *scanner) fail(path, code, msg string) {
	if len(s.errs) < maxFieldErrors {
		s.errs = append(s.errs, FieldError{Field: path, Code: code, Message: msg})
	}
}

func (s *scanner) pop() {
	s.stack = s.stack[:len(s.stack)-1]
	if len(s.stack) > 0 {
		if top := s.stack[len(s.stack)-1]; top.obj {
			top.expectKey = true
		}
	}
}

func (s *scanner) key(f *frame, k string) {
	f.key = k
	f.expectKey = false
	f.keyOK = true
	f.childT = nil
	if _, dup := f.seen[k]; dup {
		s.fail(s.path(), "duplicate_key", "key appears more than once")
		f.keyOK = false
	}
	f.seen[k] = struct{}{}
	if f.t == nil || !f.keyOK {
		return
	}
	switch f.t.Kind() {
	case reflect.Struct:
		ft, ok := f.fields[k]
		if !ok {
			s.fail(s.path(), "unknown_field", "unknown field")
			f.keyOK = false
			return
		}
		f.childT = ft
	case reflect.Map:
		f.childT = checked(f.t.Elem())
	}
}

// slot returns the expected type and path of the value about to be read.
func (s *scanner) slot() (reflect.Type, string) {
	if len(s.stack) == 0 {
		return s.root, ""
	}
	top := s.stack[len(s.stack)-1]
	if top.obj {
		top.expectKey = true // after this value
		if !top.keyOK {
			return nil, s.path()
		}
		return top.childT, s.path()
	}
	top.idx++
	path := s.path()
	if top.t == nil {
		return nil, path
	}
	if top.t.Kind() == reflect.Array && top.idx >= top.t.Len() {
		s.fail(path, "too_many_items", fmt.Sprintf("at most %d items allowed", top.t.Len()))
		return nil, path
	}
	return checked(top.t.Elem()), path
}

// path renders the location of the current key or array slot.
func (s *scanner) path() string {
	var b strings.Builder
	for _, f := range s.stack {
		if f.obj {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		} else {
			fmt.Fprintf(&b, "[%d]", f.idx)
		}
	}
	return b.String()
}

func (s *scanner) value(tok json.Token, t reflect.Type, path string) *Problem {
	switch v := tok.(type) {
	case json.Delim:
		if len(s.stack) >= MaxDepth {
			p := BadRequest("too_deep", path, fmt.Sprintf("JSON nests deeper than %d levels", MaxDepth))
			return &p
		}
		f := &frame{obj: v == '{'}
		if f.obj {
			f.expectKey = true
			f.seen = map[string]struct{}{}
		}
		if t != nil {
			k := t.Kind()
			switch {
			case f.obj && k == reflect.Struct:
				f.t, f.fields = t, structFields(t)
			case f.obj && k == reflect.Map:
				f.t = t
			case !f.obj && (k == reflect.Slice || k == reflect.Array):
				f.t = t
			default:
				s.fail(path, "invalid_type", "expected "+jsonKind(t))
			}
		}
		// The array frame's idx counts values read so far; slot() bumps it
		// before each value, so start at -1 to name the first one [0].
		f.idx = -1
		s.stack = append(s.stack, f)
		return nil
	case nil:
		return nil
	}
	if t == nil {
		return nil
	}
	if msg := kindMismatch(tok, t); msg != "" {
		code := "invalid_type"
		if t == timeType {
			code = "invalid_value"
		}
		s.fail(path, code, msg)
	}
	return nil
}

// kindMismatch returns why tok cannot be stored in t, or "".
func kindMismatch(tok json.Token, t reflect.Type) string {
	if t == timeType {
		str, ok := tok.(string)
		if !ok {
			return "expected an RFC 3339 timestamp string"
		}
		if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
			return "not an RFC 3339 timestamp"
		}
		return ""
	}
	switch v := tok.(type) {
	case bool:
		if t.Kind() != reflect.Bool {
			return "expected " + jsonKind(t)
		}
	case string:
		switch {
		case t.Kind() == reflect.String:
		case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		default:
			return "expected " + jsonKind(t)
		}
	case json.Number:
		if t == numberType {
			return ""
		}
		z := reflect.New(t).Elem()
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || z.OverflowInt(n) {
				return "expected an integer in range"
			}
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil || z.OverflowUint(n) {
				return "expected a non-negative integer in range"
			}
		case reflect.Float32, reflect.Float64:
			if _, err := strconv.ParseFloat(string(v), t.Bits()); err != nil {
				return "number out of range"
			}
		default:
			return "expected " + jsonKind(t)
		}
	}
	return ""
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Array:
		return "an array"
	}
	return "another type"
}

// checked strips pointers and returns nil for types the scan does not model
// (interfaces and anything with its own unmarshalling), leaving those to
// encoding/json.
func checked(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType || t == numberType {
		return t
	}
	if t.Kind() == reflect.Interface {
		return nil
	}
	pt := reflect.PointerTo(t)
	if t.Implements(unmarshalerT) || pt.Implements(unmarshalerT) ||
		t.Implements(textUnmarshal) || pt.Implements(textUnmarshal) {
		return nil
	}
	return t
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// structFields maps the exact JSON names of t's fields to their checked
// types, following encoding/json's naming (tags, "-", embedded structs;
// shallower fields win). Fields tagged ",string" are left unchecked.
func structFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	addFields(m, t, map[reflect.Type]bool{})
	fieldCache.Store(t, m)
	return m
}

func addFields(m map[string]reflect.Type, t reflect.Type, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return
	}
	visiting[t] = true
	var embedded []reflect.Type
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, ok := m[name]; ok {
			continue
		}
		if strings.Contains(","+opts+",", ",string,") {
			m[name] = nil
			continue
		}
		m[name] = checked(sf.Type)
	}
	for _, et := range embedded {
		addFields(m, et, visiting)
	}
}
