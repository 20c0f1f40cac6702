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

// TestAuditGroupCommit: records written by many requests at once are all
// on record, each exactly once, by the time each request returns.
func TestAuditGroupCommit(t *testing.T) {
	store, err := db.Open(dbtest.Locator(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := New(store, Options{Actor: Actor{Name: "root", Role: model.RoleAdmin}})
	t.Cleanup(svc.Close)
	ctx := context.Background()
	if _, err := svc.CreateSecret(ctx, CreateSecretRequest{SecretName: "app/x", SecretData: "value-x", VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}
	const readers, each = 32, 20
	var wg sync.WaitGroup
	ids := make(chan string, readers*each)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < each; j++ {
				resp, err := svc.GetSecretValue(ctx, GetSecretValueRequest{SecretName: "app/x", Purpose: fmt.Sprintf("reader %d", i)})
				if err != nil {
					t.Error(err)
					return
				}
				// On record before the answer: the id is in the log now.
				evs, err := svc.Audit(ctx, 1, resp.RequestId)
				if err != nil || len(evs) != 1 {
					t.Errorf("read %s not on record when answered (%d events, %v)", resp.RequestId, len(evs), err)
					return
				}
				ids <- resp.RequestId
			}
		}(i)
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	events, err := svc.Audit(ctx, 10*readers*each, "GetSecretValue")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range events {
		count[e.RequestId]++
	}
	for id := range seen {
		if count[id] != 1 {
			t.Fatalf("read %s recorded %d times", id, count[id])
		}
	}
	if len(seen) != readers*each {
		t.Fatalf("%d reads answered, want %d", len(seen), readers*each)
	}
}
