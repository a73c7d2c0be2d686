package testbed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// link is one route of the fault proxy.
type link struct {
	name     string // client->portal, portal->signer-N
	listen   string // host:port inside the proxy's network view
	upstream string
}

// populateLinks creates (or re-creates, after a proxy restart) every
// route on the fault proxy at api, enabled and without toxics.
func populateLinks(api string, links []link) error {
	c := toxiproxy.NewClient(api)
	cfg := make([]toxiproxy.Proxy, 0, len(links))
	for _, l := range links {
		cfg = append(cfg, toxiproxy.Proxy{Name: proxyName(l.name), Listen: l.listen, Upstream: l.upstream, Enabled: true})
	}
	if _, err := c.Populate(cfg); err != nil {
		return fmt.Errorf("testbed: creating the fault proxy's links: %w", err)
	}
	return nil
}

// proxyFor looks up a link's route on the fault proxy at api.
func proxyFor(api string, links []link, name string) (*toxiproxy.Proxy, error) {
	for _, l := range links {
		if l.name == name {
			p, err := toxiproxy.NewClient(api).Proxy(proxyName(name))
			if err != nil {
				return nil, fmt.Errorf("testbed: fault proxy link %s: %w", name, err)
			}
			return p, nil
		}
	}
	return nil, fmt.Errorf("testbed: link %q: %w (have %v)", name, ErrUnknownComponent, linkNames(links))
}

func linkNames(links []link) []string {
	out := make([]string, len(links))
	for i, l := range links {
		out[i] = l.name
	}
	return out
}

// waitReady polls base+path until it answers 200, the component's process
// ends (exited returns non-nil) or timeout passes; tc verifies an https
// base (nil: plain HTTP or the system's roots).
func waitReady(ctx context.Context, base, path string, tc *tls.Config, timeout time.Duration, exited func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	if tc != nil {
		tr := &http.Transport{TLSClientConfig: tc}
		defer tr.CloseIdleConnections()
		hc.Transport = tr
	}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return fmt.Errorf("testbed: %w", err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %d", path, resp.StatusCode)
		}
		last = err
		if exited != nil {
			if e := exited(); e != nil {
				return e
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("testbed: %s%s not ready after %v: %v", base, path, timeout, last)
			}
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePorts reserves n distinct free TCP ports on 127.0.0.1. The ports are
// fixed for the whole run so a restarted component keeps its URL.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testbed: reserving a port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
