package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/issuer/pki"
)

func newPKICmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pki",
		Short: "Create the issuer's key material (CSCA, DSCs, trust list)",
		Example: `  golive pki init --out ./pki --signers 3
  golive pki init --out ./pki-rsa --alg PS256`,
	}
	cmd.AddCommand(newPKIInitCmd())
	return cmd
}

func newPKIInitCmd() *cobra.Command {
	var (
		out     string
		country string
		signers int
		alg     string
	)
	cmd := &cobra.Command{
		Use:   "init --out DIR",
		Short: "Write a CSCA, N document signer certificates and a trust list into DIR",
		Long: `Writes DIR/csca.pem, DIR/csca.key, DIR/dsc-1.pem, DIR/dsc-1.key, ... and
DIR/trustlist.json. Private keys are written with mode 0600. Each DSC carries
the DCC extended key usages for test, vaccination and recovery certificates.`,
		Example: `  golive pki init --out ./pki
  golive pki init --out ./pki --country AT --signers 3 --alg PS256`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageErr("pki init needs --out DIR, the folder to write the keys into")
			}
			if len(country) != 2 || strings.ToUpper(country) != country {
				return usageErr("--country %q is not a two-letter upper-case country code (e.g. DE)", country)
			}
			if signers < 1 || signers > 64 {
				return usageErr("--signers %d is out of range: give 1 to 64 signer certificates", signers)
			}
			a := pki.Alg(strings.ToUpper(alg))
			if a != pki.ES256 && a != pki.PS256 {
				return usageErr("--alg %q is not supported: use ES256 or PS256", alg)
			}
			set, err := pki.Init(out, pki.InitOptions{Country: country, Signers: signers, Alg: a, Now: time.Now()})
			if err != nil {
				return failErr("pki init: %v", err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote CSCA %s and %d %s signer(s) to %s\n", country, len(set.DSCs), a, out)
			for i, d := range set.DSCs {
				fmt.Fprintf(w, "  dsc-%d kid %s valid until %s\n", i+1, b64(pki.Kid(d.Cert)), d.Cert.NotAfter.Format(time.DateOnly))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "folder to write csca.*, dsc-N.* and trustlist.json into (required)")
	cmd.Flags().StringVar(&country, "country", "DE", "issuing country, ISO 3166 alpha-2")
	cmd.Flags().IntVar(&signers, "signers", 1, "number of document signer certificates (one per signer replica)")
	cmd.Flags().StringVar(&alg, "alg", "ES256", "signature algorithm of the DSCs: ES256 or PS256")
	return cmd
}
