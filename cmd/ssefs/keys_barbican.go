package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssefs/ssefs/ssekeys"
)

// The `ssefs keys` subcommands that create, show and share SSE-KMS keys
// kept as Barbican secrets. Delete is in keys_delete.go.

func newKeysCreateCommand(o *keysOptions) *cobra.Command {
	var name, backup string
	var grant []string
	cmd := &cobra.Command{
		Use:   "create --name NAME [--grant USER_ID]... [--backup FILE]",
		Short: "Store a new random 256-bit key as a Barbican secret and print its key id",
		Long: `Store 32 random bytes as a new Barbican secret (symmetric, AES-256) and print
its href and the key id to mount with (--sse-kms-key-id). Each --grant puts a
Keystone user id (the object store's service user) on the secret's read ACL,
keeping the users already there. --backup FILE first writes the key to FILE
(mode 0600, never overwritten): deleting the secret makes every object
encrypted with it unrecoverable, so keep the backup safe.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(name) == "" {
				return fmt.Errorf("--name is required")
			}
			m, err := o.connect(cmd)
			if err != nil {
				return err
			}
			s, k, err := m.CreateKey(cmd.Context(), name, grant, backup)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "created secret %q\n", s.Name)
			printKeyID(out, s)
			if len(grant) > 0 {
				fmt.Fprintf(out, "  read ACL: %s\n", strings.Join(s.ReadUsers, ", "))
			}
			if backup != "" {
				fmt.Fprintf(out, "  backup:   %s (mode 0600, %s)\n", backup, k.Fingerprint())
			}
			fmt.Fprintf(out, "mount with: ssefs mount BUCKET MOUNTPOINT --sse-kms-key-id %s\n", s.ID)
			warnDeletion(cmd.ErrOrStderr(), s.ID, backup)
			if len(grant) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: nobody was granted read access; the object store's service user must be on the ACL before SSE-KMS works: ssefs keys grant %s USER_ID\n", s.ID)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the new secret (required)")
	cmd.Flags().StringArrayVar(&grant, "grant", nil, "Keystone user id to put on the read ACL (repeatable), e.g. the object store's service user")
	cmd.Flags().StringVar(&backup, "backup", "", "write the key to this new file (mode 0600) before storing it")
	return cmd
}

// printKeyID prints a secret's href and the key id to mount with.
func printKeyID(out io.Writer, s *ssekeys.Secret) {
	fmt.Fprintf(out, "  href:     %s\n", s.Href)
	fmt.Fprintf(out, "  key id:   %s\n", s.ID)
}

// warnDeletion tells what deleting the secret would cost.
func warnDeletion(w io.Writer, id, backup string) {
	fmt.Fprintf(w, "WARNING: deleting secret %s makes every object encrypted with it unrecoverable.\n", id)
	if backup != "" {
		fmt.Fprintf(w, "Keep the backup %s safe, away from this machine: it is the key itself.\n", backup)
	} else {
		fmt.Fprintf(w, "There is no backup yet: make one with `ssefs keys backup %s FILE` and keep it safe.\n", id)
	}
}

func newKeysListCommand(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the project's secrets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := o.connect(cmd)
			if err != nil {
				return err
			}
			list, err := m.List(cmd.Context())
			if err != nil {
				return err
			}
			if len(list) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no secrets")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY ID\tNAME\tTYPE\tSTATUS\tCREATED")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, orDash(s.Name), describeType(&s), s.Status, formatTime(s.Created))
			}
			return tw.Flush()
		},
	}
}

func newKeysShowCommand(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID|HREF",
		Short: "Show a secret's metadata and the users on its read ACL",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := ssekeys.ParseSecretID(args[0]); err != nil {
				return err
			}
			m, err := o.connect(cmd)
			if err != nil {
				return err
			}
			s, err := m.Show(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
			row("key id", s.ID)
			row("href", s.Href)
			row("name", orDash(s.Name))
			row("status", s.Status)
			row("type", describeType(s))
			row("content type", orDash(s.ContentTypes["default"]))
			row("created", formatTime(s.Created))
			row("creator", orDash(s.CreatorID))
			if s.Expiration.IsZero() {
				row("expires", "never")
			} else {
				row("expires", formatTime(s.Expiration))
			}
			if !s.ACLKnown {
				row("read ACL", "not readable with these credentials")
				return tw.Flush()
			}
			row("project access", yesNo(s.ProjectAccess))
			if len(s.ReadUsers) == 0 {
				row("read ACL users", "none (the object store's service user cannot read it)")
			}
			for i, u := range s.ReadUsers {
				if i == 0 {
					row("read ACL users", u)
				} else {
					row("", u)
				}
			}
			return tw.Flush()
		},
	}
}

func newKeysGrantCommand(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "grant ID USER_ID...",
		Short: "Put Keystone users on a secret's read ACL (keeping those already there)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return editACL(cmd, o, args, true)
		},
	}
}

func newKeysRevokeCommand(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID USER_ID...",
		Short: "Take Keystone users off a secret's read ACL",
		Long: `Take Keystone users off a secret's read ACL, keeping the others. Revoking the
object store's service user makes every object encrypted with the key
unreadable until it is granted again.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return editACL(cmd, o, args, false)
		},
	}
}

// editACL runs grant (add) or revoke for args = ID USER_ID...
func editACL(cmd *cobra.Command, o *keysOptions, args []string, add bool) error {
	id, err := ssekeys.ParseSecretID(args[0])
	if err != nil {
		return err
	}
	m, err := o.connect(cmd)
	if err != nil {
		return err
	}
	var users []string
	var changed bool
	if add {
		users, changed, err = m.Grant(cmd.Context(), id, args[1:]...)
	} else {
		users, changed, err = m.Revoke(cmd.Context(), id, args[1:]...)
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch {
	case !changed && add:
		fmt.Fprintf(out, "already on the read ACL of %s: nothing changed\n", id)
	case !changed:
		fmt.Fprintf(out, "not on the read ACL of %s: nothing changed\n", id)
	case add:
		fmt.Fprintf(out, "granted read access to secret %s\n", id)
	default:
		fmt.Fprintf(out, "revoked read access to secret %s\n", id)
	}
	if len(users) == 0 {
		fmt.Fprintln(out, "read ACL users: none")
	} else {
		fmt.Fprintf(out, "read ACL users: %s\n", strings.Join(users, ", "))
	}
	return nil
}

func newKeysBackupCommand(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "backup ID FILE",
		Short: "Write a secret's 32-byte key to a new file (mode 0600; never overwrites)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := ssekeys.ParseSecretID(args[0])
			if err != nil {
				return err
			}
			m, err := o.connect(cmd)
			if err != nil {
				return err
			}
			k, err := m.Backup(cmd.Context(), id, args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote the key of secret %s to %s (mode 0600, %s)\n", id, args[1], k.Fingerprint())
			fmt.Fprintf(cmd.ErrOrStderr(), "keep %s safe, away from this machine: it is the key itself; `ssefs keys restore %s --name NAME` stores it again\n", args[1], args[1])
			return nil
		},
	}
}

func newKeysRestoreCommand(o *keysOptions) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "restore FILE --name NAME",
		Short: "Store the key of a backup file as a new secret",
		Long: `Store the key of a backup file (mode 0600, exactly one key, as "ssefs keys
backup" and "ssefs keys create --backup" write it) as a new Barbican secret.
Barbican gives the new secret a new id: grant it to the object store's
service user and use the new key id.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(name) == "" {
				return fmt.Errorf("--name is required")
			}
			if _, err := ssekeys.LoadKeyFile(args[0]); err != nil {
				return err
			}
			m, err := o.connect(cmd)
			if err != nil {
				return err
			}
			s, k, err := m.Restore(cmd.Context(), args[0], name)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "restored %s (%s) as secret %q\n", args[0], k.Fingerprint(), s.Name)
			printKeyID(out, s)
			fmt.Fprintf(cmd.ErrOrStderr(), "note: this is a new secret with a new key id; put the object store's service user on its ACL: ssefs keys grant %s USER_ID\n", s.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the new secret (required)")
	return cmd
}

// describeType renders "symmetric aes-256 cbc".
func describeType(s *ssekeys.Secret) string {
	parts := []string{orDash(s.SecretType)}
	if s.Algorithm != "" {
		alg := s.Algorithm
		if s.BitLength > 0 {
			alg += fmt.Sprintf("-%d", s.BitLength)
		}
		parts = append(parts, alg)
	}
	if s.Mode != "" {
		parts = append(parts, s.Mode)
	}
	return strings.Join(parts, " ")
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
