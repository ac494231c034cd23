package ssekeys

import "golang.org/x/sys/unix"

// newChunk maps size bytes of anonymous memory for keys: locked in RAM
// (best effort: mlock fails over RLIMIT_MEMLOCK without CAP_IPC_LOCK), left
// out of core dumps, and zeroed in a fork()ed child. Off the heap, the
// garbage collector never scans, moves or frees it.
func newChunk(size int) (mem []byte, locked bool) {
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]byte, size), false
	}
	_ = unix.Madvise(mem, unix.MADV_DONTDUMP)   // since Linux 3.4
	_ = unix.Madvise(mem, unix.MADV_WIPEONFORK) // since Linux 4.14
	return mem, unix.Mlock(mem) == nil
}

// HardenProcess makes the process undumpable (prctl PR_SET_DUMPABLE 0): a
// crash writes no core file, which would hold the keys and the plaintext
// the process handled, and other processes of the same user can no longer
// ptrace it or read its memory through /proc/PID/mem (root, with
// CAP_SYS_PTRACE, still can). Call it before reading any key. It lasts
// until the process execs.
func HardenProcess() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
