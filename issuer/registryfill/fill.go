// Package registryfill fills an issuer registry with realistic issued
// certificates, fast, so capacity can be measured against a registry that
// already holds a week of 2021 (5-7 million certificates) instead of an
// empty one.
//
// Each certificate is what the portal records for an issuance: the
// certificate row (a UVCI in the portal's format, revocation hashes, an HC1
// of a real certificate's length sealed under the registry's seal key with
// its UVCI as associated data), its idempotency binding and its audit
// event, over a few thousand pharmacies, issue times spread evenly over
// the span before Until. Rows go through the store's own schema
// (store.FillCertificates: one transaction per batch; COPY on PostgreSQL).
// Every HC1 is sealed on its own (AES-GCM is cheap next to the inserts),
// so the rows open with the key like the portal's.
package registryfill

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/store"
)

// Defaults for zero Options fields.
const (
	DefaultPharmacies = 3000
	DefaultBatch      = 5000
	DefaultSpan       = 6 * 24 * time.Hour
	// MaxCertificates bounds one fill (a typo of a few zeros must not
	// fill the disk): 100 million, about 15 weeks of 2021.
	MaxCertificates = 100_000_000
	maxBatch        = 100_000
	// hc1Len is the length of a vaccination certificate's HC1 string
	// (HC1: and base45 of the compressed COSE): 500-650 characters.
	hc1MinLen, hc1MaxLen = 500, 650
	// validity of a certificate after issuance (the signer's default).
	validity = 365 * 24 * time.Hour
)

// ErrInvalid: the options make no fill.
var ErrInvalid = errors.New("registryfill: invalid options")

// Options say how many rows and how they look. The zero value of every
// field but Certificates is usable.
type Options struct {
	Certificates int
	// Pharmacies the certificates are spread over (new ones, active,
	// without credentials). 0: DefaultPharmacies.
	Pharmacies int
	// Until and Span: issue times are spread evenly over [Until-Span,
	// Until). Zero Until: now; zero Span: DefaultSpan (six days, inside
	// the registry's seven-day retention, so no purge starts on them).
	Until time.Time
	Span  time.Duration
	// Batch is certificates per transaction. 0: DefaultBatch.
	Batch int
	// Seed makes the rows reproducible; runs with one seed write the same
	// UVCIs and keys, so a second fill of one registry needs another.
	Seed uint64
	// Progress, when set, is called after each batch with the
	// certificates written so far.
	Progress func(done int)
}

// Result is what a fill wrote.
type Result struct {
	Certificates, Pharmacies int
	Elapsed                  time.Duration
	From, Until              time.Time
}

func (o *Options) defaults() error {
	if o.Certificates < 0 || o.Certificates > MaxCertificates {
		return fmt.Errorf("%w: %d certificates: want 0 to %d", ErrInvalid, o.Certificates, MaxCertificates)
	}
	if o.Pharmacies == 0 {
		o.Pharmacies = DefaultPharmacies
	}
	if o.Pharmacies < 1 || o.Pharmacies > 1_000_000 {
		return fmt.Errorf("%w: %d pharmacies: want 1 to 1000000", ErrInvalid, o.Pharmacies)
	}
	if o.Batch == 0 {
		o.Batch = DefaultBatch
	}
	if o.Batch < 1 || o.Batch > maxBatch {
		return fmt.Errorf("%w: batch %d: want 1 to %d", ErrInvalid, o.Batch, maxBatch)
	}
	if o.Span == 0 {
		o.Span = DefaultSpan
	}
	if o.Span < 0 {
		return fmt.Errorf("%w: negative span %v", ErrInvalid, o.Span)
	}
	if o.Until.IsZero() {
		o.Until = time.Now()
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	return nil
}

// Fill writes o.Certificates certificates (and o.Pharmacies pharmacies)
// into st. It stops between batches when ctx ends; what was committed
// stays (every batch is whole). The next batch is generated and sealed
// while the previous one is written.
func Fill(ctx context.Context, st *store.Store, o Options) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	started := time.Now()
	res := Result{From: o.Until.Add(-o.Span).UTC(), Until: o.Until.UTC()}
	g := newGenerator(o)
	if err := st.FillPharmacies(ctx, g.pharmacies()); err != nil {
		return res, fmt.Errorf("registryfill: pharmacies: %w", err)
	}
	res.Pharmacies = o.Pharmacies

	batches := make(chan []store.FillCert, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(batches)
		for done := 0; done < o.Certificates; {
			n := min(o.Batch, o.Certificates-done)
			b := g.certs(done, n)
			select {
			case batches <- b:
			case <-ctx.Done():
				return
			}
			done += n
		}
	}()
	for b := range batches {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("registryfill: stopped after %d certificates: %w", res.Certificates, err)
		}
		if err := st.FillCertificates(ctx, b); err != nil {
			return res, fmt.Errorf("registryfill: after %d certificates: %w", res.Certificates, err)
		}
		res.Certificates += len(b)
		res.Elapsed = time.Since(started)
		if o.Progress != nil {
			o.Progress(res.Certificates)
		}
	}
	if err := ctx.Err(); err != nil && res.Certificates < o.Certificates {
		return res, fmt.Errorf("registryfill: stopped after %d certificates: %w", res.Certificates, err)
	}
	res.Elapsed = time.Since(started)
	return res, nil
}

// generator makes the rows. Only the generating goroutine uses it.
type generator struct {
	o      Options
	rng    *rand.Rand
	chacha *rand.ChaCha8
	ids    []string
	kids   []string
	from   time.Time
}

func newGenerator(o Options) *generator {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], o.Seed)
	g := &generator{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x676f6c697665)), chacha: rand.NewChaCha8(seed),
		from: o.Until.Add(-o.Span)}
	g.ids = make([]string, o.Pharmacies)
	for i := range g.ids {
		var b [12]byte
		g.read(b[:])
		g.ids[i] = "ph_" + hex.EncodeToString(b[:]) // the store's own id format
	}
	// A signer key each of three signers, rotated once in the week.
	for range 6 {
		var b [8]byte
		g.read(b[:])
		g.kids = append(g.kids, base64.StdEncoding.EncodeToString(b[:])) // as the signers' kid
	}
	return g
}

func (g *generator) read(b []byte) { _, _ = g.chacha.Read(b) }

func (g *generator) pharmacies() []store.Pharmacy {
	cities := []string{"Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Stuttgart", "Leipzig", "Dortmund"}
	out := make([]store.Pharmacy, len(g.ids))
	for i, id := range g.ids {
		out[i] = store.Pharmacy{ID: id, TelematikID: fmt.Sprintf("3-SMC-B-Testkarte-88%07d", g.rng.IntN(10_000_000)) + "-" + id[3:11],
			Status: store.PharmacyActive, Name: fmt.Sprintf("Apotheke %d", i+1), Street: fmt.Sprintf("Hauptstraße %d", 1+g.rng.IntN(200)),
			PostalCode: fmt.Sprintf("%05d", 1000+g.rng.IntN(98000)), City: cities[g.rng.IntN(len(cities))],
			Email: fmt.Sprintf("apotheke%d@example.invalid", i+1), RegisterVerified: true}
	}
	return out
}

// base45 is the HC1 alphabet.
const base45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// certs makes certificates first..first+n-1 of the fill.
func (g *generator) certs(first, n int) []store.FillCert {
	out := make([]store.FillCert, n)
	step := time.Duration(0)
	if g.o.Certificates > 0 {
		step = g.o.Span / time.Duration(g.o.Certificates)
	}
	for i := range out {
		k := first + i
		ph := g.ids[g.rng.IntN(len(g.ids))]
		issued := g.from.Add(time.Duration(k) * step).UTC()
		typ := store.Vaccination
		switch r := g.rng.IntN(100); {
		case r < 8:
			typ = store.Test
		case r < 12:
			typ = store.Recovery
		}
		uvci, err := dcc.NewUVCI("DE", "GL/"+strings.ToUpper(ph[3:]), g.chacha)
		if err != nil {
			panic(fmt.Sprintf("registryfill: UVCI: %v", err)) // the issuer part is fixed and valid
		}
		hashes := make([]byte, 3*store.RevocationHashLen)
		g.read(hashes)
		hc1 := make([]byte, hc1MinLen+g.rng.IntN(hc1MaxLen-hc1MinLen))
		copy(hc1, "HC1:")
		g.read(hc1[4:])
		for j := 4; j < len(hc1); j++ {
			hc1[j] = base45[int(hc1[j])%len(base45)]
		}
		var key [16]byte
		g.read(key[:])
		key[6] = key[6]&0x0f | 0x40 // a version 4 UUID, as clients send
		key[8] = key[8]&0x3f | 0x80
		var reqHash [32]byte
		g.read(reqHash[:])
		signer := g.rng.IntN(3)
		kid := g.kids[signer*2+int(int64(k)*2/int64(max(g.o.Certificates, 1)))]
		requested := issued.Add(-time.Duration(20+g.rng.IntN(200)) * time.Millisecond)
		out[i] = store.FillCert{
			Rec: store.CertRecord{UVCI: uvci, PharmacyID: ph, Type: typ, KID: kid, Signer: fmt.Sprintf("signer-%d", signer+1),
				RequestedAt: requested, IssuedAt: issued, ExpiresAt: issued.Add(validity),
				HashSignature: hashes[:16], HashUCI: hashes[16:32], HashCountryCodeUCI: hashes[32:]},
			HC1:  hc1,
			Idem: store.IdemBinding{PharmacyID: ph, Key: uuid(key), RequestHash: hex.EncodeToString(reqHash[:])},
			At:   issued,
		}
	}
	return out
}

func uuid(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
