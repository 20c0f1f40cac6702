package replicas

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// console is the real binary's console in a tmux pane.
type console struct {
	t    *testing.T
	sock string
	name string
}

// requireTmux skips without tmux, or fails under CI=true.
func requireTmux(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux not installed (CI=true: not skipping)")
		}
		t.Skip("tmux not installed")
	}
}

// startConsole runs `kmsconsole` (the console) on the store in a tmux pane
// wide enough for an error message's first line. The store's URL reaches
// it through a 0700 script's environment, never a command line.
func (w *world) startConsole(dataDir string) *console {
	t := w.t
	t.Helper()
	requireTmux(t)
	script := filepath.Join(privateDir(t, "console-script"), "run")
	body := fmt.Sprintf("#!/bin/sh\nunset KMSCONSOLE_MASTER_KEY_FILE XDG_DATA_HOME\nexport TERM=xterm-256color NO_COLOR=1 KMSCONSOLE_DB='%s' KMSCONSOLE_DATA_DIR='%s' KMSCONSOLE_REGION=%s\n%s\necho EXIT=$?\nsleep 600\n",
		w.url, dataDir, region, binary(t))
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	c := &console{t: t, sock: fmt.Sprintf("kmsreplicas-%d-%d", os.Getpid(), time.Now().UnixNano()), name: t.Name()}
	if out, err := exec.Command("tmux", "-L", c.sock, "-f", "/dev/null", "new-session", "-d", "-x", "240", "-y", "30", script).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	t.Cleanup(func() {
		record("the last console screen of "+c.name, c.screen())
		exec.Command("tmux", "-L", c.sock, "kill-server").Run()
	})
	return c
}

func (c *console) screen() string {
	out, _ := exec.Command("tmux", "-L", c.sock, "capture-pane", "-p", "-t", "0").Output()
	return string(out)
}

func (c *console) keys(keys ...string) {
	c.t.Helper()
	args := append([]string{"-L", c.sock, "send-keys", "-t", "0"}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		c.t.Fatalf("tmux send-keys: %v %s", err, out)
	}
}

// waitFor waits until the screen shows every text and returns it; every
// screen looked at is kept for the password scan.
func (c *console) waitFor(timeout time.Duration, texts ...string) (string, bool) {
	var s string
	ok := waitFor(timeout, 50*time.Millisecond, func() bool {
		s = c.screen()
		for _, x := range texts {
			if !strings.Contains(s, x) {
				return false
			}
		}
		return true
	})
	record("a console screen of "+c.name, s)
	return s, ok
}
