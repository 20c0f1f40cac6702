//go:build unix

package events

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup puts the command in a process group of its own, which a
// timeout kills whole: `sh -c 'sleep 600'` leaves no sleep behind.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
