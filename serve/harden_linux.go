//go:build linux

package serve

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// HardenProcess keeps the process's memory (the master key, decrypted
// values, private keys) out of core files and away from other processes of
// the same user: RLIMIT_CORE 0, soft and hard, and not dumpable, which also
// refuses ptrace and /proc/PID/mem, environ, … to anyone but root (the
// process's /proc files become root's). main calls it first thing, for every
// command. Children started later (--on-event) inherit the core
// limit; exec makes them dumpable again.
func HardenProcess() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("cannot disable core dumps (setrlimit RLIMIT_CORE 0): %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("cannot mark the process non-dumpable (prctl PR_SET_DUMPABLE 0): %w", err)
	}
	return nil
}
