package db

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmsconsole/model"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func addSecret(t *testing.T, s *Store, name string, versions map[string]string) *SecretRow {
	t.Helper()
	now := time.Date(2026, 11, 22, 17, 42, 53, 0, time.UTC)
	row := &SecretRow{Secret: model.Secret{Name: name, Type: model.Generic, RegionId: "cn-hangzhou", DataType: model.DataText,
		CreateTime: now, UpdateTime: now, AutomaticRotation: model.RotationDisabled}}
	err := s.Write(context.Background(), func(tx *Tx) error {
		var err error
		if row.ID, err = tx.InsertSecret(row); err != nil {
			return err
		}
		for vid, data := range versions {
			if err := tx.InsertVersion(row, vid, data, model.DataText, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// Every byte SQLite wrote (main file, WAL, shared memory) is scanned for the
// plaintext, while the store is open and after it is closed.
func TestNoPlaintextInStoreFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	values := []string{"PLAINTEXT-canary-4f1d9c", "another-canary-secret-77aa"}
	adminKey := []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nadmin-key-canary-0b3e\n-----END OPENSSH PRIVATE KEY-----\n")
	addSecret(t, s, "db/password", map[string]string{"v1": values[0], "v2": values[1]})
	err = s.Write(context.Background(), func(tx *Tx) error {
		return tx.InsertInstance(&InstanceRow{Instance: model.Instance{InstanceId: "i-web1", RegionId: "cn-hangzhou",
			Host: "127.0.0.1", Port: 22, AdminUser: "root", HostKey: "ssh-ed25519 AAAA"}, AdminKey: adminKey})
	})
	if err != nil {
		t.Fatal(err)
	}
	scan := func(when string) {
		entries, _ := os.ReadDir(dir)
		scanned := 0
		for _, e := range entries {
			if e.Name() == "master.key" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			scanned += len(b)
			for _, v := range append(values, "admin-key-canary-0b3e") {
				if bytes.Contains(b, []byte(v)) {
					t.Errorf("%s: plaintext %q found in %s", when, v[:8]+"…", e.Name())
				}
			}
		}
		if scanned == 0 {
			t.Fatalf("%s: nothing scanned", when)
		}
	}
	scan("open")
	// The values do read back.
	err = s.Read(context.Background(), func(tx *Tx) error {
		sec, err := tx.SecretByName("db/password")
		if err != nil {
			return err
		}
		v, err := tx.Version(sec, "v1")
		if err != nil {
			return err
		}
		if v.Data != values[0] {
			t.Errorf("v1 reads back wrong")
		}
		inst, err := tx.Instance("i-web1")
		if err != nil {
			return err
		}
		if !bytes.Equal(inst.AdminKey, adminKey) {
			t.Errorf("admin key reads back wrong")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	scan("closed")
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(filepath.Join(dir, "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	addSecret(t, s, "x", map[string]string{"v1": "y"}) // creates the master key
	defer s.Close()
	for name, want := range map[string]os.FileMode{"kms.db": 0o600, "master.key": 0o600, "kms.db-wal": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("store dir mode %v, want 0700", fi.Mode().Perm())
	}
}

// A ciphertext copied onto another version, or another secret, fails to open.
func TestCiphertextBoundToSecretAndVersion(t *testing.T) {
	s := openTemp(t)
	a := addSecret(t, s, "app/a", map[string]string{"v1": "value-one", "v2": "value-two"})
	b := addSecret(t, s, "app/b", map[string]string{"v1": "value-b"})
	ctx := context.Background()
	copyBlob := func(fromSecret int64, fromVer string, toSecret int64, toVer string) {
		err := s.Write(ctx, func(tx *Tx) error {
			_, err := tx.exec(`UPDATE versions SET ciphertext = (SELECT ciphertext FROM versions WHERE secret_id = ? AND version_id = ?)
				WHERE secret_id = ? AND version_id = ?`, fromSecret, fromVer, toSecret, toVer)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func(sec *SecretRow, vid string) error {
		return s.Read(ctx, func(tx *Tx) error { _, err := tx.Version(sec, vid); return err })
	}
	if err := read(a, "v2"); err != nil {
		t.Fatalf("untouched version: %v", err)
	}
	copyBlob(a.ID, "v1", a.ID, "v2")
	if err := read(a, "v2"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("ciphertext moved to another version: got %v, want ErrDecrypt", err)
	}
	copyBlob(a.ID, "v1", b.ID, "v1")
	if err := read(b, "v1"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("ciphertext moved to another secret: got %v, want ErrDecrypt", err)
	}
	if err := read(a, "v1"); err != nil {
		t.Errorf("source version must still open: %v", err)
	}
}

func TestWrongMasterKeyRefuses(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	sec := addSecret(t, s, "x", map[string]string{"v1": "y"})
	s.Close()
	other := filepath.Join(dir, "other.key")
	if err := os.WriteFile(other, bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(filepath.Join(dir, "kms.db"), other)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	err = s2.Read(context.Background(), func(tx *Tx) error { _, err := tx.Version(sec, "v1"); return err })
	if !errors.Is(err, ErrDecrypt) {
		t.Fatalf("got %v, want ErrDecrypt", err)
	}
}

// A store that holds encrypted values and has lost its master key (restored
// without it, or KMSCONSOLE_MASTER_KEY_FILE pointing elsewhere) refuses to
// read and to write: no new key is made, so nothing gets written under a key
// the rest of the store does not use. A wrong key is refused for writes too.
func TestMissingOrWrongMasterKeyChangesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kms.db")
	s, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	sec := addSecret(t, s, "x", map[string]string{"v1": "y"})
	before, err := s.Dump()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	keyPath := filepath.Join(dir, "master.key")
	if err := os.Rename(keyPath, keyPath+".bak"); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.key")
	if err := os.WriteFile(other, bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, key, says string }{
		{"missing", "", "does not exist, but the store"},
		{"wrong", other, "does not belong to the store"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(path, c.key)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rerr := s.Read(context.Background(), func(tx *Tx) error { _, err := tx.Version(sec, "v1"); return err })
			if rerr == nil || !strings.Contains(rerr.Error(), c.says) {
				t.Fatalf("read: got %v, want an error saying %q", rerr, c.says)
			}
			werr := s.Write(context.Background(), func(tx *Tx) error {
				return tx.InsertVersion(sec, "v2", "new value", model.DataText, time.Now())
			})
			if werr == nil || !strings.Contains(werr.Error(), c.says) {
				t.Fatalf("write: got %v, want an error saying %q", werr, c.says)
			}
			if after, _ := s.Dump(); after != before {
				t.Fatal("the refused write changed the store")
			}
			if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a new master key was created beside a store that needs its old one (%v)", err)
			}
		})
	}
	// With its own key back, the store reads again.
	if err := os.Rename(keyPath+".bak", keyPath); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Read(context.Background(), func(tx *Tx) error { _, err := tx.Version(sec, "v1"); return err }); err != nil {
		t.Fatalf("with the right key: %v", err)
	}
}

func TestMasterKeyWrongSizeRefused(t *testing.T) {
	dir := t.TempDir()
	kp := filepath.Join(dir, "short.key")
	os.WriteFile(kp, []byte("short"), 0o600)
	s, err := Open(filepath.Join(dir, "kms.db"), kp)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Write(context.Background(), func(tx *Tx) error {
		return tx.InsertVersion(&SecretRow{ID: 1, Secret: model.Secret{Name: "x"}}, "v1", "y", "text", time.Now())
	})
	if err == nil {
		t.Fatal("a 5-byte master key must be refused")
	}
}

func TestMigrationsRunOnceAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kms.db")
	for i := 0; i < 3; i++ {
		s, err := Open(path, "")
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var v int
		var mode string
		s.r.QueryRow("PRAGMA user_version").Scan(&v)
		s.r.QueryRow("PRAGMA journal_mode").Scan(&mode)
		if v != len(sqliteMigrations) || mode != "wal" {
			t.Fatalf("user_version %d journal %s", v, mode)
		}
		s.Close()
	}
}

func TestLeases(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	now := time.Now()
	try := func(holder string, at time.Time) bool {
		var got bool
		s.Write(ctx, func(tx *Tx) error {
			var err error
			got, err = tx.AcquireLease("rotate:x", holder, at, at.Add(time.Minute))
			return err
		})
		return got
	}
	if !try("a", now) {
		t.Fatal("free lease not acquired")
	}
	if try("b", now.Add(30*time.Second)) {
		t.Fatal("held lease taken by another holder")
	}
	if !try("a", now.Add(30*time.Second)) {
		t.Fatal("holder cannot renew")
	}
	if !try("b", now.Add(2*time.Minute)) {
		t.Fatal("expired lease not taken over")
	}
}
