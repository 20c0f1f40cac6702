package service

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

// Writers that race on one row: on PostgreSQL the losers' transactions fail
// with a serialization failure and the store runs them again; on SQLite
// they queue. Either way every request is audited exactly once, with the
// record it would have had alone: an attempt that was rolled back leaves
// nothing behind in the request (neither "the success is on record" nor a
// note appended twice).

func racingService(t *testing.T) *Service {
	t.Helper()
	store, err := db.Open(dbtest.Locator(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := New(store, Options{Actor: Actor{Name: "root", Role: model.RoleAdmin}})
	t.Cleanup(svc.Close)
	return svc
}

// race runs fn(i) for i < n at once and fails on any error.
func race(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: %v", i, err)
		}
	}
}

// TestRacingIdempotentPutsAreEachAuditedOnce: the same PutSecretValue sent
// by several clients at once makes one version, and each request leaves one
// record, the no-op retries included, which say they are.
func TestRacingIdempotentPutsAreEachAuditedOnce(t *testing.T) {
	svc := racingService(t)
	ctx := context.Background()
	if _, err := svc.CreateSecret(ctx, CreateSecretRequest{SecretName: "app/x", SecretData: "v1-value", VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}
	const racers, rounds = 8, 5
	for round := 2; round < 2+rounds; round++ {
		vid := fmt.Sprintf("v%d", round)
		race(t, racers, func(int) error {
			_, err := svc.PutSecretValue(ctx, PutSecretValueRequest{SecretName: "app/x", VersionId: vid, SecretData: vid + "-value"})
			return err
		})
	}
	events, err := svc.Audit(ctx, 0, "PutSecretValue")
	if err != nil {
		t.Fatal(err)
	}
	perVersion, made := map[string]int{}, map[string]int{}
	for _, ev := range events {
		if ev.Action == "PutSecretValue" && ev.Target == "app/x" && ev.Result == "Success" {
			perVersion[ev.VersionId]++
			if ev.Detail != "no-op: the version exists" {
				made[ev.VersionId]++
			}
		}
	}
	for round := 2; round < 2+rounds; round++ {
		if vid := fmt.Sprintf("v%d", round); perVersion[vid] != racers || made[vid] != 1 {
			t.Errorf("%d records of PutSecretValue %s, want one per request (%d), of which %d not a no-op, want 1: %v",
				perVersion[vid], vid, racers, made[vid], perVersion)
		}
	}
	ids, err := svc.ListSecretVersionIds(ctx, ListSecretVersionIdsRequest{SecretName: "app/x", IncludeDeprecated: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ids.VersionIds.VersionId); n != 1+rounds {
		t.Fatalf("%d versions, want %d", n, 1+rounds)
	}
}

// TestRacingAccessKeyChangesKeepTheirRecord: changes of one access key at
// once are each audited once, with the record's note written once.
func TestRacingAccessKeyChangesKeepTheirRecord(t *testing.T) {
	svc := racingService(t)
	ctx := context.Background()
	k, err := svc.CreateAccessKey(ctx, "app", appPolicy)
	if err != nil {
		t.Fatal(err)
	}
	const racers = 8
	for round := 0; round < 3; round++ {
		race(t, racers, func(i int) error { return svc.SetAccessKeyStatus(ctx, "app", i%2 == 0) })
	}
	events, err := svc.Audit(ctx, 0, "AccessKey")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range events {
		if ev.Action != "EnableAccessKey" && ev.Action != "DisableAccessKey" {
			continue
		}
		n++
		if ev.Result != "Success" || ev.Target != "app" || ev.Detail != "AccessKeyId "+k.AccessKeyId {
			t.Errorf("record %s %s %s %q, want Success on app with the note %q once", ev.Action, ev.Target, ev.Result, ev.Detail, "AccessKeyId "+k.AccessKeyId)
		}
	}
	if n != 3*racers {
		t.Fatalf("%d records of the %d changes", n, 3*racers)
	}
}
