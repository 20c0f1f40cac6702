package ui

import (
	"context"
	"strings"
	"testing"

	"kmsconsole/model"
	"kmsconsole/service"
)

// Remove Instance (x on the Instances screen). The fixture's instances, in
// list order: i-db1 (managed by acs/ecs/db1/deploy), i-web1 (managed by
// acs/ecs/web1/root).

// freeDB1 deletes the only secret that manages i-db1.
func freeDB1(t *testing.T, svc *service.Service) {
	t.Helper()
	if _, err := svc.DeleteSecret(context.Background(), service.DeleteSecretRequest{SecretName: "acs/ecs/db1/deploy", ForceDeleteWithoutRecovery: true}); err != nil {
		t.Fatal(err)
	}
}

func openInstances(s *session) {
	s.t.Helper()
	s.waitFor("db/prod/password")
	s.press("i")
	s.waitFor("Instances [2]", "i-db1", "i-web1")
	// The goldens show the checks' results, not a spinner.
	s.waitGone("checking…")
}

func TestInstanceRemoveDialog(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	openInstances(s)
	s.press("x")
	v := s.waitFor("Remove Instance", "Remove instance i-db1 from the store?", "127.0.0.1:2", "db1",
		"forgets its admin key and its pinned host key", "1 secret still manages it", "y remove · n/esc cancel")
	if strings.Contains(v, "i-web1 from the store") {
		t.Fatalf("the dialog names the wrong instance:\n%s", v)
	}
	s.golden()
}

func TestInstanceRemoveDialog120x40(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	freeDB1(t, f.svc)
	s := start(t, f.svc, 120, 40)
	openInstances(s)
	s.press("x")
	v := s.waitFor("Remove instance i-db1 from the store?", "y remove")
	if strings.Contains(v, "still manage") {
		t.Fatalf("an unused instance is said to be in use:\n%s", v)
	}
	s.golden()
}

// n and esc cancel; y removes an unused instance: gone from the list and
// from the store.
func TestInstanceRemoveUnused(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	freeDB1(t, f.svc)
	s := start(t, f.svc, 100, 30)
	openInstances(s)
	for _, cancel := range []string{"n", "esc"} {
		s.press("x")
		s.waitFor("Remove Instance")
		s.press(cancel)
		s.waitGone("Remove Instance")
	}
	if _, err := f.svc.Instance(context.Background(), "i-db1"); err != nil {
		t.Fatalf("cancelling removed the instance: %v", err)
	}
	s.press("x")
	s.waitFor("Remove instance i-db1 from the store?")
	s.press("y")
	// The flash, the dialog closing and the list reloading are separate
	// messages: wait for all of them.
	s.waitUntil("the list without i-db1", func(v string) bool {
		return strings.Contains(v, "Removed instance i-db1 · db1") && strings.Contains(v, "Instances [1]") &&
			!strings.Contains(v, "Remove Instance") && !strings.Contains(v, "127.0.0.1:2") && strings.Contains(v, "i-web1")
	})
	if _, err := f.svc.Instance(context.Background(), "i-db1"); !model.IsCode(err, model.CodeNotFound) {
		t.Fatalf("i-db1 after the removal: %v", err)
	}
	if list, _ := f.svc.Instances(context.Background(), false); len(list) != 1 || list[0].InstanceId != "i-web1" {
		t.Fatalf("instances after the removal: %+v", list)
	}
}

// An instance that secrets still manage is refused by the service: the
// error shows in the dialog with its code, and the instance stays.
func TestInstanceRemoveInUse80x24(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 80, 24)
	openInstances(s)
	s.press("down", "x")
	s.waitFor("Remove instance i-web1 from the store?")
	s.press("y")
	s.waitFor("Not possible right now: the instance i-web1 is managed by 1", model.CodeResourceInUse, "Remove Instance")
	if _, err := f.svc.Instance(context.Background(), "i-web1"); err != nil {
		t.Fatalf("the refused removal removed i-web1: %v", err)
	}
	s.golden()
}

func TestInstanceRemoveInUseStays(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openInstances(s)
	s.press("x")
	s.waitFor("Remove instance i-db1 from the store?")
	s.press("y")
	s.waitFor("Not possible right now: the instance i-db1 is managed by 1", model.CodeResourceInUse)
	s.press("esc")
	s.waitGone("Remove Instance")
	s.waitFor("Instances [2]", "i-db1", "i-web1")
	if list, _ := f.svc.Instances(context.Background(), false); len(list) != 2 {
		t.Fatalf("instances after the refusal: %+v", list)
	}
}
