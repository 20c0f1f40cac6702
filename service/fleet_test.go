package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/ecs"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// fleetFixture is a store managing password secrets on several real sshd
// hosts, perHost secrets (one OS user each) per host.
type fleetFixture struct {
	t       *testing.T
	svc     *Service
	hosts   []*sshdtest.Server
	names   []string
	host    map[string]*sshdtest.Server // secret -> host
	initial map[string]model.ECSData
}

func newFleetFixture(t *testing.T, hosts, perHost int) *fleetFixture {
	t.Helper()
	sshdtest.Require(t)
	f := &fleetFixture{t: t, host: map[string]*sshdtest.Server{}, initial: map[string]model.ECSData{}}
	admin, adminKey := sshdtest.CreateAdmin(t)
	store, err := db.Open(dbtest.Locator(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f.svc = New(store, Options{Actor: Actor{Name: "tester", Role: model.RoleAdmin}})
	t.Cleanup(f.svc.Close)
	passwords := make([]string, hosts*perHost)
	for i := range passwords {
		passwords[i], _ = model.RandomPassword(model.DefaultPasswordOptions())
	}
	t0 := time.Now()
	users := sshdtest.CreateUsers(t, "fl", passwords)
	t.Logf("%d users created in %v", len(users), time.Since(t0))
	ctx := context.Background()
	type job struct {
		name string
		req  CreateSecretRequest
	}
	var jobs []job
	for h := 0; h < hosts; h++ {
		srv := sshdtest.Start(t, sshdtest.Options{})
		f.hosts = append(f.hosts, srv)
		id := fmt.Sprintf("i-h%02d", h)
		if _, err := f.svc.AddInstance(ctx, AddInstanceRequest{InstanceId: id, RegionId: DefaultRegion, Host: srv.Host, Port: srv.Port,
			AdminUser: admin, AdminKey: adminKey, HostKey: srv.HostKey}); err != nil {
			t.Fatalf("add instance: %v", err)
		}
		for k := 0; k < perHost; k++ {
			u := h*perHost + k
			data := model.ECSData{UserName: users[u], Password: passwords[u]}
			name := fmt.Sprintf("acs/ecs/%s/%s", id, users[u])
			cfg := model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: id, RegionId: DefaultRegion}
			f.names = append(f.names, name)
			f.host[name] = srv
			f.initial[name] = data
			jobs = append(jobs, job{name, CreateSecretRequest{SecretName: name, SecretType: "ECS", ExtendedConfig: cfg.JSON(), SecretData: data.JSON(), VersionId: "v0"}})
		}
	}
	t1 := time.Now()
	f.each(8, func(i int) error {
		_, err := f.svc.CreateSecret(ctx, jobs[i].req)
		return err
	})
	t.Logf("%d hosts and %d secrets set up in %v", hosts, len(jobs), time.Since(t1))
	return f
}

// each runs fn for every secret index, n at a time, and fails the test on
// the first errors.
func (f *fleetFixture) each(n int, fn func(i int) error) {
	f.t.Helper()
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range f.names {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", f.names[i], err))
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if i == 5 {
			f.t.Errorf("… and %d more", len(errs)-5)
			break
		}
		f.t.Error(err)
	}
	if len(errs) > 0 {
		f.t.FailNow()
	}
}

func (f *fleetFixture) login(name string, d model.ECSData) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := f.host[name]
	return ecs.VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, d.UserName, d.Password)
}

// checkHosts requires every host to accept its store's ACSCurrent and, when
// old is set, to refuse the initial password (a refusal costs sshd 2–4 s, so
// many are checked at once).
func (f *fleetFixture) checkHosts(refuseInitial bool) {
	f.t.Helper()
	f.each(16, func(i int) error {
		name := f.names[i]
		r, err := f.svc.GetSecretValue(context.Background(), GetSecretValueRequest{SecretName: name})
		if err != nil {
			return err
		}
		d, err := model.ParseECSData(r.SecretData, model.SubTypePassword)
		if err != nil {
			return err
		}
		if err := f.login(name, d); err != nil {
			return fmt.Errorf("ACSCurrent %s does not log in: %w", r.VersionId, err)
		}
		if refuseInitial {
			if err := f.login(name, f.initial[name]); !errors.Is(err, ecs.ErrAuthFailed) {
				return fmt.Errorf("the initial password must be refused, got %v", err)
			}
		}
		return nil
	})
}

// The fleet batch of issue 9: 100 secrets, 5 per host on 20 hosts, rotated
// by the engine with its default limits in one process. Every rotation
// succeeds, each host's admin connection is shared by its rotations, and
// every new ACSCurrent logs in while the old password does not.
func TestFleetOf100SecretsOn20Hosts(t *testing.T) {
	t.Parallel()
	f := newFleetFixture(t, 20, 5)
	items, err := f.svc.SelectFleet(context.Background(), FleetSelection{All: true})
	if err != nil || len(items) != 100 {
		t.Fatalf("SelectFleet(all) = %d items, %v", len(items), err)
	}
	t0 := time.Now()
	var steps sync.Map
	results := f.svc.RotateFleet(context.Background(), items, FleetOptions{
		OnStep: func(i int, step string) { steps.Store(fmt.Sprint(i, step), true) },
	})
	failed := 0
	for i, r := range results {
		if r.Result != FleetSuccess || r.VersionId == "" || r.SecretName != items[i].SecretName {
			failed++
			t.Errorf("%s: %s at %s: %s %s", r.SecretName, r.Result, r.FailedStep, r.Code, r.Reason)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of 100 rotations failed", failed)
	}
	for i := range items {
		for _, step := range []string{StepCreate, StepSet, StepTest, StepFinish} {
			if _, ok := steps.Load(fmt.Sprint(i, step)); !ok {
				t.Fatalf("no %s step reported for %s", step, items[i].SecretName)
			}
		}
	}
	t.Logf("100 rotations in %v", time.Since(t0))
	// Creating the secrets and rotating them shared one connection per
	// host (a second only if a probe found one dead).
	dials := f.svc.ecs.pool.Dials()
	t.Logf("setup and 100 rotations on 20 hosts dialled %d management connections", dials)
	if dials > 2*len(f.hosts) {
		t.Errorf("%d management connections for %d hosts: they are not shared", dials, len(f.hosts))
	}
	t1 := time.Now()
	f.checkHosts(true)
	t.Logf("hosts checked in %v", time.Since(t1))
}

// Fifty rotations of fifty secrets on one instance, all at once in one
// process: the shared connection carries them without a failure.
func TestFiftyConcurrentRotationsOnOneInstance(t *testing.T) {
	t.Parallel()
	f := newFleetFixture(t, 1, 50)
	dialsBefore := f.svc.ecs.pool.Dials()
	// All fifty start together.
	start := make(chan struct{})
	var ready sync.WaitGroup
	ready.Add(len(f.names))
	go func() { ready.Wait(); close(start) }()
	f.each(len(f.names), func(i int) error {
		ready.Done()
		<-start
		_, err := f.svc.RotateSecret(context.Background(), RotateSecretRequest{SecretName: f.names[i]})
		return err
	})
	t.Logf("50 concurrent rotations dialled %d management connections", f.svc.ecs.pool.Dials()-dialsBefore)
	if d := f.svc.ecs.pool.Dials() - dialsBefore; d > f.svc.ecs.pool.MaxConns {
		t.Errorf("%d connections to one host, more than the pool's %d", d, f.svc.ecs.pool.MaxConns)
	}
	f.checkHosts(false)
}
