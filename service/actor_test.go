package service

import (
	"context"
	"errors"
	"strings"
	"testing"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

// TestRecheckedRoleGovernsEachAction: an actor whose registry entry changes
// after the session began is judged by the current entry, so a removed or
// demoted operator's open session loses its rights at the next action, and
// the refusal is audited without changing anything.
func TestRecheckedRoleGovernsEachAction(t *testing.T) {
	store, err := db.Open(dbtest.Locator(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	base := New(store, Options{Actor: Actor{Name: "root", Role: model.RoleAdmin}})
	t.Cleanup(base.Close)
	ctx := context.Background()
	if _, err := base.CreateSecret(ctx, CreateSecretRequest{SecretName: "app/token", SecretData: "v1-value", VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}

	current, lookupErr := model.RoleAdmin, error(nil)
	carol := base.As(Actor{Name: "carol", Role: model.RoleAdmin, Recheck: func(context.Context) (string, error) {
		return current, lookupErr
	}})
	if _, err := carol.PutSecretValue(ctx, PutSecretValueRequest{SecretName: "app/token", VersionId: "v2", SecretData: "v2-value"}); err != nil {
		t.Fatalf("admin put: %v", err)
	}

	refused := func(what string, err error, wantInMessage string) {
		t.Helper()
		var ae *model.APIError
		if !errors.As(err, &ae) || ae.Code != model.CodeNoPermission {
			t.Fatalf("%s: want %s, got %v", what, model.CodeNoPermission, err)
		}
		if !strings.Contains(ae.Message, wantInMessage) {
			t.Fatalf("%s: message %q does not say %q", what, ae.Message, wantInMessage)
		}
	}
	current = model.RoleReadonly // demoted while the session is open
	_, err = carol.PutSecretValue(ctx, PutSecretValueRequest{SecretName: "app/token", VersionId: "v3", SecretData: "v3-value"})
	refused("put after demotion", err, "role readonly")
	_, err = carol.GetSecretValue(ctx, GetSecretValueRequest{SecretName: "app/token"})
	refused("reveal after demotion", err, "may not read secret values")

	lookupErr = errors.New("the key of this session no longer belongs to an operator") // removed
	_, err = carol.DeleteSecret(ctx, DeleteSecretRequest{SecretName: "app/token", ForceDeleteWithoutRecovery: true})
	refused("delete after removal", err, "no longer belongs")

	ids, err := base.ListSecretVersionIds(ctx, ListSecretVersionIdsRequest{SecretName: "app/token"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids.VersionIds.VersionId) != 2 {
		t.Fatalf("refused actions changed the versions: %+v", ids.VersionIds.VersionId)
	}
	events, err := base.Audit(ctx, 10, "carol")
	if err != nil {
		t.Fatal(err)
	}
	refusedBy := map[string]int{}
	for _, ev := range events {
		if ev.Result == "Failure" && ev.ErrorCode == model.CodeNoPermission {
			refusedBy[ev.Action]++
		}
	}
	// The put, the delete and the read: refused reads are audited too.
	if len(refusedBy) != 3 || refusedBy["PutSecretValue"] != 1 || refusedBy["DeleteSecret"] != 1 || refusedBy["GetSecretValue"] != 1 {
		t.Fatalf("refused actions audited for carol: %v, want one put, one delete and one read: %+v", refusedBy, events)
	}
}
