package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/issuer/vendors"
	"github.com/golive-dev/golive/issuer/vendors/vendorapi"
)

func init() { addCommand(newVendorCmd) }

func newVendorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vendor",
		Short: "Register pharmacy-software vendors for vendor access (serve --vendors)",
		Example: `  golive vendor add --data ./data --id apo-soft --key-out apo-soft.key
  golive vendor add --data ./data --id medi-data --public-key medi-data.pub.pem`,
	}
	cmd.AddCommand(newVendorAddCmd())
	return cmd
}

func newVendorAddCmd() *cobra.Command {
	var data, id, name, keyOut, pubIn string
	cmd := &cobra.Command{
		Use:   "add --data DIR --id VENDOR (--key-out FILE | --public-key FILE)",
		Short: "Register a vendor's Ed25519 public key in DIR/vendors.json",
		Long: `Registers a vendor in the data directory's vendors file (DATA/vendors.json,
mode 0600), which serve --vendors reads at start (a running portal takes
PUT /v1/admin/vendors/{vendor} with the admin token instead).

With --key-out a new Ed25519 key pair is made: the private key is written
to FILE (PKCS#8 PEM, mode 0600) for the vendor to sign its assertions
with, and only the public key goes into the vendors file. With
--public-key the vendor keeps its private key and hands over the public
half (PKIX PEM). A vendor registered again gets the new key.
See docs/vendor-access.md.`,
		Example: `  golive vendor add --data ./data --id apo-soft --key-out apo-soft.key
  golive vendor add --data ./data --id medi-data --name "Medi Data GmbH" --public-key medi-data.pub.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" || !vendorapi.ValidVendorID(id) {
				return usageErr("vendor add needs --data DIR and --id (1 to 32 lower-case letters, digits and '-')")
			}
			if (keyOut == "") == (pubIn == "") {
				return usageErr("vendor add needs exactly one of --key-out FILE and --public-key FILE")
			}
			if len(name) > 80 {
				return usageErr("--name has at most 80 characters")
			}
			var pub ed25519.PublicKey
			if pubIn != "" {
				raw, err := os.ReadFile(pubIn)
				if err != nil {
					return err
				}
				b, _ := pem.Decode(raw)
				if b == nil {
					return usageErr("--public-key %s: not PEM", pubIn)
				}
				k, err := x509.ParsePKIXPublicKey(b.Bytes)
				if err != nil {
					return usageErr("--public-key %s: %v", pubIn, err)
				}
				ek, ok := k.(ed25519.PublicKey)
				if !ok {
					return usageErr("--public-key %s: not an Ed25519 key", pubIn)
				}
				pub = ek
			} else {
				var priv ed25519.PrivateKey
				var err error
				if pub, priv, err = ed25519.GenerateKey(rand.Reader); err != nil {
					return err
				}
				der, err := x509.MarshalPKCS8PrivateKey(priv)
				if err != nil {
					return err
				}
				f, err := os.OpenFile(keyOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if errors.Is(err, fs.ErrExist) {
					return usageErr("--key-out %s exists; remove it or choose another file", keyOut)
				}
				if err != nil {
					return err
				}
				if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			path := filepath.Join(data, "vendors.json")
			file, err := vendors.ReadFile(path)
			if err != nil {
				return err
			}
			file.Vendors[id] = vendors.FileVendor{Name: name, PublicKey: vendorapi.EncodePublicKey(pub)}
			if err := vendors.WriteFile(path, file); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "vendor %s registered in %s\n", id, path)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "the portal's data directory")
	f.StringVar(&id, "id", "", "the vendor's id")
	f.StringVar(&name, "name", "", "a display name")
	f.StringVar(&keyOut, "key-out", "", "make a key pair and write the private key here (0600)")
	f.StringVar(&pubIn, "public-key", "", "the vendor's Ed25519 public key (PKIX PEM)")
	return cmd
}
