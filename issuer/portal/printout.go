package portal

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/printout"
	"github.com/golive-dev/golive/issuer/store"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// renderPDF draws the customer's printout from the retained HC1: the
// payload (name, birth date) is read from the HC1 itself, so the registry
// never needs to hold it.
func renderPDF(c store.CertRecord, hc1, country string) ([]byte, error) {
	d, err := hcert.Decode(hc1)
	if err != nil {
		return nil, fmt.Errorf("decode HC1: %w", err)
	}
	if d.Payload == nil {
		return nil, fmt.Errorf("HC1 of %s has no payload", c.UVCI)
	}
	var buf bytes.Buffer
	if err := printout.WritePDF(&buf, printout.SummaryOf(d.Payload, hc1, country, c.IssuedAt, c.ExpiresAt)); err != nil {
		return nil, fmt.Errorf("write PDF: %w", err)
	}
	return buf.Bytes(), nil
}
