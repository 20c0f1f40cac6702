package service

import (
	"context"
	"strings"
	"testing"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

// Every read of a value is on record — who, which secret, which version
// and stage, how, and whether it was allowed — and never the value.
func TestReadsAreAudited(t *testing.T) {
	svc := plainService(t)
	ctx := context.Background()
	if _, err := svc.CreateSecret(ctx, CreateSecretRequest{SecretName: "app/db", SecretData: "s3cret-value-1", VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetSecretValue(ctx, GetSecretValueRequest{SecretName: "app/db"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetSecretValue(ctx, GetSecretValueRequest{SecretName: "app/db", VersionId: "v1", Purpose: "console copy"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetSecretValue(ctx, GetSecretValueRequest{SecretName: "app/nope"}); !model.IsCode(err, model.CodeNotFound) {
		t.Fatalf("unknown secret: %v", err)
	}
	ro := svc.As(Actor{Name: "viewer", Role: model.RoleReadonly})
	if _, err := ro.GetSecretValue(ctx, GetSecretValueRequest{SecretName: "app/db"}); !model.IsCode(err, model.CodeNoPermission) {
		t.Fatalf("readonly read: %v", err)
	}
	events, err := svc.Audit(ctx, 0, "GetSecretValue")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 4 {
		t.Fatalf("%d read events, want 4: %+v", len(events), events)
	}
	// Newest first.
	want := []struct{ op, target, vid, stage, result, detail string }{
		{"viewer", "app/db", "", "", "Failure", ""},
		{"tester", "app/nope", "", "", "Failure", ""},
		{"tester", "app/db", "v1", "", "Success", "console copy"},
		{"tester", "app/db", "v1", model.StageCurrent, "Success", ""},
	}
	for i, w := range want {
		ev := events[i]
		if ev.Operator != w.op || ev.Target != w.target || ev.VersionId != w.vid || ev.Stage != w.stage || ev.Result != w.result || ev.Detail != w.detail || ev.RequestId == "" {
			t.Errorf("event %d = %+v, want %+v", i, ev, w)
		}
	}
	all, _ := svc.Audit(ctx, 0, "")
	for _, ev := range all {
		if strings.Contains(ev.Error+ev.Detail+ev.Target, "s3cret-value-1") {
			t.Fatal("a value reached the audit log")
		}
	}
}

// A read that cannot be put on record does not happen: the value is not
// handed out.
func TestReadFailsWhenItCannotBeAudited(t *testing.T) {
	path := dbtest.Locator(t)
	store, err := db.Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := New(store, Options{Actor: Actor{Name: "tester", Role: model.RoleAdmin}})
	ctx := context.Background()
	if _, err := svc.CreateSecret(ctx, CreateSecretRequest{SecretName: "app/db", SecretData: "s3cret-value-1", VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}
	// Break the audit table behind the service's back: a trigger that
	// fails every insert, in the store's own dialect.
	raw := dbtest.Raw(t, path)
	breakAudit := []string{`CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit disk full'); END`}
	if dbtest.Postgres() {
		breakAudit = []string{
			`CREATE FUNCTION no_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit disk full'; END $$`,
			`CREATE TRIGGER no_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION no_audit()`,
		}
	}
	for _, q := range breakAudit {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	resp, err := svc.GetSecretValue(ctx, GetSecretValueRequest{SecretName: "app/db"})
	if err == nil || resp != nil {
		t.Fatalf("an unaudited read handed out the value (response %v, err %v)", resp != nil, err)
	}
	if !model.IsCode(err, model.CodeInternalFailure) || !strings.Contains(err.Error(), "audit") || strings.Contains(err.Error(), "s3cret-value-1") {
		t.Fatalf("error %v", err)
	}
	// A change that cannot be audited does not happen either.
	if _, err := svc.PutSecretValue(ctx, PutSecretValueRequest{SecretName: "app/db", VersionId: "v2", SecretData: "other"}); err == nil {
		t.Fatal("an unaudited change went through")
	}
	if v, _ := svc.Versions(ctx, "app/db"); len(v) != 1 {
		t.Fatalf("versions after the refused put: %+v", v)
	}
}
