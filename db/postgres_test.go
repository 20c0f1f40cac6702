package db

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

// openPG opens a fresh schema of the run's PostgreSQL with its own key.
func openPG(t *testing.T) (*Store, string, string) {
	t.Helper()
	loc := dbtest.Schema(t, dbtest.PostgresURL(t))
	key := filepath.Join(t.TempDir(), "master.key")
	s, err := Open(loc, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, loc, key
}

func TestPostgresStoreRoundTrip(t *testing.T) {
	s, _, _ := openPG(t)
	if s.Backend() != "PostgreSQL" || !s.Shared() || strings.Contains(s.Path, ":"+passwordOf(dbtest.PostgresURL(t))+"@") {
		t.Fatalf("backend %s shared %v path %s", s.Backend(), s.Shared(), s.Path)
	}
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	err := s.Write(ctx, func(tx *Tx) error {
		row := &SecretRow{Secret: model.Secret{Name: "app/db", Type: model.Generic, RegionId: "cn-hangzhou", DataType: model.DataText,
			CreateTime: now, UpdateTime: now, AutomaticRotation: model.RotationDisabled, AutoWanted: true}}
		var err error
		if row.ID, err = tx.InsertSecret(row); err != nil {
			return err
		}
		if err := tx.InsertVersion(row, "v1", "s3cret", model.DataText, now); err != nil {
			return err
		}
		return tx.SetLabels(row.ID, nil, model.Labels{model.StageCurrent: "v1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	read, err := s.ReadSecret(ctx, "app/db", "", model.StageCurrent)
	if err != nil {
		t.Fatal(err)
	}
	if read == nil || read.Version == nil || read.Version.Data != "s3cret" || read.Labels[model.StageCurrent] != "v1" || !read.Secret.AutoWanted {
		t.Fatalf("read back %+v", read)
	}
	var list []*SecretRow
	err = s.Read(ctx, func(tx *Tx) error {
		list, _, err = tx.ListSecrets(SecretFilter{Names: []string{"pp/d"}})
		return err
	})
	if err != nil || len(list) != 1 {
		t.Fatalf("substring filter: %v %d", err, len(list))
	}
	dump, err := s.Dump()
	if err != nil || !strings.Contains(dump, "secrets [1 app/db") || strings.Contains(dump, "true") {
		t.Fatalf("dump (err %v):\n%s", err, dump)
	}
}

// Concurrent read-modify-write transactions lose no update: serialization
// failures are retried inside the store and never reach the caller.
func TestPostgresConcurrentWritersAreSerialised(t *testing.T) {
	s, _, _ := openPG(t)
	ctx := context.Background()
	if err := s.Write(ctx, func(tx *Tx) error {
		_, err := tx.exec("INSERT INTO meta (name, value) VALUES ('counter', '0')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				errs <- s.Write(ctx, func(tx *Tx) error {
					var v string
					if err := tx.row("SELECT value FROM meta WHERE name = 'counter'").Scan(&v); err != nil {
						return err
					}
					var n int
					fmt.Sscan(v, &n)
					_, err := tx.exec("UPDATE meta SET value = ? WHERE name = 'counter'", fmt.Sprint(n+1))
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a writer saw: %v", err)
		}
	}
	var v string
	if err := s.r.QueryRow("SELECT value FROM meta WHERE name = 'counter'").Scan(&v); err != nil || v != fmt.Sprint(workers*each) {
		t.Fatalf("counter %s (err %v), want %d", v, err, workers*each)
	}
}

// Replicas racing to migrate one new database all start.
func TestPostgresReplicasMigrateTogether(t *testing.T) {
	loc := dbtest.Schema(t, dbtest.PostgresURL(t))
	key := filepath.Join(t.TempDir(), "master.key")
	if _, err := createKey(key); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(loc, key)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A replica with another master key refuses to start, and one without a
// key file does not make a new one.
func TestPostgresReplicaWithAnotherKeyRefusesToStart(t *testing.T) {
	_, loc, _ := openPG(t)
	other := filepath.Join(t.TempDir(), "master.key")
	if _, err := createKey(other); err != nil {
		t.Fatal(err)
	}
	_, err := Open(loc, other)
	if err == nil || !strings.Contains(err.Error(), "is not the key of the store") || !strings.Contains(err.Error(), "same master key file") {
		t.Fatalf("another key: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "master.key")
	_, err = Open(loc, missing)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("no key file: %v", err)
	}
	if _, serr := readKey(missing); serr == nil {
		t.Fatal("a replica without the key made a new one")
	}
	if pw := passwordOf(dbtest.PostgresURL(t)); pw != "" && strings.Contains(err.Error(), pw) {
		t.Fatal("the password reached an error")
	}
}

// PostgreSQL that cannot be reached is named, without the password.
func TestPostgresDownIsNamedWithoutPassword(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	const pw = "Hunter2-Pa55word"
	for _, raw := range []string{
		fmt.Sprintf("postgres://kms:%s@127.0.0.1:%d/kms?sslmode=disable&connect_timeout=2", pw, port),
		fmt.Sprintf("postgresql://127.0.0.1:%d/kms?user=kms&password=%s&sslmode=disable", port, url.QueryEscape(pw)),
	} {
		_, err := Open(raw, filepath.Join(t.TempDir(), "master.key"))
		if err == nil {
			t.Fatal("opened a database that is not there")
		}
		msg := err.Error()
		if strings.Contains(msg, pw) || !strings.Contains(msg, fmt.Sprintf("127.0.0.1:%d/kms", port)) || !strings.Contains(msg, "cannot be reached") {
			t.Fatalf("error: %s", msg)
		}
		var se *storeError
		if !errors.As(err, &se) {
			t.Fatalf("not the store's own error: %T", err)
		}
	}
}

func TestRebindPlaceholders(t *testing.T) {
	b := &postgresBackend{}
	got := b.rebind(`SELECT a FROM t WHERE x = ? AND y = '?' AND "z?" = ? AND w IN (?, ?)`)
	want := `SELECT a FROM t WHERE x = $1 AND y = '?' AND "z?" = $2 AND w IN ($3, $4)`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// The read every application makes is one round trip to PostgreSQL: one
// statement, its plan cached on the connection, no transaction around it.
func TestPostgresReadSecretIsOneRoundTrip(t *testing.T) {
	proxied, rt := dbtest.CountRoundTrips(t, dbtest.Schema(t, dbtest.PostgresURL(t)))
	s, err := Open(proxied, filepath.Join(t.TempDir(), "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	if err := s.Write(ctx, func(tx *Tx) error {
		row := &SecretRow{Secret: model.Secret{Name: "app/db", Type: model.Generic, RegionId: "cn-hangzhou", DataType: model.DataText,
			CreateTime: now, UpdateTime: now, AutomaticRotation: model.RotationDisabled}}
		var err error
		if row.ID, err = tx.InsertSecret(row); err != nil {
			return err
		}
		if err := tx.InsertVersion(row, "v1", "s3cret", model.DataText, now); err != nil {
			return err
		}
		return tx.SetLabels(row.ID, nil, model.Labels{model.StageCurrent: "v1"})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadSecret(ctx, "app/db", "", model.StageCurrent); err != nil { // prepares the statement
		t.Fatal(err)
	}
	const reads = 20
	rt.Reset()
	for i := 0; i < reads; i++ {
		r, err := s.ReadSecret(ctx, "app/db", "", model.StageCurrent)
		if err != nil || r.Version == nil || r.Version.Data != "s3cret" {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if n := rt.Count(); n != reads {
		t.Fatalf("%d reads took %d round trips, want one each", reads, n)
	}
}
