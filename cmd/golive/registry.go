package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/issuer/registryfill"
	"github.com/golive-dev/golive/issuer/store"
)

func init() { addCommand(newRegistryCmd) }

// fillWriteTimeout bounds one fill batch's transaction on PostgreSQL
// (the portal's 10 s is for single certificates, not thousands).
const fillWriteTimeout = 5 * time.Minute

// fillProgressEvery spaces the progress lines when stderr is no terminal.
const fillProgressEvery = 1_000_000

func newRegistryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Work on an issuer registry (SQLite in DATA/registry, or PostgreSQL)",
		Example: `  golive registry fill --data ./data --certificates 10000000
  golive registry fill --data ./data --certificates 1000000 --registry postgres://golive@127.0.0.1:5432/registry`,
	}
	cmd.AddCommand(newRegistryFillCmd())
	return cmd
}

func newRegistryFillCmd() *cobra.Command {
	var (
		data, registry, until string
		certs, pharmacies     int
		batch, cacheMB        int
		span                  time.Duration
		seed                  uint64
		quiet                 bool
	)
	cmd := &cobra.Command{
		Use:   "fill --data DIR --certificates N [--registry DSN]",
		Short: "Fill a registry quickly with realistic issued certificates (for capacity runs on a full registry)",
		Long: `Writes N issued certificates into the registry the portal of DIR uses
(DIR/registry/registry.db, or the PostgreSQL database --registry or
$GOLIVE_REGISTRY names, with the seal key in DIR/registry): per certificate
the rows the portal writes for an issuance (the certificate with its HC1
sealed under the registry's seal key, its idempotency binding, its audit
event), spread over --pharmacies new pharmacies and issue times spread
evenly over --span before --until. The schema is the store's own (the
registry is created and migrated if needed). Batches of --batch
certificates are one transaction each (COPY on PostgreSQL); an interrupt
stops between batches and keeps what was committed.

A week of 2021 was 5-7 million certificates. On SQLite the file grows by
about 1.4 KB per certificate (rows and indexes). Progress goes to stderr:
a live line on a terminal, a line per million otherwise (none with --quiet).`,
		Example: `  golive registry fill --data ./data --certificates 10000000
  golive registry fill --data ./data --certificates 5000 --seed 1 --pharmacies 50
  GOLIVE_REGISTRY=postgres://golive@127.0.0.1:5432/registry golive registry fill --data ./data --certificates 1000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" {
				return usageErr("registry fill needs --data DIR (the portal's data directory; the seal key is in DIR/registry)")
			}
			if certs < 0 || certs > registryfill.MaxCertificates {
				return usageErr("--certificates %d is out of range: give 0 to %d", certs, registryfill.MaxCertificates)
			}
			if pharmacies < 1 || pharmacies > 1_000_000 {
				return usageErr("--pharmacies %d is out of range: give 1 to 1000000", pharmacies)
			}
			if batch < 1 || batch > 100_000 {
				return usageErr("--batch %d is out of range: give 1 to 100000", batch)
			}
			if span <= 0 {
				return usageErr("--span %v: give a positive duration such as 144h", span)
			}
			var end time.Time
			if until != "" {
				var err error
				if end, err = parseUntil(until); err != nil {
					return usageErr("--until %q: want RFC 3339 (2021-06-14T07:00:00+02:00) or a date (2021-06-14)", until)
				}
			}
			if registry == "" {
				registry = os.Getenv("GOLIVE_REGISTRY")
			}
			if _, err := store.RegistryKind(registry); err != nil {
				return usageErr("--registry: %s", firstLine(err))
			}
			return fillRegistry(cmd.Context(), cmd.ErrOrStderr(), data, registry, cacheMB, quiet, registryfill.Options{
				Certificates: certs, Pharmacies: pharmacies, Batch: batch, Span: span, Until: end, Seed: seed})
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "the portal's data directory (registry and seal key in DIR/registry)")
	f.StringVar(&registry, "registry", "", "PostgreSQL DSN of the registry (default $GOLIVE_REGISTRY; empty: SQLite in DIR/registry)")
	f.IntVar(&certs, "certificates", 0, "certificates to write")
	f.IntVar(&pharmacies, "pharmacies", registryfill.DefaultPharmacies, "new pharmacies the certificates are spread over")
	f.IntVar(&batch, "batch", registryfill.DefaultBatch, "certificates per transaction")
	f.DurationVar(&span, "span", registryfill.DefaultSpan, "issue times are spread over this span before --until (inside the 7-day retention, so the portal's purge leaves them)")
	f.StringVar(&until, "until", "", "end of the issue times (default now: the portal's retention purge counts in wall-clock time, also under a simulated business clock, so older rows lose their HC1s at its first run)")
	f.Uint64Var(&seed, "seed", 0, "seed of the rows (default random; one seed writes the same keys again, so a second fill needs another)")
	f.IntVar(&cacheMB, "cache-mb", 256, "SQLite page cache of the fill's connection in MB (restored afterwards)")
	f.BoolVar(&quiet, "quiet", false, "no progress lines")
	return cmd
}

func parseUntil(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

func fillRegistry(ctx context.Context, stderr io.Writer, data, registry string, cacheMB int, quiet bool, o registryfill.Options) error {
	dir := filepath.Join(data, "registry")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.OpenRegistry(ctx, registry, dir, store.Options{Logger: log, WriteTimeout: fillWriteTimeout})
	if err != nil {
		return fmt.Errorf("registry fill: %w", err)
	}
	restore, err := st.FillTuning(ctx, cacheMB)
	if err != nil {
		st.Close()
		return fmt.Errorf("registry fill: %w", err)
	}
	tty := isTerminal(stderr)
	started := time.Now()
	next := fillProgressEvery
	if !quiet {
		o.Progress = func(done int) {
			rate := float64(done) / max(time.Since(started).Seconds(), 1e-3)
			switch {
			case tty:
				fmt.Fprintf(stderr, "\r%d of %d certificates (%.0f/s)  ", done, o.Certificates, rate)
			case done >= next || done == o.Certificates:
				fmt.Fprintf(stderr, "%d of %d certificates (%.0f/s)\n", done, o.Certificates, rate)
				for next <= done {
					next += fillProgressEvery
				}
			}
		}
	}
	res, ferr := registryfill.Fill(ctx, st, o)
	if tty && !quiet {
		fmt.Fprintln(stderr)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fillWriteTimeout)
	defer cancel()
	err = errors.Join(ferr, restore(rctx), st.Close())
	if err != nil {
		return fmt.Errorf("registry fill (%s, %d certificates committed): %w", st.Backend(), res.Certificates, err)
	}
	fmt.Fprintf(stderr, "registry fill: %d certificates over %d pharmacies (issued %s to %s) into the %s registry in %s (%.0f/s)\n",
		res.Certificates, res.Pharmacies, res.From.Format(time.RFC3339), res.Until.Format(time.RFC3339), st.Backend(),
		res.Elapsed.Round(time.Second), float64(res.Certificates)/max(res.Elapsed.Seconds(), 1e-3))
	return nil
}
