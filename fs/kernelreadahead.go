package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// RaiseKernelReadahead raises the page cache readahead of the FUSE mount
// on mountpoint to max bytes. The kernel caps a FUSE mount's readahead at
// the 128 KiB default whatever the filesystem asks for; at that size every
// sequential MiB costs eight requests and their thread wake-ups, which
// made the FUSE layer, not the network, the limit of sequential reads
// (measured: 3.7x the context switches, 1.7x the CPU). Only root may
// write the setting; failing to is harmless.
func RaiseKernelReadahead(mountpoint string, max int) error {
	if abs, err := filepath.Abs(mountpoint); err == nil {
		mountpoint = abs // mountinfo has absolute paths
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeMountinfo(f[4]) == mountpoint {
			path := "/sys/class/bdi/" + f[2] + "/read_ahead_kb"
			return os.WriteFile(path, []byte(strconv.Itoa(max>>10)), 0)
		}
	}
	return fmt.Errorf("%s not in /proc/self/mountinfo", mountpoint)
}

// unescapeMountinfo undoes the octal escapes of a mountinfo path.
func unescapeMountinfo(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}
