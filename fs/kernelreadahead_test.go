package fs

import (
	"os"
	"strings"
	"testing"
)

// The kernel caps a FUSE mount's readahead at 128 KiB whatever the
// filesystem asks for; Mount raises it to the 1 MiB of MountOptions.
func TestMountRaisesKernelReadahead(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root may set a mount's readahead")
	}
	m := mountTest(t, nil)
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	dev := ""
	for _, line := range strings.Split(string(info), "\n") {
		if f := strings.Fields(line); len(f) > 4 && unescapeMountinfo(f[4]) == m.dir {
			dev = f[2]
		}
	}
	if dev == "" {
		t.Fatalf("%s not in /proc/self/mountinfo", m.dir)
	}
	kb, err := os.ReadFile("/sys/class/bdi/" + dev + "/read_ahead_kb")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(kb)), "1024"; got != want {
		t.Errorf("read_ahead_kb of the mount = %s, want %s", got, want)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/plain`:              "/mnt/plain",
		`/mnt/with\040space`:      "/mnt/with space",
		`/mnt/tab\011and\012line`: "/mnt/tab\tand\nline",
		`/mnt/back\134slash`:      `/mnt/back\slash`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}
