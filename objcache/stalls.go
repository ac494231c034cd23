package objcache

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// A server (or a middlebox) can stall a live connection at three points,
// and each would hang a system call on the mount for good without a bound:
//
//   - before answering: the transport's ResponseHeaderTimeout;
//   - while we send a request body (the server stops reading; the socket
//     buffers fill and the write blocks): every write to a connection has
//     a deadline (deadlineConn);
//   - in the middle of a response body: every response body is watched
//     (watchedBody); a read that gets nothing for the bound closes the
//     body and fails with errBodyStalled.
//
// All three fail with a net.Error timeout, which the SDK's retryer retries
// and a GET's resumingReader resumes from where it stopped.

// bodyStalled is the error of a read from a stalled response body. It is a
// net.Error timeout, which is what retry logic (ours and the SDK's) looks
// for.
type bodyStalled struct{}

func (bodyStalled) Error() string {
	return "response body stalled: nothing received within the timeout"
}
func (bodyStalled) Timeout() bool   { return true }
func (bodyStalled) Temporary() bool { return true }

// errBodyStalled is returned by reads of a body that stalled.
var errBodyStalled error = bodyStalled{}

// httpDoer is the SDK's HTTP client interface.
type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// bodyWatcher wraps every response body in a watchedBody.
type bodyWatcher struct {
	next httpDoer
	idle time.Duration
}

// watchBodies returns next with response bodies bounded by idle (no bound
// when idle <= 0).
func watchBodies(next httpDoer, idle time.Duration) httpDoer {
	if idle <= 0 || next == nil {
		return next
	}
	return bodyWatcher{next: next, idle: idle}
}

// Do implements httpDoer.
func (w bodyWatcher) Do(req *http.Request) (*http.Response, error) {
	resp, err := w.next.Do(req)
	if err == nil && resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &watchedBody{body: resp.Body, idle: w.idle}
	}
	return resp, err
}

// watchedBody closes its body when a read waits longer than idle.
type watchedBody struct {
	body    io.ReadCloser
	idle    time.Duration
	timer   *time.Timer
	stalled atomic.Bool   // the watchdog fired
	closed  chan struct{} // closed once the watchdog has closed body
}

// Read implements io.Reader.
func (b *watchedBody) Read(p []byte) (int, error) {
	if b.stalled.Load() {
		return 0, errBodyStalled
	}
	if b.timer == nil {
		b.closed = make(chan struct{})
		b.timer = time.AfterFunc(b.idle, b.expire)
	} else {
		b.timer.Reset(b.idle)
	}
	n, err := b.body.Read(p)
	if !b.timer.Stop() {
		// The watchdog fired during this read: the body is (being)
		// closed, whatever the read got.
		<-b.closed
		return n, errBodyStalled
	}
	return n, err
}

func (b *watchedBody) expire() {
	b.stalled.Store(true)
	b.body.Close()
	close(b.closed)
}

// Close implements io.Closer.
func (b *watchedBody) Close() error {
	if b.timer != nil {
		b.timer.Stop()
	}
	return b.body.Close()
}

// deadlineConn is a connection whose every write must finish within
// timeout. Reads are left alone: an idle pooled connection waits in a
// read, and response bodies have their own watch.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

// Write implements net.Conn.
func (c deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// dialWithWriteDeadlines returns a DialContext whose connections bound
// each write by timeout (no bound when timeout <= 0).
func dialWithWriteDeadlines(d *net.Dialer, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil || timeout <= 0 {
			return c, err
		}
		return deadlineConn{Conn: c, timeout: timeout}, nil
	}
}
