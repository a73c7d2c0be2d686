package engine

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
)

// A run with TLS (Options.TLS, the scenario's system.tls) has the testbed
// serve the portals and signers over https with a CA it makes for the run;
// every client of the harness then trusts that CA alone (run.tls): the
// set-up and probe client, the load's transport, the slow attackers (who
// handshake first, then dribble), the metrics scraper, the consistency
// check, the load workers (shard.json carries the CA's certificate) and
// the browsers (Chromium told to accept the portals' own keys).

// consistencyTimeout bounds one call of the consistency check (its
// default when it brings its own client).
const consistencyTimeout = 30 * time.Second

// wantsTLS is whether the run serves its system over https.
func wantsTLS(o Options) bool { return o.TLS || (o.Scenario != nil && o.Scenario.System.TLS) }

// checkTLSTarget refuses TLS toward a deployment at a plain http:// URL:
// it brings its own certificates (an https:// URL is verified against the
// system's roots), and the testbed makes a CA only for what it starts.
func checkTLSTarget(o Options, kind testbed.Kind, url string) error {
	if kind == testbed.KindURL && wantsTLS(o) && !strings.HasPrefix(url, "https://") {
		return fmt.Errorf("engine: TLS against url=%s: a deployment brings its own certificates; give its https:// URL", url)
	}
	return nil
}

// httpClient is a client of the system with timeout that trusts the run's
// CA (plain HTTP: the default transport).
func httpClient(tc *tls.Config, timeout time.Duration) *http.Client {
	hc := &http.Client{Timeout: timeout}
	if tc != nil {
		hc.Transport = tlsTransport(tc)
	}
	return hc
}

// tlsTransport is a pooled transport like http.DefaultTransport whose TLS
// trusts tc's CAs.
func tlsTransport(tc *tls.Config) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc.Clone()
	return tr
}

// portalClient is the harness's client of one portal at base (the direct
// URL: admin calls, the business clock).
func (r *run) portalClient(base string) *portalclient.Client {
	c := portalclient.New(base)
	if r.tls != nil {
		c.HTTP = httpClient(r.tls, c.HTTP.Timeout)
	}
	return c
}

// caPEM is the run's CA certificate for shard.json (nil: plain HTTP).
func (r *run) caPEM() []byte {
	if r.tb == nil {
		return nil
	}
	if ca := testbed.CAOf(r.tb); ca != nil {
		return ca.PEM
	}
	return nil
}

// browserTrust are the public key hashes of the portals' certificates,
// which the browsers accept (nil: plain HTTP). The certificates name
// loopback, where the browsers dial, but Chromium does not know the run's
// CA; trusting these keys alone keeps every other certificate error an
// error.
func (r *run) browserTrust() []string {
	ca := testbed.CAOf(r.tb)
	if ca == nil {
		return nil
	}
	var out []string
	for _, c := range r.tb.Components() {
		if !strings.HasPrefix(c.Name, testbed.Portal) {
			continue // the browsers see the portals only
		}
		kp, err := pki.LoadCertificate(filepath.Join(ca.Dir, c.Name+".pem"))
		if err != nil {
			r.log.Warn("browsers: reading a certificate to trust", "component", c.Name, "err", err)
			continue
		}
		out = append(out, pki.SPKIHash(kp))
	}
	return out
}
