package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/internal/sharedspec"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/dcc/dccschema"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/printout"
)

func newCertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Issue, verify and inspect EU Digital COVID Certificates",
		Example: `  golive cert issue --pki ./pki payload.json
  golive cert verify --trust ./pki/trustlist.json @cert.txt
  golive cert revocation-hash @cert.txt`,
	}
	cmd.AddCommand(newCertIssueCmd(), newCertVerifyCmd(), newCertRevocationHashCmd())
	return cmd
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// parseValidity reads durations like "365d", "72h" or "1h30m".
func parseValidity(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a whole number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration like 365d or 72h", s)
	}
	return v, nil
}

// defaultValidity is the customary lifetime of each certificate type.
func defaultValidity(t dcc.Type) time.Duration {
	if t == dcc.TypeTest {
		return 3 * 24 * time.Hour
	}
	return 365 * 24 * time.Hour
}

func readInput(cmd *cobra.Command, arg string) ([]byte, error) {
	if arg == "-" {
		return io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
	}
	return os.ReadFile(arg)
}

func newCertIssueCmd() *cobra.Command {
	var (
		pkiDir, validity, format, out, uvciIssuer string
		signer                                    int
	)
	cmd := &cobra.Command{
		Use:   "issue --pki DIR [PAYLOAD.json|-]",
		Short: "Sign a DCC payload and print the HC1 string (or write its QR PNG or PDF)",
		Long: `Reads a DCC payload (schema 1.3.x JSON) from a file or standard input,
fills ci (a new UVCI), fnt and gnt when they are missing, validates it and
signs it with one of the DSCs in the PKI folder. An invalid payload gets every
field error, one per line, and exit code 2.`,
		Example: `  golive cert issue --pki ./pki vaccination.json
  golive cert issue --pki ./pki --format png --out cert.png vaccination.json
  cat test.json | golive cert issue --pki ./pki --validity 72h -`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pkiDir == "" {
				return usageErr("cert issue needs --pki DIR (create one with 'golive pki init --out DIR')")
			}
			format = strings.ToLower(format)
			if format != "hc1" && format != "png" && format != "pdf" {
				return usageErr("--format %q is not one of hc1, png, pdf", format)
			}
			if format != "hc1" && out == "" {
				return usageErr("--format %s writes a binary file: give --out FILE", format)
			}
			src := "-"
			if len(args) == 1 {
				src = args[0]
			}
			raw, err := readInput(cmd, src)
			if err != nil {
				return usageErr("cannot read the payload: %v", err)
			}
			set, err := pki.Load(pkiDir)
			if err != nil {
				return failErr("cannot load the PKI: %v (create one with 'golive pki init --out %s')", err, pkiDir)
			}
			if signer < 1 || signer > len(set.DSCs) {
				return usageErr("--signer %d does not exist: %s has signers 1 to %d", signer, pkiDir, len(set.DSCs))
			}
			dsc := set.DSCs[signer-1]

			now := time.Now()
			cert, err := dcc.ParseDraft(raw)
			if err != nil {
				return fieldErrors(cmd, err)
			}
			cert.Normalize()
			country := "DE"
			if c := set.CSCA.Cert.Subject.Country; len(c) > 0 {
				country = c[0]
			}
			if cert.UVCI() == "" {
				ci, err := dcc.NewUVCI(country, uvciIssuer, rand.Reader)
				if err != nil {
					return usageErr("cannot make a UVCI: %v", err)
				}
				cert.SetUVCI(ci)
			}
			if err := cert.Validate(dcc.ValidateOptions{Now: now}); err != nil {
				return fieldErrors(cmd, err)
			}
			life := defaultValidity(cert.Type())
			if validity != "" {
				if life, err = parseValidity(validity); err != nil {
					return usageErr("--validity: %v", err)
				}
			}
			exp := now.Add(life)
			if exp.After(dsc.Cert.NotAfter) {
				// A certificate must not outlive the key that signed it.
				exp = dsc.Cert.NotAfter
				fmt.Fprintf(cmd.ErrOrStderr(), "golive: validity shortened to the DSC's end, %s\n", exp.Format(time.RFC3339))
			}
			hc1, err := hcert.Encode(cert, dsc, hcert.EncodeOptions{Issuer: country, IssuedAt: now, ExpiresAt: exp})
			if err != nil {
				return failErr("cannot sign: %v", err)
			}
			switch format {
			case "hc1":
				if out == "" {
					fmt.Fprintln(cmd.OutOrStdout(), hc1)
					return nil
				}
				return writeOut(out, []byte(hc1+"\n"))
			case "png":
				img, err := printout.QRPNG(hc1, 0)
				if err != nil {
					return failErr("cannot draw the QR code: %v", err)
				}
				return writeOut(out, img)
			default:
				var buf bytes.Buffer
				if err := printout.WritePDF(&buf, printout.SummaryOf(cert, hc1, country, now, exp)); err != nil {
					return failErr("cannot write the PDF: %v", err)
				}
				return writeOut(out, buf.Bytes())
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&pkiDir, "pki", "", "PKI folder made by 'golive pki init' (required)")
	f.IntVar(&signer, "signer", 1, "which DSC signs (1-based)")
	f.StringVar(&validity, "validity", "", "certificate lifetime, e.g. 365d or 72h (default 365d; 3d for tests)")
	f.StringVar(&format, "format", "hc1", "output: hc1 (text), png (QR code) or pdf (customer printout)")
	f.StringVar(&out, "out", "", "file to write instead of standard output")
	f.StringVar(&uvciIssuer, "uvci-issuer", "GL", "issuer code inside generated UVCIs")
	return cmd
}

// fieldErrors prints every validation error on its own line and exits 2.
func fieldErrors(cmd *cobra.Command, err error) error {
	var ve *dcc.ValidationError
	if errors.As(err, &ve) {
		for _, l := range ve.Lines() {
			fmt.Fprintln(cmd.ErrOrStderr(), l)
		}
		return &exitError{code: 2, msg: fmt.Sprintf("golive: the payload has %d error(s); fix the fields above", len(ve.Errors))}
	}
	return usageErr("invalid payload: %v", err)
}

func writeOut(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return failErr("cannot write %s: %v", path, err)
	}
	return nil
}

// reasonNoQRCode is the CLI's own reason for an image argument that holds
// no readable QR code; the others are hcert's.
const reasonNoQRCode = "no_qr_code"

// verifyReasons is the reason code list of cert verify's help.
func verifyReasons() string {
	var b strings.Builder
	for _, r := range hcert.Reasons() {
		fmt.Fprintf(&b, "  %-21s %s\n", r, r.Description())
	}
	fmt.Fprintf(&b, "  %-21s %s\n", reasonNoQRCode, "the image argument holds no readable QR code")
	return b.String()
}

func newCertVerifyCmd() *cobra.Command {
	var (
		trust, at, schemaDir, dscValidity string
		asJSON, schema                    bool
	)
	cmd := &cobra.Command{
		Use:   "verify --trust TRUSTLIST.json (HC1|@FILE|IMAGE.png|-)",
		Short: "Verify a certificate the way a verifier app would",
		Long: `Checks prefix, Base45, zlib, CBOR, COSE_Sign1 (tagged or not), the signature
against every DSC in the trust list with the certificate's kid, the DSC's key
usage (current and hcert 1.0.5 OIDs), its validity and the certificate's.
Exit 0 and the payload when valid; exit 1 and the reason code when not.
A PNG or JPEG path is read as a QR code image (a quiet zone is not needed).

--schema also checks the payload against the official DCC schema of its
version (1.0.x to 1.3.x), read from --schema-dir (default: the
dcc/schema-versions folder of the shared specification, $GOLIVE_SHARED or
../shared beside the repository).

--dsc-validity picks how the certificate's dates meet its DSC's validity:
  strict           (default, the hcert rule) the DSC was valid at iat and
                   exp does not pass its notAfter
  at-verification  the DSC is valid at the verification time (and iat is not
                   before its notBefore); exp may outlive the DSC

--at takes RFC 3339 and the forms other tools write: ` + instantForms + `.

Reason codes (also the "reason" of --json, which adds "detail"):
` + verifyReasons(),
		Example: `  golive cert verify --trust ./pki/trustlist.json 'HC1:NCF...'
  golive cert verify --trust ./pki/trustlist.json cert.png
  golive cert verify --trust ./pki/trustlist.json --at 2027-01-01T00:00:00+0100 --json @cert.txt
  golive cert verify --trust ./pki/trustlist.json --schema --dsc-validity at-verification @cert.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if trust == "" {
				return usageErr("cert verify needs --trust TRUSTLIST.json (e.g. the trustlist.json of 'golive pki init')")
			}
			opts := hcert.VerifyOptions{Now: time.Now()}
			if at != "" {
				t, err := parseInstant(at)
				if err != nil {
					return usageErr("--at: %v", err)
				}
				opts.Now = t
			}
			policy, err := hcert.ParseDSCValidity(dscValidity)
			if err != nil {
				return usageErr("--dsc-validity %q is not strict or at-verification", dscValidity)
			}
			opts.DSCValidity = policy
			if schema || schemaDir != "" {
				set, err := loadSchemas(schemaDir)
				if err != nil {
					return err
				}
				opts.Schema = set
			}
			tl, err := pki.LoadTrustList(trust)
			if err != nil {
				return failErr("cannot load the trust list: %v", err)
			}
			hc1, err := certArg(cmd, args[0])
			var res *hcert.Result
			switch {
			case errors.Is(err, printout.ErrNoQRCode):
				res = &hcert.Result{Reason: reasonNoQRCode, Err: err}
			case err != nil:
				return err
			default:
				if res, err = hcert.Verify(hc1, tl, opts); err != nil {
					return failErr("verify: %v", err)
				}
			}
			w := cmd.OutOrStdout()
			switch {
			case asJSON:
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(verifyJSON(res)); err != nil {
					return failErr("verify: %v", err)
				}
			case res.Valid:
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				_ = enc.Encode(res.Decoded.Payload)
			default:
				fmt.Fprintln(w, res.Reason)
				if res.Reason == reasonNoQRCode {
					fmt.Fprintf(cmd.ErrOrStderr(), "golive: no readable QR code in %s: %v\n", args[0], res.Err)
				}
			}
			if !res.Valid {
				return quietFail(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&trust, "trust", "", "trust list JSON (required)")
	f.StringVar(&at, "at", "", "verify as of this time instead of now (RFC 3339; offsets with or without colon, none: UTC)")
	f.BoolVar(&asJSON, "json", false, "print the whole result as JSON, with a reason code and detail on failure")
	f.BoolVar(&schema, "schema", false, "also check the payload against the official DCC schema of its version")
	f.StringVar(&schemaDir, "schema-dir", "", "folder of <version>.combined-schema.json files (implies --schema; default the shared specification's dcc/schema-versions)")
	f.StringVar(&dscValidity, "dsc-validity", string(hcert.DSCValidityStrict), "DSC validity policy: strict or at-verification")
	return cmd
}

// loadSchemas reads the official schemas from dir, or from the shared
// specification folder when dir is empty.
func loadSchemas(dir string) (*dccschema.Set, error) {
	if dir == "" {
		shared := sharedspec.Dir()
		if shared == "" {
			return nil, usageErr("--schema needs the official DCC schemas: give --schema-dir DIR (the dcc/schema-versions folder of the shared specification) or set GOLIVE_SHARED")
		}
		dir = filepath.Join(shared, "dcc", "schema-versions")
	}
	set, err := dccschema.LoadDir(dir)
	if err != nil {
		return nil, usageErr("--schema-dir: %v (give the dcc/schema-versions folder of the shared specification)", err)
	}
	return set, nil
}

type verifyOutput struct {
	Valid  bool   `json:"valid"`
	Reason string `json:"reason,omitempty"`
	// Detail says what exactly failed, in words; it may quote the
	// certificate's content. Not stable: match on Reason.
	Detail    string           `json:"detail,omitempty"`
	Kid       string           `json:"kid,omitempty"`
	Issuer    string           `json:"issuer,omitempty"`
	IssuedAt  *time.Time       `json:"issued_at,omitempty"`
	ExpiresAt *time.Time       `json:"expires_at,omitempty"`
	Payload   *dcc.Certificate `json:"payload,omitempty"`
}

func verifyJSON(res *hcert.Result) verifyOutput {
	o := verifyOutput{Valid: res.Valid, Reason: string(res.Reason)}
	if res.Err != nil {
		o.Detail = res.Err.Error()
	}
	if d := res.Decoded; d != nil {
		o.Kid, o.Issuer, o.Payload = b64(d.Kid), d.Issuer, d.Payload
		if !d.IssuedAt.IsZero() {
			o.IssuedAt = &d.IssuedAt
		}
		if !d.ExpiresAt.IsZero() {
			o.ExpiresAt = &d.ExpiresAt
		}
	}
	return o
}

// certArg resolves a certificate argument: "-" (stdin), "@FILE" (text file),
// a PNG or JPEG image holding the QR code, or the HC1 string itself. An
// image without a readable code yields an error wrapping
// printout.ErrNoQRCode, which the caller reports.
func certArg(cmd *cobra.Command, arg string) (string, error) {
	var data []byte
	var err error
	switch {
	case arg == "-":
		data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
	case strings.HasPrefix(arg, "@"):
		data, err = os.ReadFile(arg[1:])
	case isImagePath(arg):
		data, err = os.ReadFile(arg)
	default:
		return strings.TrimSpace(arg), nil
	}
	if err != nil {
		return "", usageErr("cannot read the certificate: %v", err)
	}
	if isImage(data) {
		text, err := printout.DecodeQR(bytes.NewReader(data))
		if errors.Is(err, printout.ErrNoQRCode) {
			return "", err // verify reports it as a reason
		}
		if err != nil {
			return "", failErr("no readable QR code in %s: %v", arg, err)
		}
		return text, nil
	}
	return strings.TrimSpace(string(data)), nil
}

func isImagePath(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

func isImage(b []byte) bool {
	return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff})
}

func newCertRevocationHashCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revocation-hash (HC1|@FILE|IMAGE.png|-)",
		Short: "Print the three DCC revocation hashes of a certificate",
		Long: `Prints SIGNATURE (SHA-256 over the COSE signature; ECDSA: r only), UCI
(over the UVCI) and COUNTRYCODEUCI (over issuing country + UVCI), each the
first 16 bytes, in hex, as used in DCC revocation lists.`,
		Example: `  golive cert revocation-hash @cert.txt
  golive cert revocation-hash 'HC1:NCF...'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hc1, err := certArg(cmd, args[0])
			if errors.Is(err, printout.ErrNoQRCode) {
				return failErr("no readable QR code in %s: %v", args[0], err)
			}
			if err != nil {
				return err
			}
			d, err := hcert.Decode(hc1)
			if err != nil {
				return failErr("cannot decode the certificate: %v", err)
			}
			hs, err := hcert.RevocationHashes(d)
			if err != nil {
				return failErr("cannot compute the hashes: %v", err)
			}
			for _, t := range []hcert.HashType{hcert.HashSignature, hcert.HashUCI, hcert.HashCountryCodeUCI} {
				fmt.Fprintf(cmd.OutOrStdout(), "%-15s %s\n", t, hex.EncodeToString(hs[t]))
			}
			return nil
		},
	}
}
