package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// The mount command re-executes itself in the background with this variable
// set and a pipe on file descriptor 3. The child mounts, then writes "ready"
// or one line of error to the pipe; the parent prints the error and exits
// with the matching status. Keys are never passed to the child: it reads
// the key file itself.
const daemonEnv = "SSEFS_DAEMON_CHILD"

const readyMessage = "ready"

// daemonReadyPipe returns the ready pipe when this process is the
// background child, nil otherwise.
func daemonReadyPipe() *os.File {
	if os.Getenv(daemonEnv) != "1" {
		return nil
	}
	os.Unsetenv(daemonEnv)
	return os.NewFile(3, "ssefs-ready")
}

// spawnDaemon starts the background child and waits for its verdict.
func spawnDaemon() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding own executable: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		r.Close()
		return fmt.Errorf("starting the background process: %w", err)
	}
	w.Close()
	defer r.Close()
	line, readErr := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	if line == readyMessage {
		cmd.Process.Release()
		return nil
	}
	// The child failed: it has exited or is about to.
	waitErr := cmd.Wait()
	if line != "" {
		fmt.Fprintln(os.Stderr, "ssefs:", line)
		return exitError(1)
	}
	if readErr != nil && !errors.Is(readErr, io.EOF) {
		return fmt.Errorf("background process: %w", readErr)
	}
	return fmt.Errorf("the background process exited before the mount was ready (%v)", waitErr)
}

// reportReady tells the waiting parent how the mount went.
func reportReady(ready *os.File, err error) {
	if ready == nil {
		return
	}
	msg := readyMessage
	if err != nil {
		msg = strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	fmt.Fprintln(ready, msg)
	ready.Close()
}
