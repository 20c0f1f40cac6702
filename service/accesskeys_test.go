package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

const appPolicy = `{"Version":"1","Statement":[{"Effect":"Allow","Action":["kms:GetSecretValue"],"Resource":["acs:kms:*:*:secret/app/*"]}]}`

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var ae *model.APIError
	if !errors.As(err, &ae) || ae.Code != code {
		t.Fatalf("%s: want %s, got %v", what, code, err)
	}
}

// TestAccessKeyLifecycle: create shows the secret once and stores it
// sealed; list never shows it; disable, enable, rotate (old secret valid
// for the grace period only) and remove take effect on authentication at
// once; bad input changes nothing; every change is audited without the
// secret.
func TestAccessKeyLifecycle(t *testing.T) {
	dbPath := dbtest.Locator(t)
	store, err := db.Open(dbPath, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	svc := New(store, Options{Actor: Actor{Name: "root", Role: model.RoleAdmin}, Now: func() time.Time { return now }})
	t.Cleanup(svc.Close)
	ctx := context.Background()

	created, err := svc.CreateAccessKey(ctx, "billing-app", appPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if !model.LooksLikeAccessKeyId(created.AccessKeyId) || len(created.AccessKeySecret) != 30 {
		t.Fatalf("id %q, secret of %d characters", created.AccessKeyId, len(created.AccessKeySecret))
	}
	secrets := []string{created.AccessKeySecret}

	// Bad input: specific errors, nothing created.
	_, err = svc.CreateAccessKey(ctx, "billing-app", appPolicy)
	wantCode(t, "duplicate name", err, model.CodeResourceExist)
	_, err = svc.CreateAccessKey(ctx, "bad name", appPolicy)
	wantCode(t, "bad name", err, model.CodeInvalidParameter)
	_, err = svc.CreateAccessKey(ctx, "other", `{"Statement":[{"Effect":"Maybe","Action":"kms:*","Resource":"*"}]}`)
	wantCode(t, "bad policy", err, model.CodeInvalidParameter)
	if strings.Count(err.Error(), "InvalidParameter") != 1 {
		t.Fatalf("the policy error repeats itself: %v", err)
	}
	keys, err := svc.AccessKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Status != model.AccessKeyEnabled || keys[0].CreatedBy != "root" {
		t.Fatalf("list: %+v, %v", keys, err)
	}

	auth := func() *AccessKeyCredentials {
		t.Helper()
		c, err := svc.AccessKeyForAuth(ctx, created.AccessKeyId)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := auth(); c == nil || !c.Enabled || c.Name != "billing-app" || len(c.Secrets) != 1 || string(c.Secrets[0]) != secrets[0] {
		t.Fatal("a new key does not authenticate with its secret")
	}
	if c := auth(); !c.Policy.Allowed("kms:GetSecretValue", "acs:kms:cn-hangzhou:1:secret/app/db") || c.Policy.Allowed("kms:GetSecretValue", "acs:kms:cn-hangzhou:1:secret/other/x") {
		t.Fatal("the stored policy does not say what was given")
	}

	if err := svc.SetAccessKeyStatus(ctx, "billing-app", false); err != nil {
		t.Fatal(err)
	}
	if auth().Enabled {
		t.Fatal("disabled key still enabled")
	}
	if err := svc.SetAccessKeyStatus(ctx, created.AccessKeyId, true); err != nil {
		t.Fatal(err)
	}
	if !auth().Enabled {
		t.Fatal("enabled key still disabled")
	}

	rotated, err := svc.RotateAccessKey(ctx, "billing-app", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rotated.AccessKeySecret)
	if rotated.AccessKeySecret == secrets[0] || rotated.AccessKeyId != created.AccessKeyId {
		t.Fatal("rotation kept the secret or changed the id")
	}
	if c := auth(); len(c.Secrets) != 2 || string(c.Secrets[0]) != secrets[1] || string(c.Secrets[1]) != secrets[0] {
		t.Fatal("during the grace period, the new and the old secret (in that order) must both work")
	}
	now = now.Add(time.Hour + time.Second)
	if c := auth(); len(c.Secrets) != 1 || string(c.Secrets[0]) != secrets[1] {
		t.Fatal("after the grace period only the new secret works")
	}
	_, err = svc.RotateAccessKey(ctx, "billing-app", 31*24*time.Hour)
	wantCode(t, "grace too long", err, model.CodeInvalidParameter)
	if c := auth(); string(c.Secrets[0]) != secrets[1] {
		t.Fatal("a refused rotation changed the secret")
	}

	// A readonly operator may not manage keys.
	ro := svc.As(Actor{Name: "rita", Role: model.RoleReadonly})
	_, err = ro.CreateAccessKey(ctx, "sneaky", appPolicy)
	wantCode(t, "readonly create", err, model.CodeNoPermission)
	_, err = ro.AccessKeys(ctx)
	wantCode(t, "readonly list", err, model.CodeNoPermission)

	if err := svc.RemoveAccessKey(ctx, "billing-app"); err != nil {
		t.Fatal(err)
	}
	if auth() != nil {
		t.Fatal("a removed key still authenticates")
	}
	wantCode(t, "remove twice", svc.RemoveAccessKey(ctx, "billing-app"), model.CodeNotFound)

	// The store holds no secret in clear; the audit log names the actions
	// and the key, never a secret.
	dump, err := store.Dump()
	if err != nil {
		t.Fatal(err)
	}
	events, err := svc.Audit(ctx, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for _, e := range events {
		log.WriteString(e.Action + " " + e.Target + " " + e.Result + " " + e.Detail + " " + e.Error + "\n")
	}
	for i, s := range secrets {
		if strings.Contains(dump, s) || strings.Contains(log.String(), s) {
			t.Fatalf("secret %d is readable in the store or the audit log", i)
		}
	}
	for _, want := range []string{"CreateAccessKey billing-app Success", "CreateAccessKey billing-app Failure", "DisableAccessKey billing-app Success",
		"EnableAccessKey billing-app Success", "RotateAccessKey billing-app Success", "RemoveAccessKey billing-app Success", "CreateAccessKey sneaky Failure"} {
		if !strings.Contains(log.String(), want) {
			t.Fatalf("audit log lacks %q:\n%s", want, log.String())
		}
	}
}

// TestAccessKeyRowTamperRefused: a policy widened in kms.db by someone
// without the master key fails the row's MAC and the key is refused.
func TestAccessKeyRowTamperRefused(t *testing.T) {
	dbPath := dbtest.Locator(t)
	store, err := db.Open(dbPath, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := New(store, Options{Actor: Actor{Name: "root", Role: model.RoleAdmin}})
	t.Cleanup(svc.Close)
	ctx := context.Background()
	created, err := svc.CreateAccessKey(ctx, "app", appPolicy)
	if err != nil {
		t.Fatal(err)
	}
	raw := dbtest.Raw(t, dbPath)
	if _, err := raw.Exec(`UPDATE access_keys SET policy = '{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}'`); err != nil {
		t.Fatal(err)
	}
	c, err := svc.AccessKeyForAuth(ctx, created.AccessKeyId)
	if c != nil || !errors.Is(err, db.ErrRowAuth) {
		t.Fatalf("a tampered key was accepted: %v, %v", c != nil, err)
	}
	// It can still be removed, so the operator can recover.
	if err := svc.RemoveAccessKey(ctx, "app"); err != nil {
		t.Fatalf("a tampered key cannot be removed: %v", err)
	}
	if keys, err := svc.AccessKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("after removal: %d keys, %v", len(keys), err)
	}
}

// TestAccessKeyChangeFromAnotherProcess: the API's key cache sees a key
// disabled by another process on the same store (the CLI while serve
// runs) within seconds, and a change in its own process at once.
func TestAccessKeyChangeFromAnotherProcess(t *testing.T) {
	dbPath := dbtest.Locator(t)
	open := func() *Service {
		store, err := db.Open(dbPath, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		svc := New(store, Options{Actor: Actor{Name: "root", Role: model.RoleAdmin}})
		t.Cleanup(svc.Close)
		return svc
	}
	serveSide, cliSide := open(), open()
	ctx := context.Background()
	k, err := cliSide.CreateAccessKey(ctx, "app", appPolicy)
	if err != nil {
		t.Fatal(err)
	}
	enabled := func() bool {
		c, err := serveSide.AccessKeyForAuth(ctx, k.AccessKeyId)
		if err != nil || c == nil {
			t.Fatalf("lookup: %v (found %v)", err, c != nil)
		}
		return c.Enabled
	}
	if !enabled() {
		t.Fatal("a new key is not enabled")
	}
	if err := cliSide.SetAccessKeyStatus(ctx, "app", false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for enabled() {
		if time.Now().After(deadline) {
			t.Fatal("a key disabled by another process still works after 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := serveSide.SetAccessKeyStatus(ctx, "app", true); err != nil {
		t.Fatal(err)
	}
	if !enabled() {
		t.Fatal("a key enabled in this process is not enabled at once")
	}
}
