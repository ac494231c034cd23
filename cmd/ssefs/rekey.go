package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssefs/ssefs/ssekeys"
)

// rekeyOptions are the flags of `ssefs rekey`.
type rekeyOptions struct {
	conn connOptions

	FromKeyFile string
	FromKMSKey  string
	FromNone    bool
	ToKeyFile   string
	ToKMSKey    string
	ToNone      bool

	Jobs             int
	DryRun           bool
	Verbose          bool
	ProgressInterval time.Duration
}

func newRekeyCommand() *cobra.Command {
	var o rekeyOptions
	cmd := &cobra.Command{
		Use:   "rekey s3://BUCKET[/PREFIX] FROM TO [flags]",
		Short: "Re-encrypt every object of a bucket (or prefix) with another key",
		Long: `Re-encrypt every object under s3://BUCKET[/PREFIX] that is under one of the FROM
encryptions with the TO encryption. PREFIX is a directory, as for mount:
s3://b/photos covers the keys under photos/.

FROM is one of --from-sse-c-key-file FILE (every key in the file), --from-sse-kms-key-id ID
or --from-none; TO is one of --to-sse-c-key-file FILE (its first key),
--to-sse-kms-key-id ID or --to-none.

Each object is rewritten by a server-side copy onto itself (UploadPartCopy parts
above 5 GiB, or where the server refuses CopyObject of encrypted objects), or
streamed through this machine (GET + PUT) where the server cannot copy between
keys; content type and user metadata (the s3fs mode/uid/gid/mtime included) are
kept. An object is replaced in one step and then checked with a HEAD using the
TO key: a failure leaves the old version in place and is reported.

Objects already under TO are skipped, so an interrupted rekey is resumed by
running it again. Objects under none of the FROM encryptions are reported and
left alone. The exit status is non-zero when an object failed or was left alone.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRekey(cmd, &o, args[0])
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&o.FromKeyFile, "from-sse-c-key-file", "", "objects are now under one of the SSE-C keys of FILE")
	f.StringVar(&o.FromKMSKey, "from-sse-kms-key-id", "", "objects are now under this SSE-KMS key id")
	f.BoolVar(&o.FromNone, "from-none", false, "objects are now unencrypted")
	f.StringVar(&o.ToKeyFile, "to-sse-c-key-file", "", "re-encrypt with the first SSE-C key of FILE")
	f.StringVar(&o.ToKMSKey, "to-sse-kms-key-id", "", "re-encrypt with this SSE-KMS key id")
	f.BoolVar(&o.ToNone, "to-none", false, "store the objects unencrypted")
	f.IntVarP(&o.Jobs, "jobs", "j", 4, "objects rekeyed in parallel")
	f.BoolVarP(&o.DryRun, "dry-run", "n", false, "list what would be re-encrypted; change nothing")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "print one line per object")
	f.DurationVar(&o.ProgressInterval, "progress-interval", 10*time.Second, "when not on a terminal: print a progress line this often (0: never)")
	o.conn.register(f)
	return cmd
}

// rekeyPlan is a validated rekey request.
type rekeyPlan struct {
	bucket, prefix string
	from           []ssekeys.SSE
	to             ssekeys.Config
}

// parseS3URL splits s3://BUCKET[/PREFIX] (BUCKET[:/PREFIX] is accepted too).
func parseS3URL(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return parseSource(s)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" || strings.ContainsAny(bucket, " :") {
		return "", "", fmt.Errorf("%q: expected s3://BUCKET[/PREFIX]", s)
	}
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		prefix += "/"
	}
	return bucket, prefix, nil
}

// plan checks the flags without touching the network.
func (o *rekeyOptions) plan(target string) (*rekeyPlan, error) {
	bucket, prefix, err := parseS3URL(target)
	if err != nil {
		return nil, err
	}
	if o.Jobs < 1 {
		return nil, errors.New("--jobs must be at least 1")
	}
	p := &rekeyPlan{bucket: bucket, prefix: prefix}
	if n := countSet(o.FromKeyFile != "", o.FromKMSKey != "", o.FromNone); n != 1 {
		return nil, errors.New("give exactly one of --from-sse-c-key-file, --from-sse-kms-key-id, --from-none")
	}
	if n := countSet(o.ToKeyFile != "", o.ToKMSKey != "", o.ToNone); n != 1 {
		return nil, errors.New("give exactly one of --to-sse-c-key-file, --to-sse-kms-key-id, --to-none")
	}
	switch {
	case o.FromKeyFile != "":
		ring, err := ssekeys.LoadKeyFile(o.FromKeyFile)
		if err != nil {
			return nil, err
		}
		for _, k := range ring.All() {
			p.from = append(p.from, ssekeys.SSE{Kind: ssekeys.SSEC, Key: k})
		}
	case o.FromKMSKey != "":
		id, err := ssekeys.ParseKMSKeyID(o.FromKMSKey)
		if err != nil {
			return nil, err
		}
		p.from = []ssekeys.SSE{{Kind: ssekeys.KMS, KMSKeyID: id}}
	default:
		p.from = []ssekeys.SSE{{}}
	}
	switch {
	case o.ToKeyFile != "":
		ring, err := ssekeys.LoadKeyFile(o.ToKeyFile)
		if err != nil {
			return nil, err
		}
		if ring.Len() > 1 {
			// Only the first key writes; a one-key ring keeps the others
			// out of the target's parameters.
			ring, _ = ssekeys.NewKeyring(ring.Write())
		}
		p.to.Keys = ring
	case o.ToKMSKey != "":
		id, err := ssekeys.ParseKMSKeyID(o.ToKMSKey)
		if err != nil {
			return nil, err
		}
		p.to.KMSKeyID = id
	}
	return p, nil
}

func countSet(flags ...bool) int {
	n := 0
	for _, f := range flags {
		if f {
			n++
		}
	}
	return n
}

func describeFrom(from []ssekeys.SSE) string {
	names := make([]string, len(from))
	for i, s := range from {
		names[i] = s.String()
	}
	return strings.Join(names, " or ")
}

func runRekey(cmd *cobra.Command, o *rekeyOptions, target string) error {
	p, err := o.plan(target)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	r := &rekeyRun{opts: o, plan: p, stdout: stdout, stderr: stderr, tty: isTerminal(os.Stdout) && stdout == os.Stdout}
	return r.run(ctx)
}
