package service

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

func benchService(b *testing.B) *Service {
	store, err := db.Open(dbtest.Locator(b), "")
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

// BenchmarkGetSecretValueParallel: 32 readers at once, each read audited
// (group commit lets their records share transactions).
func BenchmarkGetSecretValueParallel(b *testing.B) {
	svc := benchService(b)
	ctx := context.Background()
	b.SetParallelism(32 / max(1, runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.GetSecretValue(ctx, GetSecretValueRequest{SecretName: "app/s0500"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
