package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kmsconsole/model"
)

// backupWriters is how many writers run while the snapshots are taken.
const backupWriters = 8

// writeMirrored is one writer's transaction: a new version of w<i> and of
// its mirror m<i>, ACSCurrent moved on both, and an audit event. A
// consistent snapshot holds all of it or none of it.
func writeMirrored(ctx context.Context, s *Store, i, n int) error {
	return s.Write(ctx, func(tx *Tx) error {
		vid, prev := fmt.Sprintf("v%d", n), fmt.Sprintf("v%d", n-1)
		for _, name := range []string{fmt.Sprintf("w%d", i), fmt.Sprintf("m%d", i)} {
			sec, err := tx.SecretByName(name)
			if err != nil {
				return err
			}
			if err := tx.InsertVersion(sec, vid, name+"-"+vid, model.DataText, time.Unix(int64(n), 0)); err != nil {
				return err
			}
			if err := tx.SetLabels(sec.ID, model.Labels{model.StageCurrent: prev}, model.Labels{model.StageCurrent: vid}); err != nil {
				return err
			}
		}
		return tx.Audit(model.AuditEvent{Time: time.Unix(int64(n), 0), Operator: fmt.Sprintf("writer-%d", i), Action: "PutSecretValue",
			Target: fmt.Sprintf("w%d", i), VersionId: vid, Result: "Success"})
	})
}

// checkSnapshot opens a snapshot with the store's key and checks that it
// holds whole transactions only, every value decrypting to what was
// written. It returns how many writer transactions the snapshot holds.
func checkSnapshot(t *testing.T, file, key string) int {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot %s: %v %v", file, fi.Mode(), err)
	}
	// Bytes 18 and 19 of a SQLite header are 2 in WAL mode: the snapshot
	// works as a store as it is, readers never waiting for its writer.
	if b, err := os.ReadFile(file); err != nil || len(b) < 100 || b[18] != 2 || b[19] != 2 {
		t.Fatalf("snapshot %s is not a WAL database: %v", file, err)
	}
	snap, err := Open(file, key)
	if err != nil {
		t.Fatalf("open the snapshot: %v", err)
	}
	defer snap.Close()
	return checkMirrored(t, snap)
}

// checkMirrored checks that a store written by writeMirrored holds whole
// transactions only, every value decrypting to what was written, and
// returns how many writer transactions it holds.
func checkMirrored(t *testing.T, snap *Store) int {
	t.Helper()
	total := 0
	err := snap.Read(context.Background(), func(tx *Tx) error {
		for i := range backupWriters {
			var seen []string
			for _, name := range []string{fmt.Sprintf("w%d", i), fmt.Sprintf("m%d", i)} {
				sec, err := tx.SecretByName(name)
				if err != nil {
					return err
				}
				versions, err := tx.Versions(sec.ID)
				if err != nil {
					return err
				}
				labels, err := tx.Labels(sec.ID)
				if err != nil {
					return err
				}
				want := fmt.Sprintf("v%d", len(versions)-1)
				if labels[model.StageCurrent] != want {
					return fmt.Errorf("%s: %d versions, ACSCurrent at %s: a torn transaction", name, len(versions), labels[model.StageCurrent])
				}
				for _, v := range versions {
					full, err := tx.Version(sec, v.VersionId)
					if err != nil {
						return err
					}
					if full.Data != name+"-"+v.VersionId {
						return fmt.Errorf("%s %s: the snapshot's value differs", name, v.VersionId)
					}
				}
				seen = append(seen, fmt.Sprint(len(versions)))
			}
			if seen[0] != seen[1] {
				return fmt.Errorf("writer %d: w%d has %s versions, its mirror %s: a torn transaction", i, i, seen[0], seen[1])
			}
			evs, err := tx.AuditEvents(0, fmt.Sprintf("writer-%d ", i))
			if err != nil {
				return err
			}
			var n int
			fmt.Sscan(seen[0], &n)
			if len(evs) != n-1 {
				return fmt.Errorf("writer %d: %d versions but %d audit events", i, n-1, len(evs))
			}
			total += n - 1
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", snap.Path, err)
	}
	return total
}

// startMirroredWriters fills the store at p with the secrets of
// writeMirrored and starts backupWriters writers on it, each with a store
// of its own (as processes would have). stop ends them and reports the
// transactions committed in all.
func startMirroredWriters(t *testing.T, p string) (wrote *atomic.Int64, stop func() int64) {
	t.Helper()
	ctx := context.Background()
	s := openAt(t, p, "")
	for i := range backupWriters {
		for _, name := range []string{fmt.Sprintf("w%d", i), fmt.Sprintf("m%d", i)} {
			row := addSecret(t, s, name, map[string]string{"v0": name + "-v0"})
			if err := s.Write(ctx, func(tx *Tx) error { return tx.SetLabels(row.ID, nil, model.Labels{model.StageCurrent: "v0"}) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.Close()
	wrote = new(atomic.Int64)
	var halt atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, backupWriters)
	var stores []*Store
	for i := range backupWriters {
		w, err := Open(p, "")
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; !halt.Load() && n <= 400; n++ {
				if err := writeMirrored(ctx, w, i, n); err != nil {
					errs <- fmt.Errorf("writer %d: %w", i, err)
					return
				}
				wrote.Add(1)
			}
		}()
	}
	return wrote, func() int64 {
		halt.Store(true)
		wg.Wait()
		close(errs)
		for _, w := range stores {
			w.Close()
		}
		for err := range errs {
			t.Fatal(err)
		}
		return wrote.Load()
	}
}

// TestStoreBackupUnderConcurrentWriters: 8 writers, each with a store of
// its own on the file (as processes would have), write mirrored
// transactions while snapshots are taken; every snapshot opens with the
// master key, decrypts every value it holds, and holds whole transactions.
func TestStoreBackupUnderConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, key := filepath.Join(dir, "live", "kms.db"), filepath.Join(dir, "live", "master.key")
	wrote, stop := startMirroredWriters(t, p)
	s := openAt(t, p, "")
	defer s.Close()
	snapDir := filepath.Join(dir, "backups") // no master.key in it
	if err := os.Mkdir(snapDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var files []string
	var during []int64
	for k := range 3 {
		for wrote.Load() < int64(40*(k+1)) {
			time.Sleep(5 * time.Millisecond)
		}
		file := filepath.Join(snapDir, fmt.Sprintf("kms-%d.db", k))
		start := time.Now()
		rep, err := s.Backup(ctx, file, BackupOptions{Operator: "backup-tester"})
		if err != nil {
			t.Fatalf("backup %d: %v", k, err)
		}
		t.Logf("snapshot %d: %v, %d bytes, %d writer transactions committed before it ended", k, time.Since(start).Round(time.Millisecond), rep.Bytes, wrote.Load())
		files = append(files, file)
		during = append(during, wrote.Load())
	}
	final := stop()
	for k, file := range files {
		n := checkSnapshot(t, file, key)
		if n == 0 || int64(n) > during[k] || int64(n) >= final {
			t.Fatalf("snapshot %d holds %d writer transactions; %d were committed when it ended, %d in all: not taken while writers ran", k, n, during[k], final)
		}
	}
	if entries, _ := os.ReadDir(snapDir); len(entries) != len(files) {
		t.Fatalf("temporary files left beside the snapshots: %v", entries)
	}
	var evs []model.AuditEvent
	s.Read(ctx, func(tx *Tx) error {
		var err error
		evs, err = tx.AuditEvents(0, "BackupStore")
		return err
	})
	if len(evs) != 3 || evs[0].Operator != "backup-tester" || !strings.Contains(evs[0].Detail, files[2]) {
		t.Fatalf("the backups are not audited: %+v", evs)
	}
}

// A backup never overwrites a file, is refused for a PostgreSQL store
// (pointing to pg_dump, without connecting or showing the password) and
// for a store that does not exist (which it does not create).
func TestStoreBackupRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "kms.db")
	s := openAt(t, p, "")
	addSecret(t, s, "a", map[string]string{"v1": "x"})
	s.Close()

	existing := filepath.Join(dir, "taken.db")
	os.WriteFile(existing, []byte("keep me"), 0o600)
	if _, err := BackupStore(ctx, p, "", existing, BackupOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("backup onto an existing file: %v", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Fatal("the existing file was changed")
	}
	if _, err := BackupStore(ctx, p, "", p, BackupOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("backup onto the store itself: %v", err)
	}
	const pw = "s3cr3t-pw-77"
	_, err := BackupStore(ctx, "postgres://kms:"+pw+"@127.0.0.1:1/kms", "", filepath.Join(dir, "pg.db"), BackupOptions{})
	if !errors.Is(err, ErrBackupPostgres) || !strings.Contains(err.Error(), "pg_dump") || strings.Contains(err.Error(), pw) {
		t.Fatalf("backup of a PostgreSQL store: %v", err)
	}
	missing := filepath.Join(dir, "none", "kms.db")
	if _, err := BackupStore(ctx, missing, "", filepath.Join(dir, "none.db"), BackupOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("backup of a missing store: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Fatal("the backup of a missing store created it")
	}
	if _, err := BackupStore(ctx, p, "", filepath.Join(dir, "no-such-dir", "b.db"), BackupOptions{}); err == nil {
		t.Fatal("backup into a missing directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("a temporary file was left: %s", e.Name())
		}
	}
}
