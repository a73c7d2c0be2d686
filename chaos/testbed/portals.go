package testbed

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
)

// MaxPortals bounds Options.Portals.
const MaxPortals = 16

// PortalName is the component name of portal i (1-based) of n: "portal"
// when there is one (the name every scenario and report already uses),
// portal-1..portal-N when there are several.
func PortalName(i, n int) string {
	if n <= 1 {
		return Portal
	}
	return fmt.Sprintf("%s-%d", Portal, i)
}

// ClientPortalLink is the fault proxy's link from the clients to portal i
// of n: client->portal with one portal, client->portal-N with several, so
// each replica can be cut off on its own.
func ClientPortalLink(i, n int) string {
	if n <= 1 {
		return LinkClientPortal
	}
	return "client->" + PortalName(i, n)
}

// Replicated is implemented by testbeds that run several portals.
type Replicated interface {
	// PortalURLs are the portals as clients reach them, each through its
	// own client link; PortalURL is the first.
	PortalURLs() []string
	// DirectPortalURLs bypass the fault proxy, in the same order.
	DirectPortalURLs() []string
}

// PortalURLs lists tb's portals as clients reach them.
func PortalURLs(tb Testbed) []string {
	if r, ok := tb.(Replicated); ok {
		return r.PortalURLs()
	}
	return []string{tb.PortalURL()}
}

// DirectPortalURLs lists tb's portals bypassing the fault proxy.
func DirectPortalURLs(tb Testbed) []string {
	if r, ok := tb.(Replicated); ok {
		return r.DirectPortalURLs()
	}
	return []string{tb.DirectPortalURL()}
}

func (tb *localTestbed) PortalURLs() []string {
	out := make([]string, len(tb.clients))
	for i, c := range tb.clients {
		out[i] = scheme(tb.ca) + "://" + loopback(c)
	}
	return out
}

func (tb *localTestbed) DirectPortalURLs() []string {
	ps := tb.procs[len(tb.procs)-tb.opts.Portals:]
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.url()
	}
	return out
}

func (tb *dockerTestbed) isPortal(name string) bool {
	for _, p := range tb.portals {
		if p == name {
			return true
		}
	}
	return false
}

func (tb *dockerTestbed) PortalURLs() []string {
	out := make([]string, len(tb.clients))
	for i, c := range tb.clients {
		out[i] = scheme(tb.ca) + "://" + loopback(c)
	}
	return out
}

func (tb *dockerTestbed) DirectPortalURLs() []string {
	out := make([]string, len(tb.portals))
	for i, p := range tb.portals {
		out[i] = tb.ctrs[p].url()
	}
	return out
}

// sealKeySize is the registry's seal key length (issuer/store).
const sealKeySize = 32

// shareSealKey writes the registry's seal key (DATA/registry/seal.key,
// 32 random bytes, 0600) before several portals start: each would
// otherwise create one on its first start, and the one that lost the race
// would find the registry holding data sealed with a key it does not have.
func shareSealKey(o Options, data string) error {
	if o.Portals <= 1 {
		return nil
	}
	dir := filepath.Join(data, "registry")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("testbed: registry directory: %w", err)
	}
	path := filepath.Join(dir, "seal.key")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	key := make([]byte, sealKeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("testbed: seal key: %w", err)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return fmt.Errorf("testbed: seal key: %w", err)
	}
	return nil
}
