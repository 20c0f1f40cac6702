// Package sdktest checks kmsconsole's application API (SPEC §7) with
// Alibaba Cloud's official, unchanged SDKs and Secrets Manager client,
// against the real binary: TestMain builds kmsconsole from the parent module,
// starts `kmsconsole serve --api-listen` on a fresh store and stops it with
// SIGTERM at the end. Access keys, secrets and instances are made with the
// CLI, as an operator would; applications then talk to the endpoint with the
// SDKs. Every test deletes the secrets it makes when it ends, and access
// keys get names of their own (newKey), so that `go test -count=N` can run
// each test again on the same serve and store. It is a module of its own so
// that the product binary never links the SDKs.
package sdktest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// kmsProcess is the kmsconsole binary and the serve process the tests talk to.
type kmsProcess struct {
	bin      string // the kmsconsole binary built from ..
	dir      string // the data directory (holds kms.db, master.key, the certificate)
	db       string
	endpoint string // https://127.0.0.1:PORT, as serve wrote it to api_endpoint
	host     string // 127.0.0.1:PORT
	logPath  string // serve's stderr
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
}

var kp *kmsProcess

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "kmsconsole-sdktest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdktest:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	p, err := startKMS(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdktest:", err)
		return 1
	}
	kp = p
	code := m.Run()
	if err := p.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "sdktest: serve did not stop cleanly on SIGTERM: %v\n--- serve log ---\n%s\n", err, p.log())
		code = 1
	}
	// Nothing an application sent or read may reach serve's log.
	if leaked := leakedInto(p.log()); leaked != "" {
		fmt.Fprintf(os.Stderr, "sdktest: serve's log holds %s\n", leaked)
		code = 1
	}
	if code != 0 && testing.Verbose() {
		fmt.Fprintf(os.Stderr, "--- serve log ---\n%s\n", p.log())
	}
	return code
}

// startKMS builds kmsconsole from the parent module into dir and starts
// serve on 127.0.0.1 with the API on a free port.
func startKMS(tmp string) (*kmsProcess, error) {
	p := &kmsProcess{bin: filepath.Join(tmp, "kmsconsole"), dir: filepath.Join(tmp, "data")}
	p.db = filepath.Join(p.dir, "kms.db")
	p.logPath = filepath.Join(tmp, "serve.log")
	build := exec.Command("go", "build", "-o", p.bin, ".")
	build.Dir = ".." // the kmsconsole module
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build kmsconsole: %v\n%s", err, out)
	}
	if err := os.Mkdir(p.dir, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	p.cmd = exec.Command(p.bin, "serve", "--listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--db", p.db)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.Env = cleanEnv()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	p.exited = make(chan struct{})
	go func() { p.exitErr = p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(p.dir, "api_endpoint"))
		if err == nil && strings.HasPrefix(string(b), "https://") {
			p.endpoint = strings.TrimSpace(string(b))
			u, err := url.Parse(p.endpoint)
			if err != nil {
				return nil, fmt.Errorf("api_endpoint %q: %v", p.endpoint, err)
			}
			p.host = u.Host
			// A whole TLS handshake, so that serve logs no aborted one.
			d := &net.Dialer{Timeout: time.Second}
			if c, err := tls.DialWithDialer(d, "tcp", p.host, &tls.Config{InsecureSkipVerify: true}); err == nil {
				c.Close()
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("serve exited at start (%v):\n%s", p.exitErr, p.log())
		default:
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			return nil, fmt.Errorf("serve wrote no api_endpoint in 30s:\n%s", p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for serve to exit 0.
func (p *kmsProcess) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.exited:
		return p.exitErr
	case <-time.After(3 * time.Minute):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("still running 3 minutes after SIGTERM (killed)")
	}
}

func (p *kmsProcess) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// cleanEnv is the test's environment without the variables that would point
// kmsconsole elsewhere, or hand the Secrets Manager client's settings to it.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "KMSCONSOLE_") || strings.HasPrefix(k, "credentials_") || strings.HasPrefix(k, "cache_client_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ---- values that must never be logged ----

var (
	sensitiveMu sync.Mutex
	sensitive   []string
)

// secretValue registers v as a value serve must never log, and returns it.
func secretValue(v string) string {
	sensitiveMu.Lock()
	defer sensitiveMu.Unlock()
	if len(v) >= 8 {
		sensitive = append(sensitive, v)
	}
	return v
}

func leakedInto(text string) string {
	sensitiveMu.Lock()
	defer sensitiveMu.Unlock()
	for i, v := range sensitive {
		if strings.Contains(text, v) {
			return fmt.Sprintf("registered value #%d (%d bytes)", i, len(v))
		}
	}
	return ""
}

// ---- the CLI ----

// cliResult is one kmsconsole command line's outcome.
type cliResult struct {
	stdout, stderr string
	code           int
}

// kmscli runs kmsconsole --db <the store> args..., with stdin as its
// standard input (values go there, never in argv).
func kmscli(t testing.TB, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kp.bin, append([]string{"--db", kp.db}, args...)...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("kmsconsole %s: %v", argsForLog(args), err)
	}
	return r
}

// mustCLI runs a command that must succeed and decodes its JSON answer.
func mustCLI(t testing.TB, stdin string, args ...string) map[string]any {
	t.Helper()
	r := kmscli(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("kmsconsole %s: exit %d: %s", argsForLog(args), r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("kmsconsole %s: answer is not JSON (%v): %d bytes", argsForLog(args), err, len(r.stdout))
	}
	return m
}

// argsForLog is argv for a failure message (the tests never put a value in
// argv, so it may be printed).
func argsForLog(args []string) string { return strings.Join(args, " ") }

// ---- secrets ----

// deleteWhenDone deletes the named secrets for good (`kms DeleteSecret
// --ForceDeleteWithoutRecovery true`) when t ends, passed or failed, so
// that the next round of `go test -count=N` finds the shared store without
// them and can create them again under the same names. A secret the test
// already deleted (or never got to create) is no error.
func deleteWhenDone(t testing.TB, names ...string) {
	t.Helper()
	t.Cleanup(func() {
		for _, n := range names {
			r := kmscli(t, "", "kms", "DeleteSecret", "--SecretName", n, "--ForceDeleteWithoutRecovery", "true")
			if r.code == 0 {
				continue
			}
			var e struct{ Code string }
			if json.Unmarshal([]byte(r.stderr), &e) == nil && e.Code == "Forbidden.ResourceNotFound" {
				continue
			}
			t.Errorf("cleanup: kmsconsole kms DeleteSecret --SecretName %s: exit %d: %s", n, r.code, r.stderr)
		}
	})
}

// ---- access keys ----

// accessKey is an AccessKeyId and its AccessKeySecret, made with the CLI.
type accessKey struct {
	Name, ID, Secret string
}

var keySeq atomic.Int64

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.@-]+`)

// newKey creates an access key with policy through `kmsconsole accesskey
// create`, named after the test.
func newKey(t testing.TB, policy string) accessKey {
	t.Helper()
	name := unsafeName.ReplaceAllString(t.Name(), "-")
	if len(name) > 50 {
		name = name[len(name)-50:]
	}
	name = strings.Trim(name, "-.") + fmt.Sprintf("-%d", keySeq.Add(1))
	m := mustCLI(t, "", "accesskey", "create", "--name", name, "--policy", policy)
	k := accessKey{Name: name, ID: str(m["AccessKeyId"]), Secret: str(m["AccessKeySecret"])}
	if k.ID == "" || k.Secret == "" {
		t.Fatalf("accesskey create answered no AccessKeyId/AccessKeySecret: fields %v", keysOf(m))
	}
	secretValue(k.Secret)
	return k
}

// allowAll lets a key do everything.
const allowAll = `{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`

func str(v any) string { s, _ := v.(string); return s }

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
