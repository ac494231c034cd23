package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows how far a rekey is: a bar with objects, bytes, rate and
// ETA on a terminal, else a plain line every interval. Messages written
// through it (Write, printf) appear above the bar. Safe for concurrent use.
type progress struct {
	mu         sync.Mutex
	out        io.Writer // where the bar or the periodic lines go
	msgs       io.Writer // where messages go
	bar        *progressbar.ProgressBar
	totalObjs  int
	totalBytes int64
	doneObjs   int
	doneBytes  int64
	start      time.Time
	stop       chan struct{}
	stopped    chan struct{}
}

// newProgress starts showing progress over objs objects of bytes bytes.
// With tty false (or interval <= 0 on a non-terminal: no periodic lines)
// no escape codes are written.
func newProgress(out, msgs io.Writer, tty bool, objs int, bytes int64, interval time.Duration) *progress {
	p := &progress{out: out, msgs: msgs, totalObjs: objs, totalBytes: bytes, start: time.Now(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if tty {
		p.bar = progressbar.NewOptions64(max(bytes, 1),
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetDescription(p.description()),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	go p.tick(tty, interval)
	return p
}

// tick prints the plain periodic lines when not on a terminal.
func (p *progress) tick(tty bool, interval time.Duration) {
	defer close(p.stopped)
	if tty || interval <= 0 {
		<-p.stop
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			fmt.Fprintln(p.out, "progress: "+p.line())
			p.mu.Unlock()
		}
	}
}

// done counts one object of size bytes as handled (whatever the outcome).
func (p *progress) done(size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.doneObjs++
	p.doneBytes += size
	if p.bar != nil {
		p.bar.Describe(p.description())
		_ = p.bar.Add64(size)
	}
}

// Write prints a message above the bar (the client's log goes through it).
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	n, err := p.msgs.Write(b)
	if p.bar != nil {
		_ = p.bar.RenderBlank()
	}
	return n, err
}

// printf prints one message line above the bar, to the message writer.
func (p *progress) printf(format string, args ...any) {
	fmt.Fprintf(p, format+"\n", args...)
}

// outf prints one line above the bar, to the progress writer (stdout).
func (p *progress) outf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.out, format+"\n", args...)
	if p.bar != nil {
		_ = p.bar.RenderBlank()
	}
}

// finish removes the bar (or stops the periodic lines).
func (p *progress) finish() {
	close(p.stop)
	<-p.stopped
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
	}
}

func (p *progress) description() string {
	return fmt.Sprintf("rekey %d/%d objects", p.doneObjs, p.totalObjs)
}

// line is one plain progress line: objects, bytes, rate and ETA.
func (p *progress) line() string {
	elapsed := time.Since(p.start)
	rate := float64(p.doneBytes) / max(elapsed.Seconds(), 0.001)
	eta := "unknown"
	switch {
	case p.doneBytes >= p.totalBytes && p.doneObjs >= p.totalObjs:
		eta = "0s"
	case p.doneBytes > 0:
		eta = time.Duration(float64(p.totalBytes-p.doneBytes) / rate * float64(time.Second)).Round(time.Second).String()
	case p.doneObjs > 0:
		per := elapsed / time.Duration(p.doneObjs)
		eta = (per * time.Duration(p.totalObjs-p.doneObjs)).Round(time.Second).String()
	}
	return fmt.Sprintf("%d/%d objects, %s/%s, %s/s, ETA %s",
		p.doneObjs, p.totalObjs, humanBytes(p.doneBytes), humanBytes(p.totalBytes), humanBytes(int64(rate)), eta)
}

// humanBytes formats n with IEC units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
