package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDoctorReportLines(t *testing.T) {
	var out bytes.Buffer
	r := &doctorReport{out: &out}
	r.ok("bucket %s exists", "b")
	r.warn("replication\nconfigured", "exclude encrypted objects")
	r.fail("key file k has mode 0644", "chmod 600 k")
	r.note("server refuses CopyObject")
	r.skip("bucket: not checked")
	want := "✓ bucket b exists\n" +
		"! replication configured; fix: exclude encrypted objects\n" +
		"✗ key file k has mode 0644; fix: chmod 600 k\n" +
		"i server refuses CopyObject\n" +
		"- bucket: not checked\n"
	if out.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", out.String(), want)
	}
	if r.failures != 1 || r.warnings != 1 || r.summary() != "1 check(s) failed, 1 warning(s)" {
		t.Errorf("counts %d %d %q", r.failures, r.warnings, r.summary())
	}

	out.Reset()
	tty := &doctorReport{out: &out, tty: true}
	tty.ok("fine")
	if out.String() != "\x1b[32m✓\x1b[0m fine\n" {
		t.Errorf("terminal line %q", out.String())
	}
	if tty.summary() != "all checks passed" {
		t.Errorf("summary %q", tty.summary())
	}
}

// TestDoctorKeyFileChecks: permissions fail with the chmod fix but the keys
// are still used; a bad key names its line; key material never shows.
func TestDoctorKeyFileChecks(t *testing.T) {
	dir := t.TempDir()
	good, keys := writeKeys(t, 2)
	loose := filepath.Join(dir, "loose")
	data, _ := os.ReadFile(good)
	if err := os.WriteFile(loose, data, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("# comment\nnot-a-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path     string
		ok, ring bool
		want     string
	}{
		{good, true, true, "✓ key file " + good + ": mode 0600, 2 key(s), new objects written with " + keys[0].Fingerprint()},
		{loose, false, true, "✗ key file " + loose + " has mode 0644: other users can read the key, and mount refuses it; fix: chmod 600 " + loose},
		{bad, false, false, "✗ key file " + bad + ", line 2: not a key"},
		{filepath.Join(dir, "missing"), false, false, "✗ key file " + filepath.Join(dir, "missing") + ": no such file or directory; fix: create one with `ssefs keys gen"},
	} {
		var out bytes.Buffer
		d := &doctor{opts: &doctorOptions{}, r: &doctorReport{out: &out}}
		ring, ok := d.checkKeyFile(c.path)
		if ok != c.ok || (ring != nil) != c.ring || !strings.HasPrefix(out.String(), c.want) {
			t.Errorf("checkKeyFile(%s) = ring %v, %v, printed %q; want %v %v %q", c.path, ring != nil, ok, out.String(), c.ring, c.ok, c.want)
		}
		for _, k := range keys {
			if strings.Contains(out.String(), k.Base64()) {
				t.Errorf("key material printed: %q", out.String())
			}
		}
	}
}
