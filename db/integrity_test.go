package db

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"kmsconsole/model"
)

// Registry integrity: instance rows and stage labels edited with plain SQL,
// by someone who can write kms.db but has no master key, are refused with
// an error naming the row, never used.

func testInstance(id, host string) *InstanceRow {
	return &InstanceRow{Instance: model.Instance{InstanceId: id, InstanceName: "web", RegionId: "cn-hangzhou", Host: host, Port: 22,
		AdminUser: "root", HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGvalid", CreateTime: time.Date(2026, 11, 22, 17, 42, 53, 0, time.UTC)},
		AdminKey: []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nadmin\n-----END OPENSSH PRIVATE KEY-----\n")}
}

func addInstances(t *testing.T, s *Store, rows ...*InstanceRow) {
	t.Helper()
	err := s.Write(context.Background(), func(tx *Tx) error {
		for _, r := range rows {
			if err := tx.InsertInstance(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func setLabels(t *testing.T, s *Store, sec *SecretRow, l model.Labels) {
	t.Helper()
	err := s.Write(context.Background(), func(tx *Tx) error {
		old, err := tx.Labels(sec.ID)
		if err != nil {
			return err
		}
		return tx.SetLabels(sec.ID, old, l)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rawExec edits the store file with plain SQL, as an attacker with write
// access to kms.db (and no master key) would.
func rawExec(t *testing.T, path, q string, args ...any) {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	res, err := raw.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s: no row changed", q)
	}
}

func readInstance(s *Store, id string) (*InstanceRow, error) {
	var r *InstanceRow
	err := s.Read(context.Background(), func(tx *Tx) error {
		var err error
		r, err = tx.Instance(id)
		return err
	})
	return r, err
}

func readLabels(s *Store, id int64) (model.Labels, error) {
	var l model.Labels
	err := s.Read(context.Background(), func(tx *Tx) error {
		var err error
		l, err = tx.Labels(id)
		return err
	})
	return l, err
}

func TestInstanceRowEditedOutsideRefused(t *testing.T) {
	for _, c := range []struct{ name, q string }{
		{"host", "UPDATE instances SET host = '203.0.113.66' WHERE instance_id = 'i-web1'"},
		{"port", "UPDATE instances SET port = 2222 WHERE instance_id = 'i-web1'"},
		{"admin user", "UPDATE instances SET admin_user = 'mallory' WHERE instance_id = 'i-web1'"},
		{"host key", "UPDATE instances SET host_key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvil' WHERE instance_id = 'i-web1'"},
		{"region", "UPDATE instances SET region = 'cn-shanghai' WHERE instance_id = 'i-web1'"},
		{"mac blanked", "UPDATE instances SET mac = x'' WHERE instance_id = 'i-web1'"},
		{"mac of another row", "UPDATE instances SET mac = (SELECT mac FROM instances WHERE instance_id = 'i-db1') WHERE instance_id = 'i-web1'"},
		{"row swapped", "UPDATE instances SET host = (SELECT host FROM instances WHERE instance_id = 'i-db1'), mac = (SELECT mac FROM instances WHERE instance_id = 'i-db1') WHERE instance_id = 'i-web1'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "kms.db")
			s, err := Open(path, "")
			if err != nil {
				t.Fatal(err)
			}
			addInstances(t, s, testInstance("i-web1", "192.0.2.10"), testInstance("i-db1", "192.0.2.20"))
			if r, err := readInstance(s, "i-web1"); err != nil || r.Host != "192.0.2.10" {
				t.Fatalf("untouched row: %v %v", r, err)
			}
			s.Close()

			rawExec(t, path, c.q)

			s, err = Open(path, "")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r, err := readInstance(s, "i-web1")
			if r != nil || !errors.Is(err, ErrRowAuth) {
				t.Fatalf("edited row: got %+v, %v; want ErrRowAuth", r, err)
			}
			want := "instance i-web1: stored row fails authentication (edited outside kmsconsole?)"
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "re-add it") {
				t.Errorf("error %q does not say %q and what to do", err, want)
			}
			err = s.Read(context.Background(), func(tx *Tx) error { _, err := tx.Instances(""); return err })
			if !errors.Is(err, ErrRowAuth) {
				t.Errorf("listing with an edited row: %v, want ErrRowAuth", err)
			}
			if r, err := readInstance(s, "i-db1"); err != nil || r.Host != "192.0.2.20" || !bytes.Contains(r.AdminKey, []byte("admin")) {
				t.Errorf("the other, untouched instance: %+v %v", r, err)
			}
		})
	}
}

func TestStageLabelMovedOutsideRefused(t *testing.T) {
	for _, c := range []struct{ name, q, names string }{
		{"ACSCurrent rolled back", "UPDATE stages SET version_id = 'v1' WHERE stage = 'ACSCurrent' AND secret_id = (SELECT id FROM secrets WHERE name = 'app/db')",
			"secret app/db stage label ACSCurrent (version v1)"},
		{"label added", "INSERT INTO stages (secret_id, stage, version_id, mac) SELECT secret_id, 'MyLabel', 'v1', mac FROM stages WHERE stage = 'ACSCurrent' AND secret_id = (SELECT id FROM secrets WHERE name = 'app/db')",
			"secret app/db stage label MyLabel (version v1)"},
		{"label renamed", "UPDATE stages SET stage = 'ACSPending' WHERE stage = 'ACSPrevious' AND secret_id = (SELECT id FROM secrets WHERE name = 'app/db')",
			"secret app/db stage label ACSPending (version v1)"},
		{"mac blanked", "UPDATE stages SET mac = x'' WHERE stage = 'ACSCurrent' AND secret_id = (SELECT id FROM secrets WHERE name = 'app/db')",
			"secret app/db stage label ACSCurrent (version v2)"},
		{"label of another secret", "UPDATE stages SET mac = (SELECT mac FROM stages WHERE stage = 'ACSCurrent' AND secret_id = (SELECT id FROM secrets WHERE name = 'app/other')) WHERE stage = 'ACSCurrent' AND secret_id = (SELECT id FROM secrets WHERE name = 'app/db')",
			"secret app/db stage label ACSCurrent (version v2)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kms.db")
			s, err := Open(path, "")
			if err != nil {
				t.Fatal(err)
			}
			sec := addSecret(t, s, "app/db", map[string]string{"v1": "old", "v2": "new"})
			other := addSecret(t, s, "app/other", map[string]string{"v2": "x"})
			setLabels(t, s, sec, model.Labels{model.StageCurrent: "v2", model.StagePrevious: "v1"})
			setLabels(t, s, other, model.Labels{model.StageCurrent: "v2"})
			if l, err := readLabels(s, sec.ID); err != nil || l[model.StageCurrent] != "v2" {
				t.Fatalf("untouched labels: %v %v", l, err)
			}
			s.Close()

			rawExec(t, path, c.q)

			s, err = Open(path, "")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			l, err := readLabels(s, sec.ID)
			if l != nil || !errors.Is(err, ErrRowAuth) {
				t.Fatalf("moved label: got %v, %v; want ErrRowAuth", l, err)
			}
			if want := c.names + ": stored row fails authentication (edited outside kmsconsole?)"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			// A write that starts from the labels is refused too.
			werr := s.Write(context.Background(), func(tx *Tx) error {
				old, err := tx.Labels(sec.ID)
				if err != nil {
					return err
				}
				return tx.SetLabels(sec.ID, old, model.Labels{model.StageCurrent: "v1"})
			})
			if !errors.Is(werr, ErrRowAuth) {
				t.Errorf("write after the edit: %v, want ErrRowAuth", werr)
			}
			if l, err := readLabels(s, other.ID); err != nil || l[model.StageCurrent] != "v2" {
				t.Errorf("the other secret's labels: %v %v", l, err)
			}
		})
	}
}

// Labels moved by kmsconsole itself keep verifying, and deleting a label
// (SetLabels) or a version (cascade) leaves the rest verifiable.
func TestLabelsAuthenticatedThroughChanges(t *testing.T) {
	s := openTemp(t)
	sec := addSecret(t, s, "app/db", map[string]string{"v1": "a", "v2": "b", "v3": "c"})
	setLabels(t, s, sec, model.Labels{model.StageCurrent: "v1"})
	setLabels(t, s, sec, model.Labels{model.StageCurrent: "v2", model.StagePrevious: "v1", "MyLabel": "v3"})
	setLabels(t, s, sec, model.Labels{model.StageCurrent: "v3", model.StagePrevious: "v2"})
	if err := s.Write(context.Background(), func(tx *Tx) error { return tx.DeleteVersions(sec.ID, []string{"v1"}) }); err != nil {
		t.Fatal(err)
	}
	l, err := readLabels(s, sec.ID)
	if err != nil || len(l) != 2 || l[model.StageCurrent] != "v3" || l[model.StagePrevious] != "v2" {
		t.Fatalf("labels %v, %v", l, err)
	}
}

// legacyMigrations is the schema before rows were authenticated.
func legacyMigrations(t *testing.T) []string {
	for i, m := range sqliteMigrations {
		if strings.Contains(m, "ADD COLUMN mac") {
			return sqliteMigrations[:i]
		}
	}
	t.Fatal("no registry MAC migration")
	return nil
}

// makeLegacyStore writes a store as kmsconsole wrote it before migration 4:
// encrypted values, stage labels and an instance, no MACs.
func makeLegacyStore(t *testing.T, dir string) (path string, key []byte) {
	t.Helper()
	path = filepath.Join(dir, "kms.db")
	key = bytes.Repeat([]byte{0x5a}, masterKeySize)
	if err := os.WriteFile(filepath.Join(dir, "master.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	seal, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	old := legacyMigrations(t)
	stmts := []string{"PRAGMA journal_mode=WAL"}
	stmts = append(stmts, old...)
	stmts = append(stmts, "PRAGMA user_version="+strconv.Itoa(len(old)),
		`INSERT INTO secrets (id, name, type, region, data_type, create_time, update_time, version_seq) VALUES (1, 'app/db', 'Generic', 'cn-hangzhou', 'text', 1, 1, 2)`)
	for _, q := range stmts {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i, v := range []string{"v1", "v2"} {
		blob, _ := seal.seal(nil, []byte("value-"+v), secretBinding("app/db", v))
		if _, err := raw.Exec("INSERT INTO versions (secret_id, version_id, seq, create_time, data_type, ciphertext) VALUES (1, ?, ?, 1, 'text', ?)", v, i+1, blob); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec("INSERT INTO stages (secret_id, stage, version_id) VALUES (1, 'ACSCurrent', 'v2'), (1, 'ACSPrevious', 'v1')"); err != nil {
		t.Fatal(err)
	}
	in := testInstance("i-web1", "192.0.2.10")
	blob, _ := seal.seal(nil, in.AdminKey, instanceBinding(in.InstanceId))
	if _, err := raw.Exec("INSERT INTO instances (instance_id, name, region, host, port, admin_user, admin_key, host_key, create_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		in.InstanceId, in.InstanceName, in.RegionId, in.Host, in.Port, in.AdminUser, blob, in.HostKey, unix(in.CreateTime)); err != nil {
		t.Fatal(err)
	}
	return path, key
}

// A store from before row authentication migrates, gets its rows sealed
// once with the master key (an audited step), and reads as before; from
// then on an edited or blanked row is refused.
func TestLegacyStoreMigratesSealsAndReads(t *testing.T) {
	dir := t.TempDir()
	path, _ := makeLegacyStore(t, dir)
	s, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	var v int
	s.r.QueryRow("PRAGMA user_version").Scan(&v)
	if v != len(sqliteMigrations) {
		t.Fatalf("user_version %d, want %d", v, len(sqliteMigrations))
	}
	sec := &SecretRow{ID: 1, Secret: model.Secret{Name: "app/db"}}
	l, err := readLabels(s, 1)
	if err != nil || l[model.StageCurrent] != "v2" || l[model.StagePrevious] != "v1" {
		t.Fatalf("labels after migration: %v, %v", l, err)
	}
	in, err := readInstance(s, "i-web1")
	if err != nil || in.Host != "192.0.2.10" || !bytes.Contains(in.AdminKey, []byte("admin")) {
		t.Fatalf("instance after migration: %+v, %v", in, err)
	}
	err = s.Read(context.Background(), func(tx *Tx) error {
		val, err := tx.Version(sec, "v2")
		if err == nil && val.Data != "value-v2" {
			t.Errorf("v2 reads back wrong (%d bytes)", len(val.Data))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var audit []model.AuditEvent
	s.Read(context.Background(), func(tx *Tx) error { audit, err = tx.AuditEvents(0, "AuthenticateRegistry"); return err })
	if len(audit) != 1 || !strings.Contains(audit[0].Detail, "1 instance row(s) and 2 stage label(s)") {
		t.Errorf("the sealing step is not audited once: %+v", audit)
	}
	var markers int
	s.r.QueryRow("SELECT count(*) FROM meta").Scan(&markers)
	if markers != 0 {
		t.Errorf("the unsealed marker is still there")
	}
	s.Close()

	// Sealed for good: reopening does not seal again, and a blanked MAC is
	// now tampering, not "not yet authenticated".
	s, err = Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Read(context.Background(), func(tx *Tx) error { audit, err = tx.AuditEvents(0, "AuthenticateRegistry"); return err })
	if len(audit) != 1 {
		t.Errorf("sealed twice: %d audit events", len(audit))
	}
	s.Close()
	rawExec(t, path, "UPDATE stages SET mac = x'', version_id = 'v1' WHERE stage = 'ACSCurrent'")
	rawExec(t, path, "UPDATE instances SET host = '203.0.113.66'")
	s, err = Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := readLabels(s, 1); !errors.Is(err, ErrRowAuth) || !strings.Contains(err.Error(), "fails authentication") {
		t.Errorf("blanked label after sealing: %v", err)
	}
	if _, err := readInstance(s, "i-web1"); !errors.Is(err, ErrRowAuth) || !strings.Contains(err.Error(), "fails authentication") {
		t.Errorf("edited instance after sealing: %v", err)
	}
}

// Opened without its master key, a legacy store still migrates, but its
// unsealed rows are refused as not yet authenticated (never used unchecked)
// until the store is opened with its key.
func TestLegacyStoreWithoutKeyWaitsForIt(t *testing.T) {
	dir := t.TempDir()
	path, _ := makeLegacyStore(t, dir)
	kp := filepath.Join(dir, "master.key")
	if err := os.Rename(kp, kp+".bak"); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readLabels(s, 1); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("labels without the key: %v", err)
	}
	s.Close()
	// The wrong key does not seal them either.
	other := filepath.Join(dir, "other.key")
	os.WriteFile(other, bytes.Repeat([]byte{1}, masterKeySize), 0o600)
	s, err = Open(path, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readInstance(s, "i-web1"); !errors.Is(err, ErrRowAuth) || !strings.Contains(err.Error(), "not authenticated yet") {
		t.Errorf("instance with a wrong key: %v", err)
	}
	s.Close()
	if err := os.Rename(kp+".bak", kp); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if l, err := readLabels(s, 1); err != nil || l[model.StageCurrent] != "v2" {
		t.Errorf("labels with the key back: %v %v", l, err)
	}
	if _, err := readInstance(s, "i-web1"); err != nil {
		t.Errorf("instance with the key back: %v", err)
	}
}
