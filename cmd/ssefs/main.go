// Command ssefs mounts an S3 bucket as a local filesystem whose objects rest
// encrypted on the server with SSE-C or SSE-KMS, and manages the keys.
//
//	ssefs mount [flags] BUCKET[:/PREFIX] MOUNTPOINT
//	ssefs BUCKET MOUNTPOINT -o OPTIONS      (the form mount(8) runs for fstab type fuse.ssefs)
//	ssefs keys gen FILE
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ssefs/ssefs/ssekeys"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// Before any key is read, whatever the subcommand (a mount, its
	// daemon, rekey, keys backup): no core file of this process may ever
	// hold keys or plaintext, and other processes of the user may not
	// read its memory. Best effort: a kernel without prctl has no core
	// dumps worth stopping.
	_ = ssekeys.HardenProcess()
	if err := run(os.Args[1:]); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		fmt.Fprintln(os.Stderr, "ssefs:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a status after the message was printed.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func run(args []string) error {
	root := newRootCommand()
	if isHelperForm(root, args) {
		return runHelperForm(args)
	}
	root.SetArgs(args)
	return root.Execute()
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "ssefs",
		Short:         "Mount an S3 bucket with transparent server-side encryption (SSE-C, SSE-KMS)",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newMountCommand(), newKeysCommand(), newRekeyCommand(), newDoctorCommand())
	return root
}

// isHelperForm tells `ssefs SOURCE MOUNTPOINT [-o OPTIONS]`, as mount(8)
// runs it through mount.fuse3, from a subcommand. mount.fuse3 always passes
// -o right after the mountpoint, which settles a bucket named like a
// subcommand ("keys", "doctor", ...).
func isHelperForm(root *cobra.Command, args []string) bool {
	if len(args) < 2 || strings.HasPrefix(args[0], "-") {
		return false
	}
	if len(args) >= 4 && args[2] == "-o" {
		return true
	}
	for _, c := range root.Commands() {
		if c.Name() == args[0] || c.HasAlias(args[0]) {
			return false
		}
	}
	return args[0] != "help" && args[0] != "completion"
}
