package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ssefs/ssefs/ssekeys"
)

// keysOptions are the flags every `ssefs keys` subcommand that talks to the
// key manager shares.
type keysOptions struct {
	OSCloud string // --os-cloud: a cloud of clouds.yaml instead of the OS_* variables
}

func newKeysCommand() *cobra.Command {
	var o keysOptions
	keys := &cobra.Command{
		Use:   "keys",
		Short: "Create and manage encryption keys (SSE-C key files, SSE-KMS keys in Barbican)",
		Long: `Create and manage encryption keys.

SSE-C: "ssefs keys gen FILE" writes a random key file for --sse-c-key-file.

SSE-KMS: the other subcommands manage keys stored as secrets in OpenStack's
key manager (Barbican); a secret's id is the --sse-kms-key-id of a mount. The
object store's service user must be on the secret's read ACL (--grant), and
deleting a secret makes every object encrypted with it unrecoverable: keep a
backup (--backup). They log in with the OS_* variables of your openrc file, or
with a cloud of clouds.yaml (--os-cloud NAME, or OS_CLOUD).`,
	}
	keys.PersistentFlags().StringVar(&o.OSCloud, "os-cloud", "", "use cloud NAME of clouds.yaml instead of the OS_* variables (default $OS_CLOUD)")
	keys.AddCommand(&cobra.Command{
		Use:   "gen FILE",
		Short: "Write a new random 32-byte SSE-C key to FILE (mode 0600; never overwrites)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := ssekeys.GenerateKeyFile(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote a new SSE-C key to %s (%s)\n", args[0], k.Fingerprint())
			fmt.Fprintln(cmd.OutOrStdout(), "keep a copy somewhere safe: objects written with it cannot be read without it")
			return nil
		},
	})
	keys.AddCommand(
		newKeysCreateCommand(&o),
		newKeysListCommand(&o),
		newKeysShowCommand(&o),
		newKeysGrantCommand(&o),
		newKeysRevokeCommand(&o),
		newKeysBackupCommand(&o),
		newKeysRestoreCommand(&o),
		newKeysDeleteCommand(&o),
	)
	return keys
}

// connect logs in to Keystone as the OS_* variables or --os-cloud say and
// returns the key manager.
func (o *keysOptions) connect(cmd *cobra.Command) (*ssekeys.KeyManager, error) {
	creds, err := ssekeys.LoadCredentials(o.OSCloud)
	if err != nil {
		return nil, err
	}
	return ssekeys.ConnectKeyManager(cmd.Context(), creds)
}
