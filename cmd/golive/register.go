package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/issuer/register"
)

func init() { addCommand(newRegisterCmd) }

// maxRegisterCount bounds a generated register: Germany has about 18,000
// pharmacies, so 100,000 is ample and keeps a typo from filling the disk.
const maxRegisterCount = 100_000

func newRegisterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Generate and check pharmacy registers (JSON Lines) for the portal",
		Example: `  golive register generate --out register.jsonl --count 5000 --seed 42
  golive register generate --kind practice --out practices.jsonl --count 500
  golive register check register.jsonl`,
	}
	cmd.AddCommand(newRegisterGenerateCmd(), newRegisterCheckCmd())
	return cmd
}

func newRegisterGenerateCmd() *cobra.Command {
	var (
		out   string
		count int
		seed  uint64
		kind  string
	)
	cmd := &cobra.Command{
		Use:   "generate --out FILE|- [--count N] [--seed S] [--kind pharmacy|practice]",
		Short: "Write a synthetic pharmacy register with realistic German names and addresses",
		Long: `Writes N synthetic, valid register entries as JSON Lines (the pharmacy
register format the portal loads and 'golive register check' reads): distinct Telematik-IDs with valid check digits,
German names and addresses, contact addresses under the reserved .example
domain. The same --seed always gives the same bytes, and the same entries
the test harness (portaltest) builds for that seed. The file is written
atomically with mode 0644; --out - writes to standard output.

--kind practice writes a doctors' practice register instead (the portal's
DATA/practices.jsonl, see docs/doctors.md): Telematik-IDs of the physicians'
sector 1, distinct BSNRs and LANRs with the KBV check digit; its seed stream
is the one serve --init and portaltest use for practices.`,
		Example: `  golive register generate --out register.jsonl
  golive register generate --out register.jsonl --count 18000 --seed 7
  golive register generate --kind practice --out practices.jsonl --count 500
  golive register generate --out - --count 3 | head -1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageErr("register generate needs --out FILE (or --out - for standard output)")
			}
			if count < 1 || count > maxRegisterCount {
				return usageErr("--count %d is out of range: give 1 to %d entries", count, maxRegisterCount)
			}
			// The same PCG seeding as portaltest, so a register generated
			// here matches the one a test with that seed runs against.
			var entries []register.Entry
			switch register.Kind(kind) {
			case register.KindPharmacy:
				entries = register.Generate(rand.New(rand.NewPCG(seed, seed+1)), count)
			case register.KindPractice:
				entries = register.GeneratePractices(rand.New(rand.NewPCG(seed, seed+2)), count)
			default:
				return usageErr("--kind %q: want pharmacy or practice", kind)
			}
			if out == "-" {
				if err := writeEntries(cmd, entries); err != nil {
					return failErr("cannot write the register to standard output: %v", err)
				}
				return nil
			}
			if err := register.Save(out, entries); err != nil {
				return failErr("cannot write %s: %v", out, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d entries to %s\n", len(entries), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "register file to write (- for standard output)")
	cmd.Flags().IntVar(&count, "count", 1000, fmt.Sprintf("number of entries (1 to %d)", maxRegisterCount))
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed; the same seed gives the same register")
	cmd.Flags().StringVar(&kind, "kind", string(register.KindPharmacy), "kind of party: pharmacy or practice (doctors' practices)")
	return cmd
}

// writeEntries encodes entries to stdout exactly as register.Save writes a
// file (one object per line, no HTML escaping), so "-" and a file agree
// byte for byte.
func writeEntries(cmd *cobra.Command, entries []register.Entry) error {
	w := bufio.NewWriter(cmd.OutOrStdout())
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return w.Flush()
}

func newRegisterCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Load a register as the portal would and report its size or the first error",
		Long: `Parses and validates every line of a JSON Lines register (Telematik-ID
format and check digit, names, postal code, e-mail, duplicates; a
practice's BSNR and LANR). Every entry must be of one kind, a pharmacy
register's or a practice register's. Prints
"N entries, ok" and exits 0, or prints the first error with its line number
and exits 1.`,
		Example: `  golive register check register.jsonl`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := register.Load(args[0])
			if err != nil {
				return failErr("%v", err)
			}
			if es := reg.Entries(); len(es) > 0 {
				if _, err := register.LoadKind(args[0], es[0].PartyKind()); err != nil {
					return failErr("%v", err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d entries, ok\n", reg.Len())
			return nil
		},
	}
}
