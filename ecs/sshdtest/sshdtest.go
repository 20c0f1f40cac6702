// Package sshdtest starts a real OpenSSH sshd on 127.0.0.1 for tests, and
// creates the local users (managed users, sudo admins, root keys) those tests
// log in as. It needs root and /usr/sbin/sshd; see Require.
//
// Every "host" started here shares this machine's /etc/passwd and
// /etc/shadow: a user created for one server exists on all of them.
package sshdtest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SshdPath is the sshd binary (sshd must be started by absolute path).
var SshdPath = "/usr/sbin/sshd"

// SudoersDir is where CreateAdmin puts the admin's sudoers rule.
var SudoersDir = "/etc/sudoers.d"

// Require skips the test unless it runs as root with sshd installed. When
// the environment has CI=true it fails instead of skipping.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "must run as root")
	}
	if _, err := os.Stat(SshdPath); err != nil {
		missing = append(missing, SshdPath+" not installed (apt-get install openssh-server)")
	}
	for _, tool := range []string{"useradd", "userdel", "chpasswd"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" not found")
		}
	}
	if len(missing) == 0 {
		return
	}
	reason := "sshdtest: " + strings.Join(missing, "; ")
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: not skipping)", reason)
	}
	t.Skip(reason)
}

// Options configure a server.
type Options struct {
	// DisablePassword turns off PasswordAuthentication and
	// KbdInteractiveAuthentication.
	DisablePassword bool
	// ExtraConfig lines go at the top of sshd_config (sshd keeps the first
	// value it reads for a keyword, so these override the defaults below).
	ExtraConfig []string
}

// Server is a running sshd.
type Server struct {
	Host       string
	Port       int
	HostKey    string // "<type> <base64>"
	Dir        string
	LogPath    string
	ConfigPath string

	keyPath string
	pidPath string

	mu     sync.Mutex
	opts   Options
	cmd    *exec.Cmd
	exited chan struct{}
}

func (s *Server) stderrPath() string { return filepath.Join(s.Dir, "sshd.stderr") }

// Start runs a new sshd on a free port of 127.0.0.1 with its own temporary
// directory and ed25519 host key, LogLevel DEBUG3. It returns once the port
// answers; t.Cleanup stops it.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	Require(t)
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("sshdtest: mkdir /run/sshd: %v", err)
	}
	dir := t.TempDir()
	s := &Server{
		Host:       "127.0.0.1",
		Dir:        dir,
		LogPath:    filepath.Join(dir, "sshd.log"),
		ConfigPath: filepath.Join(dir, "sshd_config"),
		keyPath:    filepath.Join(dir, "ssh_host_ed25519_key"),
		pidPath:    filepath.Join(dir, "sshd.pid"),
		opts:       opts,
	}
	if err := s.newHostKey(); err != nil {
		t.Fatalf("sshdtest: host key: %v", err)
	}
	t.Cleanup(s.Stop)
	var lastErr error
	for attempt := 0; attempt < 8; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("sshdtest: free port: %v", err)
		}
		s.Port = port
		if lastErr = s.launch(); lastErr == nil {
			return s
		}
		if !errors.Is(lastErr, errPortInUse) {
			break
		}
	}
	t.Fatalf("sshdtest: start sshd: %v", lastErr)
	return nil
}

// Restart stops sshd and starts it again on the same port with opts (e.g.
// to disable password authentication).
func (s *Server) Restart(t testing.TB, opts Options) {
	t.Helper()
	s.Stop()
	s.mu.Lock()
	s.opts = opts
	s.mu.Unlock()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.launch(); err == nil {
			return
		}
		if !errors.Is(err, errPortInUse) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sshdtest: restart sshd: %v", err)
}

// RotateHostKey gives the server a new ed25519 host key and restarts it;
// s.HostKey is updated.
func (s *Server) RotateHostKey(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.newHostKey(); err != nil {
		t.Fatalf("sshdtest: host key: %v", err)
	}
	s.mu.Lock()
	opts := s.opts
	s.mu.Unlock()
	s.Restart(t, opts)
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Log returns sshd's log so far (all runs of this server).
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	if e, _ := os.ReadFile(s.stderrPath()); len(bytes.TrimSpace(e)) > 0 {
		return string(b) + "\n--- sshd stderr ---\n" + string(e)
	}
	return string(b)
}

// Stop stops sshd and every process it started (open connections are
// dropped, as when a host goes down). Safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	// Stop the listener from forking, then kill what it started.
	_ = cmd.Process.Signal(syscall.SIGSTOP)
	for _, p := range descendants(cmd.Process.Pid) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	_ = os.Remove(s.pidPath)
}

var errPortInUse = errors.New("port in use")

func (s *Server) writeConfig() error {
	s.mu.Lock()
	opts := s.opts
	s.mu.Unlock()
	yesNo := "yes"
	if opts.DisablePassword {
		yesNo = "no"
	}
	var b strings.Builder
	for _, l := range opts.ExtraConfig {
		b.WriteString(l + "\n")
	}
	fmt.Fprintf(&b, `ListenAddress 127.0.0.1
Port %d
HostKey %s
PidFile %s
LogLevel DEBUG3
UsePAM yes
PasswordAuthentication %s
KbdInteractiveAuthentication %s
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes yes
AuthorizedKeysFile .ssh/authorized_keys
MaxStartups 100:30:200
PrintMotd no
UseDNS no
`, s.Port, s.keyPath, s.pidPath, yesNo, yesNo)
	return os.WriteFile(s.ConfigPath, []byte(b.String()), 0o600)
}

func (s *Server) launch() error {
	if err := s.writeConfig(); err != nil {
		return err
	}
	_ = os.Remove(s.pidPath)
	logOffset := int64(0)
	if fi, err := os.Stat(s.LogPath); err == nil {
		logOffset = fi.Size()
	}
	// A file, not a pipe: sshd's per-connection children inherit stderr,
	// and exec.Cmd.Wait would wait for them to close a pipe.
	errFile, err := os.OpenFile(s.stderrPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer errFile.Close()
	cmd := exec.Command(SshdPath, "-D", "-e", "-f", s.ConfigPath, "-E", s.LogPath)
	cmd.Stdout = errFile
	cmd.Stderr = errFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	want := strconv.Itoa(cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			errOut, _ := os.ReadFile(s.stderrPath())
			out := s.logSince(logOffset) + string(errOut)
			if strings.Contains(out, "Address already in use") {
				return fmt.Errorf("%w: %d", errPortInUse, s.Port)
			}
			return fmt.Errorf("sshd exited: %s", strings.TrimSpace(out))
		default:
		}
		// sshd writes its PidFile after it has bound the listen socket.
		if b, err := os.ReadFile(s.pidPath); err == nil && strings.TrimSpace(string(b)) == want {
			if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
				c.Close()
				return nil
			}
		}
		time.Sleep(3 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("sshd did not come up on %s: %s", s.Addr(), s.logSince(logOffset))
}

func (s *Server) logSince(off int64) string {
	b, _ := os.ReadFile(s.LogPath)
	if int64(len(b)) >= off {
		b = b[off:]
	}
	return string(b)
}

func (s *Server) newHostKey() error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return err
	}
	_ = os.Remove(s.keyPath)
	if err := os.WriteFile(s.keyPath, pem.EncodeToMemory(blk), 0o600); err != nil {
		return err
	}
	spub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	s.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(spub)))
	return os.WriteFile(s.keyPath+".pub", []byte(s.HostKey+"\n"), 0o644)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// descendants lists all processes below pid (per-connection sshd processes
// and the sessions they run).
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 > len(b) {
			continue
		}
		f := strings.Fields(string(b[i+2:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// ---- keys ----

// GenerateKey makes a key pair; kind is "ed25519" or "rsa" (2048 bits).
// It returns the public key as "<type> <base64>" and the private key as
// OpenSSH PEM.
func GenerateKey(t testing.TB, kind string) (publicLine string, privatePEM []byte) {
	t.Helper()
	var priv any
	var pub any
	switch kind {
	case "ed25519", "":
		p, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv = p, k
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv = &k.PublicKey, k
	default:
		t.Fatalf("sshdtest: unknown key kind %q", kind)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	spub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(spub))), pem.EncodeToMemory(blk)
}

// ---- users ----

var (
	userMu   sync.Mutex // serialises useradd/userdel within this process
	prefixRe = regexp.MustCompile(`[^a-z0-9]`)
)

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// runTool runs a user-administration tool, retrying while another process
// holds the passwd/shadow lock.
func runTool(stdin string, name string, args ...string) error {
	userMu.Lock()
	defer userMu.Unlock()
	var out []byte
	var err error
	for attempt := 0; attempt < 100; attempt++ {
		cmd := exec.Command(name, args...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		out, err = cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		if !bytes.Contains(out, []byte("lock")) && !bytes.Contains(out, []byte("try again")) {
			break
		}
		time.Sleep(time.Duration(20+attempt*5) * time.Millisecond)
	}
	// Never echo stdin (it may hold a password).
	return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
}

// CreateUser adds a local user "kt<prefix><random>" (≤32 chars) with a home
// directory and /bin/bash, sets its password through chpasswd's stdin
// (password "" leaves the account locked; key logins still work with
// UsePAM yes), and removes it (userdel -r) at cleanup.
func CreateUser(t testing.TB, prefix, password string) string {
	t.Helper()
	Require(t)
	prefix = prefixRe.ReplaceAllString(strings.ToLower(prefix), "")
	if len(prefix) > 18 {
		prefix = prefix[:18]
	}
	name := "kt" + prefix + randHex(6)
	if err := runTool("", "useradd", "-m", "-s", "/bin/bash", name); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	t.Cleanup(func() { deleteUser(t, name) })
	if password != "" {
		if strings.ContainsAny(password, "\n\r") {
			t.Fatalf("sshdtest: password contains a newline")
		}
		if err := runTool(name+":"+password+"\n", "chpasswd"); err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
	}
	return name
}

// CreateUsers adds n local users at once, as CreateUser does one: useradd
// per user, then a single chpasswd for all the passwords (per-user setup
// is what makes big fleet tests slow). passwords[i] is user i's password;
// an empty string leaves that account locked (key logins only). Users are
// removed at cleanup.
func CreateUsers(t testing.TB, prefix string, passwords []string) []string {
	t.Helper()
	Require(t)
	prefix = prefixRe.ReplaceAllString(strings.ToLower(prefix), "")
	if len(prefix) > 16 {
		prefix = prefix[:16]
	}
	names := make([]string, len(passwords))
	var lines strings.Builder
	for i, pw := range passwords {
		names[i] = "kt" + prefix + randHex(6)
		if err := runTool("", "useradd", "-m", "-s", "/bin/bash", names[i]); err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		name := names[i]
		t.Cleanup(func() { deleteUser(t, name) })
		if pw == "" {
			continue
		}
		if strings.ContainsAny(pw, "\n\r") {
			t.Fatalf("sshdtest: password contains a newline")
		}
		lines.WriteString(name + ":" + pw + "\n")
	}
	if lines.Len() > 0 {
		if err := runTool(lines.String(), "chpasswd"); err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
	}
	return names
}

func deleteUser(t testing.TB, name string) {
	_ = os.Remove(filepath.Join(SudoersDir, name))
	err := runTool("", "userdel", "-r", "-f", name)
	if _, lerr := user.Lookup(name); lerr == nil {
		t.Errorf("sshdtest: cannot remove user %s: %v", name, err)
	}
}

// lookup returns uid, gid and home of a local user.
func lookup(t testing.TB, name string) (int, int, string) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid, u.HomeDir
}

// WriteAuthorizedKeys replaces name's ~/.ssh/authorized_keys with lines,
// created the way sshd wants it: ~/.ssh 0700 and the file 0600, both owned
// by the user.
func WriteAuthorizedKeys(t testing.TB, name string, lines ...string) {
	t.Helper()
	uid, gid, home := lookup(t, name)
	dir := filepath.Join(home, ".ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "authorized_keys")
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, f} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o600); err != nil {
		t.Fatal(err)
	}
}

// WriteSudoers writes /etc/sudoers.d/<name> (mode 0440) with content,
// validated by visudo when it is installed. It is removed with the user.
func WriteSudoers(t testing.TB, name, content string) {
	t.Helper()
	p := filepath.Join(SudoersDir, name)
	if err := os.MkdirAll(SudoersDir, 0o750); err != nil {
		t.Fatal(err)
	}
	tmp := p + ".tmp" // sudo ignores names containing '.'
	if err := os.WriteFile(tmp, []byte(content), 0o440); err != nil {
		t.Fatal(err)
	}
	if visudo, err := exec.LookPath("visudo"); err == nil {
		if out, err := exec.Command(visudo, "-c", "-q", "-f", tmp).CombinedOutput(); err != nil {
			os.Remove(tmp)
			t.Fatalf("sshdtest: invalid sudoers for %s: %v: %s", name, err, out)
		}
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(p) })
}

// CreateAdmin adds a non-root user with passwordless sudo
// (/etc/sudoers.d/<user>, 0440) that logs in with its own ed25519 key.
// Cleanup removes the sudoers file and the user.
func CreateAdmin(t testing.TB) (string, []byte) {
	t.Helper()
	name := CreateUser(t, "adm", "")
	pub, priv := GenerateKey(t, "ed25519")
	WriteAuthorizedKeys(t, name, pub+" sshdtest-admin")
	if _, err := exec.LookPath("sudo"); err != nil {
		t.Fatalf("sshdtest: sudo not installed")
	}
	WriteSudoers(t, name, name+" ALL=(ALL:ALL) NOPASSWD: ALL\n")
	return name, priv
}

// SlowShell gives user a login shell that sleeps secs before each command,
// so that work on the host over SSH takes a while.
func SlowShell(t testing.TB, user string, secs int) {
	t.Helper()
	SetShell(t, user, fmt.Sprintf("#!/bin/sh\nsleep %d\nexec /bin/bash \"$@\"\n", secs))
}

// SlowAnswerShell gives user a login shell that runs each command at once
// but answers (exits) secs later: the host has done the work while the
// client still waits for the outcome, the window a dropped link hits.
func SlowAnswerShell(t testing.TB, user string, secs int) {
	t.Helper()
	SetShell(t, user, fmt.Sprintf("#!/bin/sh\n/bin/bash \"$@\"\nrc=$?\nsleep %d\nexit $rc\n", secs))
}

// SetShell makes script the login shell of user (until cleanup removes
// the script; the user goes with its test).
func SetShell(t testing.TB, user, script string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sshdtest-shell-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sh := filepath.Join(dir, "shell")
	if err := os.WriteFile(sh, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := runTool("", "usermod", "-s", sh, user); err != nil {
		t.Fatal(err)
	}
}

// Link is a TCP forwarder on 127.0.0.1 to a server: the network between
// kmsconsole and a host, which a test can cut (every open connection
// reset, new ones refused) and restore, as a flaky link does.
type Link struct {
	Port   int
	target string
	l      net.Listener
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

// NewLink starts a forwarder to target (host:port); it stops at cleanup.
func NewLink(t testing.TB, target string) *Link {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k := &Link{Port: l.Addr().(*net.TCPAddr).Port, target: target, l: l, conns: map[net.Conn]bool{}}
	go k.accept()
	t.Cleanup(func() { l.Close(); k.Cut() })
	return k
}

func (k *Link) accept() {
	for {
		c, err := k.l.Accept()
		if err != nil {
			return
		}
		k.mu.Lock()
		down := k.down
		k.mu.Unlock()
		if down {
			resetClose(c)
			continue
		}
		up, err := net.DialTimeout("tcp", k.target, 5*time.Second)
		if err != nil {
			resetClose(c)
			continue
		}
		k.mu.Lock()
		k.conns[c], k.conns[up] = true, true
		k.mu.Unlock()
		go k.pipe(c, up)
		go k.pipe(up, c)
	}
}

func (k *Link) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	k.mu.Lock()
	delete(k.conns, src)
	delete(k.conns, dst)
	k.mu.Unlock()
	src.Close()
	dst.Close()
}

// Cut resets every open connection and refuses new ones until Restore.
func (k *Link) Cut() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.down = true
	for c := range k.conns {
		resetClose(c)
		delete(k.conns, c)
	}
}

// Restore lets connections through again.
func (k *Link) Restore() {
	k.mu.Lock()
	k.down = false
	k.mu.Unlock()
}

// resetClose closes c with a TCP reset, as a dropped link ends a session.
func resetClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// RevokeSudo removes the sudoers rule of user (made by CreateAdmin).
func RevokeSudo(t testing.TB, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(SudoersDir, name)); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// RootAdmin adds a new key, tagged with a unique comment, to root's
// authorized_keys and returns its private key; the line is removed at
// cleanup.
func RootAdmin(t testing.TB) []byte {
	t.Helper()
	Require(t)
	pub, priv := GenerateKey(t, "ed25519")
	comment := "sshdtest-root-" + randHex(6)
	_, _, home := lookup(t, "root")
	dir := filepath.Join(home, ".ssh")
	file := filepath.Join(dir, "authorized_keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	editRootKeys(t, dir, file, func(lines []string) []string {
		return append(lines, pub+" "+comment)
	})
	t.Cleanup(func() {
		editRootKeys(t, dir, file, func(lines []string) []string {
			out := lines[:0]
			for _, l := range lines {
				f := strings.Fields(l)
				if len(f) > 0 && f[len(f)-1] == comment {
					continue
				}
				out = append(out, l)
			}
			return out
		})
	})
	return priv
}

// editRootKeys rewrites root's authorized_keys under an flock (tests in
// other processes may edit it at the same time).
func editRootKeys(t testing.TB, dir, file string, edit func([]string) []string) {
	t.Helper()
	lf, err := os.OpenFile(filepath.Join(os.TempDir(), "sshdtest-root-authorized_keys.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	var lines []string
	if b, err := os.ReadFile(file); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
	} else if !os.IsNotExist(err) {
		t.Fatal(err)
	}
	lines = edit(lines)
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	tmp := file + ".sshdtest-" + randHex(4)
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		t.Fatal(err)
	}
}

// ErrLoginRefused is KeyLogin's answer when the host refused the key.
var ErrLoginRefused = errors.New("sshdtest: the host refused the key")

// KeyLogin logs in to the server as user with the real OpenSSH client
// (ssh -i KEY -o IdentitiesOnly=yes -o BatchMode=yes, host key pinned in a
// known_hosts file of its own) and runs `true`. The private key is written
// 0600 to a file of the test's temporary directory for that login only. It
// returns nil when the login works, ErrLoginRefused when the host refuses
// the key, another error otherwise. ssh's output never holds the key.
func (s *Server) KeyLogin(t testing.TB, user string, privateKey []byte) error {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sshdtest: ssh (openssh-client) not installed (CI=true: not skipping)")
		}
		t.Skip("sshdtest: ssh (openssh-client) not installed")
	}
	dir, err := os.MkdirTemp(t.TempDir(), "login-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	key := filepath.Join(dir, "id")
	if err := os.WriteFile(key, privateKey, 0o600); err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(known, []byte(fmt.Sprintf("[%s]:%d %s\n", s.Host, s.Port, s.HostKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ssh", "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+known, "-o", "ConnectTimeout=20",
		"-o", "PreferredAuthentications=publickey", "-p", strconv.Itoa(s.Port), user+"@"+s.Host, "true")
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	out, err := cmd.CombinedOutput()
	switch {
	case err == nil:
		return nil
	case bytes.Contains(out, []byte("Permission denied")):
		return fmt.Errorf("%w: %s", ErrLoginRefused, strings.TrimSpace(string(out)))
	}
	return fmt.Errorf("sshdtest: ssh -i as %s: %v: %s", user, err, strings.TrimSpace(string(out)))
}
