package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "golive",
		Short: "Rehearse launch day: a reference DCC issuer and the scenarios that break it",
		Long: `golive replays launch-day surges, outages and forged-credential attacks against
an EU Digital COVID Certificate issuer, and ships a spec-conformant reference
issuer (HCERT: CBOR/CWT, COSE_Sign1, zlib, Base45, HC1, QR, PDF) to run them on.`,
		Example: `  golive pki init --out ./pki
  echo '{...}' | golive cert issue --pki ./pki -
  golive cert verify --trust ./pki/trustlist.json @cert.txt`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%v (see 'golive %s --help')", err, strings.TrimPrefix(c.CommandPath(), "golive "))
	})
	root.AddCommand(newVersionCmd(), newPKICmd(), newCertCmd())
	for _, mk := range commands {
		root.AddCommand(mk())
	}
	return root
}

// commands are the further top-level commands; each lives in its own file
// and registers itself from init, so the files stay independent.
var commands []func() *cobra.Command

func addCommand(mk func() *cobra.Command) { commands = append(commands, mk) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print golive's version and build information",
		Example: "  golive version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "golive %s\n", buildVersion())
			return nil
		},
	}
}

func buildVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		v += " (" + bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += ", " + s.Value[:12]
			}
		}
		v += ")"
	}
	return v
}

// commandPath names the subcommand a failing command line was aimed at, for
// the "see --help" hint.
func commandPath(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil || c == root {
		return ""
	}
	return strings.TrimPrefix(c.CommandPath(), "golive ")
}
