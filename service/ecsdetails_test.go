package service

import (
	"context"
	"strings"
	"testing"

	"kmsconsole/model"
)

// TestManagedCredential: an ECS secret's user, instance and (for a key
// pair) fingerprint are described without the value, for any role; a
// generic secret has none.
func TestManagedCredential(t *testing.T) {
	for _, sub := range []string{model.SubTypePassword, model.SubTypeSSHKey} {
		t.Run(sub, func(t *testing.T) {
			f := newECSFixture(t, sub)
			ctx := context.Background()
			ro := f.svc.As(Actor{Name: "rita", Role: model.RoleReadonly})
			mc, err := ro.ManagedCredential(ctx, f.secret)
			if err != nil {
				t.Fatal(err)
			}
			if mc.UserName != f.user || mc.SubType != sub || mc.Instance.InstanceId != "i-web1" || mc.Instance.Host == "" || mc.InstanceMissing {
				t.Fatalf("described as user %q, %s, instance %q host set %v", mc.UserName, mc.SubType, mc.Instance.InstanceId, mc.Instance.Host != "")
			}
			if sub == model.SubTypeSSHKey && !strings.HasPrefix(mc.KeyFingerprint, "SHA256:") {
				t.Fatalf("key pair without a fingerprint: %q", mc.KeyFingerprint)
			}
			if sub == model.SubTypePassword && mc.KeyFingerprint != "" {
				t.Fatal("a password secret shows a key fingerprint")
			}
			events, err := f.svc.Audit(ctx, 100, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events {
				if e.Operator == "rita" {
					t.Fatalf("describing the credential was recorded as %s", e.Action)
				}
			}
		})
	}
}
