package faultproxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// backend answers GET with 1 MiB of a known pattern and counts PUT bodies
// it received whole.
func backend(t *testing.T) (*httptest.Server, []byte, *atomic.Int64) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	var puts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			n, _ := io.Copy(io.Discard, r.Body)
			if n == r.ContentLength {
				puts.Add(1)
			}
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, body, &puts
}

func start(t *testing.T, target string) *Proxy {
	p, err := Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func get(p *Proxy) (int, []byte, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	resp, err := c.Get(p.URL() + "/bucket/key")
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// getStalled reads a GET's body until nothing has come for quiet, then
// gives up: it returns what arrived and why reading stopped.
func getStalled(p *Proxy, quiet time.Duration) ([]byte, error) {
	resp, err := http.Get(p.URL() + "/bucket/key")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var got []byte
	buf := make([]byte, 32<<10)
	for {
		t := time.AfterFunc(quiet, func() { resp.Body.Close() })
		n, err := resp.Body.Read(buf)
		stalled := !t.Stop()
		got = append(got, buf[:n]...)
		if stalled {
			return got, fmt.Errorf("nothing for %v", quiet)
		}
		if err != nil {
			return got, err
		}
	}
}

// Each kind does what it says, once, and is counted.
func TestEachKind(t *testing.T) {
	srv, want, puts := backend(t)
	p := start(t, srv.URL)

	if code, b, err := get(p); err != nil || code != 200 || !bytes.Equal(b, want) {
		t.Fatalf("no fault: %d %d bytes %v", code, len(b), err)
	}
	p.Next(Reset, nil)
	if _, _, err := get(p); err == nil {
		t.Error("reset: request succeeded")
	}
	p.Next(Error500, nil)
	if code, b, _ := get(p); code != 500 || !strings.Contains(string(b), "<Code>InternalError</Code>") {
		t.Errorf("500: %d %s", code, b)
	}
	p.Next(SlowDown503, nil)
	if code, b, _ := get(p); code != 503 || !strings.Contains(string(b), "<Code>SlowDown</Code>") {
		t.Errorf("503: %d %s", code, b)
	}
	p.Next(Truncate, nil)
	if _, b, err := get(p); !errors.Is(err, io.ErrUnexpectedEOF) || len(b) != len(want)/2 {
		t.Errorf("truncate: %d bytes, %v", len(b), err)
	}
	p.Next(StallBody, nil)
	if b, err := getStalled(p, 500*time.Millisecond); err == nil || len(b) != len(want)/2 {
		t.Errorf("stall body: %d bytes then %v, want half the body then silence", len(b), err)
	}
	p.SetPlan(Plan{Stall: 300 * time.Millisecond})
	p.Next(Stall, nil)
	t0 := time.Now()
	if code, b, err := get(p); err != nil || code != 200 || !bytes.Equal(b, want) || time.Since(t0) < 300*time.Millisecond {
		t.Errorf("stall: %d %d bytes %v after %v", code, len(b), err, time.Since(t0))
	}
	p.Next(SlowBody, nil)
	if code, b, err := get(p); err != nil || code != 200 || !bytes.Equal(b, want) {
		t.Errorf("slow body: %d %d bytes %v", code, len(b), err)
	}
	put := func() error {
		req, _ := http.NewRequest(http.MethodPut, p.URL()+"/bucket/key", bytes.NewReader(want))
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	p.Next(DropUpload, IsObjectPut)
	if err := put(); err == nil {
		t.Error("drop upload: PUT succeeded")
	}
	if puts.Load() != 0 {
		t.Error("drop upload: the backend received the PUT")
	}
	p.Next(LostResponse, IsObjectPut)
	if err := put(); err == nil {
		t.Error("lost response: PUT succeeded")
	}
	if puts.Load() != 1 {
		t.Errorf("lost response: the backend received %d PUTs, want 1", puts.Load())
	}
	st := p.Stats()
	for _, k := range AllKinds() {
		if st.Faults[k] != 1 {
			t.Errorf("%v counted %d times, want 1", k, st.Faults[k])
		}
	}
	if st.Requests != 10 {
		t.Errorf("%d requests counted, want 10", st.Requests)
	}
}

// A plan's rate, burst and cap hold.
func TestPlanBoundsAndBursts(t *testing.T) {
	srv, _, _ := backend(t)
	p := start(t, srv.URL)
	p.SetPlan(Plan{Rate: 1, Kinds: []Kind{SlowDown503}, Burst: 3, MaxFaults: 2, Seed: 7})
	var codes []int
	for range 10 {
		code, _, err := get(p)
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, code)
	}
	want := []int{503, 503, 503, 503, 503, 503, 200, 200, 200, 200}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("codes %v, want %v (2 faults in bursts of 3, then none)", codes, want)
		}
	}
	if got := p.Stats().Faults[SlowDown503]; got != 6 {
		t.Errorf("%d faults counted, want 6", got)
	}
}
