package replicas

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

// region is the one region every test works in.
const region = "cn-hangzhou"

// pgCluster is scripts/pg-cluster, relative to this package.
var pgCluster, _ = filepath.Abs("../scripts/pg-cluster")

func TestMain(m *testing.M) {
	// The tests mostly wait (on sshd, PostgreSQL, tickers and leases):
	// all of them run at once unless -parallel says otherwise, even on a
	// machine with two CPUs.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", "8")
	}
	code := m.Run()
	if shared.c != nil {
		b, _ := os.ReadFile(shared.c.serverLog())
		record("PostgreSQL's log of the shared cluster", string(b))
	}
	// Late output (a process killed at cleanup, say) is scanned too: no
	// database password anywhere in what any process printed.
	if code == 0 {
		if err := scanCaptures(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			code = 1
		}
	}
	shared.stop()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// ---- requirements

// requireAll skips the test without root, sshd or PostgreSQL, or fails it
// under CI=true (as sshdtest.Require does).
func requireAll(t *testing.T) {
	t.Helper()
	sshdtest.Require(t)
	var missing []string
	if bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(bins) == 0 {
		missing = append(missing, "no PostgreSQL server (apt-get install postgresql)")
	}
	if _, err := os.Stat(pgCluster); err != nil {
		missing = append(missing, "scripts/pg-cluster not found")
	}
	for _, tool := range []string{"runuser", "newusers"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" not found")
		}
	}
	if len(missing) == 0 {
		return
	}
	reason := "replicas: " + strings.Join(missing, "; ")
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: not skipping)", reason)
	}
	t.Skip(reason)
}

// ---- the binary

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func build() {
	if binDir, binErr = os.MkdirTemp("", "kmsreplicas-bin-"); binErr != nil {
		return
	}
	binPath = filepath.Join(binDir, "kmsconsole")
	if out, err := exec.Command("go", "build", "-o", binPath, "kmsconsole").CombinedOutput(); err != nil {
		binErr = fmt.Errorf("go build: %v\n%s", err, out)
	}
}

// prebuild starts building the binary while a test sets up its hosts.
func prebuild() { go binOnce.Do(build) }

// binary builds kmsconsole once per test process.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(build)
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// ---- everything a process printed, to look for the password in

type capture struct {
	name string
	mu   sync.Mutex
	buf  bytes.Buffer
}

var captures struct {
	sync.Mutex
	list      []*capture
	passwords []string
}

func newCapture(name string) *capture {
	c := &capture{name: name}
	captures.Lock()
	captures.list = append(captures.list, c)
	captures.Unlock()
	return c
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// record keeps text that did not come through a capture (a tmux screen,
// a file) for the final scan.
func record(name, text string) {
	c := newCapture(name)
	c.Write([]byte(text))
}

func rememberPassword(pw string) {
	captures.Lock()
	captures.passwords = append(captures.passwords, pw)
	captures.Unlock()
}

// scanCaptures reports a captured text that holds a database password;
// the message names the text, never the password.
func scanCaptures() error {
	captures.Lock()
	defer captures.Unlock()
	var errs []error
	for _, c := range captures.list {
		text := c.String()
		for i, pw := range captures.passwords {
			if strings.Contains(text, pw) {
				errs = append(errs, fmt.Errorf("the password of cluster #%d appears in %s", i+1, c.name))
			}
		}
	}
	return errors.Join(errs...)
}

// noPasswordIn fails t when any text captured so far, or any of files,
// holds password.
func noPasswordIn(t *testing.T, password string, files ...string) (scanned int) {
	t.Helper()
	captures.Lock()
	list := append([]*capture(nil), captures.list...)
	captures.Unlock()
	for _, c := range list {
		scanned++
		if strings.Contains(c.String(), password) {
			t.Errorf("the database password appears in %s", c.name)
		}
	}
	for _, f := range files {
		matches, _ := filepath.Glob(f)
		for _, m := range matches {
			b, err := os.ReadFile(m)
			if err != nil {
				continue
			}
			scanned++
			if bytes.Contains(b, []byte(password)) {
				t.Errorf("the database password appears in %s", m)
			}
		}
	}
	return scanned
}

// ---- PostgreSQL clusters

type cluster struct {
	parent   string // our temporary directory (0755, so postgres reaches in)
	dir      string // the pg-cluster DIR
	url      string
	password string
}

func startCluster() (*cluster, error) {
	parent, err := os.MkdirTemp("", "kmsreplicas-pg-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(parent, 0o755); err != nil {
		return nil, err
	}
	c := &cluster{parent: parent, dir: filepath.Join(parent, "cluster")}
	var stderr bytes.Buffer
	cmd := exec.Command(pgCluster, "start", c.dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output() // the URL, with its password: never printed
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("pg-cluster start: %v\n%s", err, stderr.String())
	}
	c.url = strings.TrimSpace(string(out))
	u, err := url.Parse(c.url)
	if err != nil {
		c.stop()
		return nil, errors.New("pg-cluster printed a URL that does not parse")
	}
	c.password, _ = u.User.Password()
	if len(c.password) < 8 {
		c.stop()
		return nil, errors.New("pg-cluster printed a URL without a password")
	}
	rememberPassword(c.password)
	return c, nil
}

// ownCluster is a cluster for one test, stopped and removed when it ends.
func ownCluster(t *testing.T) *cluster {
	t.Helper()
	c, err := startCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c
}

func (c *cluster) stop() {
	exec.Command(pgCluster, "stop", c.dir).Run()
	os.RemoveAll(c.parent)
}

// restart is `pg-cluster restart DIR` (a fast shutdown, then a start).
func (c *cluster) restart(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(pgCluster, "restart", c.dir).CombinedOutput(); err != nil {
		t.Fatalf("pg-cluster restart: %v\n%s", err, out)
	}
}

// crash is `pg-cluster stop DIR`: an immediate shutdown, as a crash is.
func (c *cluster) crash(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(pgCluster, "stop", c.dir).CombinedOutput(); err != nil {
		t.Fatalf("pg-cluster stop: %v\n%s", err, out)
	}
}

// start starts a stopped cluster again (pg-cluster start would initdb).
func (c *cluster) start(t *testing.T) {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Fatal("no pg_ctl")
	}
	pgctl := bins[len(bins)-1]
	out, err := exec.Command("runuser", "-u", "postgres", "--", pgctl, "-D", filepath.Join(c.dir, "data"),
		"-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
}

// serverLog is PostgreSQL's own log, scanned for the password too.
func (c *cluster) serverLog() string { return filepath.Join(c.dir, "server.log") }

// shared is the cluster that tests which never stop PostgreSQL share,
// each in a schema of its own.
type lazyCluster struct {
	once sync.Once
	c    *cluster
	err  error
}

var shared lazyCluster

func sharedCluster(t *testing.T) *cluster {
	t.Helper()
	shared.once.Do(func() { shared.c, shared.err = startCluster() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}

// stop is safe whether or not the cluster was started.
func (s *lazyCluster) stop() {
	if s.c != nil {
		s.c.stop()
	}
}

// ---- a store and the processes on it

// world is one store (a database, or a schema of one), the master key all
// its replicas hold, and a handle on it for the test's own checks.
type world struct {
	t        *testing.T
	url      string // with the password: only in the processes' environment
	password string
	redacted string // what messages may show
	keyFile  string
	store    *db.Store
	svc      *service.Service
}

func newWorld(t *testing.T, c *cluster, ownSchema bool) *world {
	t.Helper()
	w := &world{t: t, url: c.url, password: c.password}
	if ownSchema {
		w.url = dbtest.Schema(t, c.url)
	}
	w.redacted = db.RedactURL(w.url)
	seed := privateDir(t, "seed")
	w.keyFile = filepath.Join(seed, "master.key")
	store, err := db.Open(w.url, w.keyFile)
	if err != nil {
		t.Fatalf("open the store: %v", scrub(err, c.password))
	}
	w.store = store
	w.svc = service.New(store, service.Options{Region: region, Actor: service.Actor{Name: "setup", Role: model.RoleAdmin}})
	t.Cleanup(func() { w.svc.Close(); store.Close() })
	return w
}

// scrub is a value as text without the password, for failure messages.
func scrub(v any, pw string) string { return strings.ReplaceAll(fmt.Sprint(v), pw, "xxxxx") }

// privateDir is a 0700 directory of the test, as a data directory must be.
func privateDir(t *testing.T, name string) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

// dataDir is a replica's own data directory holding a copy of the master
// key (which exists once the store holds an encrypted value).
func (w *world) dataDir(name string) string {
	w.t.Helper()
	d := privateDir(w.t, name)
	key, err := os.ReadFile(w.keyFile)
	if err != nil {
		w.t.Fatalf("the master key: %v", err)
	}
	if err := os.WriteFile(filepath.Join(d, "master.key"), key, 0o600); err != nil {
		w.t.Fatal(err)
	}
	return d
}

// env is a process environment on the store: the URL goes through the
// environment, never argv (which every user can read in ps).
func (w *world) env(dataDir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KMSCONSOLE_") && !strings.HasPrefix(kv, "XDG_DATA_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "KMSCONSOLE_DB="+w.url, "KMSCONSOLE_DATA_DIR="+dataDir, "KMSCONSOLE_REGION="+region)
}

// cli runs one kmsconsole command line in dataDir.
func (w *world) cli(dataDir, stdin string, args ...string) (stdout, stderr string, code int) {
	w.t.Helper()
	cmd := exec.Command(binary(w.t), args...)
	cmd.Env = w.env(dataDir)
	cmd.Stdin = strings.NewReader(stdin)
	outC, errC := newCapture("stdout of kmsconsole "+strings.Join(args, " ")), newCapture("stderr of kmsconsole "+strings.Join(args, " "))
	cmd.Stdout, cmd.Stderr = outC, errC
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		w.t.Fatalf("kmsconsole %s: %v", args[0], err)
	}
	return outC.String(), errC.String(), code
}

// replica is a running `kmsconsole serve`.
type replica struct {
	name string
	dir  string
	cmd  *exec.Cmd
	log  *capture
	port string
	done chan struct{}
}

var listenRe = regexp.MustCompile(`listening on 127\.0\.0\.1:(\d+)`)

// startReplica starts serve on a data directory of its own (or dir, when
// given) with the extra flags.
func (w *world) startReplica(name, dir string, flags ...string) *replica {
	w.t.Helper()
	if dir == "" {
		dir = w.dataDir(name)
	}
	r := &replica{name: name, dir: dir, log: newCapture("the log of replica " + name + " of " + w.t.Name()), done: make(chan struct{})}
	r.cmd = exec.Command(binary(w.t), append([]string{"serve", "--listen", "127.0.0.1:0"}, flags...)...)
	r.cmd.Env = w.env(dir)
	r.cmd.Stdout = r.log
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.cmd.Process.Kill()
			<-r.done
		}
	})
	ready := make(chan string, 1)
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			r.log.Write([]byte(line + "\n"))
			if m := listenRe.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
		io.Copy(r.log, stderr)
		r.cmd.Wait()
	}()
	select {
	case r.port = <-ready:
	case <-r.done:
		w.t.Fatalf("replica %s exited at start:\n%s", name, scrub(r.log.String(), w.password))
	case <-time.After(30 * time.Second):
		w.t.Fatalf("replica %s never said where it listens:\n%s", name, scrub(r.log.String(), w.password))
	}
	return r
}

func (r *replica) pid() int { return r.cmd.Process.Pid }

// kill9 kills the replica with SIGKILL and waits for it.
func (r *replica) kill9(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.done
	if ws, ok := r.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("replica %s was not killed by SIGKILL: %v", r.name, r.cmd.ProcessState)
	}
}

func (r *replica) alive() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

var rotatedRe = regexp.MustCompile(`scheduler: rotated (\S+) to (\S+)`)

// rotated is what the replica's scheduler logged as rotated: name → versions.
func (r *replica) rotated() map[string][]string {
	out := map[string][]string{}
	for _, m := range rotatedRe.FindAllStringSubmatch(r.log.String(), -1) {
		out[m[1]] = append(out[m[1]], m[2])
	}
	return out
}

// ---- a host with managed users

// fleet is one real sshd with n local users, each managed by an ECS
// password secret that rotates automatically.
type fleet struct {
	srv      *sshdtest.Server
	instance string
	admin    string
	users    []string
	initial  []string
	secrets  []string
	cmdDir   string // one file per command of the admin's management login
	logStart int64  // sshd log offset where the replicas' work begins
}

func (w *world) newFleet(instance string, n int) *fleet {
	t := w.t
	t.Helper()
	f := &fleet{srv: sshdtest.Start(t, sshdtest.Options{}), instance: instance}
	admin, adminKey := sshdtest.CreateAdmin(t)
	f.admin = admin
	for i := 0; i < n; i++ {
		pw, err := model.RandomPassword(model.PasswordOptions{ExcludeCharacters: `'"\:`, RequireEachIncludedType: true})
		if err != nil {
			t.Fatal(err)
		}
		f.initial = append(f.initial, pw)
	}
	f.users = createUsers(t, f.initial)
	ctx := context.Background()
	if _, err := w.svc.AddInstance(ctx, service.AddInstanceRequest{InstanceId: instance, RegionId: region,
		Host: f.srv.Host, Port: f.srv.Port, AdminUser: admin, AdminKey: adminKey, HostKey: f.srv.HostKey}); err != nil {
		t.Fatal(err)
	}
	f.secrets = make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, u := range f.users {
		f.secrets[i] = "acs/ecs/" + instance + "/" + u
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, errs[i] = w.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: f.secrets[i], SecretType: "ECS",
				ExtendedConfig:          fmt.Sprintf(`{"SecretSubType":"Password","InstanceId":%q,"RegionId":%q}`, instance, region),
				SecretData:              model.ECSData{UserName: u, Password: f.initial[i]}.JSON(),
				EnableAutomaticRotation: true, RotationInterval: "7d"})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return f
}

// createUsers adds a local user for each password ("ktrep" and 12 hex
// digits, a home and /bin/bash, like sshdtest.CreateUsers) in one newusers
// run and one chpasswd: two locks of the user database instead of one per
// useradd, which counts on a machine where other tests add and remove
// users all the time. They are removed at cleanup, several at once.
func createUsers(t *testing.T, passwords []string) []string {
	t.Helper()
	names := make([]string, len(passwords))
	var lines strings.Builder
	for i, pw := range passwords {
		var b [6]byte
		rand.Read(b[:])
		names[i] = "ktrep" + hex.EncodeToString(b[:])
		if strings.ContainsAny(pw, ":\n") {
			t.Fatal("a password newusers cannot take")
		}
		fmt.Fprintf(&lines, "%s::::kmsconsole replicas test:/home/%s:/bin/bash\n", names[i], names[i])
	}
	t.Cleanup(func() {
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for _, n := range names {
			if _, err := user.Lookup(n); err != nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				out, err := exec.Command("userdel", "-r", "-f", n).CombinedOutput()
				if _, lerr := user.Lookup(n); lerr == nil {
					t.Errorf("cannot remove user %s: %v %s", n, err, out)
				}
			}()
		}
		wg.Wait()
	})
	// newusers writes the accounts (locked: no password), then asks PAM
	// to set each empty password, which PAM refuses ("No password has been
	// supplied", exit status 1): expected. The accounts must exist.
	cmd := exec.Command("newusers")
	cmd.Stdin = strings.NewReader(lines.String())
	out, err := cmd.CombinedOutput()
	for _, n := range names {
		if u, lerr := user.Lookup(n); lerr != nil || u.HomeDir != "/home/"+n {
			t.Fatalf("newusers did not add %s (%v): %v %s", n, lerr, err, out)
		}
	}
	// The passwords, in one chpasswd: hashed beforehand with SHA-512
	// crypt by openssl when it is there (the system's yescrypt costs a
	// second a password on a loaded machine; rotations still set theirs
	// with chpasswd as the product does), else by chpasswd itself.
	var pws strings.Builder
	for _, pw := range passwords {
		pws.WriteString(pw + "\n")
	}
	var set strings.Builder
	chpasswd := exec.Command("chpasswd")
	hash := exec.Command("openssl", "passwd", "-6", "-stdin")
	hash.Stdin = strings.NewReader(pws.String())
	if out, err := hash.Output(); err == nil && len(strings.Fields(string(out))) == len(names) {
		for i, h := range strings.Fields(string(out)) {
			set.WriteString(names[i] + ":" + h + "\n")
		}
		chpasswd.Args = append(chpasswd.Args, "-e")
	} else {
		set.Reset()
		for i, pw := range passwords {
			set.WriteString(names[i] + ":" + pw + "\n")
		}
	}
	chpasswd.Stdin = strings.NewReader(set.String())
	if out, err := chpasswd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	return names
}

// watchAdmin gives the admin a login shell that records every command it
// runs (never a value: chpasswd reads it on stdin), one file per command;
// with slowAnswer > 0 a chpasswd command answers that many seconds after
// it has changed the host. The sshd log offset is taken here: the logins
// counted later are the ones after this point.
func (f *fleet) watchAdmin(t *testing.T, slowAnswer int) {
	t.Helper()
	dir, err := os.MkdirTemp("", "kmsreplicas-cmds-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	f.cmdDir = dir
	script := "#!/bin/sh\nf=$(mktemp " + dir + "/cmd.XXXXXXXX) && printf '%s\\n' \"$*\" > \"$f\"\n"
	if slowAnswer > 0 {
		script += fmt.Sprintf("case \"$*\" in *chpasswd*) /bin/bash \"$@\"; rc=$?; sleep %d; exit $rc;; esac\n", slowAnswer)
	}
	script += "exec /bin/bash \"$@\"\n"
	sshdtest.SetShell(t, f.admin, script)
	if fi, err := os.Stat(f.srv.LogPath); err == nil {
		f.logStart = fi.Size()
	}
}

// chpasswdRuns counts the admin's chpasswd commands per user: the changes
// made on the host.
func (f *fleet) chpasswdRuns(t *testing.T) map[string]int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(f.cmdDir, "cmd.*"))
	out := map[string]int{}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("chpasswd")) {
			continue
		}
		n := 0
		for _, u := range f.users {
			if bytes.Contains(b, []byte("'"+u+"'")) {
				out[u]++
				n++
			}
		}
		if n != 1 {
			t.Fatalf("a chpasswd command for %d known users: %s", n, b)
		}
	}
	return out
}

var acceptedRe = regexp.MustCompile(`Accepted (?:password|keyboard-interactive/pam) for (\S+) from`)

// logins counts the password logins sshd accepted per user since
// watchAdmin: each rotation verifies its new credential by one.
func (f *fleet) logins() map[string]int {
	b, _ := os.ReadFile(f.srv.LogPath)
	if int64(len(b)) > f.logStart {
		b = b[f.logStart:]
	}
	out := map[string]int{}
	for _, m := range acceptedRe.FindAllStringSubmatch(string(b), -1) {
		out[m[1]]++
	}
	return out
}

// shadowHash is user's password hash in /etc/shadow.
func shadowHash(t *testing.T, user string) string {
	t.Helper()
	b, err := os.ReadFile("/etc/shadow")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Split(l, ":"); len(f) > 2 && f[0] == user {
			return f[1]
		}
	}
	t.Fatalf("%s is not in /etc/shadow", user)
	return ""
}

// ---- the store, read directly (no settling, nothing audited)

type secretState struct {
	row      *db.SecretRow
	labels   model.Labels
	versions []db.VersionRow
}

func (w *world) state(name string) (secretState, error) {
	var s secretState
	err := w.store.Read(context.Background(), func(tx *db.Tx) error {
		var err error
		if s.row, err = tx.SecretByName(name); err != nil || s.row == nil {
			return fmt.Errorf("secret %s: %v", name, err)
		}
		if s.labels, err = tx.Labels(s.row.ID); err != nil {
			return err
		}
		s.versions, err = tx.Versions(s.row.ID)
		return err
	})
	return s, err
}

func (w *world) mustState(name string) secretState {
	w.t.Helper()
	s, err := w.state(name)
	if err != nil {
		w.t.Fatal(scrub(err, w.password))
	}
	return s
}

// value is the decrypted data of a version.
func (w *world) value(name, vid string) string {
	w.t.Helper()
	var data string
	err := w.store.Read(context.Background(), func(tx *db.Tx) error {
		sec, err := tx.SecretByName(name)
		if err != nil || sec == nil {
			return fmt.Errorf("secret %s: %v", name, err)
		}
		v, err := tx.Version(sec, vid)
		if err != nil || v == nil {
			return fmt.Errorf("version %s of %s: %v", vid, name, err)
		}
		data = v.Data
		return nil
	})
	if err != nil {
		w.t.Fatal(scrub(err, w.password))
	}
	return data
}

// password is the password an ECS version holds.
func (w *world) ecsPassword(name, vid string) string {
	w.t.Helper()
	d, err := model.ParseECSData(w.value(name, vid), model.SubTypePassword)
	if err != nil {
		w.t.Fatal(err)
	}
	return d.Password
}

// makeDue sets the last rotation of secrets back past their interval.
func (w *world) makeDue(names ...string) {
	w.t.Helper()
	err := w.store.Write(context.Background(), func(tx *db.Tx) error {
		for _, n := range names {
			sec, err := tx.SecretByName(n)
			if err != nil || sec == nil {
				return fmt.Errorf("secret %s: %v", n, err)
			}
			sec.LastRotationDate = time.Now().Add(-time.Duration(sec.RotationInterval)*time.Second - time.Minute)
			if err := tx.UpdateSecret(sec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(scrub(err, w.password))
	}
}

// audit is the store's audit log filtered by text.
func (w *world) audit(filter string) []model.AuditEvent {
	w.t.Helper()
	events, err := w.svc.Audit(context.Background(), 0, filter)
	if err != nil {
		w.t.Fatal(scrub(err, w.password))
	}
	return events
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
}

// history tells what happened to a secret: its audit records and the
// lines of the replicas' logs that name it, for failure messages.
func (w *world) history(name string, replicas ...*replica) string {
	var b strings.Builder
	events := w.audit(name)
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		fmt.Fprintf(&b, "  audit %s %s %s %s %s %s %s\n", e.Time.Format("15:04:05.000"), e.Operator, e.Action, e.VersionId, e.Result, e.ErrorCode, e.Error)
	}
	for _, r := range replicas {
		for _, l := range strings.Split(r.log.String(), "\n") {
			if strings.Contains(l, name) {
				fmt.Fprintf(&b, "  %s: %s\n", r.name, l)
			}
		}
	}
	return scrub(b.String(), w.password)
}
