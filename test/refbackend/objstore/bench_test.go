package objstore

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

const benchSize = 64 << 20

var benchModes = []struct {
	name string
	mode SSEMode
}{{"none", SSENone}, {"ssec", SSEC}}

// BenchmarkPut stores a 64 MiB object, unencrypted and SSE-C.
func BenchmarkPut(b *testing.B) {
	data := pseudo(1, benchSize)
	for _, bm := range benchModes {
		b.Run(bm.name, func(b *testing.B) {
			s, _ := newStore(b)
			seal := sealing(bm.mode)
			b.SetBytes(benchSize)
			for b.Loop() {
				if _, err := s.Put("b", "k", bytes.NewReader(data), ObjectMeta{}, seal); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGet reads a whole 64 MiB object, unencrypted and SSE-C, as an
// HTTP handler would (io.Copy to the response).
func BenchmarkGet(b *testing.B) {
	s, _ := newStore(b)
	data := pseudo(2, benchSize)
	metas := map[string]ObjectMeta{}
	seals := map[string]Sealing{}
	for _, bm := range benchModes {
		seals[bm.name] = sealing(bm.mode)
		metas[bm.name] = put(b, s, bm.name, data, seals[bm.name])
	}
	for _, bm := range benchModes {
		b.Run(bm.name, func(b *testing.B) {
			m, key := metas[bm.name], seals[bm.name].Key
			b.SetBytes(benchSize)
			for b.Loop() {
				rc, err := s.ReadRange(m, key, 0, m.Size)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, rc); err != nil || n != benchSize {
					b.Fatal(n, err)
				}
				rc.Close()
			}
		})
	}
}

// BenchmarkRangeRead1MiBIn1GiB reads 1 MiB at random offsets of a 1 GiB
// SSE-C object (built once) and reports the chunks decrypted per read.
func BenchmarkRangeRead1MiBIn1GiB(b *testing.B) {
	const size, n = 1 << 30, 1 << 20
	s, _ := newStore(b)
	seal := sealing(SSEC)
	m, err := s.Put("b", "big", io.LimitReader(zeroReader{}, size), ObjectMeta{}, seal)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ssec", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 1))
		before := s.ChunksDecrypted()
		b.SetBytes(n)
		for b.Loop() {
			rc, err := s.ReadRange(m, seal.Key, rng.Int64N(size-n), n)
			if err != nil {
				b.Fatal(err)
			}
			if got, err := io.Copy(io.Discard, rc); err != nil || got != n {
				b.Fatal(got, err)
			}
			rc.Close()
		}
		b.ReportMetric(float64(s.ChunksDecrypted()-before)/float64(b.N), "chunks/read")
	})
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// BenchmarkGetHTTP reads a whole 64 MiB object through a loopback HTTP
// server whose handler does what the S3 layer does (ReadRange, io.Copy to
// the response): the end-to-end cost of a GET, unencrypted and SSE-C.
func BenchmarkGetHTTP(b *testing.B) {
	s, _ := newStore(b)
	data := pseudo(2, benchSize)
	metas := map[string]ObjectMeta{}
	seals := map[string]Sealing{}
	for _, bm := range benchModes {
		seals[bm.name] = sealing(bm.mode)
		metas[bm.name] = put(b, s, bm.name, data, seals[bm.name])
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path[1:]
		m := metas[name]
		rc, err := s.ReadRange(m, seals[name].Key, 0, m.Size)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Length", strconv.FormatInt(m.Size, 10))
		io.Copy(w, rc)
	}))
	defer srv.Close()
	for _, bm := range benchModes {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(benchSize)
			for b.Loop() {
				resp, err := http.Get(srv.URL + "/" + bm.name)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != benchSize {
					b.Fatal(n, err)
				}
			}
		})
	}
}
