package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/ssekeys"
)

// rekeyRun is one run of `ssefs rekey`: list, rekey with workers, report.
type rekeyRun struct {
	opts           *rekeyOptions
	plan           *rekeyPlan
	stdout, stderr io.Writer
	tty            bool

	client *objcache.Client
	prog   *progress
	sum    rekeySummary
}

// rekeySummary counts what happened.
type rekeySummary struct {
	rekeyed, skipped, notFrom, gone, failed, wouldChange int
	bytes                                                int64
	elapsed                                              time.Duration
	interrupted                                          bool
}

// rekeyItem is one object's result, as a worker hands it back.
type rekeyItem struct {
	obj objcache.ObjectInfo
	res objcache.RekeyResult
	err error
}

func (r *rekeyRun) run(ctx context.Context) error {
	start := time.Now()
	p := r.plan
	level := slog.LevelWarn
	if r.opts.Verbose {
		level = slog.LevelInfo
	}
	// The client logs through the progress display once it exists.
	logw := &switchWriter{w: r.stderr}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime}))
	c, err := r.opts.conn.client(ctx, p.bucket, p.prefix, p.to, log)
	if err != nil {
		return err
	}
	if err := c.CheckKeyTransport(p.from); err != nil {
		return err
	}
	if err := c.CheckAccess(ctx); err != nil {
		return err
	}
	r.client = c

	objs, total, err := r.list(ctx)
	if err != nil {
		return err
	}
	verb := "rekey"
	if r.opts.DryRun {
		verb = "dry run: rekey"
	}
	fmt.Fprintf(r.stdout, "%s s3://%s/%s: %d objects (%s) from %s to %s, %d jobs\n",
		verb, p.bucket, p.prefix, len(objs), humanBytes(total), describeFrom(p.from), c.Target(), r.opts.Jobs)

	r.prog = newProgress(r.stdout, r.stderr, r.tty, len(objs), total, r.opts.ProgressInterval)
	logw.set(r.prog)
	for it := range r.rekeyAll(ctx, objs) {
		r.record(it)
		r.prog.done(it.obj.Size)
	}
	r.prog.finish()
	logw.set(r.stderr)
	r.sum.elapsed = time.Since(start)
	r.sum.interrupted = ctx.Err() != nil
	fmt.Fprintln(r.stdout, r.sum.line(r.opts.DryRun))
	if r.sum.failed > 0 || r.sum.notFrom > 0 || r.sum.interrupted {
		return exitError(1)
	}
	return nil
}

// list returns every object under the prefix and their total size.
func (r *rekeyRun) list(ctx context.Context) ([]objcache.ObjectInfo, int64, error) {
	var objs []objcache.ObjectInfo
	var total int64
	err := r.client.List(ctx, "", "", func(page objcache.ListPage) error {
		for _, o := range page.Objects {
			objs = append(objs, o)
			total += o.Size
		}
		return nil
	})
	return objs, total, err
}

// rekeyAll hands objs to Jobs workers and returns their results; the
// channel closes when all are done, or soon after ctx is cancelled (the
// objects not started then are not reported).
func (r *rekeyRun) rekeyAll(ctx context.Context, objs []objcache.ObjectInfo) <-chan rekeyItem {
	todo := make(chan objcache.ObjectInfo)
	out := make(chan rekeyItem)
	var wg sync.WaitGroup
	for range r.opts.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range todo {
				res, err := r.client.Rekey(ctx, o.Key, r.plan.from, r.opts.DryRun)
				out <- rekeyItem{obj: o, res: res, err: err}
			}
		}()
	}
	go func() {
		defer close(todo)
		for _, o := range objs {
			select {
			case todo <- o:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(out) }()
	return out
}

// record counts one result and reports it.
func (r *rekeyRun) record(it rekeyItem) {
	key := r.plan.prefix + it.obj.Key
	res := it.res
	if it.err != nil {
		if errors.Is(it.err, context.Canceled) {
			// Either version may be in place, each whole: a rerun checks.
			r.prog.printf("interrupted %s: not finished", key)
			return
		}
		r.sum.failed++
		r.prog.printf("failed %s: %v (%s)", key, it.err, failureState(it.err))
		return
	}
	switch res.Outcome {
	case objcache.Rekeyed:
		r.sum.rekeyed++
		r.sum.bytes += res.Size
		if r.opts.Verbose {
			r.prog.outf("rekeyed %s (%s -> %s, %s)", key, res.Was, r.client.Target(), res.Method)
		}
	case objcache.RekeySkipped:
		r.sum.skipped++
		if r.opts.Verbose {
			r.prog.outf("skipped %s (already %s)", key, res.Was)
		}
	case objcache.RekeyWouldChange:
		r.sum.wouldChange++
		r.sum.bytes += res.Size
		r.prog.outf("would rekey %s (%s -> %s)", key, res.Was, r.client.Target())
	case objcache.RekeyGone:
		r.sum.gone++
		if r.opts.Verbose {
			r.prog.outf("gone %s (deleted since it was listed)", key)
		}
	case objcache.RekeyNotFrom:
		r.sum.notFrom++
		r.prog.printf("left alone %s: %s, not one of the FROM encryptions", key, describeWas(res))
	}
}

// failureState says what a failed object holds now.
func failureState(err error) string {
	var re *objcache.RequestError
	switch {
	case errors.As(err, &re) && re.Op == "verify":
		return "replaced, but the check after it failed: inspect the object"
	case errors.Is(err, objcache.ErrEncryptionNotHonoured):
		return "the server did not store it as asked: inspect the object"
	}
	return "the old version is in place"
}

// describeWas names what an object was found under.
func describeWas(res objcache.RekeyResult) string {
	if !res.WasKnown {
		return "SSE-C with a key that was not given"
	}
	if res.Was.Kind == ssekeys.None {
		return "unencrypted"
	}
	return res.Was.String()
}

// line is the summary printed at the end.
func (s rekeySummary) line(dryRun bool) string {
	secs := max(s.elapsed.Seconds(), 0.001)
	took := s.elapsed.Round(10 * time.Millisecond)
	var head string
	if dryRun {
		head = fmt.Sprintf("dry run, nothing changed: would rekey %d (%s), skipped %d (already under the target)", s.wouldChange, humanBytes(s.bytes), s.skipped)
	} else {
		head = fmt.Sprintf("rekeyed %d (%s, %s/s), skipped %d (already under the target)", s.rekeyed, humanBytes(s.bytes), humanBytes(int64(float64(s.bytes)/secs)), s.skipped)
	}
	line := fmt.Sprintf("%s, left alone %d (under none of the FROM encryptions), failed %d", head, s.notFrom, s.failed)
	if s.gone > 0 {
		line += fmt.Sprintf(", gone %d", s.gone)
	}
	line += fmt.Sprintf("; time %s", took)
	if s.interrupted {
		line += "; interrupted: run the same command again to finish"
	}
	return line
}

// dropTime leaves the time out of log lines: a terminal shows them as they
// happen.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// switchWriter is an io.Writer whose destination can change (the client's
// log goes to stderr, then through the progress display).
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

// Write writes to the current destination.
func (s *switchWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	return w.Write(b)
}
