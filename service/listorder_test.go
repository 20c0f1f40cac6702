package service

import (
	"context"
	"slices"
	"testing"
)

// TestListOrderIsBytewise: secrets are listed, and paged, in the byte order
// of their names on either backend, whatever collation a PostgreSQL
// database was created with (en_US.UTF-8 would put app/a before app/B and
// ignore punctuation).
func TestListOrderIsBytewise(t *testing.T) {
	svc := plainService(t)
	ctx := context.Background()
	names := []string{"app/a", "app/B", "app/a-b", "app/a_b", "app/ab", "App/x", "app/Z9", "app/a.b", "app/a/b"}
	for _, n := range names {
		if _, err := svc.CreateSecret(ctx, CreateSecretRequest{SecretName: n, SecretData: "x", VersionId: "v1"}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(names) // Go compares strings byte by byte
	var listed []string
	for page := 1; ; page++ {
		l, err := svc.ListSecrets(ctx, ListSecretsRequest{PageNumber: page, PageSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range l.SecretList.Secret {
			listed = append(listed, s.SecretName)
		}
		if len(l.SecretList.Secret) < 4 {
			break
		}
	}
	if !slices.Equal(listed, names) {
		t.Fatalf("listed %q, want byte order %q", listed, names)
	}
}
