package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"time"
)

// slowBodyBytes is the body a slow-body client declares; at a byte every
// second it would take over an hour to send.
const slowBodyBytes = 4096

// slowBodySender sends a request's headers at once, declaring a body, then
// the body one byte at a time. A server with a body read deadline answers
// 408 and closes; one that reads bodies without a deadline (and takes a
// worker or a slot before reading) keeps it.
type slowBodySender struct{}

func (slowBodySender) hold(ctx context.Context, c net.Conn, u *url.URL, every time.Duration) error {
	head := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: golive-slow-body\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		u.RequestURI(), u.Host, slowBodyBytes)
	if _, err := c.Write(head); err != nil {
		return err
	}
	body := append([]byte(`{"grant_type":"`), bytes.Repeat([]byte("x"), slowBodyBytes)...)
	return dribble(ctx, c, body[:slowBodyBytes], every)
}
