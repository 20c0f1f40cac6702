package service

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"kmsconsole/db"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// Two managed ECS secrets may not manage the same OS user on the same
// instance: rotating one would silently break the other (issue 9).

// createFor creates a password ECS secret for user on instance with the
// user's real password.
func (f *ecsFixture) createFor(svc *Service, name, instance, user, password string) (*CreateSecretResponse, error) {
	cfg := model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: instance, RegionId: DefaultRegion}
	return svc.CreateSecret(context.Background(), CreateSecretRequest{SecretName: name, SecretType: "ECS",
		ExtendedConfig: cfg.JSON(), SecretData: model.ECSData{UserName: user, Password: password}.JSON()})
}

// storeState is what a refused creation must leave as it was: the secret
// names and the successful audit events.
func (f *ecsFixture) storeState() string {
	f.t.Helper()
	list, err := f.svc.Secrets(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
	}
	events, err := f.svc.Audit(context.Background(), 0, "")
	if err != nil {
		f.t.Fatal(err)
	}
	ok := 0
	for _, e := range events {
		if e.Result == "Success" {
			ok++
		}
	}
	return fmt.Sprintf("%s / %d successes", strings.Join(names, ","), ok)
}

// lastFailure returns the newest failed audit event of action on target.
func (f *ecsFixture) lastFailure(action, target string) *model.AuditEvent {
	f.t.Helper()
	events, err := f.svc.Audit(context.Background(), 0, "")
	if err != nil {
		f.t.Fatal(err)
	}
	for i := range events {
		e := events[i]
		if e.Action == action && e.Target == target && e.Result == "Failure" {
			return &e
		}
	}
	return nil
}

func mustRefuseDup(t *testing.T, err error, user, instance, owner string) *model.APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("a second secret for %s on %s was created", user, instance)
	}
	ae := model.AsAPIError(err)
	if ae.Code != model.CodeResourceExist || ae.HttpStatus != 409 {
		t.Fatalf("want Rejected.ResourceExist 409, got %s %d: %s", ae.Code, ae.HttpStatus, ae.Message)
	}
	want := "The user " + user + " on instance " + instance + " is already managed by secret " + owner
	if !strings.HasPrefix(ae.Message, want) {
		t.Fatalf("message %q, want it to start with %q", ae.Message, want)
	}
	return ae
}

func TestDupUserSameInstanceRefused(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	ctx := context.Background()
	// The fixture's user has a password we do not know any more; a fresh
	// one with a known password makes the second request otherwise valid.
	pw := "Dup-Passw0rd-1"
	user := sshdtest.CreateUser(t, "dup", pw)
	if _, err := f.createFor(f.svc, "acs/ecs/web1/first", "i-web1", user, pw); err != nil {
		t.Fatalf("first secret: %v", err)
	}
	before := f.storeState()
	_, err := f.createFor(f.svc, "acs/ecs/web1/second", "i-web1", user, pw)
	ae := mustRefuseDup(t, err, user, "i-web1", "acs/ecs/web1/first")
	if strings.Contains(ae.Message, "pending deletion") {
		t.Fatalf("the owner is not pending deletion: %s", ae.Message)
	}
	if after := f.storeState(); after != before {
		t.Fatalf("a refused creation changed the store:\n before %s\n after  %s", before, after)
	}
	if _, err := f.svc.DescribeSecret(ctx, SecretNameRequest{SecretName: "acs/ecs/web1/second"}); !model.IsCode(err, model.CodeNotFound) {
		t.Fatalf("the refused secret exists: %v", err)
	}
	ev := f.lastFailure("CreateSecret", "acs/ecs/web1/second")
	if ev == nil || ev.ErrorCode != model.CodeResourceExist || !strings.Contains(ev.Error, "acs/ecs/web1/first") {
		t.Fatalf("the refusal is not audited: %+v", ev)
	}
	// The fixture's own secret blocks its user too (its value was made by
	// CreateSecret with a VersionId given).
	_, err = f.createFor(f.svc, "acs/ecs/web1/again", "i-web1", f.user, pw)
	mustRefuseDup(t, err, f.user, "i-web1", f.secret)
	// The console's check answers the same.
	mustRefuseDup(t, f.svc.CheckManagedUser(ctx, "i-web1", user), user, "i-web1", "acs/ecs/web1/first")
	if err := f.svc.CheckManagedUser(ctx, "i-web1", "nobody-"+user); err != nil {
		t.Fatalf("a free user: %v", err)
	}
	ro := f.svc.As(Actor{Name: "reader", Role: model.RoleReadonly})
	if err := ro.CheckManagedUser(ctx, "i-web1", user); !model.IsCode(err, model.CodeNoPermission) {
		t.Fatalf("readonly check: %v", err)
	}
}

func TestDupUserOtherInstanceAllowed(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	ctx := context.Background()
	pw := "Dup-Passw0rd-2"
	user := sshdtest.CreateUser(t, "dupi", pw)
	// A second instance entry (the same sshd under another id): the same
	// user name there is another account as far as secrets go.
	if _, err := f.svc.AddInstance(ctx, AddInstanceRequest{InstanceId: "i-web2", RegionId: DefaultRegion, Host: f.srv.Host, Port: f.srv.Port,
		AdminUser: f.admin, AdminKey: f.adminKey, HostKey: f.srv.HostKey}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.createFor(f.svc, "acs/ecs/web1/"+user, "i-web1", user, pw); err != nil {
		t.Fatalf("on i-web1: %v", err)
	}
	if _, err := f.createFor(f.svc, "acs/ecs/web2/"+user, "i-web2", user, pw); err != nil {
		t.Fatalf("the same user on another instance was refused: %v", err)
	}
}

func TestDupUserDifferentUserAllowed(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	pw := "Dup-Passw0rd-3"
	users := sshdtest.CreateUsers(t, "dupd", []string{pw, pw})
	for _, u := range users {
		if _, err := f.createFor(f.svc, "acs/ecs/web1/"+u, "i-web1", u, pw); err != nil {
			t.Fatalf("user %s beside the others: %v", u, err)
		}
	}
	list, err := f.svc.Secrets(context.Background())
	if err != nil || len(list) != 3 {
		t.Fatalf("want 3 secrets on i-web1, got %d (%v)", len(list), err)
	}
}

func TestDupUserPendingDeletionStillBlocks(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	ctx := context.Background()
	pw := "Dup-Passw0rd-4"
	user := sshdtest.CreateUser(t, "dupp", pw)
	if _, err := f.createFor(f.svc, "acs/ecs/web1/old", "i-web1", user, pw); err != nil {
		t.Fatal(err)
	}
	seven := 7
	if _, err := f.svc.DeleteSecret(ctx, DeleteSecretRequest{SecretName: "acs/ecs/web1/old", RecoveryWindowInDays: &seven}); err != nil {
		t.Fatal(err)
	}
	before := f.storeState()
	_, err := f.createFor(f.svc, "acs/ecs/web1/new", "i-web1", user, pw)
	ae := mustRefuseDup(t, err, user, "i-web1", "acs/ecs/web1/old")
	if !strings.Contains(ae.Message, "pending deletion: restore it, or delete it immediately, first") {
		t.Fatalf("the message does not say the owner is pending deletion: %s", ae.Message)
	}
	if after := f.storeState(); after != before {
		t.Fatalf("a refused creation changed the store:\n before %s\n after  %s", before, after)
	}
	// Deleted immediately, the user is free again.
	if _, err := f.svc.DeleteSecret(ctx, DeleteSecretRequest{SecretName: "acs/ecs/web1/old", ForceDeleteWithoutRecovery: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.createFor(f.svc, "acs/ecs/web1/new", "i-web1", user, pw); err != nil {
		t.Fatalf("after the old secret was deleted: %v", err)
	}
}

// TestDupUserCreateRace: two stores on one file (as two processes are)
// create secrets for one user at once; exactly one wins, every time.
func TestDupUserCreateRace(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	pw := "Dup-Passw0rd-5"
	user := sshdtest.CreateUser(t, "dupr", pw)
	const racers = 4
	svcs := []*Service{f.svc}
	for len(svcs) < racers {
		st, err := db.Open(f.dbPath, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		svc := New(st, Options{Actor: Actor{Name: "racer", Role: model.RoleAdmin}})
		t.Cleanup(svc.Close)
		svcs = append(svcs, svc)
	}
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, racers)
		names := make([]string, racers)
		for i, svc := range svcs {
			names[i] = fmt.Sprintf("acs/ecs/web1/race%d-%d", round, i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = f.createFor(svc, names[i], "i-web1", user, pw)
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				if winner >= 0 {
					t.Fatalf("round %d: both %s and %s manage %s", round, names[winner], names[i], user)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won: %v", round, errs)
		}
		for i, err := range errs {
			if i != winner {
				mustRefuseDup(t, err, user, "i-web1", names[winner])
			}
		}
		// Free the user for the next round.
		if _, err := f.svc.DeleteSecret(context.Background(), DeleteSecretRequest{SecretName: names[winner], ForceDeleteWithoutRecovery: true}); err != nil {
			t.Fatal(err)
		}
	}
}
