//go:build unix

package connlimit

import (
	"net"
	"sync"
	"syscall"
)

// headBufs keeps the read buffers of connections answered on the accept
// loop: under a storm that is every turned-away connection, and a fresh
// 8 KiB each would be garbage at the rate of the storm. A buffer whose
// head is handed on (a probe, a partial request) leaves the pool.
var headBufs = sync.Pool{New: func() any { b := make([]byte, turnAwayHead); return &b }}

// turnAwayNow answers c on the accept loop itself when its whole request
// has arrived already (the usual case under a storm: the client sends as
// soon as the handshake completes, and the connection waited in the
// listen queue): one read and one write, both without waiting, and a
// close that sends FIN since nothing is left unread. The 503 then reaches
// the client however long the handlers keep the scheduler from running
// another goroutine. A whole probe request is left to be served. Otherwise
// it returns what it read, for turnAway.
func turnAwayNow(c net.Conn, msg []byte) (head []byte, st turnState) {
	if len(msg) == 0 {
		_ = c.Close()
		return nil, answered
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, incomplete
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, incomplete
	}
	bp := headBufs.Get().(*[]byte)
	buf := *bp
	n := 0
	// Returning true from the callback makes the read one attempt: it
	// never parks on the poller.
	if err := rc.Read(func(fd uintptr) bool {
		n, _ = syscall.Read(int(fd), buf)
		return true
	}); err != nil || n <= 0 {
		headBufs.Put(bp)
		return nil, incomplete
	}
	head = buf[:n]
	if !complete(head) {
		return head, incomplete
	}
	if isProbe(head) {
		return head, probe
	}
	headBufs.Put(bp) // the head is not needed past here
	written := 0
	if err := rc.Write(func(fd uintptr) bool {
		written, _ = syscall.Write(int(fd), msg)
		return true
	}); err != nil || written != len(msg) {
		// A fresh socket's send buffer takes a few hundred bytes; if it
		// did not, the rest of the answer cannot follow without waiting.
		_ = c.Close()
		return nil, answered
	}
	_ = c.Close()
	return nil, answered
}
