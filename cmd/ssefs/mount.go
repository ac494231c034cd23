package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newMountCommand() *cobra.Command {
	var o mountOptions
	var dashO []string
	cmd := &cobra.Command{
		Use:   "mount [flags] BUCKET[:/PREFIX] MOUNTPOINT",
		Short: "Mount a bucket; returns once the mount is live (or -f to stay in the foreground)",
		Long: `Mount a bucket (or a prefix of it) at MOUNTPOINT. Every object written through
the mount is encrypted by the server with your SSE-C key or your SSE-KMS key.
Every long flag also has an -o spelling for /etc/fstab: --sse-c-key-file=F is
-o sse_c_key_file=F.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, arg := range dashO {
				if err := applyDashO(cmd.Flags(), arg); err != nil {
					return err
				}
			}
			return mount(&o, args[0], args[1])
		},
	}
	cmd.Flags().AddFlagSet(newMountFlags(&o))
	cmd.Flags().StringArrayVarP(&dashO, "options", "o", nil, "mount options, comma separated (name=value,...)")
	return cmd
}

// runHelperForm handles `ssefs SOURCE MOUNTPOINT [-o OPTIONS] [flags]`:
// what mount.fuse3 runs for an fstab line of type fuse.ssefs, or for type
// fuse with source /path/to/ssefs#BUCKET.
func runHelperForm(args []string) error {
	var o mountOptions
	var dashO []string
	f := newMountFlags(&o)
	f.StringArrayVarP(&dashO, "options", "o", nil, "mount options")
	f.Usage = func() {}
	if err := f.Parse(args[2:]); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(f.Args(), " "))
	}
	for _, arg := range dashO {
		if err := applyDashO(f, arg); err != nil {
			return err
		}
	}
	return mount(&o, args[0], args[1])
}

// mount detaches into the background unless asked to stay, and returns once
// the mount is live or has failed.
func mount(o *mountOptions, source, mountpoint string) error {
	if o.AllowOther {
		// Other users must not get past the permission bits.
		o.DefaultPermissions = true
	}
	cfg, err := prepare(o, source, mountpoint)
	if err != nil {
		return err
	}
	if o.Foreground {
		return serve(cfg, nil)
	}
	if ready := daemonReadyPipe(); ready != nil {
		return serve(cfg, ready)
	}
	return spawnDaemon()
}
