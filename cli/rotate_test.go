package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/ecs"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

// rotFleet is a store with managed ECS password secrets spread over real
// sshd hosts, one local user per secret (the hosts share /etc/passwd).
type rotFleet struct {
	db      string
	svc     *service.Service
	hosts   []*sshdtest.Server
	admin   string
	secrets []rotSecret
}

type rotSecret struct {
	name, user, initial string
	host                int
}

// newRotFleet starts nHosts sshd servers and creates n secrets, secret i
// on host i%nHosts.
func newRotFleet(t *testing.T, nHosts, n int) *rotFleet {
	t.Helper()
	return newRotFleetKey(t, nHosts, n, "")
}

// newRotFleetKey is newRotFleet on the master key file keyPath ("" = the
// store's default).
func newRotFleetKey(t *testing.T, nHosts, n int, keyPath string) *rotFleet {
	t.Helper()
	sshdtest.Require(t)
	f := &rotFleet{db: dbtest.Locator(t)}
	admin, adminKey := sshdtest.CreateAdmin(t)
	f.admin = admin
	passwords := make([]string, n)
	for i := range passwords {
		pw, err := model.RandomPassword(model.PasswordOptions{ExcludeCharacters: `'"\`, RequireEachIncludedType: true})
		if err != nil {
			t.Fatal(err)
		}
		passwords[i] = pw
	}
	users := sshdtest.CreateUsers(t, "rot", passwords)
	store, err := db.Open(f.db, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = service.New(store, service.Options{Region: "cn-hangzhou"})
	t.Cleanup(func() { f.svc.Close(); store.Close() })
	ctx := context.Background()
	for h := 0; h < nHosts; h++ {
		srv := sshdtest.Start(t, sshdtest.Options{})
		f.hosts = append(f.hosts, srv)
		if _, err := f.svc.AddInstance(ctx, service.AddInstanceRequest{InstanceId: rotInstance(h), RegionId: "cn-hangzhou",
			Host: srv.Host, Port: srv.Port, AdminUser: admin, AdminKey: adminKey, HostKey: srv.HostKey}); err != nil {
			t.Fatal(err)
		}
	}
	for i, u := range users {
		h := i % nHosts
		f.secrets = append(f.secrets, rotSecret{name: "acs/ecs/" + rotInstance(h) + "/" + u, user: u, initial: passwords[i], host: h})
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range f.secrets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: s.name, SecretType: "ECS",
				ExtendedConfig: fmt.Sprintf(`{"SecretSubType":"Password","InstanceId":%q,"RegionId":"cn-hangzhou"}`, rotInstance(s.host)),
				SecretData:     model.ECSData{UserName: s.user, Password: s.initial}.JSON()})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return f
}

func rotInstance(h int) string { return fmt.Sprintf("i-rot%d", h) }

// noPending fails when a rotation was left half-way (an ACSPending
// version). It must run before anything reads values: a read settles.
func (f *rotFleet) noPending(t *testing.T) {
	t.Helper()
	for _, p := range f.pending(t) {
		t.Errorf("%s: a rotation was cut short", p)
	}
}

// pending lists the ACSPending versions of the fleet, without reading a
// value (a read settles).
func (f *rotFleet) pending(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, s := range f.secrets {
		versions, err := f.svc.Versions(context.Background(), s.name)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range versions {
			if slices.Contains(v.Stages, model.StagePending) {
				out = append(out, fmt.Sprintf("%s: version %s is still ACSPending", s.name, v.VersionId))
			}
		}
	}
	return out
}

// current is the store's ACSCurrent version and password of s.
func (f *rotFleet) current(t *testing.T, s rotSecret) (string, string) {
	t.Helper()
	v, err := f.svc.GetSecretValue(context.Background(), service.GetSecretValueRequest{SecretName: s.name})
	if err != nil {
		t.Fatal(err)
	}
	var d model.ECSData
	if err := json.Unmarshal([]byte(v.SecretData), &d); err != nil {
		t.Fatal(err)
	}
	return v.VersionId, d.Password
}

// hostsAcceptCurrent checks, all at once, that every host takes its
// secrets' ACSCurrent password.
func (f *rotFleet) hostsAcceptCurrent(t *testing.T) {
	t.Helper()
	var wg sync.WaitGroup
	for _, s := range f.secrets {
		_, pw := f.current(t, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := f.hosts[s.host]
			if err := ecs.VerifyPassword(context.Background(), srv.Host, srv.Port, srv.HostKey, s.user, pw); err != nil {
				t.Errorf("%s: the host refuses the store's ACSCurrent: %v", s.name, err)
			}
		}()
	}
	wg.Wait()
}

// rotLines parses --json output: the per-secret lines and the summary.
func rotLines(t *testing.T, out string) ([]rotateResultLine, fleetSummary) {
	t.Helper()
	var lines []rotateResultLine
	var sum *fleetSummary
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if sum != nil {
			t.Fatalf("a line after the summary: %q", l)
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &probe); err != nil {
			t.Fatalf("not a JSON line: %q (%v)", l, err)
		}
		if raw, ok := probe["Summary"]; ok {
			sum = new(fleetSummary)
			if err := json.Unmarshal(raw, sum); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for _, field := range []string{"SecretName", "InstanceId", "VersionId", "Result", "FailedStep", "Reason", "Ms"} {
			if _, ok := probe[field]; !ok {
				t.Errorf("line without %s: %s", field, l)
			}
		}
		var r rotateResultLine
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, r)
	}
	if sum == nil {
		t.Fatalf("no summary line in %q", out)
	}
	return lines, *sum
}

// TestRotateBatch: twelve password secrets over three sshd hosts, one user
// per secret. The subtests run in order on the same fleet.
func TestRotateBatch(t *testing.T) {
	f := newRotFleet(t, 3, 12)
	mustRun(t, f.db, "kms", "CreateSecret", "--SecretName", "app/generic", "--SecretData", "x", "--VersionId", "v1")
	t.Run("DryRun", f.testDryRun)
	t.Run("JSON", f.testBatchJSON)
	t.Run("OneFailureExitsOne", f.testOneFailure)
}

// testDryRun: --dry-run lists the selection (plain and JSON) and changes
// neither the store nor a host.
func (f *rotFleet) testDryRun(t *testing.T) {
	before := dump(t, f.db)
	out, stderr, code := run(t, f.db, "rotate", "--all", "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d %s", code, stderr)
	}
	for _, s := range f.secrets {
		if !strings.Contains(out, s.name) || !strings.Contains(out, rotInstance(s.host)) {
			t.Errorf("dry run does not list %s on %s:\n%s", s.name, rotInstance(s.host), out)
		}
	}
	if strings.Contains(out, "app/generic") || !strings.Contains(out, "Password") || !strings.Contains(out, "nothing changed") {
		t.Errorf("dry run listing:\n%s", out)
	}

	// JSON, narrowed to one instance; --flag=value, and boolean flags
	// before a global flag (--region must still be taken as global).
	out, stderr, code = run(t, f.db, "rotate", "--dry-run", "--json", "--region", "cn-hangzhou", "--instance="+rotInstance(1))
	if code != 0 {
		t.Fatalf("dry run --json: exit %d %s", code, stderr)
	}
	var items []service.FleetItem
	total := -1
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if s, ok := m["Summary"].(map[string]any); ok {
			if s["DryRun"] != true {
				t.Errorf("summary %v", s)
			}
			total = int(s["Total"].(float64))
			continue
		}
		var it service.FleetItem
		json.Unmarshal([]byte(l), &it)
		items = append(items, it)
	}
	want := 0
	for _, s := range f.secrets {
		if s.host == 1 {
			want++
		}
	}
	if len(items) != want || total != want {
		t.Fatalf("instance %s: %d items, total %d, want %d:\n%s", rotInstance(1), len(items), total, want, out)
	}
	for _, it := range items {
		if it.InstanceId != rotInstance(1) || it.SecretSubType != "Password" || !strings.HasPrefix(it.SecretName, "acs/ecs/"+rotInstance(1)+"/") {
			t.Errorf("item %+v", it)
		}
	}
	// Another region has none of them.
	out, _, code = run(t, f.db, "rotate", "--all", "--dry-run", "--json", "--region", "cn-shanghai")
	if code != 0 || !strings.Contains(out, `"Total":0`) {
		t.Errorf("other region: exit %d %s", code, out)
	}
	if dump(t, f.db) != before {
		t.Fatal("a dry run changed the store")
	}
}

// testBatchJSON: every secret rotates in one --json batch; every line
// parses, the summary adds up, every new ACSCurrent logs in and every old
// password is refused.
func (f *rotFleet) testBatchJSON(t *testing.T) {
	old := map[string]string{}
	for _, s := range f.secrets {
		_, old[s.name] = f.current(t, s)
	}
	out, stderr, code := run(t, f.db, "rotate", "--all", "--json", "--parallel=8", "--per-host", "4")
	if code != 0 {
		t.Fatalf("rotate: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	lines, sum := rotLines(t, out)
	if len(lines) != len(f.secrets) || sum.Total != len(f.secrets) || sum.Succeeded != len(f.secrets) || sum.Failed != 0 || sum.NotStarted != 0 || sum.Interrupted {
		t.Fatalf("%d lines, summary %+v", len(lines), sum)
	}
	byName := map[string]rotateResultLine{}
	for _, l := range lines {
		byName[l.SecretName] = l
	}
	f.noPending(t)
	var wg sync.WaitGroup
	for _, s := range f.secrets {
		l, ok := byName[s.name]
		if !ok || l.Result != service.FleetSuccess || l.InstanceId != rotInstance(s.host) || l.FailedStep != "" || l.Reason != "" {
			t.Errorf("%s: line %+v", s.name, l)
			continue
		}
		vid, pw := f.current(t, s)
		if vid != l.VersionId || pw == old[s.name] {
			t.Errorf("%s: ACSCurrent %s, line says %s", s.name, vid, l.VersionId)
		}
		for _, text := range []string{out, stderr} {
			if strings.Contains(text, pw) || strings.Contains(text, old[s.name]) {
				t.Fatalf("%s: a password reached the output", s.name)
			}
		}
		srv := f.hosts[s.host]
		// A refused login costs seconds: check every old password at once.
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := ecs.VerifyPassword(context.Background(), srv.Host, srv.Port, srv.HostKey, s.user, pw); err != nil {
				t.Errorf("%s: the new ACSCurrent does not log in: %v", s.name, err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := ecs.VerifyPassword(context.Background(), srv.Host, srv.Port, srv.HostKey, s.user, old[s.name]); !errors.Is(err, ecs.ErrAuthFailed) {
				t.Errorf("%s: the old password is not refused: %v", s.name, err)
			}
		}()
	}
	wg.Wait()
}

// testOneFailure: one host is down; its secret fails, the others rotate,
// the exit status is 1 (plain text output).
func (f *rotFleet) testOneFailure(t *testing.T) {
	f.hosts[2].Stop()
	up1, down, up2 := f.secrets[0], f.secrets[2], f.secrets[1] // on hosts 0, 2, 1
	downVid, _ := f.current(t, down)
	out, stderr, code := run(t, f.db, "rotate", up1.name, down.name, up2.name)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 3 result lines and a summary:\n%s", out)
	}
	for _, l := range lines[:3] {
		isDown := strings.Contains(l, down.name)
		if isDown && !(strings.HasPrefix(l, "FAILED") && strings.Contains(l, "at set") && strings.Contains(l, "unreachable")) || !isDown && !strings.HasPrefix(l, "ok") {
			t.Errorf("line %q", l)
		}
	}
	if !strings.Contains(lines[3], "3 secret(s): 2 succeeded, 1 failed, 0 not started") {
		t.Errorf("summary %q", lines[3])
	}
	f.noPending(t)
	if vid, _ := f.current(t, down); vid != downVid {
		t.Errorf("the failed rotation changed ACSCurrent from %s to %s", downVid, vid)
	}
	up := *f
	up.secrets = []rotSecret{up1, up2}
	up.hostsAcceptCurrent(t)
}

// TestRotateSelectionErrors: bad selections and flags are refused with the
// CLI's error JSON, exit 1, and change nothing. No host needed.
func TestRotateSelectionErrors(t *testing.T) {
	p := dbtest.Locator(t)
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "app/generic", "--SecretData", "x", "--VersionId", "v1")
	before := dump(t, p)
	for _, tc := range []struct {
		args []string
		code string
		text string
	}{
		{[]string{"acs/ecs/a/b", "--all"}, model.CodeInvalidParameter, "not both"},
		{[]string{"--instance", "i-nowhere"}, model.CodeNotFound, "i-nowhere"},
		{[]string{}, model.CodeMissingParameter, "nothing selected"},
		{[]string{"--json"}, model.CodeMissingParameter, "nothing selected"},
		{[]string{"app/generic"}, model.CodeInvalidParameter, "generic"},
		{[]string{"acs/ecs/none/x"}, model.CodeNotFound, "acs/ecs/none/x"},
		{[]string{"--all", "--parallel", "0"}, model.CodeInvalidParameter, "--parallel must be"},
		{[]string{"--all", "--parallel=many"}, model.CodeInvalidParameter, "--parallel must be"},
		{[]string{"--all", "--per-host", "257"}, model.CodeInvalidParameter, "--per-host must be"},
		{[]string{"--all", "--per-host"}, model.CodeInvalidParameter, "needs a value"},
		{[]string{"--instance", "--all"}, model.CodeInvalidParameter, "needs a value"},
		{[]string{"--all", "--force"}, model.CodeInvalidParameter, "unknown flag --force"},
		{[]string{"--all", "-x"}, model.CodeInvalidParameter, "unknown flag"},
		{[]string{"--all", "--json=yes"}, model.CodeInvalidParameter, "takes no value"},
		{[]string{"--all", "--filter", "a", "--filter", "b"}, model.CodeInvalidParameter, "more than once"},
	} {
		out, stderr, code := run(t, p, append([]string{"rotate"}, tc.args...)...)
		if code != 1 || out != "" {
			t.Errorf("%v: exit %d, stdout %q", tc.args, code, out)
			continue
		}
		c, msg, _ := errorOf(t, stderr)
		if c != tc.code || !strings.Contains(msg, tc.text) {
			t.Errorf("%v: %s %q, want %s containing %q", tc.args, c, msg, tc.code, tc.text)
		}
	}
	// Nothing matches: a successful empty batch.
	out, _, code := run(t, p, "rotate", "--all", "--json")
	if _, sum := rotLines(t, out); code != 0 || sum.Total != 0 {
		t.Errorf("empty selection: exit %d %s", code, out)
	}
	if out, _, code := run(t, p, "rotate", "--help"); code != 0 || !strings.Contains(out, "--per-host") {
		t.Errorf("rotate --help: exit %d %q", code, out)
	}
	if dump(t, p) != before {
		t.Fatal("a refused rotate changed the store")
	}
}

// rotProcess is a running `kmsconsole rotate --json`, its stdout read
// line by line.
type rotProcess struct {
	cmd    *exec.Cmd
	lines  chan string
	out    strings.Builder
	stderr strings.Builder
	done   chan struct{}
}

func startRotate(t *testing.T, bin, dbPath string, args ...string) *rotProcess {
	t.Helper()
	p := &rotProcess{lines: make(chan string, 100), done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"rotate"}, args...)...)
	p.cmd.Env = append(os.Environ(), "KMSCONSOLE_DB="+dbPath, "KMSCONSOLE_REGION=cn-hangzhou", "KMSCONSOLE_MASTER_KEY_FILE=")
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	go func() {
		defer close(p.done)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.out.WriteString(sc.Text() + "\n")
			p.lines <- sc.Text()
		}
	}()
	return p
}

// firstLine waits for the first finished secret.
func (p *rotProcess) firstLine(t *testing.T) {
	t.Helper()
	select {
	case _, ok := <-p.lines:
		if !ok {
			t.Fatalf("rotate ended without output: %s", p.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no rotation finished within a minute")
	}
}

// wait drains the output and returns it with the exit status.
func (p *rotProcess) wait(t *testing.T) (string, int) {
	t.Helper()
	for range p.lines {
	}
	<-p.done
	err := p.cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = -int(ws.Signal())
		}
	} else if err != nil {
		t.Fatal(err)
	}
	return p.out.String(), code
}

// TestRotateInterrupted: a real `kmsconsole rotate` process on hosts whose
// management login is slow. SIGINT (twice) stops new rotations but cuts
// none short; kill -9 leaves at most a pending rotation that settling
// completes or undoes. Either way every host accepts the store's ACSCurrent.
func TestRotateInterrupted(t *testing.T) {
	// Build while the fleet is set up.
	bin := filepath.Join(t.TempDir(), "kmsconsole")
	built := make(chan error, 1)
	go func() {
		out, err := exec.Command("go", "build", "-o", bin, "kmsconsole").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build: %v\n%s", err, out)
		}
		built <- err
	}()
	f := newRotFleet(t, 2, 5)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	// Every command of the management login now waits a second first.
	sshdtest.SlowShell(t, f.admin, 1)

	t.Run("SIGINT", func(t *testing.T) {
		p := startRotate(t, bin, f.db, "--all", "--json", "--parallel", "1")
		p.firstLine(t)
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		p.cmd.Process.Signal(os.Interrupt) // a second one must not cut the running rotation
		out, code := p.wait(t)
		stderr := p.stderr.String()
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s\n%s", code, out, stderr)
		}
		lines, sum := rotLines(t, out)
		if len(lines) != len(f.secrets) || !sum.Interrupted || sum.NotStarted == 0 || sum.Succeeded == 0 ||
			sum.Succeeded+sum.Failed+sum.NotStarted != len(f.secrets) {
			t.Fatalf("%d lines, summary %+v\n%s", len(lines), sum, out)
		}
		if !strings.Contains(stderr, "interrupted: no new rotation starts") || !strings.Contains(stderr, "still waiting") {
			t.Errorf("stderr does not say what it waits for:\n%s", stderr)
		}
		f.noPending(t)
		for _, l := range lines {
			s := f.secrets[slices.IndexFunc(f.secrets, func(s rotSecret) bool { return s.name == l.SecretName })]
			vid, pw := f.current(t, s)
			switch l.Result {
			case service.FleetSuccess:
				if vid != l.VersionId {
					t.Errorf("%s: ACSCurrent %s, rotated to %s", s.name, vid, l.VersionId)
				}
			case service.FleetNotStarted:
				if pw != s.initial {
					t.Errorf("%s: not started, yet its value changed", s.name)
				}
			default:
				t.Errorf("%s: %+v", s.name, l)
			}
		}
		f.hostsAcceptCurrent(t)
	})

	t.Run("kill9", func(t *testing.T) {
		p := startRotate(t, bin, f.db, "--all", "--json", "--parallel", "2")
		p.firstLine(t)
		p.cmd.Process.Kill()
		if _, code := p.wait(t); code != -int(syscall.SIGKILL) {
			t.Fatalf("exit %d after kill -9", code)
		}
		// Settle what the killed process left half-way, as the next start
		// does. On a shared store (PostgreSQL) no process id is checked
		// across machines: a secret whose rotation lease a dead process
		// holds is settled once that lease expires (DefaultLeaseTTL, the
		// rotate command's), as another replica's scheduler would.
		deadline := time.Now().Add(service.DefaultLeaseTTL + 30*time.Second)
		for {
			if left := f.svc.ResolveAllPending(context.Background()); len(left) > 0 {
				t.Fatalf("not settled: %v", left)
			}
			if !dbtest.Postgres() || len(f.pending(t)) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
		f.noPending(t)
		f.hostsAcceptCurrent(t)
	})
	t.Run("terminal", func(t *testing.T) {
		if _, err := exec.LookPath("tmux"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("tmux not installed (CI=true: not skipping)")
			}
			t.Skip("tmux not installed")
		}
		sock := fmt.Sprintf("kmsrotate-%d-%d", os.Getpid(), time.Now().UnixNano())
		// The locator quoted: a PostgreSQL URL holds ? and &. The master key
		// of a PostgreSQL store is in $XDG_DATA_HOME/kmsconsole.
		shell := "env TERM=xterm-256color NO_COLOR=1 KMSCONSOLE_REGION=cn-hangzhou KMSCONSOLE_DB=" + shQuote(f.db) +
			" XDG_DATA_HOME=" + shQuote(os.Getenv("XDG_DATA_HOME")) + " " + bin + " rotate --all --parallel 1; echo EXIT=$?; sleep 60"
		if out, err := exec.Command("tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40", shell).CombinedOutput(); err != nil {
			t.Fatalf("tmux: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("tmux", "-L", sock, "kill-server").Run() })
		screen := func(ansi bool) string {
			args := []string{"-L", sock, "capture-pane", "-p", "-t", "0"}
			if ansi {
				args = append(args, "-e")
			}
			out, _ := exec.Command("tmux", args...).Output()
			return string(out)
		}
		waitFor := func(text string) string {
			t.Helper()
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				if s := screen(false); strings.Contains(s, text) {
					return s
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatalf("the screen never showed %q:\n%s", text, screen(false))
			return ""
		}
		live := waitFor("running 1")
		if !strings.Contains(live, "Rotating 5 managed ECS secret(s)") || !strings.Contains(live, "ETA") {
			t.Errorf("live view:\n%s", live)
		}
		if colored := regexp.MustCompile(`\x1b\[[0-9;]*(3[0-7]|38;[25];[0-9;]+)m`); colored.MatchString(screen(true)) {
			t.Errorf("colours despite NO_COLOR:\n%q", screen(true))
		}
		exec.Command("tmux", "-L", sock, "send-keys", "-t", "0", "C-c").Run()
		waitFor("interrupted: no new rotation starts")
		final := waitFor("EXIT=")
		for _, want := range []string{"SECRET", "NotStarted", "not started", "; interrupted", "EXIT=1"} {
			if !strings.Contains(final, want) {
				t.Errorf("final screen lacks %q:\n%s", want, final)
			}
		}
		f.noPending(t)
		f.hostsAcceptCurrent(t)
	})
}

// shQuote quotes s for sh.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestRotatePrintable: text from outside (names, host output in reasons)
// cannot drive the terminal in rotate's text output.
func TestRotatePrintable(t *testing.T) {
	for in, want := range map[string]string{
		"acs/ecs/web1/alice":      "acs/ecs/web1/alice",
		"host said \x1b]52;c;x\a": "host said ␛]52;c;x␇",
		"line\nbreak\ttab":        "line␊break␉tab",
		"bidi \u202e evil":        "bidi <U+202E> evil",
		"bad \xff byte, ok é":     "bad <FF> byte, ok é",
		"c1 \u009b31m":            "c1 <U+009B>31m",
	} {
		if got := model.SafeText(in); got != want {
			t.Errorf("model.SafeText(%q) = %q, want %q", in, got, want)
		}
	}
	line := plainResultLine(service.FleetResult{SecretName: "acs/ecs/a/b", InstanceId: "i-a", Result: service.FleetFailure,
		FailedStep: "test", Reason: "login refused\x1b[2J"}, 10, 4)
	if strings.ContainsRune(line, 0x1b) || !strings.Contains(line, "at test: login refused␛[2J") {
		t.Errorf("failure line %q", line)
	}
}
