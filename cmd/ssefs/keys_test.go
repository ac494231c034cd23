package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysCommandTree: every subcommand is there, gen still writes a key
// file, and the key-manager commands check their arguments before they
// need any credentials.
func TestKeysCommandTree(t *testing.T) {
	keys := newKeysCommand()
	for _, name := range []string{"gen", "create", "list", "show", "grant", "revoke", "backup", "restore", "delete"} {
		if c, _, err := keys.Find([]string{name}); err != nil || c.Name() != name {
			t.Errorf("ssefs keys %s: %v", name, err)
		}
	}
	if keys.PersistentFlags().Lookup("os-cloud") == nil {
		t.Error("no --os-cloud")
	}

	for _, v := range []string{"OS_AUTH_URL", "OS_CLOUD", "OS_PASSWORD", "OS_USERNAME"} {
		t.Setenv(v, "")
	}
	file := filepath.Join(t.TempDir(), "k.key")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"gen", file}, ""},
		{[]string{"gen", file}, "already exists"},
		{[]string{"create"}, "--name is required"},
		{[]string{"show", "photos"}, "not a Barbican secret id"},
		{[]string{"delete", "00000000-0000-4000-8000-000000000000"}, "stdin is not a terminal"},
		{[]string{"delete", "00000000-0000-4000-8000-000000000000", "--yes", "--endpoint", "http://x"}, "only go with --bucket"},
		{[]string{"list"}, "OS_AUTH_URL is not set"},
	}
	for _, c := range cases {
		root := newRootCommand()
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetIn(strings.NewReader("yes\n"))
		root.SetArgs(append([]string{"keys"}, c.args...))
		err := root.Execute()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("ssefs keys %s: %v", strings.Join(c.args, " "), err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("ssefs keys %s: %v, want %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 || st.Size() != 32 {
		t.Errorf("keys gen: %v %v", st, err)
	}
}

func TestReadYes(t *testing.T) {
	for in, want := range map[string]bool{"yes\n": true, "YES\n": true, " yes \n": true, "yes": true, "y\n": false, "no\n": false, "": false, "yess\n": false} {
		if got := readYes(strings.NewReader(in)); got != want {
			t.Errorf("readYes(%q) = %v", in, got)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	for name, in := range map[string]io.Reader{"/dev/null": devnull, "pipe": r, "reader": strings.NewReader("")} {
		if isTerminal(in) {
			t.Errorf("%s counted as a terminal", name)
		}
	}
}

func TestScanPasswdFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "passwd")
	os.WriteFile(file, []byte("# comment\nAK:SK\nphotos:AK2:SK2\n"), 0o600)
	if a, s, err := readScanPasswdFile(file, "other"); err != nil || a != "AK" || s != "SK" {
		t.Errorf("default line: %q %q %v", a, s, err)
	}
	if a, s, err := readScanPasswdFile(file, "photos"); err != nil || a != "AK2" || s != "SK2" {
		t.Errorf("bucket line: %q %q %v", a, s, err)
	}
	os.Chmod(file, 0o644)
	if _, _, err := readScanPasswdFile(file, "photos"); err == nil || !strings.Contains(err.Error(), "too open") {
		t.Errorf("open passwd file: %v", err)
	}
}

func TestScanRefusal(t *testing.T) {
	r := &scanResult{Checked: 3}
	if err := r.refusal("b", "id"); err != nil {
		t.Errorf("clean scan refused: %v", err)
	}
	r.Using = []string{"a", "b", "c", "d", "e", "f", "g"}
	if err := r.refusal("b", "id"); err == nil || !strings.Contains(err.Error(), "7 object(s)") || !strings.Contains(err.Error(), "and 2 more") {
		t.Errorf("using: %v", err)
	}
	r = &scanResult{Unchecked: []string{"x"}, FirstErr: os.ErrPermission}
	if err := r.refusal("b", "id"); err == nil || !strings.Contains(err.Error(), "could not be checked") {
		t.Errorf("unchecked: %v", err)
	}
}
