package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"
)

// slowHeaderSender is slowloris: a request whose headers arrive one byte
// at a time and never end. A server that bounds the header block as a
// whole (ReadHeaderTimeout) cuts it off; one whose read timeout restarts
// with every byte keeps it, and whatever it holds for it, for ever.
type slowHeaderSender struct{}

func (slowHeaderSender) hold(ctx context.Context, c net.Conn, u *url.URL, every time.Duration) error {
	head := fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: golive-slow-header\r\n", u.RequestURI(), u.Host)
	if err := dribble(ctx, c, head, every); err != nil {
		return err
	}
	// Then an endless header, bounded by ctx (the attack's window).
	for i := 0; ; i++ {
		line := fmt.Appendf(nil, "X-Slow-%d: %d\r\n", i, i)
		if err := dribble(ctx, c, line, every); err != nil {
			return err
		}
	}
}
