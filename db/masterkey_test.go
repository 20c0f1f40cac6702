package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

// Master key rotation (SPEC §10), on each backend the run has: every sealed
// row moves, every value reads back at every step, and the old key alone
// opens nothing afterwards.

// keyStores runs fn on a fresh SQLite store and, when the run has one, a
// fresh PostgreSQL schema; each with a key file of its own.
func keyStores(t *testing.T, fn func(t *testing.T, loc, key string)) {
	t.Run("SQLite", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, filepath.Join(dir, "kms.db"), filepath.Join(dir, "master.key"))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		if os.Getenv("KMSCONSOLE_TEST_POSTGRES") == "" && os.Getenv("CI") != "true" {
			t.Skip("no PostgreSQL for this run (KMSCONSOLE_TEST_POSTGRES)")
		}
		loc := dbtest.Schema(t, dbtest.PostgresURL(t))
		fn(t, loc, filepath.Join(t.TempDir(), "master.key"))
	})
}

func openKeyed(t *testing.T, loc, key string) *Store {
	t.Helper()
	s, err := Open(loc, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// keyFixture is what a store under rotation holds: secrets with two
// versions and two labels each, instances and access keys.
type keyFixture struct {
	secrets   int
	instances []*InstanceRow
	keys      []*AccessKeyRow
}

func valueOf(i int, v string) string { return fmt.Sprintf("value-%03d-%s", i, v) }

func fillKeyFixture(t *testing.T, s *Store, secrets int) *keyFixture {
	t.Helper()
	f := &keyFixture{secrets: secrets}
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	err := s.Write(context.Background(), func(tx *Tx) error {
		for i := 0; i < secrets; i++ {
			row := &SecretRow{Secret: model.Secret{Name: fmt.Sprintf("app/s%03d", i), Type: model.Generic, RegionId: "cn-hangzhou",
				DataType: model.DataText, CreateTime: now, UpdateTime: now, AutomaticRotation: model.RotationDisabled}}
			var err error
			if row.ID, err = tx.InsertSecret(row); err != nil {
				return err
			}
			for _, v := range []string{"v1", "v2"} {
				if err := tx.InsertVersion(row, v, valueOf(i, v), model.DataText, now); err != nil {
					return err
				}
			}
			if err := tx.SetLabels(row.ID, nil, model.Labels{model.StageCurrent: "v2", model.StagePrevious: "v1"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.instances = []*InstanceRow{testInstance("i-web1", "192.0.2.10"), testInstance("i-web2", "192.0.2.11")}
	addInstances(t, s, f.instances...)
	for i, prev := range [][]byte{nil, []byte("previous-secret-1")} {
		k := &AccessKeyRow{AccessKey: model.AccessKey{AccessKeyId: fmt.Sprintf("LTAIkey%d", i), Name: fmt.Sprintf("app%d", i), Status: "Enabled",
			Policy: `{"Statement":[]}`, CreateTime: now, CreatedBy: "root", SecretRotated: now},
			Secret: []byte(fmt.Sprintf("access-secret-%d", i)), PreviousSecret: prev}
		if prev != nil {
			k.PreviousSecretUntil = now.Add(time.Hour)
		}
		f.keys = append(f.keys, k)
		if err := s.Write(context.Background(), func(tx *Tx) error { return tx.PutAccessKey(k) }); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// rows is how many sealed rows the fixture has.
func (f *keyFixture) rows() int { return f.secrets*4 + len(f.instances) + len(f.keys) }

// check reads every value of the fixture through s.
func (f *keyFixture) check(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < f.secrets; i++ {
		for _, stage := range []string{model.StageCurrent, model.StagePrevious} {
			r, err := s.ReadSecret(ctx, fmt.Sprintf("app/s%03d", i), "", stage)
			if err != nil {
				t.Fatalf("secret %d %s: %v", i, stage, err)
			}
			want := valueOf(i, map[string]string{model.StageCurrent: "v2", model.StagePrevious: "v1"}[stage])
			if r == nil || r.Version == nil || r.Version.Data != want {
				t.Fatalf("secret %d %s: read back something else", i, stage)
			}
		}
	}
	err := s.Read(ctx, func(tx *Tx) error {
		for _, in := range f.instances {
			r, err := tx.Instance(in.InstanceId)
			if err != nil {
				return err
			}
			if string(r.AdminKey) != string(in.AdminKey) || r.Host != in.Host {
				return fmt.Errorf("instance %s reads back otherwise", in.InstanceId)
			}
		}
		for _, k := range f.keys {
			r, err := tx.AccessKey(k.AccessKeyId)
			if err != nil {
				return err
			}
			if string(r.Secret) != string(k.Secret) || string(r.PreviousSecret) != string(k.PreviousSecret) {
				return fmt.Errorf("access key %s reads back otherwise", k.AccessKeyId)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rotateKey runs a whole rotation in-process, batch rows at a time.
func rotateKey(t *testing.T, s *Store, batch int) *KeyRotationStart {
	t.Helper()
	ctx := context.Background()
	start, err := s.StartKeyRotation(ctx, func(*Tx, KeyRotationStart) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for {
		for {
			n, err := s.MoveKeyBatch(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		err := s.FinishKeyRotation(ctx, func(*Tx) error { return nil })
		if err == nil {
			return start
		}
		if !errors.Is(err, ErrKeyRotationUnfinished) {
			t.Fatal(err)
		}
	}
}

func keyState(t *testing.T, s *Store) *KeyState {
	t.Helper()
	st, err := s.MasterKeyState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMasterKeyRotationMovesEveryRow(t *testing.T) {
	keyStores(t, func(t *testing.T, loc, key string) {
		s := openKeyed(t, loc, key)
		f := fillKeyFixture(t, s, 30)
		before := keyState(t, s)
		if len(before.Keys) != 1 || before.Keys[0].KeyId != before.KeyId || before.Keys[0].Rows != f.rows() || before.Remaining != 0 {
			t.Fatalf("before: %+v", before)
		}
		oldKey := filepath.Join(t.TempDir(), "old.key")
		copyFile(t, key, oldKey, 0o600)
		// A second process on the same key directory, open before the
		// rotation: it must follow without a restart.
		other := openKeyed(t, loc, key)
		f.check(t, other)

		start := rotateKey(t, s, 7)
		if start.FromKeyId != before.KeyId || start.ToKeyId == start.FromKeyId || start.Resumed {
			t.Fatalf("start %+v", start)
		}
		after := keyState(t, s)
		if after.KeyId != start.ToKeyId || after.SealingKeyId != start.ToKeyId || after.NextKeyPath != "" || after.Remaining != 0 ||
			len(after.Keys) != 1 || after.Keys[0].Rows != f.rows() {
			t.Fatalf("after: %+v", after)
		}
		if _, err := os.Stat(nextKeyPath(key)); !os.IsNotExist(err) {
			t.Fatalf("the next key file stays behind: %v", err)
		}
		f.check(t, s)
		f.check(t, other)
		f.check(t, openKeyed(t, loc, key))
		// New rows are sealed under the new key, by the process that was
		// open before too.
		if err := other.Write(context.Background(), func(tx *Tx) error {
			return tx.InsertInstance(testInstance("i-web3", "192.0.2.12"))
		}); err != nil {
			t.Fatal(err)
		}
		if st := keyState(t, s); st.Remaining != 0 || len(st.Keys) != 1 {
			t.Fatalf("a write of the process open before the rotation: %+v", st)
		}

		// The old key alone opens nothing, old rows or new.
		old, err := Open(loc, oldKey)
		if err != nil {
			if !strings.Contains(err.Error(), "rotated") {
				t.Fatalf("the old key is refused without saying why: %v", err)
			}
			return // PostgreSQL: a replica with the old key does not start
		}
		defer old.Close()
		_, err = old.ReadSecret(context.Background(), "app/s000", "", model.StageCurrent)
		var missing *MissingKeyError
		if !errors.As(err, &missing) || !errors.Is(err, ErrDecrypt) || missing.KeyId != start.ToKeyId || !strings.Contains(err.Error(), "copy master.key") {
			t.Fatalf("read with the old key: %v", err)
		}
		if err := old.Read(context.Background(), func(tx *Tx) error {
			_, err := tx.Instance("i-web3")
			return err
		}); !errors.As(err, &missing) {
			t.Fatalf("a new row read with the old key: %v", err)
		}
	})
}

// A replica with a key directory of its own cannot read what moved, says
// why, and reads again once the new key is copied in, without a restart.
func TestMasterKeyRotationReplicaWithItsOwnKey(t *testing.T) {
	keyStores(t, func(t *testing.T, loc, key string) {
		s := openKeyed(t, loc, key)
		f := fillKeyFixture(t, s, 5)
		replicaKey := filepath.Join(t.TempDir(), "master.key")
		copyFile(t, key, replicaKey, 0o600)
		replica := openKeyed(t, loc, replicaKey)
		f.check(t, replica)
		rotateKey(t, s, 100)
		_, err := replica.ReadSecret(context.Background(), "app/s001", "", model.StageCurrent)
		if !strings.Contains(err.Error(), "copy master.key") || !strings.Contains(err.Error(), replicaKey) {
			t.Fatalf("replica read: %v", err)
		}
		err = replica.Write(context.Background(), func(tx *Tx) error {
			return tx.InsertInstance(testInstance("i-web9", "192.0.2.19"))
		})
		var missing *MissingKeyError
		if !errors.As(err, &missing) {
			t.Fatalf("replica write: %v", err)
		}
		copyFile(t, key, replicaKey, 0o600)
		f.check(t, replica)
	})
}

// Stopped between any two steps, every value reads, from a process that
// was open all along and from a fresh one; run again, the rotation
// resumes with the same new key.
func TestMasterKeyRotationStoppedAnywhere(t *testing.T) {
	keyStores(t, func(t *testing.T, loc, key string) {
		ctx := context.Background()
		s := openKeyed(t, loc, key)
		f := fillKeyFixture(t, s, 10)
		watcher := openKeyed(t, loc, key)
		noAudit := func(*Tx, KeyRotationStart) error { return nil }
		start, err := s.StartKeyRotation(ctx, noAudit)
		if err != nil {
			t.Fatal(err)
		}
		s.Close() // the first run stops here
		f.check(t, watcher)
		for step := 0; ; step++ {
			run := openKeyed(t, loc, key)
			f.check(t, run)
			again, err := run.StartKeyRotation(ctx, noAudit)
			if err != nil {
				t.Fatal(err)
			}
			if !again.Resumed || again.ToKeyId != start.ToKeyId || again.FromKeyId != start.FromKeyId {
				t.Fatalf("resumed %+v, first %+v", again, start)
			}
			n, err := run.MoveKeyBatch(ctx, 9)
			if err != nil {
				t.Fatal(err)
			}
			f.check(t, watcher)
			if st := keyState(t, run); st.NextKeyPath == "" || st.SealingKeyId != start.ToKeyId {
				t.Fatalf("step %d: %+v", step, st)
			}
			run.Close()
			if n == 0 {
				break
			}
		}
		// The last stop: every row moved, the store says so, but the key
		// files are not swapped yet.
		last := openKeyed(t, loc, key)
		if err := last.FinishKeyRotation(ctx, func(*Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		st := keyState(t, last)
		if st.KeyId != start.ToKeyId || st.Remaining != 0 || st.NextKeyPath != "" {
			t.Fatalf("finished: %+v", st)
		}
		f.check(t, watcher)
		f.check(t, openKeyed(t, loc, key))
	})
}

// A crash after the last transaction and before the key files are
// swapped: the store opens (a replica too), every value reads, and the
// rotation run again only swaps the files.
func TestMasterKeyRotationCrashBeforeTheSwap(t *testing.T) {
	keyStores(t, func(t *testing.T, loc, key string) {
		s := openKeyed(t, loc, key)
		f := fillKeyFixture(t, s, 3)
		oldKey := filepath.Join(t.TempDir(), "old.key")
		copyFile(t, key, oldKey, 0o600)
		start := rotateKey(t, s, 100)
		// Put the files back as they were before the rename.
		if err := os.Rename(key, nextKeyPath(key)); err != nil {
			t.Fatal(err)
		}
		copyFile(t, oldKey, key, 0o600)
		reopened := openKeyed(t, loc, key)
		f.check(t, reopened)
		again := rotateKey(t, reopened, 100)
		if !again.Resumed || again.ToKeyId != start.ToKeyId {
			t.Fatalf("again %+v, first %+v", again, start)
		}
		if st := keyState(t, reopened); st.KeyId != start.ToKeyId || st.NextKeyPath != "" || st.Remaining != 0 {
			t.Fatalf("after: %+v", st)
		}
		f.check(t, openKeyed(t, loc, key))
	})
}

// Writers that run during the rotation (another process on the same key
// directory) seal under the new key from its start; none is left behind.
func TestMasterKeyRotationWithConcurrentWriters(t *testing.T) {
	keyStores(t, func(t *testing.T, loc, key string) {
		s := openKeyed(t, loc, key)
		f := fillKeyFixture(t, s, 20)
		writer := openKeyed(t, loc, key)
		ctx := context.Background()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var writes int
		var werr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				werr = writer.Write(ctx, func(tx *Tx) error {
					sec, err := tx.SecretByName(fmt.Sprintf("app/s%03d", i%20))
					if err != nil {
						return err
					}
					vid := fmt.Sprintf("w%d", i)
					if err := tx.InsertVersion(sec, vid, valueOf(i%20, vid), model.DataText, time.Now()); err != nil {
						return err
					}
					return tx.SetLabels(sec.ID, nil, model.Labels{"Custom": vid})
				})
				if werr != nil {
					return
				}
				writes++
			}
		}()
		rotateKey(t, s, 3)
		close(stop)
		wg.Wait()
		if werr != nil {
			t.Fatal(werr)
		}
		st := keyState(t, s)
		if st.Remaining != 0 || len(st.Keys) != 1 || st.Keys[0].KeyId != st.KeyId {
			t.Fatalf("after %d concurrent writes: %+v", writes, st)
		}
		f.check(t, openKeyed(t, loc, key))
		t.Logf("%d writes during the rotation", writes)
	})
}

// A row edited outside kmsconsole is not laundered into a valid MAC under
// the new key: the rotation stops at it and it stays refused.
func TestMasterKeyRotationRefusesTamperedRows(t *testing.T) {
	keyStores(t, func(t *testing.T, loc, key string) {
		s := openKeyed(t, loc, key)
		fillKeyFixture(t, s, 2)
		raw := dbtest.Raw(t, loc)
		if _, err := raw.Exec("UPDATE stages SET version_id = 'v1' WHERE stage = 'ACSCurrent' AND secret_id = (SELECT id FROM secrets WHERE name = 'app/s001')"); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := s.StartKeyRotation(ctx, func(*Tx, KeyRotationStart) error { return nil }); err != nil {
			t.Fatal(err)
		}
		var err error
		for n := 1; n > 0 && err == nil; {
			n, err = s.MoveKeyBatch(ctx, 100)
		}
		if !errors.Is(err, ErrRowAuth) {
			t.Fatalf("moving a tampered label: %v", err)
		}
		if _, err := s.ReadSecret(ctx, "app/s001", "", model.StageCurrent); !errors.Is(err, ErrRowAuth) {
			t.Fatalf("the tampered label after the rotation stopped: %v", err)
		}
		f := &keyFixture{secrets: 1}
		f.check(t, s) // app/s000 still reads
	})
}
