//go:build unix && !linux

package serve

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// HardenProcess keeps the process's memory out of core files: RLIMIT_CORE
// 0, soft and hard. (Linux also marks the process non-dumpable.)
func HardenProcess() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("cannot disable core dumps (setrlimit RLIMIT_CORE 0): %w", err)
	}
	return nil
}
