//go:build !unix

package connlimit

import "net"

// turnAwayNow leaves every turned-away connection to turnAway where raw
// sockets are not read this way.
func turnAwayNow(net.Conn, []byte) ([]byte, bool) { return nil, false }
