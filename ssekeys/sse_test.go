package ssekeys

import (
	"bytes"
	"testing"
)

func testKey(t *testing.T, fill byte) *Key {
	t.Helper()
	k, err := NewKey(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestParamsFollowDesignOperationTable covers every row of DESIGN.md
// section 3's operation table, for each kind of encryption.
func TestParamsFollowDesignOperationTable(t *testing.T) {
	key := testKey(t, 7)
	ssec := SSE{Kind: SSEC, Key: key}
	kms := SSE{Kind: KMS, KMSKeyID: "0f8e7a52-8c4e-4d55-9d3d-1f6c1b0b8e11"}
	triple := Params{CustomerAlgorithm: "AES256", CustomerKey: key.Base64(), CustomerKeyMD5: key.MD5Base64()}
	kmsHeaders := Params{ServerSideEncryption: "aws:kms", KMSKeyID: kms.KMSKeyID}

	rows := []struct {
		name         string
		op           Op
		ssec, kms    Params
		copySourceC  bool // an SSE-C source sends the copy-source triple
		echoRequired bool
	}{
		{"PutObject", OpPut, triple, kmsHeaders, false, true},
		{"CreateMultipartUpload", OpCreateMultipart, triple, kmsHeaders, false, true},
		{"UploadPart", OpUploadPart, triple, Params{}, false, false},
		{"UploadPartCopy", OpUploadPartCopy, triple, Params{}, true, true},
		{"CompleteMultipartUpload", OpCompleteMultipart, triple, Params{}, false, true},
		{"ListParts", OpListParts, triple, Params{}, false, false},
		{"GetObject", OpGet, triple, Params{}, false, false},
		{"HeadObject", OpHead, triple, Params{}, false, false},
		{"CopyObject", OpCopy, triple, kmsHeaders, true, true},
		{"ListObjectsV2", OpList, Params{}, Params{}, false, false},
		{"DeleteObject", OpDelete, Params{}, Params{}, false, false},
		{"bucket calls", OpBucket, Params{}, Params{}, false, false},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if got := ssec.For(r.op); got != r.ssec {
				t.Errorf("SSE-C params = %+v, want %+v", redact(got), redact(r.ssec))
			}
			if got := kms.For(r.op); got != r.kms {
				t.Errorf("SSE-KMS params = %+v, want %+v", got, r.kms)
			}
			if got := (SSE{}).For(r.op); !got.IsZero() {
				t.Errorf("unencrypted params = %+v, want none", got)
			}
			if got := ChecksEcho(r.op); got != r.echoRequired {
				t.Errorf("ChecksEcho = %v, want %v", got, r.echoRequired)
			}
		})
	}
	if got := ssec.CopySource(); got != triple {
		t.Errorf("SSE-C copy source = %+v, want the triple", redact(got))
	}
	if got := kms.CopySource(); !got.IsZero() {
		t.Errorf("SSE-KMS copy source = %+v, want none (the server opens KMS sources itself)", got)
	}
	if got := (SSE{}).CopySource(); !got.IsZero() {
		t.Errorf("plain copy source = %+v, want none", got)
	}
}

func redact(p Params) Params {
	if p.CustomerKey != "" {
		p.CustomerKey = "<key>"
	}
	return p
}

func TestCheckEcho(t *testing.T) {
	key, other := testKey(t, 1), testKey(t, 2)
	ssec := SSE{Kind: SSEC, Key: key}
	kms := SSE{Kind: KMS, KMSKeyID: "abc"}
	cases := []struct {
		name string
		sse  SSE
		echo Echo
		ok   bool
	}{
		{"SSE-C echoed", ssec, Echo{CustomerAlgorithm: "AES256", CustomerKeyMD5: key.MD5Base64()}, true},
		{"SSE-C missing echo (RGW plain copy stored unencrypted)", ssec, Echo{}, false},
		{"SSE-C echo of another key", ssec, Echo{CustomerAlgorithm: "AES256", CustomerKeyMD5: other.MD5Base64()}, false},
		{"SSE-C answered as SSE-S3", ssec, Echo{ServerSideEncryption: "AES256"}, false},
		{"KMS echoed", kms, Echo{ServerSideEncryption: "aws:kms", KMSKeyID: "abc"}, true},
		{"KMS echoed as ARN", kms, Echo{ServerSideEncryption: "aws:kms", KMSKeyID: "arn:aws:kms:us-east-1:1:key/abc"}, true},
		{"KMS other key", kms, Echo{ServerSideEncryption: "aws:kms", KMSKeyID: "abd"}, false},
		{"KMS missing echo", kms, Echo{}, false},
		{"plain asks nothing", SSE{}, Echo{}, true},
	}
	for _, c := range cases {
		err := c.sse.CheckEcho(c.echo)
		if (err == nil) != c.ok {
			t.Errorf("%s: CheckEcho = %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte(key.Base64())) {
			t.Errorf("%s: error message contains the key", c.name)
		}
	}
}

func TestConfigWriteAndReadCandidates(t *testing.T) {
	k1, k2 := testKey(t, 1), testKey(t, 2)
	ring, _ := NewKeyring(k1, k2)
	c := Config{Keys: ring}
	if w := c.Write(); w.Kind != SSEC || !w.Key.Equal(k1) {
		t.Fatalf("write SSE = %v, want SSE-C with the first key", w)
	}
	cands := c.ReadCandidates()
	if len(cands) != 3 || !cands[0].Key.Equal(k1) || !cands[1].Key.Equal(k2) || cands[2].Kind != None {
		t.Fatalf("read candidates = %v, want key 1, key 2, none", cands)
	}
	kc := Config{KMSKeyID: "id"}
	if w := kc.Write(); w.Kind != KMS || w.KMSKeyID != "id" {
		t.Fatalf("KMS write = %v", w)
	}
	if cands := kc.ReadCandidates(); len(cands) != 1 || cands[0].Kind != None {
		t.Fatalf("KMS read candidates = %v, want just none (reads need no key)", cands)
	}
	if err := (Config{Keys: ring, KMSKeyID: "x"}).Validate(); err == nil {
		t.Fatal("SSE-C and SSE-KMS together must be refused")
	}
}
