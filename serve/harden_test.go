package serve

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"kmsconsole/ecs/sshdtest"
)

// TestBinaryNoCoreDumps: a running `kmsconsole serve` has a core limit of
// 0 (soft and hard) and is not dumpable, and still serves. It runs as a
// user other than root (nobody, when the test runs as root) because a
// non-dumpable process's /proc files belong to root: that is how the test
// sees it from outside, and it shows that serve works so as the service
// user of dist/kmsconsole.service.
func TestBinaryNoCoreDumps(t *testing.T) {
	requireTool(t, sshPath)
	// Give the child a core limit to lose (it inherits ours), so that this
	// test fails when main does not lower it.
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &saved); err != nil {
		t.Fatal(err)
	}
	raised := saved
	if raised.Max == 0 && os.Geteuid() == 0 {
		raised.Max = 1 << 20
	}
	raised.Cur = raised.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &raised); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_CORE, &saved) })
	if raised.Cur == 0 {
		t.Log("RLIMIT_CORE hard limit is 0 here: the child starts with 0 anyway")
	}

	// A directory the service user can reach: t.TempDir's parent is 0700.
	dir, err := os.MkdirTemp("", "kmsconsole-nocore-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kmsconsole")
	if out, err := exec.Command("go", "build", "-o", bin, "kmsconsole").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	uid, gid := os.Getuid(), os.Getgid()
	attr := &syscall.SysProcAttr{}
	if uid == 0 {
		uid, gid = 65534, 65534
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, uid, gid); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + state, "KMSCONSOLE_DB=" + filepath.Join(state, "kms.db"), "KMSCONSOLE_REGION=cn-hangzhou"}
	command := func(args ...string) *exec.Cmd {
		c := exec.Command(bin, args...)
		c.Env, c.Dir, c.SysProcAttr = env, state, attr
		return c
	}
	pub, priv := sshdtest.GenerateKey(t, "ed25519")
	key := filepath.Join(dir, "op_key")
	if err := os.WriteFile(key, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := command("operator", "add", "--name", "dana", "--key", pub, "--role", "admin").CombinedOutput(); err != nil {
		t.Fatalf("operator add: %v\n%s", err, out)
	}

	cmd := command("serve", "--listen", "127.0.0.1:0")
	p := startBinary(t, cmd)
	pid := cmd.Process.Pid

	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	var core []string
	for _, line := range strings.Split(string(limits), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max core file size"); ok {
			core = strings.Fields(rest)
		}
	}
	if len(core) < 2 || core[0] != "0" || core[1] != "0" {
		t.Errorf("serve's core limit (soft, hard) is %v, want 0 0:\n%s", core, limits)
	}

	// Dumpable processes' /proc files belong to their user; not dumpable
	// ones', to root.
	status := fmt.Sprintf("/proc/%d/status", pid)
	text, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "\nUid:\t"+strconv.Itoa(uid)+"\t") {
		t.Fatalf("serve does not run as uid %d:\n%s", uid, text)
	}
	fi, err := os.Stat(status)
	if err != nil {
		t.Fatal(err)
	}
	if owner := fi.Sys().(*syscall.Stat_t).Uid; owner != 0 {
		t.Errorf("serve is dumpable: its /proc files belong to uid %d, not root", owner)
	}

	// It still serves: an operator logs in and runs a command.
	hostKey, err := os.ReadFile(filepath.Join(state, HostKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%s %s", p.port, gossh.MarshalAuthorizedKey(signer.PublicKey()))
	if err := os.WriteFile(knownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "UserKnownHostsFile=" + knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-p", p.port, "127.0.0.1",
		"kms CreateSecret --SecretName nocore --VersionId v1 --SecretData v"}
	if out, stderr, code := runSSH(t, args); code != 0 {
		t.Fatalf("CreateSecret over SSH: exit %d %s %s\n%s", code, out, stderr, p.logText())
	}
	if code, log := p.terminate(t); code != 0 || !strings.Contains(log, "stopped") {
		t.Fatalf("SIGTERM: exit %d\n%s", code, log)
	}
}
