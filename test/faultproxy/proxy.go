// Package faultproxy is an HTTP reverse proxy for tests that sits between
// ssefs and an S3 endpoint on loopback and breaks requests on purpose:
// connection resets, stalls, 500 and 503 SlowDown bursts with S3 XML error
// bodies, truncated and slow response bodies, answers lost after the server
// acted, and uploads cut off in the middle of their body. What it breaks is
// set by a Plan (a rate over chosen kinds, with a cap on the number of
// faults) or scripted request by request with Next; Stats counts what it saw
// and what it injected.
package faultproxy

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is one way of breaking a request.
type Kind int

// The faults the proxy can inject.
const (
	// Reset closes the client's connection with a TCP RST before anything
	// is forwarded.
	Reset Kind = iota
	// Stall holds the request for Plan.Stall, then forwards it.
	Stall
	// Error500 answers 500 InternalError without forwarding.
	Error500
	// SlowDown503 answers 503 SlowDown without forwarding.
	SlowDown503
	// Truncate forwards, then sends only half of the response body and
	// closes the connection.
	Truncate
	// SlowBody forwards, then trickles the response body out in small
	// pieces with pauses.
	SlowBody
	// DropUpload reads part of a request body, then resets the connection
	// without forwarding (a request with no body is reset at once).
	DropUpload
	// LostResponse forwards (the server acts on the request), then resets
	// the connection instead of answering.
	LostResponse
	// StallBody forwards, sends the headers and half of the response body,
	// then goes silent on the open connection (until the client gives up,
	// or for at most maxBodyStall).
	StallBody
	numKinds
)

var kindNames = [numKinds]string{"reset", "stall", "500", "503-slowdown", "truncate", "slow-body", "drop-upload", "lost-response", "stall-body"}

// String names the kind.
func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// AllKinds lists every kind.
func AllKinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// Limits on what a plan may ask for, so that a fault test cannot hang.
const (
	MaxStall     = 10 * time.Second
	slowPiece    = 32 << 10
	slowPause    = 2 * time.Millisecond
	slowMaxTotal = 2 * time.Second
	maxBodyStall = 2 * time.Minute
)

// Plan says which requests get which faults.
type Plan struct {
	// Rate is the probability that a matching request starts a fault.
	Rate float64
	// Kinds are chosen from uniformly; empty means every kind.
	Kinds []Kind
	// Burst is how many consecutive matching requests a 500 or 503 fault
	// answers (at least 1). Keep it below the client's retry attempts for
	// "recoverable" plans.
	Burst int
	// Stall is how long a Stall fault holds a request (capped at MaxStall;
	// default 1 s).
	Stall time.Duration
	// MaxFaults caps the faults of this plan (0: no cap).
	MaxFaults int64
	// Match selects the requests the plan applies to (nil: all).
	Match func(*http.Request) bool
	// Seed makes the choices reproducible.
	Seed uint64
}

// Stats counts what the proxy saw and did.
type Stats struct {
	Requests  int64          // requests received
	Forwarded int64          // requests sent on to the backend
	Faults    map[Kind]int64 // faults injected, by kind
	BytesUp   int64          // request body bytes forwarded
	BytesDown int64          // response body bytes sent to the client
}

// TotalFaults is the sum of Faults.
func (s Stats) TotalFaults() int64 {
	var n int64
	for _, v := range s.Faults {
		n += v
	}
	return n
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	target *url.URL
	ln     net.Listener
	srv    *http.Server
	tr     *http.Transport
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	plan     Plan
	rng      *rand.Rand
	planHits int64
	burst    []Kind                 // pending burst faults
	script   []scripted             // faults queued with Next
	onReq    func(*http.Request)    // observer, called for every request
	faults   [numKinds]atomic.Int64 // counters
	requests atomic.Int64
	fwd      atomic.Int64
	up, down atomic.Int64
}

type scripted struct {
	kind  Kind
	match func(*http.Request) bool
}

// Start listens on a free loopback port and forwards to target (an
// http:// URL such as the reference backend's endpoint) with no faults
// until a plan is set.
func Start(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q: want http://HOST:PORT", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		target: u, ln: ln, ctx: ctx, cancel: cancel,
		tr:  &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64, ResponseHeaderTimeout: time.Minute},
		rng: rand.New(rand.NewPCG(1, 2)),
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 30 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// URL is the proxy's endpoint, to give ssefs as --endpoint.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// Close stops the proxy; stalled requests end at once.
func (p *Proxy) Close() {
	p.cancel()
	p.srv.Close()
	p.tr.CloseIdleConnections()
}

// SetPlan replaces the plan (and its fault count); the zero Plan injects
// nothing.
func (p *Proxy) SetPlan(pl Plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl.Burst < 1 {
		pl.Burst = 1
	}
	if pl.Stall <= 0 {
		pl.Stall = time.Second
	}
	pl.Stall = min(pl.Stall, MaxStall)
	if len(pl.Kinds) == 0 {
		pl.Kinds = AllKinds()
	}
	p.plan, p.planHits, p.burst = pl, 0, nil
	p.rng = rand.New(rand.NewPCG(pl.Seed, pl.Seed^0x9e3779b97f4a7c15))
}

// Next queues one fault for the next request that match accepts (nil: any
// request), ahead of the plan.
func (p *Proxy) Next(k Kind, match func(*http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script = append(p.script, scripted{k, match})
}

// OnRequest sets a function called (before any fault) for every request,
// e.g. to learn that an upload has started.
func (p *Proxy) OnRequest(fn func(*http.Request)) {
	p.mu.Lock()
	p.onReq = fn
	p.mu.Unlock()
}

// Stats returns the counters so far.
func (p *Proxy) Stats() Stats {
	s := Stats{Requests: p.requests.Load(), Forwarded: p.fwd.Load(), Faults: map[Kind]int64{},
		BytesUp: p.up.Load(), BytesDown: p.down.Load()}
	for k := range p.faults {
		if n := p.faults[k].Load(); n > 0 {
			s.Faults[Kind(k)] = n
		}
	}
	return s
}

// choose picks the fault for r, or -1 for none.
func (p *Proxy) choose(r *http.Request) Kind {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.onReq != nil {
		p.onReq(r)
	}
	for i, s := range p.script {
		if s.match == nil || s.match(r) {
			p.script = append(p.script[:i:i], p.script[i+1:]...)
			return s.kind
		}
	}
	pl := p.plan
	if pl.Match != nil && !pl.Match(r) {
		return -1
	}
	if len(p.burst) > 0 {
		k := p.burst[0]
		p.burst = p.burst[1:]
		return k
	}
	if pl.Rate <= 0 || (pl.MaxFaults > 0 && p.planHits >= pl.MaxFaults) || p.rng.Float64() >= pl.Rate {
		return -1
	}
	p.planHits++
	k := pl.Kinds[p.rng.IntN(len(pl.Kinds))]
	if k == Error500 || k == SlowDown503 {
		for i := 1; i < pl.Burst; i++ {
			p.burst = append(p.burst, k)
		}
	}
	return k
}

func (p *Proxy) stallFor() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.plan.Stall
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	k := p.choose(r)
	if k >= 0 {
		p.faults[k].Add(1)
	}
	switch k {
	case Reset:
		reset(w)
		return
	case DropUpload:
		if r.ContentLength != 0 {
			io.CopyN(io.Discard, r.Body, max(r.ContentLength/2, 1))
		}
		reset(w)
		return
	case Error500:
		s3Error(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		return
	case SlowDown503:
		s3Error(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	case Stall:
		t := time.NewTimer(p.stallFor())
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-p.ctx.Done():
			t.Stop()
			return
		}
	}
	p.forward(w, r, k)
}

// forward sends r to the target and relays the answer, breaking it as k
// says.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, k Kind) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = p.target.Scheme, p.target.Host
	out.Host = r.Host // SigV4 signed the Host the client used
	for _, h := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Upgrade", "Expect"} {
		out.Header.Del(h)
	}
	if r.ContentLength == 0 {
		out.Body = nil
	} else {
		out.Body = io.NopCloser(&countingReader{r: r.Body, n: &p.up})
	}
	resp, err := p.tr.RoundTrip(out)
	p.fwd.Add(1)
	if err != nil {
		http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if k == LostResponse {
		io.Copy(io.Discard, resp.Body)
		reset(w)
		return
	}
	for h, vs := range resp.Header {
		w.Header()[h] = vs
	}
	w.WriteHeader(resp.StatusCode)
	switch k {
	case Truncate, StallBody:
		half := resp.ContentLength / 2
		if resp.ContentLength < 0 {
			half = 1 << 10
		}
		n, _ := io.CopyN(w, resp.Body, half)
		p.down.Add(n)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		if k == StallBody {
			t := time.NewTimer(maxBodyStall)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done(): // the client closed the connection
			case <-p.ctx.Done():
			}
		}
		panic(http.ErrAbortHandler) // closes the connection mid-body
	case SlowBody:
		deadline := time.Now().Add(slowMaxTotal)
		buf := make([]byte, slowPiece)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
				p.down.Add(int64(n))
				if f, ok := w.(http.Flusher); ok {
					f.Flush()
				}
				if time.Now().Before(deadline) {
					time.Sleep(slowPause)
				}
			}
			if err != nil {
				return
			}
		}
	default:
		n, _ := io.Copy(w, resp.Body)
		p.down.Add(n)
	}
}

// reset closes the client connection with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// s3Error answers with S3's XML error format (no body for HEAD). The
// request body is discarded first so the connection stays usable.
func s3Error(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource><RequestId>faultproxy</RequestId></Error>`,
		code, msg, r.URL.Path)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
