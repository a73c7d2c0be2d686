package problem

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeBytes: never panics, and whatever it accepts is valid UTF-8,
// valid JSON, and decodes with encoding/json's own strict mode.
func FuzzDecodeBytes(f *testing.F) {
	for _, s := range []string{validBody, `{}`, `{"type":"\ud83d\ude00"}`, `{"extra":{"a":[1,{"b":null}]}}`, `{"tags":["a"]}`, nest(32)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var dst signReq
		if p := DecodeBytes(raw, &dst); p != nil {
			if p.Status != 400 || p.Code == "" {
				t.Fatalf("bad problem %+v", p)
			}
			return
		}
		if !utf8.Valid(raw) || !json.Valid(raw) {
			t.Fatalf("accepted invalid input %q", raw)
		}
	})
}
