package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/ecs"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time     { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time)    { c.mu.Lock(); c.now = t; c.mu.Unlock() }
func (c *clock) At(d time.Duration) { c.Set(t0.Add(d)) }

type fixture struct {
	srv    *sshdtest.Server
	admin  string
	user   string
	secret string
	dbPath string
	store  *db.Store
	svc    *service.Service
	clock  *clock
}

func newFixture(t *testing.T) *fixture {
	sshdtest.Require(t)
	f := &fixture{srv: sshdtest.Start(t, sshdtest.Options{}), clock: &clock{now: t0}}
	var adminKey []byte
	f.admin, adminKey = sshdtest.CreateAdmin(t)
	pw, _ := model.RandomPassword(model.DefaultPasswordOptions())
	f.user = sshdtest.CreateUser(t, "sch", pw)
	f.dbPath = dbtest.Locator(t)
	var err error
	if f.store, err = db.Open(f.dbPath, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	f.svc = service.New(f.store, service.Options{Actor: service.Actor{Name: "scheduler", Role: model.RoleAdmin}, Now: f.clock.Now})
	t.Cleanup(f.svc.Close)
	ctx := context.Background()
	if _, err := f.svc.AddInstance(ctx, service.AddInstanceRequest{InstanceId: "i-1", Host: f.srv.Host, Port: f.srv.Port,
		AdminUser: f.admin, AdminKey: adminKey, HostKey: f.srv.HostKey}); err != nil {
		t.Fatal(err)
	}
	f.secret = "acs/ecs/i-1/" + f.user
	cfg := model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: "i-1", RegionId: service.DefaultRegion}
	if _, err := f.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: f.secret, SecretType: "ECS", ExtendedConfig: cfg.JSON(),
		SecretData: model.ECSData{UserName: f.user, Password: pw}.JSON(), EnableAutomaticRotation: true, RotationInterval: "7d"}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) describe(t *testing.T) *service.DescribeSecretResponse {
	d, err := f.svc.DescribeSecret(context.Background(), service.SecretNameRequest{SecretName: f.secret})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *fixture) currentWorks(t *testing.T) string {
	r, err := f.svc.GetSecretValue(context.Background(), service.GetSecretValueRequest{SecretName: f.secret})
	if err != nil {
		t.Fatal(err)
	}
	var d model.ECSData
	json.Unmarshal([]byte(r.SecretData), &d)
	if err := ecs.VerifyPassword(context.Background(), f.srv.Host, f.srv.Port, f.srv.HostKey, d.UserName, d.Password); err != nil {
		t.Fatalf("ACSCurrent does not log in: %v", err)
	}
	return r.VersionId
}

func TestRotatesWhenDueAndBacksOffOnFailure(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first := f.currentWorks(t)
	if d := f.describe(t); d.NextRotationDate != model.FormatTime(t0.Add(7*24*time.Hour)) {
		t.Fatalf("NextRotationDate %s", d.NextRotationDate)
	}
	f.clock.At(6 * 24 * time.Hour)
	if r := Pass(ctx, f.svc); len(r.Rotated) != 0 {
		t.Fatalf("rotated before due: %+v", r.Rotated)
	}
	f.clock.At(7*24*time.Hour + time.Second)
	r := Pass(ctx, f.svc)
	if len(r.Rotated) != 1 || r.Rotated[0].Err != nil {
		t.Fatalf("due rotation: %+v", r.Rotated)
	}
	second := f.currentWorks(t)
	if second == first {
		t.Fatal("ACSCurrent did not change")
	}
	if d := f.describe(t); d.LastRotationDate != model.FormatTime(t0.Add(7*24*time.Hour+time.Second)) ||
		d.NextRotationDate != model.FormatTime(t0.Add(14*24*time.Hour+time.Second)) {
		t.Fatalf("after rotation: last %s next %s", d.LastRotationDate, d.NextRotationDate)
	}

	// Failures: retried after 5, 10, 20, 40, 80 minutes, then left for
	// an operator.
	sshdtest.RevokeSudo(t, f.admin)
	due := t0.Add(14*24*time.Hour + time.Second)
	f.clock.Set(due)
	attempts := 0
	for _, at := range []time.Duration{0, time.Minute, 5 * time.Minute, 14 * time.Minute, 15 * time.Minute, 35 * time.Minute,
		75 * time.Minute, 155 * time.Minute, 24 * time.Hour, 48 * time.Hour} {
		f.clock.Set(due.Add(at))
		attempts += len(Pass(ctx, f.svc).Rotated)
	}
	if attempts != 5 {
		t.Fatalf("%d attempts, want 5 (at 0, +5m, +15m, +35m, +75m, then none)", attempts)
	}
	d := f.describe(t)
	if d.AutomaticRotation != model.RotationInvalid || !strings.Contains(d.RotationFailureReason, "sudo") {
		t.Fatalf("status %s reason %q", d.AutomaticRotation, d.RotationFailureReason)
	}
	if got := f.currentWorks(t); got != second {
		t.Fatal("a failed rotation moved ACSCurrent")
	}
	// Each failure is a RotationFailed event in the outbox, for serve's
	// --on-event and webhook to deliver.
	evs, _, err := f.svc.Events(ctx, service.EventsRequest{All: true})
	if err != nil {
		t.Fatal(err)
	}
	var failed []model.Event
	for _, e := range evs {
		if e.Type == model.EventRotationFailed {
			failed = append(failed, e.Event)
		}
	}
	if len(failed) != 5 || failed[0].SecretName != f.secret || failed[0].Step != "set" {
		t.Fatalf("failure events: %+v", failed)
	}
	// The operator mends sudo and re-enables rotation: retries resume.
	sshdtest.WriteSudoers(t, f.admin, f.admin+" ALL=(ALL:ALL) NOPASSWD: ALL\n")
	yes := true
	if _, err := f.svc.UpdateSecretRotationPolicy(ctx, service.UpdateSecretRotationPolicyRequest{SecretName: f.secret, EnableAutomaticRotation: &yes}); err != nil {
		t.Fatal(err)
	}
	if r := Pass(ctx, f.svc); len(r.Rotated) != 1 || r.Rotated[0].Err != nil {
		t.Fatalf("after the operator acted: %+v", r.Rotated)
	}
	if d := f.describe(t); d.AutomaticRotation != model.RotationEnabled || d.RotationFailureReason != "" {
		t.Fatalf("not healed: %s %q", d.AutomaticRotation, d.RotationFailureReason)
	}
	f.currentWorks(t)
}

func TestPurgesPlannedDeletions(t *testing.T) {
	store, err := db.Open(dbtest.Locator(t), "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c := &clock{now: t0}
	svc := service.New(store, service.Options{Now: c.Now})
	ctx := context.Background()
	for _, n := range []string{"keep", "drop"} {
		if _, err := svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: n, SecretData: "x", VersionId: "v1"}); err != nil {
			t.Fatal(err)
		}
	}
	days := 7
	if _, err := svc.DeleteSecret(ctx, service.DeleteSecretRequest{SecretName: "drop", RecoveryWindowInDays: &days}); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(6 * 24 * time.Hour))
	if r := Pass(ctx, svc); len(r.Purged) != 0 {
		t.Fatalf("purged early: %v", r.Purged)
	}
	c.Set(t0.Add(7*24*time.Hour + time.Second))
	if r := Pass(ctx, svc); len(r.Purged) != 1 || r.Purged[0] != "drop" {
		t.Fatalf("purge: %v", r.Purged)
	}
	l, _ := svc.ListSecrets(ctx, service.ListSecretsRequest{})
	if l.TotalCount != 1 || l.SecretList.Secret[0].SecretName != "keep" {
		t.Fatalf("left: %+v", l.SecretList.Secret)
	}
	ev, _ := svc.Audit(ctx, 1, "PurgeSecret")
	if len(ev) != 1 || ev[0].Target != "drop" {
		t.Fatalf("purge not audited: %+v", ev)
	}
}

// TestSchedulerChild is one of the processes of TestTwoProcessesRotateOnce.
func TestSchedulerChild(t *testing.T) {
	path := os.Getenv("KMSCONSOLE_SCHED_DB")
	if path == "" {
		t.Skip("helper process only")
	}
	store, err := db.Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	at, _ := strconv.ParseInt(os.Getenv("KMSCONSOLE_SCHED_NOW"), 10, 64)
	svc := service.New(store, service.Options{Actor: service.Actor{Name: "sched-" + strconv.Itoa(os.Getpid()), Role: model.RoleAdmin},
		Now: func() time.Time { return time.Unix(at, 0) }})
	defer svc.Close()
	for i := 0; i < 5; i++ {
		for _, d := range Pass(context.Background(), svc).Rotated {
			fmt.Printf("ROTATED %s %v\n", d.VersionId, d.Err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTwoProcessesRotateOnce(t *testing.T) {
	f := newFixture(t)
	sessions := func() int { return strings.Count(f.srv.Log(), "Starting session: command for "+f.admin+" ") }
	before := sessions()
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestSchedulerChild$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "KMSCONSOLE_SCHED_DB="+f.dbPath,
				"KMSCONSOLE_SCHED_NOW="+strconv.FormatInt(t0.Add(8*24*time.Hour).Unix(), 10))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("child: %v\n%s", err, out)
			}
			outs[i] = string(out)
		}()
	}
	wg.Wait()
	rotations := strings.Count(outs[0]+outs[1], "ROTATED ")
	if rotations != 1 {
		t.Fatalf("%d rotations by two schedulers, want 1:\n%s\n%s", rotations, outs[0], outs[1])
	}
	if changes := sessions() - before; changes != 1 {
		t.Fatalf("the host was changed %d times, want once", changes)
	}
	ev, _ := f.svc.Audit(context.Background(), 0, "RotateSecret")
	if len(ev) != 1 || ev[0].Result != "Success" {
		t.Fatalf("audit: %+v", ev)
	}
	f.currentWorks(t)
}
