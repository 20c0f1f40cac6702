package serve

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"kmsconsole/ecs/sshdtest"
)

// TestBinaryServeRestartAndSIGTERM runs the built binary as an operator
// would: `kmsconsole operator add`, then `kmsconsole serve`, stopped with
// SIGTERM (exit 0) and started again with the same host key (strict host
// key checking passes against the first run's key), which lives beside the
// store with mode 0600 and not in the working directory.
func TestBinaryServeRestartAndSIGTERM(t *testing.T) {
	requireTool(t, sshPath)
	dir := t.TempDir()
	bin := filepath.Join(dir, "kmsconsole")
	if out, err := exec.Command("go", "build", "-o", bin, "kmsconsole").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dbPath := filepath.Join(dir, "state", "kms.db")
	work := filepath.Join(dir, "cwd")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "KMSCONSOLE_DB="+dbPath, "KMSCONSOLE_REGION=cn-hangzhou")
	command := func(args ...string) *exec.Cmd {
		c := exec.Command(bin, args...)
		c.Env, c.Dir = env, work
		return c
	}

	pub, priv := sshdtest.GenerateKey(t, "ed25519")
	key := filepath.Join(dir, "op_key")
	pubFile := filepath.Join(dir, "op_key.pub")
	os.WriteFile(key, priv, 0o600)
	os.WriteFile(pubFile, []byte(pub+" dana@laptop\n"), 0o644)
	if out, err := command("operator", "add", "--name", "dana", "--key", pubFile, "--role", "admin").CombinedOutput(); err != nil {
		t.Fatalf("operator add: %v\n%s", err, out)
	}
	if _, err := command("serve", "--bogus").Output(); err == nil {
		t.Fatal("serve --bogus succeeded")
	} else if ee, ok := err.(*exec.ExitError); !ok || !strings.Contains(string(ee.Stderr), "InvalidParameter") {
		t.Fatalf("serve --bogus: %v %s", err, err.(*exec.ExitError).Stderr)
	}

	knownHosts := filepath.Join(dir, "known_hosts")
	var firstFP string
	for run := 1; run <= 2; run++ {
		p := startBinary(t, command("serve", "--listen", "127.0.0.1:0"))
		if run == 1 {
			firstFP = p.fingerprint
			hk := filepath.Join(filepath.Dir(dbPath), HostKeyFile)
			fi, err := os.Stat(hk)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("host key %s: %v %v", hk, fi, err)
			}
			pemBytes, _ := os.ReadFile(hk)
			signer, err := gossh.ParsePrivateKey(pemBytes)
			if err != nil {
				t.Fatal(err)
			}
			if gossh.FingerprintSHA256(signer.PublicKey()) != firstFP {
				t.Fatalf("logged fingerprint %s is not the key file's", firstFP)
			}
			// Pin the first run's key for every later connection.
			line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))
			if err := os.WriteFile(knownHosts, []byte("127.0.0.1 "+line+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		} else if p.fingerprint != firstFP {
			t.Fatalf("host key changed across restarts: %s then %s", firstFP, p.fingerprint)
		}
		args := []string{"-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
			"-o", "UserKnownHostsFile=" + knownHosts, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "CheckHostIP=no",
			"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-p", p.port, "127.0.0.1"}
		name := fmt.Sprintf("run/%d", run)
		if out, stderr, code := runSSHIn(t, "v", append(args, "kms CreateSecret --SecretName "+name+" --VersionId v1 --SecretData -")); code != 0 {
			t.Fatalf("run %d: CreateSecret: exit %d %s %s", run, code, out, stderr)
		}
		out, _, code := runSSH(t, append(args, "kms ListSecrets"))
		if code != 0 || !strings.Contains(out, fmt.Sprintf(`"TotalCount": %d`, run)) {
			t.Fatalf("run %d: ListSecrets: exit %d %s", run, code, out)
		}
		if code, log := p.terminate(t); code != 0 || !strings.Contains(log, "stopped") {
			t.Fatalf("run %d: SIGTERM: exit %d\n%s", run, code, log)
		} else if !strings.Contains(log, "login dana (admin)") {
			t.Fatalf("run %d: log lacks the login:\n%s", run, log)
		}
	}
	// The local audit names the SSH operator for changes made over SSH.
	audit, err := command("audit", "--filter", "CreateSecret").Output()
	if err != nil || strings.Count(string(audit), `"Operator":"dana","Action":"CreateSecret"`) != 2 {
		t.Fatalf("kmsconsole audit (%v):\n%s", err, audit)
	}
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Fatalf("serve wrote into the working directory: %v", entries)
	}
}

// binaryServe is a running `kmsconsole serve`.
type binaryServe struct {
	cmd         *exec.Cmd
	port        string
	fingerprint string
	mu          sync.Mutex
	log         bytes.Buffer
	done        chan struct{}
}

var (
	listenRe  = regexp.MustCompile(`listening on 127\.0\.0\.1:(\d+)`)
	hostKeyRe = regexp.MustCompile(`host key ssh-ed25519 (SHA256:\S+)`)
)

// startBinary starts serve and reads its log until it has said where it
// listens and which host key it uses.
func startBinary(t *testing.T, cmd *exec.Cmd) *binaryServe {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &binaryServe{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	ready := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			if m := listenRe.FindStringSubmatch(line); m != nil {
				p.port = m[1]
			}
			if m := hostKeyRe.FindStringSubmatch(line); m != nil {
				p.fingerprint = m[1]
			}
			if !signalled && p.port != "" && p.fingerprint != "" {
				signalled = true
				close(ready)
			}
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
	}()
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("serve exited at start:\n%s", p.logText())
	case <-time.After(20 * time.Second):
		t.Fatalf("serve never said where it listens:\n%s", p.logText())
	}
	return p
}

func (p *binaryServe) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// terminate sends SIGTERM and returns the exit status and the whole log.
func (p *binaryServe) terminate(t *testing.T) (int, string) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
		t.Fatalf("serve did not exit after SIGTERM:\n%s", p.logText())
	}
	return p.cmd.ProcessState.ExitCode(), p.logText()
}
