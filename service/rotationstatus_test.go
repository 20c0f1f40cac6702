package service

import (
	"context"
	"testing"

	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// TestRotationFailureApartFromPolicy (issue 11): a failed rotation shows as
// a failure (reason, status "Rotation failed") without claiming a policy
// the secret never had: AutomaticRotation stays Disabled on a secret that
// never rotated automatically, and is Invalid on one that does. A later
// successful rotation clears the failure.
func TestRotationFailureApartFromPolicy(t *testing.T) {
	for _, auto := range []bool{false, true} {
		name := map[bool]string{false: "manual only", true: "automatic"}[auto]
		t.Run(name, func(t *testing.T) {
			f := newECSFixture(t, model.SubTypePassword)
			ctx := context.Background()
			if auto {
				on := true
				if _, err := f.svc.UpdateSecretRotationPolicy(ctx, UpdateSecretRotationPolicyRequest{SecretName: f.secret, EnableAutomaticRotation: &on, RotationInterval: "7d"}); err != nil {
					t.Fatal(err)
				}
			}
			f.srv.Stop()
			if _, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret}); !model.IsCode(err, model.CodeRotationFailed) {
				t.Fatalf("rotation with the host down: %v", err)
			}
			want := model.RotationDisabled
			if auto {
				want = model.RotationInvalid
			}
			d := f.describe()
			if d.AutomaticRotation != want || d.RotationFailureReason == "" {
				t.Fatalf("after a failure: AutomaticRotation %s (want %s), reason given: %v", d.AutomaticRotation, want, d.RotationFailureReason != "")
			}
			sec, err := f.svc.Secret(ctx, f.secret)
			if err != nil {
				t.Fatal(err)
			}
			if st := sec.Status(f.svc.now()); st != "Rotation failed" {
				t.Fatalf("status %q", st)
			}

			f.srv.Restart(t, sshdtest.Options{})
			if _, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret}); err != nil {
				t.Fatal(err)
			}
			d = f.describe()
			want = model.RotationDisabled
			if auto {
				want = model.RotationEnabled
			}
			if d.AutomaticRotation != want || d.RotationFailureReason != "" {
				t.Fatalf("after a success: AutomaticRotation %s (want %s), reason still there: %v", d.AutomaticRotation, want, d.RotationFailureReason != "")
			}
		})
	}
}
