package service

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"kmsconsole/db"
	"kmsconsole/model"
)

func benchService(b *testing.B) *Service {
	store, err := db.Open(filepath.Join(b.TempDir(), "kms.db"), "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	svc := New(store, Options{Actor: Actor{Name: "bench", Role: model.RoleAdmin}})
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		if _, err := svc.CreateSecret(ctx, CreateSecretRequest{SecretName: fmt.Sprintf("app/s%04d", i), SecretData: "value-of-a-typical-size-0123456789", VersionId: "v1"}); err != nil {
			b.Fatal(err)
		}
	}
	return svc
}

func BenchmarkGetSecretValue(b *testing.B) {
	svc := benchService(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := svc.GetSecretValue(ctx, GetSecretValueRequest{SecretName: "app/s0500"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutSecretValue(b *testing.B) {
	svc := benchService(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := svc.PutSecretValue(ctx, PutSecretValueRequest{SecretName: "app/s0500", VersionId: fmt.Sprintf("b%d", i), SecretData: "new-value-0123456789"}); err != nil {
			b.Fatal(err)
		}
	}
}
