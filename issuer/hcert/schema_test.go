package hcert

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/dcc/dccschema"
)

// Every payload that comes out of an HC1 this package made must satisfy
// the official DCC schema (JSON Schema 2020-12), not only our own checks.
func TestEmittedPayloadsMatchOfficialSchema(t *testing.T) {
	schema := dccschema.Validator(t)
	w := testWorld(t)
	rnd := mrand.New(mrand.NewPCG(7, 11))
	fixed := []*dcc.Certificate{vaccination(), test(), recovery()}
	for i := range 60 {
		var in *dcc.Certificate
		if i < len(fixed) {
			in = fixed[i]
		} else {
			in = dcc.Sample(rnd, "", testNow)
			ci, err := dcc.NewUVCI("DE", "GL", rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			in.SetUVCI(ci)
		}
		kp := w.es
		if i%2 == 1 {
			kp = w.ps
		}
		hc1 := mustEncode(t, in, kp, EncodeOptions{Issuer: "DE", IssuedAt: testNow, ExpiresAt: testNow.Add(72 * time.Hour)})
		d, err := Decode(hc1)
		if err != nil {
			t.Fatal(err)
		}
		// The payload exactly as it travels (CBOR), turned into JSON; the
		// same JSON a verifier's schema check reads.
		js, err := d.PayloadJSON()
		if err != nil {
			t.Fatal(err)
		}
		var generic map[string]any
		if err := jsonMaps.Unmarshal(d.RawPayload, &generic); err != nil {
			t.Fatal(err)
		}
		if independent, _ := json.Marshal(generic); !bytes.Equal(independent, js) {
			t.Errorf("PayloadJSON differs from the payload:\n%s\n%s", js, independent)
		}
		if err := schema(js); err != nil {
			t.Errorf("payload %d (%s) violates the official schema: %v\n%s", i, in.Type(), err, js)
		}
	}
}
