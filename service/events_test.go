package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// eventsOf lists every event of the outbox, oldest first.
func eventsOf(t *testing.T, svc *Service) []db.OutboxEvent {
	t.Helper()
	evs, _, err := svc.Events(context.Background(), EventsRequest{All: true})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// failureEvents are the RotationFailed events of the outbox, oldest first.
func failureEvents(t *testing.T, svc *Service) []model.Event {
	t.Helper()
	var out []model.Event
	for _, e := range eventsOf(t, svc) {
		if e.Type == model.EventRotationFailed {
			out = append(out, e.Event)
		}
	}
	return out
}

func eventTypes(evs []db.OutboxEvent) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.SecretName+":"+e.Type)
	}
	return strings.Join(out, " ")
}

// Each change of a secret's life puts its event in the outbox with the
// change (SPEC §9), naming who made it and never holding a value; a
// refused change puts none.
func TestSecretLifecycleEvents(t *testing.T) {
	store, err := db.Open(dbtest.Locator(t), "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	clock := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	svc := New(store, Options{Actor: Actor{Name: "alice", Role: model.RoleAdmin}, Now: func() time.Time { return clock }})
	woken := 0
	svc.SetEventNotifier(func() { woken++ })
	ctx := context.Background()
	const value = "s3cret-value-never-in-an-event"
	if _, err := svc.CreateSecret(ctx, CreateSecretRequest{SecretName: "app/a", SecretData: value, VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateSecret(ctx, CreateSecretRequest{SecretName: "app/a", SecretData: value, VersionId: "v1"}); err == nil {
		t.Fatal("a second CreateSecret of one name went through")
	}
	if _, err := svc.CreateSecret(ctx, CreateSecretRequest{SecretName: "app/b", SecretData: value, VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeleteSecret(ctx, DeleteSecretRequest{SecretName: "app/a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RestoreSecret(ctx, SecretNameRequest{SecretName: "app/a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeleteSecret(ctx, DeleteSecretRequest{SecretName: "app/b", ForceDeleteWithoutRecovery: true}); err != nil {
		t.Fatal(err)
	}
	week := 7
	if _, err := svc.DeleteSecret(ctx, DeleteSecretRequest{SecretName: "app/a", RecoveryWindowInDays: &week}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(8 * 24 * time.Hour)
	if purged, err := svc.As(Actor{Name: "scheduler", Role: model.RoleAdmin}).PurgeDue(ctx); err != nil || len(purged) != 1 {
		t.Fatalf("purge: %v %v", purged, err)
	}
	evs := eventsOf(t, svc)
	want := "app/a:SecretCreated app/b:SecretCreated app/a:SecretDeleted app/a:SecretRestored app/b:SecretDeleted app/b:SecretPurged app/a:SecretDeleted app/a:SecretPurged"
	if got := eventTypes(evs); got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
	if woken != len(evs) {
		t.Errorf("the worker was woken %d times for %d committed events", woken, len(evs))
	}
	ids := map[string]bool{}
	for i, e := range evs {
		if e.Id == "" || ids[e.Id] || e.Time.IsZero() || e.RequestId == "" {
			t.Errorf("event %d: id %q time %v request %q", i, e.Id, e.Time, e.RequestId)
		}
		ids[e.Id] = true
		if strings.Contains(string(e.Body), value) {
			t.Fatalf("event %d holds the value", i)
		}
		wantOp := "alice"
		if i == len(evs)-1 {
			wantOp = "scheduler"
		}
		if e.Operator != wantOp {
			t.Errorf("event %d (%s) by %q, want %q", i, e.Type, e.Operator, wantOp)
		}
	}
	if evs[0].VersionId != "v1" || !strings.Contains(evs[2].Detail, "deletion planned for") {
		t.Errorf("created %+v, deleted %+v", evs[0].Event, evs[2].Event)
	}
	// Nothing delivered yet: every event is owed.
	if owed, _, _ := svc.Events(ctx, EventsRequest{}); len(owed) != len(evs) {
		t.Errorf("%d events owed, want %d", len(owed), len(evs))
	}
}

// A rotation's outcome is an event committed with it: RotationSucceeded
// with the new version, RotationFailed with the step and the reason, and a
// rotation a dead process left pending is RotationSettled by the next.
func TestRotationEvents(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	ctx := context.Background()
	resp, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret})
	if err != nil {
		t.Fatal(err)
	}
	sshdtest.RevokeSudo(t, f.admin)
	if _, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret}); err == nil {
		t.Fatal("a rotation without sudo went through")
	}
	evs := eventsOf(t, f.svc)
	want := f.secret + ":SecretCreated " + f.secret + ":RotationSucceeded " + f.secret + ":RotationFailed"
	if got := eventTypes(evs); got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
	ok, failed := evs[1].Event, evs[2].Event
	if ok.VersionId != resp.VersionId || ok.InstanceId != "i-web1" || ok.Operator != "tester" || ok.RequestId != resp.RequestId {
		t.Errorf("RotationSucceeded %+v", ok)
	}
	if failed.Step == "" || failed.Reason == "" || failed.Failures != 1 || failed.InstanceId != "i-web1" {
		t.Errorf("RotationFailed %+v", failed)
	}
	_, cur := f.at(model.StageCurrent)
	for _, e := range evs {
		if strings.Contains(string(e.Body), cur.Password) {
			t.Fatal("an event holds the password")
		}
	}
}
