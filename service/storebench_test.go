package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

// BenchmarkStore measures in-process PutSecretValue and GetSecretValue with
// 8 goroutines (issue 13) on SQLite and, when KMSCONSOLE_TEST_POSTGRES is
// set, on PostgreSQL over loopback through a proxy that counts round trips
// (roundtrips/op: everything the operation made the store wait for, the
// audit record's share of a group commit included). scripts/bench-store
// runs it.
func BenchmarkStore(b *testing.B) {
	type backend struct {
		name string
		open func(b *testing.B) (*db.Store, *dbtest.RoundTrips)
	}
	backends := []backend{{"SQLite", func(b *testing.B) (*db.Store, *dbtest.RoundTrips) {
		s, err := db.Open(filepath.Join(b.TempDir(), "kms.db"), "")
		if err != nil {
			b.Fatal(err)
		}
		return s, nil
	}}}
	if os.Getenv(dbtest.EnvPostgres) != "" {
		backends = append(backends, backend{"PostgreSQL", func(b *testing.B) (*db.Store, *dbtest.RoundTrips) {
			proxied, rt := dbtest.CountRoundTrips(b, dbtest.Schema(b, dbtest.PostgresURL(b)))
			s, err := db.Open(proxied, filepath.Join(b.TempDir(), "master.key"))
			if err != nil {
				b.Fatal(err)
			}
			return s, rt
		}})
	}
	const secrets = 200
	for _, be := range backends {
		setup := func(b *testing.B) (*Service, *dbtest.RoundTrips) {
			store, rt := be.open(b)
			b.Cleanup(func() { store.Close() })
			svc := New(store, Options{Actor: Actor{Name: "bench", Role: model.RoleAdmin}})
			ctx := context.Background()
			for i := 0; i < secrets; i++ {
				if _, err := svc.CreateSecret(ctx, CreateSecretRequest{SecretName: fmt.Sprintf("app/s%04d", i), SecretData: "value-of-a-typical-size-0123456789", VersionId: "v1"}); err != nil {
					b.Fatal(err)
				}
			}
			return svc, rt
		}
		// run measures op, numbered from 1, in 8 goroutines on a fresh store.
		run := func(op func(svc *Service, n int64) error) func(b *testing.B) {
			return func(b *testing.B) {
				svc, rt := setup(b)
				var next atomic.Int64
				b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // 8 goroutines
				if rt != nil {
					rt.Reset()
				}
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := op(svc, next.Add(1)); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				if rt != nil {
					b.ReportMetric(float64(rt.Count())/float64(b.N), "roundtrips/op")
				}
			}
		}
		ctx := context.Background()
		b.Run(be.name+"/GetSecretValue", run(func(svc *Service, n int64) error {
			_, err := svc.GetSecretValue(ctx, GetSecretValueRequest{SecretName: fmt.Sprintf("app/s%04d", n%secrets)})
			return err
		}))
		b.Run(be.name+"/PutSecretValue", run(func(svc *Service, n int64) error {
			_, err := svc.PutSecretValue(ctx, PutSecretValueRequest{SecretName: fmt.Sprintf("app/s%04d", n%secrets),
				VersionId: fmt.Sprintf("b%d", n), SecretData: "new-value-0123456789"})
			return err
		}))
	}
}
