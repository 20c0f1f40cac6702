// Package capture takes the screenshots that need a managed instance:
// instances, Rotate Immediately (prompt, progress, result), an ECS
// secret's details and a fleet rotation in progress. It is a test so
// that it can use the sshd harness (ecs/sshdtest); screenshots/make.sh runs
// it with SHOTS_DIR, SHOTS_DB and SHOTS_BIN set, and it skips otherwise.
//
// As root with sshd installed it registers a real sshd and rotates a real
// password; elsewhere the instance is a silent TCP port and the rotation
// fails, which is a screen worth having too.
package capture

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"kmsconsole/db"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

type shots struct {
	t    *testing.T
	dir  string
	sock string
}

func (s *shots) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// key sends one key per call: several keys in one send-keys arrive as one.
func (s *shots) key(keys ...string) {
	for _, k := range keys {
		s.tmux("send-keys", "-t", "0", k)
		time.Sleep(60 * time.Millisecond)
	}
}

func (s *shots) text(t string) { s.tmux("send-keys", "-t", "0", "-l", t) }

func (s *shots) screen() string { return s.tmux("capture-pane", "-p", "-t", "0") }

func (s *shots) waitFor(texts ...string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var v string
	for time.Now().Before(deadline) {
		v = s.screen()
		ok := true
		for _, x := range texts {
			ok = ok && strings.Contains(v, x)
		}
		if ok {
			return
		}
		time.Sleep(30 * time.Millisecond)
	}
	s.t.Fatalf("the screen never showed %q:\n%s", texts, v)
}

// save writes the pane with its colours (capture-pane -e) to NAME.ansi.
func (s *shots) save(name string) {
	s.t.Helper()
	// Let the spinner and the last frame settle.
	time.Sleep(150 * time.Millisecond)
	out := s.tmux("capture-pane", "-p", "-e", "-t", "0")
	if err := os.WriteFile(filepath.Join(s.dir, name+".ansi"), []byte(out), 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("captured %s", name)
}

func TestCapture(t *testing.T) {
	dir, dbPath, bin := os.Getenv("SHOTS_DIR"), os.Getenv("SHOTS_DB"), os.Getenv("SHOTS_BIN")
	if dir == "" || dbPath == "" || bin == "" {
		t.Skip("run by screenshots/make.sh (SHOTS_DIR, SHOTS_DB, SHOTS_BIN)")
	}
	store, err := db.Open(dbPath, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := service.New(store, service.Options{Region: "cn-hangzhou"})
	defer svc.Close()
	ctx := context.Background()

	real := canRunSSHD()
	name := "acs/ecs/web1/app"
	var release func()
	if real {
		srv := sshdtest.Start(t, sshdtest.Options{})
		admin, adminKey := sshdtest.CreateAdmin(t)
		user := sshdtest.CreateUser(t, "app", "Initial-Passw0rd1")
		if _, err := svc.AddInstance(ctx, service.AddInstanceRequest{InstanceId: "i-web1", InstanceName: "web1", Host: srv.Host,
			Port: srv.Port, AdminUser: admin, AdminKey: adminKey, HostKey: srv.HostKey}); err != nil {
			t.Fatal(err)
		}
		data := model.ECSData{UserName: user, Password: "Initial-Passw0rd1"}.JSON()
		cfg := model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: "i-web1", RegionId: "cn-hangzhou"}.JSON()
		if _, err := svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: name, SecretType: "ECS", SecretData: data,
			ExtendedConfig: cfg, Description: "the app user on web1", EnableAutomaticRotation: true, RotationInterval: "7d"}); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Log("not root or no sshd: the instance is a silent port and the rotation fails")
		port, rel := silentPort(t)
		release = rel
		insertECS(t, store, "i-web1", "web1", port, name, model.SubTypePassword, "", "app")
	}
	// It rotates on a schedule, Sundays 02:00–05:00 UTC: the list and the
	// details show the schedule and the next window.
	on := true
	if _, err := svc.UpdateSecretRotationPolicy(ctx, service.UpdateSecretRotationPolicyRequest{SecretName: name,
		EnableAutomaticRotation: &on, RotationSchedule: "cron(0 2 ? * SUN *)", RotationWindow: "3h"}); err != nil {
		t.Fatal(err)
	}
	// A second instance that is down, with a secret whose last rotation
	// failed: the list and the instances screen show both states.
	insertECS(t, store, "i-db1", "db1", closedPort(t), "acs/ecs/db1/deploy", model.SubTypeSSHKey,
		"set: instance i-db1 (10.0.0.12:22) is unreachable: dial tcp 10.0.0.12:22: i/o timeout", "deploy")

	s := &shots{t: t, dir: dir, sock: fmt.Sprintf("kmsshots-%d", os.Getpid())}
	cmd := fmt.Sprintf("env TERM=xterm-256color COLORTERM=truecolor KMSCONSOLE_DB=%s KMSCONSOLE_REGION=cn-hangzhou %s", dbPath, bin)
	s.tmux("-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "36", cmd)
	defer exec.Command("tmux", "-L", s.sock, "kill-server").Run()
	s.waitFor("Secrets [")

	s.key("i")
	s.waitFor("Instances [2]")
	if real {
		s.waitFor("✓ reachable")
	}
	for strings.Contains(s.screen(), "checking…") {
		time.Sleep(50 * time.Millisecond)
	}
	s.save("instances")

	s.key("Escape", "/")
	s.text("web1")
	s.key("Enter")
	s.waitFor("/web1 → 1")
	s.key("R")
	s.waitFor("Use Custom Secret")
	s.save("rotate-prompt")
	s.key("Enter")
	// Catch a frame while a step runs.
	deadline := time.Now().Add(10 * time.Second)
	caught := false
	for time.Now().Before(deadline) {
		out := s.tmux("capture-pane", "-p", "-e", "-t", "0")
		if strings.Contains(out, "Rotating…") {
			if err := os.WriteFile(filepath.Join(dir, "rotate-progress.ansi"), []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			caught = true
			break
		}
		if strings.Contains(out, "Rotation triggered") || strings.Contains(out, "Rotation failed") {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !caught {
		t.Log("the rotation was too quick to catch a progress frame")
	}
	if release != nil {
		release()
	}
	if real {
		s.waitFor("Rotation triggered")
	} else {
		s.waitFor("Rotation failed")
	}
	s.save("rotate-result")

	// The secret's details: what it manages (user, instance, credential)
	// and its versions, the value masked.
	s.key("Escape")
	s.waitFor("/web1 → 1")
	s.key("Enter")
	s.waitFor("Managed user", "Versions [")
	if real {
		s.waitFor("Versions [2]", "ACSPrevious")
	}
	s.save("details-ecs")
	s.key("Escape")
	s.waitFor("/web1 → 1")

	// A fleet rotation caught while one host holds it up: i-worker1 (no
	// name) accepts connections and never answers, until released. As
	// root two more secrets on the real host rotate beside it.
	wport, wrelease := silentPort(t)
	insertECS(t, store, "i-worker1", "", wport, "acs/ecs/worker1/queue", model.SubTypePassword, "", "queue")
	fleet := 3 // db1/deploy, web1/app, worker1/queue
	if real {
		const pw = "Fleet-Passw0rd-1"
		users := sshdtest.CreateUsers(t, "fl", []string{pw, pw})
		for i, n := range []string{"acs/ecs/web1/worker", "acs/ecs/web1/backup"} {
			data := model.ECSData{UserName: users[i], Password: pw}.JSON()
			cfg := model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: "i-web1", RegionId: "cn-hangzhou"}.JSON()
			if _, err := svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: n, SecretType: "ECS", SecretData: data,
				ExtendedConfig: cfg, EnableAutomaticRotation: true, RotationInterval: "30d"}); err != nil {
				t.Fatal(err)
			}
		}
		fleet += 2
	}
	s.key("Escape", "C-r", "/")
	s.text("acs/ecs/")
	s.key("Enter")
	s.waitFor(fmt.Sprintf("/acs/ecs/ → %d", fleet))
	// The cursor stayed on web1/app: from the top, each space selects
	// and moves down.
	s.key("Home")
	for range fleet {
		s.key("Space")
	}
	s.waitFor(fmt.Sprintf("%d selected", fleet))
	s.key("R")
	s.waitFor(fmt.Sprintf("[%d secrets]", fleet), "enter rotate all")
	s.key("Enter")
	// Every secret but the held-up one has ended.
	s.waitFor("Rotating…", fmt.Sprintf(" %d/%d", fleet-1, fleet))
	s.save("fleet-progress")
	wrelease()
	s.waitFor("Fleet rotation finished")
	s.key("Escape", "Escape", "q")
}

func canRunSSHD() bool {
	if os.Geteuid() != 0 {
		return false
	}
	if _, err := os.Stat(sshdtest.SshdPath); err != nil {
		return false
	}
	for _, tool := range []string{"useradd", "userdel", "chpasswd", "sudo"} {
		if _, err := exec.LookPath(tool); err != nil {
			return false
		}
	}
	return true
}

// silentPort accepts connections and never answers, until release.
func silentPort(t *testing.T) (int, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	var once sync.Once
	release := func() {
		once.Do(func() {
			ln.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		})
	}
	t.Cleanup(release)
	return ln.Addr().(*net.TCPAddr).Port, release
}

func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func newKey(t *testing.T) (ed25519.PrivateKey, string, []byte) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ssh.NewPublicKey(k.Public())
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return k, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// insertECS writes an instance and an ECS secret on it straight into the
// store (no host is contacted); failure, when set, marks its last rotation
// failed.
func insertECS(t *testing.T, store *db.Store, instanceId, instanceName string, port int, name, subType, failure, user string) {
	t.Helper()
	_, hostKey, _ := newKey(t)
	_, _, adminKey := newKey(t)
	now := time.Now().UTC().Truncate(time.Second)
	data := model.ECSData{UserName: user, Password: "Initial-Passw0rd1"}
	if subType == model.SubTypeSSHKey {
		_, pub, priv := newKey(t)
		data = model.ECSData{UserName: user, PublicKey: pub, PrivateKey: string(priv)}
	}
	err := store.Write(context.Background(), func(tx *db.Tx) error {
		if err := tx.InsertInstance(&db.InstanceRow{Instance: model.Instance{InstanceId: instanceId, InstanceName: instanceName,
			RegionId: "cn-hangzhou", Host: "127.0.0.1", Port: port, AdminUser: "root", HostKey: hostKey, CreateTime: now}, AdminKey: adminKey}); err != nil {
			return err
		}
		row := &db.SecretRow{InstanceId: instanceId, Secret: model.Secret{
			Name: name, Type: model.ECS, RegionId: "cn-hangzhou", DataType: model.DataText,
			ExtendedConfig: model.ECSConfig{SecretSubType: subType, InstanceId: instanceId, RegionId: "cn-hangzhou"}.JSON(),
			CreateTime:     now.Add(-20 * 24 * time.Hour), UpdateTime: now, AutomaticRotation: model.RotationEnabled,
			RotationInterval: 30 * 86400, LastRotationDate: now.Add(-15 * 24 * time.Hour),
		}}
		// It rotates automatically, as the service records it: a failed
		// rotation then shows the policy Invalid.
		row.AutoWanted = true
		id, err := tx.InsertSecret(row)
		if err != nil {
			return err
		}
		row.ID = id
		if err := tx.InsertVersion(row, "v1", data.JSON(), model.DataText, row.CreateTime); err != nil {
			return err
		}
		if err := tx.SetLabels(id, nil, model.Labels{model.StageCurrent: "v1"}); err != nil {
			return err
		}
		if failure != "" {
			row.AutomaticRotation = model.RotationInvalid
			row.RotationError = failure
			row.RotationFailures = 1
			return tx.UpdateSecret(row)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
