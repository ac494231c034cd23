package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssefs/ssefs/test/faultproxy"
	"github.com/ssefs/ssefs/test/testenv"
)

// The fault tests run the real ssefs binary against the reference backend
// through test/faultproxy, and check every acknowledged write from outside
// with a client that talks to the backend directly, not through the proxy.

// faultBytes is how much TestCopyThroughFaults moves each way:
// SSEFS_FAULT_BYTES (e.g. 1G, 256M), default 256 MiB (32 MiB with the race
// build of ssefs, which is several times slower).
func faultBytes(t *testing.T) int64 {
	if v := os.Getenv("SSEFS_FAULT_BYTES"); v != "" {
		n, err := parseSize(v)
		if err != nil {
			t.Fatalf("SSEFS_FAULT_BYTES: %v", err)
		}
		return n
	}
	if os.Getenv("SSEFS_RACE") == "1" {
		return 32 << 20
	}
	return 256 << 20
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

// seedFrom returns the seed in env var name, else a new one; the test
// prints it so a failure can be replayed.
func seedFrom(t *testing.T, name string) uint64 {
	if v := os.Getenv(name); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return s
	}
	return rand.Uint64() % 1_000_000_000
}

// startProxy puts a fault proxy in front of b.
func startProxy(t *testing.T, b *testenv.Backend) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(b.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// within runs fn and fails the test if it does not return in d: no
// system call of a fault test may hang.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// pattern is a reproducible stream of n pseudo-random bytes.
func pattern(seed uint64, n int64) io.Reader {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func sha(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

// serverSHA streams an object from the backend directly (not through any
// proxy) and returns its SHA-256; ok is false when it does not exist.
func serverSHA(t *testing.T, b *testenv.Backend, bucket, key string, e encryption) (sum [32]byte, size int64, ok bool) {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: &bucket, Key: &key}
	if e.key != nil {
		in.SSECustomerAlgorithm = aws.String("AES256")
		in.SSECustomerKey = aws.String(e.key.Base64())
		in.SSECustomerKeyMD5 = aws.String(e.key.MD5Base64())
	}
	out, err := b.S3().GetObject(context.Background(), in)
	if err != nil {
		if httpStatus(err) == http.StatusNotFound {
			return sum, 0, false
		}
		t.Fatalf("GET %s from the backend: %v", key, err)
	}
	defer out.Body.Close()
	sum, size, err = sha(out.Body)
	if err != nil {
		t.Fatalf("GET %s from the backend: %v", key, err)
	}
	return sum, size, true
}

// writeFile creates path with r's content and closes it; the error is
// what write or close reported.
func writeFile(path string, r io.Reader) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// faultTimeout is the mounts' --timeout in fault tests: short enough that
// stall-body faults cost little, long enough for a loaded CI machine
// running the race-built daemon to answer a healthy request.
const faultTimeout = "5s"

// faultMatrix accumulates what a fault test did, for its report line.
type faultMatrix struct {
	ops            int64 // system calls that moved data or changed the tree
	bytesVerified  int64 // bytes compared by SHA-256 (server side and mount side)
	losses         int64 // acknowledged data not on the server, or read back wrong
	falseSuccesses int64 // success reported for data that the server does not hold
	failedCloses   int64 // close reported an error (allowed: data not acknowledged)
}

func (m *faultMatrix) report(t *testing.T, p *faultproxy.Proxy) {
	st := p.Stats()
	var kinds []string
	for _, k := range faultproxy.AllKinds() {
		kinds = append(kinds, fmt.Sprintf("%v=%d", k, st.Faults[k]))
	}
	t.Logf("FAULT MATRIX %s: ops=%d requests=%d faults=%d [%s] bytes_verified=%d losses=%d false_successes=%d failed_closes=%d",
		t.Name(), m.ops, st.Requests, st.TotalFaults(), strings.Join(kinds, " "), m.bytesVerified, m.losses, m.falseSuccesses, m.failedCloses)
	if m.losses != 0 || m.falseSuccesses != 0 {
		t.Errorf("%d losses and %d false successes, want 0 and 0", m.losses, m.falseSuccesses)
	}
}

// TestCopyThroughFaults copies files in and out of a mount while the proxy
// breaks about one request in ten in every way it knows. After each close
// that returned 0 the object is read from the backend directly and must be
// byte-identical; every file read back through the mount must be too.
func TestCopyThroughFaults(t *testing.T) {
	total := faultBytes(t)
	seed := seedFrom(t, "SSEFS_FAULT_SEED")
	t.Logf("copying %d MiB each way; replay with SSEFS_FAULT_SEED=%d", total>>20, seed)
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "faults")
	e := newSSECKey(t)
	p := startProxy(t, b)
	// --timeout: how long a stalled answer or body (stall-body faults)
	// is waited for before the request is retried.
	m := testenv.MountBucket(t, b, "faults", append(e.mountArgs(), "--endpoint", p.URL(), "--timeout", faultTimeout)...)
	p.SetPlan(faultproxy.Plan{Rate: 0.1, Burst: 2, Stall: 300 * time.Millisecond, Seed: seed})

	var mx faultMatrix
	sizes := []int64{1 << 20, 5<<20 + 123, 20<<20 + 7, 37 << 20, 64 << 10, 3<<20 - 1}
	type written struct {
		name string
		seed uint64
		size int64
		sum  [32]byte
	}
	var files []written
	// Past total, go on (up to 200 files) until the proxy has broken
	// something: a small copy in few large requests can miss every fault.
	for i, done := 0, int64(0); done < total || p.Stats().TotalFaults() == 0 && i < 200; i++ {
		size := sizes[i%len(sizes)]
		if done < total {
			size = min(size, total-done)
		}
		w := written{name: fmt.Sprintf("f%03d.bin", i), seed: seed + uint64(i), size: size}
		w.sum, _, _ = sha(pattern(w.seed, size))
		var err error
		within(t, 5*time.Minute, "writing "+w.name, func() { err = writeFile(m.Path(w.name), pattern(w.seed, size)) })
		mx.ops++
		got, gotSize, ok := serverSHA(t, b, "faults", w.name, e)
		if err != nil {
			// Not acknowledged: allowed, but it must not be reported as saved.
			mx.failedCloses++
			t.Logf("%s: close reported %v (allowed under faults; server has it: %v)\nlog warnings:\n%s", w.name, err, ok && got == w.sum, logWarnings(m.Log()))
			continue
		}
		mx.bytesVerified += gotSize
		if !ok || got != w.sum {
			mx.falseSuccesses++
			t.Errorf("%s: close returned 0 but the server holds %d bytes that differ (exists=%v)", w.name, gotSize, ok)
			continue
		}
		files = append(files, w)
		done += size
	}
	for _, w := range files {
		var sum [32]byte
		var err error
		within(t, 5*time.Minute, "reading "+w.name, func() { sum, err = readSHA(m.Path(w.name)) })
		mx.ops++
		if err != nil {
			t.Errorf("%s: read back: %v", w.name, err)
			continue
		}
		mx.bytesVerified += w.size
		if sum != w.sum {
			mx.losses++
			t.Errorf("%s: read back through the mount: content differs from what was written", w.name)
		}
	}
	mx.report(t, p)
	if st := p.Stats(); st.TotalFaults() == 0 {
		t.Error("the proxy injected no fault: the test proved nothing")
	}
}

// readSHA reads a whole file and returns its SHA-256.
func readSHA(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	sum, _, err := sha(f)
	return sum, err
}

// TestEveryFaultOnEveryRequestRecovers: one fault of each kind on the first
// request of each class (small PUT, multipart create, part, complete,
// object GET, HEAD) is within the client's retries, so the system call
// must succeed with the right bytes, and what close acknowledged must be
// on the server.
func TestEveryFaultOnEveryRequestRecovers(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "each")
	e := newSSECKey(t)
	p := startProxy(t, b)
	m := testenv.MountBucket(t, b, "each", append(e.mountArgs(), "--endpoint", p.URL(), "--attr-ttl", "50ms", "--timeout", faultTimeout)...)
	p.SetPlan(faultproxy.Plan{Stall: 200 * time.Millisecond})
	classes := []struct {
		name  string
		match func(*http.Request) bool
		size  int64
		read  bool
	}{
		{"small PUT", faultproxy.IsObjectPut, 100 << 10, false},
		{"multipart create", faultproxy.IsCreateMultipart, 40 << 20, false},
		{"upload part", faultproxy.IsUploadPart, 40 << 20, false},
		{"multipart complete", faultproxy.IsCompleteMultipart, 40 << 20, false},
		{"object GET", faultproxy.IsObjectGet, 3 << 20, true},
		{"HEAD", faultproxy.IsHead, 3 << 20, true},
	}
	var mx faultMatrix
	for ci, c := range classes {
		for _, k := range faultproxy.AllKinds() {
			t.Run(fmt.Sprintf("%v on %s", k, c.name), func(t *testing.T) {
				name := fmt.Sprintf("c%d-%d.bin", ci, k)
				seed := uint64(ci*100 + int(k))
				want, _, _ := sha(pattern(seed, c.size))
				if c.read {
					if err := writeFile(m.Path(name), pattern(seed, c.size)); err != nil {
						t.Fatal(err)
					}
					time.Sleep(100 * time.Millisecond) // past the attribute TTL: open HEADs again
				}
				before := p.Stats().Faults[k]
				p.Next(k, c.match)
				var got [32]byte
				var err error
				within(t, 2*time.Minute, fmt.Sprintf("%v on %s", k, c.name), func() {
					if c.read {
						got, err = readSHA(m.Path(name))
					} else if err = writeFile(m.Path(name), pattern(seed, c.size)); err == nil {
						got, _, _ = serverSHA(t, b, "each", name, e)
					}
				})
				mx.ops++
				if p.Stats().Faults[k] == before {
					p.SetPlan(faultproxy.Plan{Stall: 200 * time.Millisecond}) // drop the unused script entry
					t.Skipf("no %s request was made", c.name)
				}
				switch {
				case err != nil:
					mx.failedCloses++
					t.Errorf("%v\nlog warnings:\n%s", err, logWarnings(m.Log()))
				case got != want:
					if c.read {
						mx.losses++
					} else {
						mx.falseSuccesses++
					}
					t.Error("the call succeeded with wrong bytes")
				default:
					mx.bytesVerified += c.size
				}
			})
		}
	}
	mx.report(t, p)
}
