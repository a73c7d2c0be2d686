//go:build !unix

package connlimit

import "net"

// turnAwayNow leaves every turned-away connection to turnAway where raw
// sockets are not read this way.
func turnAwayNow(c net.Conn, msg []byte) ([]byte, turnState) {
	if len(msg) == 0 {
		_ = c.Close()
		return nil, answered
	}
	return nil, incomplete
}
