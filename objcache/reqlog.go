package objcache

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// requestLogger logs every HTTP request at debug level (`ssefs mount
// --debug`): method, path, query, status, sizes and time. Never headers or
// bodies: headers carry SSE-C keys and signatures, bodies plaintext.
type requestLogger struct {
	next httpDoer
	log  *slog.Logger
}

// logRequests wraps next with a requestLogger when log is at debug level.
func logRequests(next httpDoer, log *slog.Logger) httpDoer {
	if next == nil || log == nil || !log.Enabled(context.Background(), slog.LevelDebug) {
		return next
	}
	return requestLogger{next: next, log: log}
}

// Do implements httpDoer.
func (l requestLogger) Do(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := l.next.Do(req)
	attrs := []any{"method", req.Method, "path", req.URL.Path, "query", req.URL.RawQuery,
		"sent", req.ContentLength, "ms", time.Since(start).Milliseconds()}
	if err != nil {
		l.log.Debug("s3 request failed", append(attrs, "err", err.Error())...)
		return resp, err
	}
	l.log.Debug("s3 request", append(attrs, "status", resp.StatusCode, "length", resp.ContentLength)...)
	return resp, nil
}
