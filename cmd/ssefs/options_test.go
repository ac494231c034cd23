package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestEveryLongFlagHasAnOSpelling: for each mount flag, -o name=value
// (with '_' for '-') sets the same option as --name=value.
func TestEveryLongFlagHasAnOSpelling(t *testing.T) {
	var probe mountOptions
	newMountFlags(&probe).VisitAll(func(fl *pflag.Flag) {
		if fl.Name == "foreground" {
			return // -f is not a mount option: mount(8) never passes it
		}
		var viaFlag, viaO mountOptions
		ff, fo := newMountFlags(&viaFlag), newMountFlags(&viaO)
		value := sampleValue(fl.Value.Type())
		if err := ff.Set(fl.Name, value); err != nil {
			t.Fatalf("--%s=%s: %v", fl.Name, value, err)
		}
		oName := strings.ReplaceAll(fl.Name, "-", "_")
		if err := applyDashO(fo, oName+"="+value); err != nil {
			t.Fatalf("-o %s=%s: %v", oName, value, err)
		}
		if ff.Lookup(fl.Name).Value.String() != fo.Lookup(fl.Name).Value.String() {
			t.Errorf("--%s and -o %s set different values", fl.Name, oName)
		}
	})
}

func sampleValue(typ string) string {
	switch typ {
	case "bool":
		return "true"
	case "uint32":
		return "1234"
	case "duration":
		return "3s"
	case "octal":
		return "027"
	case "size":
		return "512M"
	}
	return "/some/value"
}

func TestDashOAsMountFuse3PassesIt(t *testing.T) {
	var o mountOptions
	f := newMountFlags(&o)
	// fstab "_netdev,nofail,x-systemd.automount,allow_other,uid=1000,gid=100,umask=027,sse_c_key_file=/k,ro"
	// arrives from mount.fuse3 with _netdev removed, rw first and dev,suid last.
	arg := "rw,nofail,x-systemd.automount,allow_other,uid=1000,gid=100,umask=027,sse_c_key_file=/k,ro,noatime,dev,suid"
	if err := applyDashO(f, arg); err != nil {
		t.Fatal(err)
	}
	if !o.AllowOther || o.UID != 1000 || o.GID != 100 || o.Umask != 0o027 || o.SSECKeyFile != "/k" || !o.ReadOnly {
		t.Fatalf("options not applied: %+v", o)
	}
	if err := applyDashO(f, "rw"); err != nil || o.ReadOnly {
		t.Fatalf("rw after ro: read-only=%v err=%v", o.ReadOnly, err)
	}
}

func TestDashOErrorsNameTheOption(t *testing.T) {
	for arg, want := range map[string]string{
		"bogus=1":         `unknown mount option "bogus"`,
		"endpoint":        `mount option "endpoint" needs a value`,
		"umask=999":       "umask",
		"staging_limit=x": "staging_limit",
		"foreground=1":    `unknown mount option "foreground"`,
	} {
		var o mountOptions
		err := applyDashO(newMountFlags(&o), arg)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("-o %s: %v, want an error containing %q", arg, err, want)
		}
	}
}

func TestParseSource(t *testing.T) {
	cases := []struct{ in, bucket, prefix string }{
		{"photos", "photos", ""},
		{"photos:/2024/summer/", "photos", "2024/summer/"},
		{"photos:2024", "photos", "2024/"},
		{"/usr/local/bin/ssefs#photos", "photos", ""},
	}
	for _, c := range cases {
		b, p, err := parseSource(c.in)
		if err != nil || b != c.bucket || p != c.prefix {
			t.Errorf("parseSource(%q) = %q, %q, %v; want %q, %q", c.in, b, p, err, c.bucket, c.prefix)
		}
	}
	for _, bad := range []string{"", ":/x", "a/b", "with space"} {
		if _, _, err := parseSource(bad); err == nil {
			t.Errorf("parseSource(%q) accepted", bad)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"4096": 4096, "512M": 512 << 20, "10G": 10 << 30, "1GiB": 1 << 30, "2k": 2048} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1X"} {
		if _, err := parseByteSize(bad); err == nil {
			t.Errorf("parseByteSize(%q) accepted", bad)
		}
	}
}

func TestByteSizeStringParsesBack(t *testing.T) {
	for v, want := range map[int64]string{0: "0", 4095: "4095", 4096: "4K", 16 << 20: "16M", 256 << 20: "256M",
		3 << 30: "3G", 1<<40 + 1<<20: "1048577M", 5 << 40: "5T"} {
		b := byteSize(v)
		if got := b.String(); got != want {
			t.Errorf("byteSize(%d).String() = %q, want %q", v, got, want)
		}
		var back byteSize
		if err := back.Set(b.String()); err != nil || back != b {
			t.Errorf("Set(%q) = %d, %v; want %d", b.String(), back, err, v)
		}
	}
}

func TestHelperFormIsToldFromSubcommands(t *testing.T) {
	root := newRootCommand()
	cases := []struct {
		args []string
		want bool
	}{
		{[]string{"photos", "/mnt/p", "-o", "rw,dev,suid"}, true},
		{[]string{"photos", "/mnt/p"}, true},
		{[]string{"keys", "/mnt/k", "-o", "rw"}, true}, // a bucket named "keys", from mount.fuse3
		{[]string{"mount", "photos", "/mnt/p", "-o", "ro"}, false},
		{[]string{"keys", "gen", "/tmp/k"}, false},
		{[]string{"doctor", "photos"}, false},
		{[]string{"--help"}, false},
	}
	for _, c := range cases {
		if got := isHelperForm(root, c.args); got != c.want {
			t.Errorf("isHelperForm(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}
