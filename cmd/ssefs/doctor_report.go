package main

import (
	"fmt"
	"io"
	"strings"
)

// checkStatus is the verdict of one doctor check.
type checkStatus int

const (
	checkOK   checkStatus = iota // ✓ fine
	checkNote                    // i worth knowing, nothing to fix
	checkWarn                    // ! works, but with a risk
	checkFail                    // ✗ broken
	checkSkip                    // - not checked (an earlier check failed)
)

var checkMarks = map[checkStatus]string{checkOK: "✓", checkNote: "i", checkWarn: "!", checkFail: "✗", checkSkip: "-"}

// ANSI colours of the marks on a terminal.
var checkColours = map[checkStatus]string{checkOK: "\x1b[32m", checkNote: "\x1b[36m", checkWarn: "\x1b[33m", checkFail: "\x1b[31m", checkSkip: "\x1b[90m"}

// doctorReport prints one line per check: a mark, what was found and, for
// warnings and failures, the fix. Colours only on a terminal.
type doctorReport struct {
	out      io.Writer
	tty      bool
	failures int
	warnings int
}

// add prints one check. fix may be empty.
func (r *doctorReport) add(st checkStatus, msg, fix string) {
	switch st {
	case checkFail:
		r.failures++
	case checkWarn:
		r.warnings++
	}
	mark := checkMarks[st]
	if r.tty {
		mark = checkColours[st] + mark + "\x1b[0m"
	}
	line := mark + " " + flatten(msg)
	if fix != "" {
		line += "; fix: " + flatten(fix)
	}
	fmt.Fprintln(r.out, line)
}

func (r *doctorReport) ok(format string, args ...any) {
	r.add(checkOK, fmt.Sprintf(format, args...), "")
}

func (r *doctorReport) note(msg string) { r.add(checkNote, msg, "") }

func (r *doctorReport) warn(msg, fix string) { r.add(checkWarn, msg, fix) }

func (r *doctorReport) fail(msg, fix string) { r.add(checkFail, msg, fix) }

func (r *doctorReport) skip(msg string) { r.add(checkSkip, msg, "") }

// summary is the last line.
func (r *doctorReport) summary() string {
	switch {
	case r.failures > 0:
		return fmt.Sprintf("%d check(s) failed, %d warning(s)", r.failures, r.warnings)
	case r.warnings > 0:
		return fmt.Sprintf("no failures, %d warning(s)", r.warnings)
	}
	return "all checks passed"
}

// flatten keeps a message on one line.
func flatten(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
