package testbed

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// urlTestbed is an existing deployment: it can be loaded and probed, never
// hurt.
type urlTestbed struct {
	opts Options
	base string
}

func startURL(ctx context.Context, opts Options) (Testbed, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("testbed: url target needs a base URL like http://127.0.0.1:8080, got %q", opts.URL)
	}
	tb := &urlTestbed{opts: opts, base: strings.TrimRight(opts.URL, "/")}
	if err := waitReady(ctx, tb.base, "/readyz", nil, opts.StartTimeout, nil); err != nil {
		return nil, fmt.Errorf("testbed: the deployment at %s is not ready: %w", tb.base, err)
	}
	opts.Logger.Info("testbed: using an existing deployment; faults are unavailable", "url", tb.base)
	return tb, nil
}

func (tb *urlTestbed) Kind() Kind              { return KindURL }
func (tb *urlTestbed) RunID() string           { return tb.opts.RunID }
func (tb *urlTestbed) PortalURL() string       { return tb.base }
func (tb *urlTestbed) DirectPortalURL() string { return tb.base }
func (tb *urlTestbed) AdminToken() string      { return tb.opts.AdminToken }
func (tb *urlTestbed) DataDir() string         { return "" }
func (tb *urlTestbed) Links() []string         { return nil }
func (tb *urlTestbed) Components() []Component {
	return []Component{{Name: Portal, URL: tb.base, ReadyPath: "/readyz"}}
}

func (tb *urlTestbed) Supports(op Op) error {
	return fmt.Errorf("testbed: %s faults are %w on an existing deployment (--target url); use --target docker or local", op, ErrUnsupported)
}

func (tb *urlTestbed) Kill(context.Context, string) error    { return tb.Supports(OpKill) }
func (tb *urlTestbed) Stop(context.Context, string) error    { return tb.Supports(OpStop) }
func (tb *urlTestbed) Start(context.Context, string) error   { return tb.Supports(OpStart) }
func (tb *urlTestbed) Restart(context.Context, string) error { return tb.Supports(OpRestart) }
func (tb *urlTestbed) Pause(context.Context, string) error   { return tb.Supports(OpPause) }
func (tb *urlTestbed) Resume(context.Context, string) error  { return tb.Supports(OpResume) }
func (tb *urlTestbed) CPU(context.Context, string, float64) error {
	return tb.Supports(OpCPU)
}
func (tb *urlTestbed) Isolate(context.Context, string) error  { return tb.Supports(OpIsolate) }
func (tb *urlTestbed) Rejoin(context.Context, string) error   { return tb.Supports(OpIsolate) }
func (tb *urlTestbed) Proxy(string) (*toxiproxy.Proxy, error) { return nil, tb.Supports(OpProxy) }
func (tb *urlTestbed) Close(context.Context) error            { return nil }
