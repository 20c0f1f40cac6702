package db

import (
	"context"
	"sync"
	"testing"
	"time"

	"kmsconsole/model"
)

// TestPostgresReadsThatFillThePoolDoNotDeadlock: as many read transactions
// as the reader pool holds, open at once, each running a hot-path query
// (SecretByName) for the first time. Preparing that query on the pool from
// inside a transaction waited for a free connection, which every other
// read held while waiting in turn: fifty concurrent rotations hung.
func TestPostgresReadsThatFillThePoolDoNotDeadlock(t *testing.T) {
	s, _, _ := openPG(t)
	ctx := context.Background()
	if err := s.Write(ctx, func(tx *Tx) error {
		_, err := tx.InsertSecret(&SecretRow{Secret: model.Secret{Name: "app/db", Type: model.Generic, RegionId: "cn-hangzhou", DataType: model.DataText}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var open, wg sync.WaitGroup
	open.Add(pgReaders)
	errs := make(chan error, pgReaders)
	for range pgReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Read(ctx, func(tx *Tx) error {
				open.Done()
				open.Wait() // every connection of the pool is in a transaction
				_, err := tx.SecretByName("app/db")
				return err
			})
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d read transactions that fill the reader pool still wait after 30 s", pgReaders)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
