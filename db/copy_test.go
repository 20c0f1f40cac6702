package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

// copyFixture is what fillForCopy wrote, to read back from a copy.
type copyFixture struct {
	values   map[string]map[string]string // secret → VersionId → value
	current  map[string]string            // secret → ACSCurrent VersionId
	adminKey []byte
	akSecret []byte
	akPrev   []byte
}

// fillForCopy gives a store a bit of everything: secrets with several
// versions and stage labels (one with automatic rotation wanted, a
// boolean on PostgreSQL), one planned for deletion, an instance with its
// encrypted admin key, operators, access keys (one with a previous
// secret, one without: an empty BLOB), audit events, a rotation record,
// a lease.
func fillForCopy(t *testing.T, s *Store) copyFixture {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC)
	f := copyFixture{values: map[string]map[string]string{}, current: map[string]string{},
		adminKey: []byte("-----BEGIN OPENSSH PRIVATE KEY-----\ncopy-admin-key\n-----END OPENSSH PRIVATE KEY-----\n"),
		akSecret: []byte("ak-secret-copy-1"), akPrev: []byte("ak-secret-copy-0")}
	err := s.Write(ctx, func(tx *Tx) error {
		if err := tx.InsertInstance(&InstanceRow{Instance: model.Instance{InstanceId: "i-web1", InstanceName: "web 1", RegionId: "cn-hangzhou",
			Host: "10.0.0.7", Port: 2222, AdminUser: "root", HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIcopy", CreateTime: now}, AdminKey: f.adminKey}); err != nil {
			return err
		}
		for i, name := range []string{"app/db", "app/api", "ecs/web1-app", "old/one"} {
			row := &SecretRow{Secret: model.Secret{Name: name, Type: model.Generic, RegionId: "cn-hangzhou", DataType: model.DataText,
				Description: "secret " + name, CreateTime: now.Add(time.Duration(i) * time.Minute), UpdateTime: now,
				AutomaticRotation: model.RotationDisabled}}
			if name == "ecs/web1-app" {
				row.Type, row.InstanceId, row.AutomaticRotation, row.AutoWanted = model.ECS, "i-web1", model.RotationEnabled, true
				row.RotationInterval = int64((7 * 24 * time.Hour).Seconds())
				row.ExtendedConfig = `{"InstanceId":"i-web1","UserName":"app"}`
			}
			var err error
			if row.ID, err = tx.InsertSecret(row); err != nil {
				return err
			}
			f.values[name] = map[string]string{}
			labels := model.Labels{}
			for v := 1; v <= 3; v++ {
				vid := fmt.Sprintf("v%d", v)
				val := fmt.Sprintf(`{"user":"u%d","password":"copy-%s-%d"}`, i, strings.ReplaceAll(name, "/", "-"), v)
				if err := tx.InsertVersion(row, vid, val, model.DataText, now.Add(time.Duration(v)*time.Hour)); err != nil {
					return err
				}
				f.values[name][vid] = val
			}
			labels[model.StageCurrent], labels[model.StagePrevious], labels["MyPendingLabel"] = "v3", "v2", "v1"
			f.current[name] = "v3"
			if err := tx.SetLabels(row.ID, nil, labels); err != nil {
				return err
			}
			if name == "old/one" {
				row.PlannedDeleteTime = now.Add(7 * 24 * time.Hour)
				if err := tx.UpdateSecret(row); err != nil {
					return err
				}
			}
		}
		for _, o := range []model.Operator{
			{Name: "alice", PublicKey: "ssh-ed25519 AAAAalice", Role: model.RoleAdmin, CreateTime: now},
			{Name: "bob", PublicKey: "ssh-ed25519 AAAAbob", Role: model.RoleReadonly, CreateTime: now},
		} {
			if err := tx.InsertOperator(o); err != nil {
				return err
			}
		}
		if err := tx.PutAccessKey(&AccessKeyRow{AccessKey: model.AccessKey{AccessKeyId: "LTAIcopy0001", Name: "fleet", Status: model.AccessKeyEnabled,
			Policy: `{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`, CreateTime: now, CreatedBy: "alice",
			SecretRotated: now.Add(time.Hour), PreviousSecretUntil: now.Add(25 * time.Hour)}, Secret: f.akSecret, PreviousSecret: f.akPrev}); err != nil {
			return err
		}
		if err := tx.PutAccessKey(&AccessKeyRow{AccessKey: model.AccessKey{AccessKeyId: "LTAIcopy0002", Name: "ci", Status: "Disabled",
			Policy: `{"Statement":[]}`, CreateTime: now, CreatedBy: "alice", SecretRotated: now}, Secret: []byte("ak-ci")}); err != nil {
			return err
		}
		for i := range 5 {
			if err := tx.Audit(model.AuditEvent{Time: now.Add(time.Duration(i) * time.Second), Operator: "alice", Action: "PutSecretValue",
				Target: "app/db", VersionId: fmt.Sprintf("v%d", i), Result: "Success", RequestId: fmt.Sprintf("req-%d", i), Detail: "fixture"}); err != nil {
				return err
			}
		}
		if err := tx.RecordRotation("ecs/web1-app", now); err != nil {
			return err
		}
		_, err := tx.AcquireLease("rotate:ecs/web1-app", "host-a:1234", now, now.Add(time.Minute))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkCopyValues reads every value of the fixture back from s.
func checkCopyValues(t *testing.T, s *Store, f copyFixture) {
	t.Helper()
	ctx := context.Background()
	for name, versions := range f.values {
		read, err := s.ReadSecret(ctx, name, "", model.StageCurrent)
		if err != nil || read == nil || read.Version == nil {
			t.Fatalf("%s: read ACSCurrent from the copy %s: %v", name, s.Backend(), err)
		}
		if read.Version.VersionId != f.current[name] || read.Version.Data != versions[f.current[name]] || len(read.Labels) != 3 {
			t.Fatalf("%s: the copy's ACSCurrent is %s (labels %v), want %s with its value", name, read.Version.VersionId, read.Labels, f.current[name])
		}
		if name == "ecs/web1-app" && !read.Secret.AutoWanted {
			t.Fatalf("%s: AutoWanted lost in the copy", name)
		}
		err = s.Read(ctx, func(tx *Tx) error {
			sec, err := tx.SecretByName(name)
			if err != nil {
				return err
			}
			for vid, want := range versions {
				v, err := tx.Version(sec, vid)
				if err != nil {
					return err
				}
				if v == nil || v.Data != want {
					return fmt.Errorf("version %s of %s differs in the copy", vid, name)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.Read(ctx, func(tx *Tx) error {
		inst, err := tx.Instance("i-web1")
		if err != nil {
			return err
		}
		if inst == nil || string(inst.AdminKey) != string(f.adminKey) || inst.Port != 2222 {
			return fmt.Errorf("instance i-web1 differs in the copy")
		}
		ak, err := tx.AccessKey("fleet")
		if err != nil {
			return err
		}
		if ak == nil || string(ak.Secret) != string(f.akSecret) || string(ak.PreviousSecret) != string(f.akPrev) {
			return fmt.Errorf("access key fleet differs in the copy")
		}
		ak, err = tx.AccessKey("ci")
		if err != nil {
			return err
		}
		if ak == nil || string(ak.Secret) != "ak-ci" || ak.PreviousSecret != nil {
			return fmt.Errorf("access key ci differs in the copy")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// auditRows are the raw rows of the audit log, ids included, in id order.
func auditRows(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.r.Query("SELECT * FROM audit ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustDump(t *testing.T, s *Store) string {
	t.Helper()
	d, err := s.Dump()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// withoutKeyCheck is a dump without the master-key check a shared store
// records for itself (a copy never carries it).
func withoutKeyCheck(dump string) string {
	var keep []string
	for _, l := range strings.SplitAfter(dump, "\n") {
		if !strings.HasPrefix(l, "meta ["+keyCheckMeta+" ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

func openAt(t *testing.T, loc, key string) *Store {
	t.Helper()
	s, err := Open(loc, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// roundTrip copies a filled SQLite store to mid and from there to a new
// SQLite file, and checks that every step keeps every row, the audit log
// with its ids, and every value readable under the same key.
func roundTrip(t *testing.T, mid string) {
	ctx := context.Background()
	dir := t.TempDir()
	a, key := filepath.Join(dir, "a", "kms.db"), filepath.Join(dir, "a", "master.key")
	sa := openAt(t, a, "")
	f := fillForCopy(t, sa)
	dumpA, auditA := mustDump(t, sa), auditRows(t, sa)
	sa.Close()

	start := time.Now()
	rep, err := CopyStore(ctx, CopyOptions{From: a, To: mid, Operator: "copy-tester", RequestId: "req-copy-1"})
	if err != nil {
		t.Fatalf("copy SQLite to %s: %v", locatorName(mid), err)
	}
	t.Logf("SQLite → %s: %v, rows %v", rep.ToBackend, time.Since(start).Round(time.Millisecond), rep.Rows)
	if rep.Rows["versions"] != 12 || rep.Rows["audit"] != int64(len(auditA)) || rep.KeyPath != key {
		t.Fatalf("report %+v", rep)
	}
	sm := openAt(t, mid, key)
	if got := withoutKeyCheck(mustDump(t, sm)); got != dumpA {
		t.Fatalf("the %s copy's dump differs:\n%s\nwant\n%s", sm.Backend(), got, dumpA)
	}
	auditM := auditRows(t, sm)
	if len(auditM) != len(auditA)+1 || strings.Join(auditM[:len(auditA)], "\n") != strings.Join(auditA, "\n") {
		t.Fatalf("the copy's audit log does not start with the source's rows, ids kept:\n%s\nwant\n%s", strings.Join(auditM, "\n"), strings.Join(auditA, "\n"))
	}
	var ev model.AuditEvent
	sm.Read(ctx, func(tx *Tx) error {
		evs, err := tx.AuditEvents(1, "")
		if len(evs) == 1 {
			ev = evs[0]
		}
		return err
	})
	if ev.Action != "CopyStore" || ev.Operator != "copy-tester" || ev.RequestId != "req-copy-1" || !strings.Contains(ev.Detail, a) {
		t.Fatalf("the copy is not audited in the destination: %+v", ev)
	}
	checkCopyValues(t, sm, f)

	// New rows continue after the copied ids instead of colliding with them.
	var id int64
	err = sm.Write(ctx, func(tx *Tx) error {
		var err error
		row := &SecretRow{Secret: model.Secret{Name: "after/copy", Type: model.Generic, RegionId: "cn-hangzhou", DataType: model.DataText,
			CreateTime: time.Unix(1, 0), UpdateTime: time.Unix(1, 0), AutomaticRotation: model.RotationDisabled}}
		if id, err = tx.InsertSecret(row); err != nil {
			return err
		}
		if err := tx.DeleteSecret(id); err != nil {
			return err
		}
		return tx.Audit(model.AuditEvent{Time: time.Unix(2, 0), Operator: "t", Action: "Probe", Result: "Success"})
	})
	if err != nil || id != 5 {
		t.Fatalf("a new secret in the copy: id %d, %v (want 5, after the 4 copied)", id, err)
	}
	auditM = auditRows(t, sm)
	if !strings.HasPrefix(auditM[len(auditM)-1], fmt.Sprint(len(auditA)+2)) {
		t.Fatalf("a new audit event in the copy: %s", auditM[len(auditM)-1])
	}
	// Take the probe away again, so that the way back starts from the copy.
	if _, err := sm.w.Exec(sm.sql("DELETE FROM audit WHERE action = ?"), "Probe"); err != nil {
		t.Fatal(err)
	}
	auditM = auditRows(t, sm)
	sm.Close()

	b := filepath.Join(dir, "b", "kms.db")
	if _, err := CopyStore(ctx, CopyOptions{From: mid, FromKey: key, To: b, Operator: "copy-tester"}); err != nil {
		t.Fatalf("copy %s back to SQLite: %v", locatorName(mid), err)
	}
	sb := openAt(t, b, key)
	defer sb.Close()
	if got := mustDump(t, sb); got != dumpA {
		t.Fatalf("the round trip's dump differs:\n%s\nwant\n%s", got, dumpA)
	}
	auditB := auditRows(t, sb)
	if len(auditB) != len(auditM)+1 || strings.Join(auditB[:len(auditM)], "\n") != strings.Join(auditM, "\n") {
		t.Fatalf("the round trip's audit log:\n%s\nwant it to start with\n%s", strings.Join(auditB, "\n"), strings.Join(auditM, "\n"))
	}
	checkCopyValues(t, sb, f)
	if fi, err := os.Stat(b); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the new SQLite store: %v %v", fi.Mode(), err)
	}
}

func TestStoreCopySQLiteToSQLite(t *testing.T) {
	roundTrip(t, filepath.Join(t.TempDir(), "mid", "kms.db"))
}

func TestStoreCopySQLiteToPostgresAndBack(t *testing.T) {
	url := dbtest.Schema(t, dbtest.PostgresURL(t))
	roundTrip(t, url)
}

// A copy into a store that holds anything is refused, names what is there,
// and changes nothing; so are a key that is not the source's, a source
// that does not exist and a copy of a store onto itself.
func TestStoreCopyRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, key := filepath.Join(dir, "a", "kms.db"), filepath.Join(dir, "a", "master.key")
	sa := openAt(t, a, "")
	fillForCopy(t, sa)
	sa.Close()

	dests := map[string]string{"SQLite": filepath.Join(dir, "full", "kms.db")}
	if os.Getenv(dbtest.EnvPostgres) != "" || os.Getenv("CI") == "true" {
		dests["PostgreSQL"] = dbtest.Schema(t, dbtest.PostgresURL(t))
	}
	for kind, dest := range dests {
		sd := openAt(t, dest, key)
		addSecret(t, sd, "already/here", map[string]string{"v1": "x"})
		before, auditBefore := mustDump(t, sd), auditRows(t, sd)
		sd.Close()
		_, err := CopyStore(ctx, CopyOptions{From: a, To: dest})
		var ne *NotEmptyError
		if !errors.Is(err, ErrDestinationNotEmpty) || !errors.As(err, &ne) || !strings.Contains(err.Error(), "secrets (1 row)") ||
			!strings.Contains(err.Error(), "versions (1 row)") || !strings.Contains(err.Error(), "changed nothing") {
			t.Fatalf("%s: copy into a store with a secret: %v", kind, err)
		}
		if kind == "PostgreSQL" && strings.Contains(err.Error(), passwordOf(dest)) {
			t.Fatalf("the refusal shows the password")
		}
		sd = openAt(t, dest, key)
		if after := mustDump(t, sd); after != before || strings.Join(auditRows(t, sd), "\n") != strings.Join(auditBefore, "\n") {
			t.Fatalf("%s: the refused copy changed the destination:\n%s\nwas\n%s", kind, after, before)
		}
		sd.Close()
	}

	other := filepath.Join(dir, "other.key")
	if _, err := createKey(other); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh", "kms.db")
	for _, tc := range []struct {
		name string
		o    CopyOptions
		want error
	}{
		{"another key", CopyOptions{From: a, To: fresh, ToKey: other}, ErrKeyMismatch},
		{"a key that does not exist", CopyOptions{From: a, To: fresh, ToKey: filepath.Join(dir, "none.key")}, ErrKeyMismatch},
		{"the same file", CopyOptions{From: a, To: filepath.Join(dir, "a", ".", "kms.db")}, ErrSameStore},
		{"no source", CopyOptions{From: filepath.Join(dir, "missing", "kms.db"), To: fresh}, fs.ErrNotExist},
		{"no source key", CopyOptions{From: a, FromKey: filepath.Join(dir, "none.key"), To: fresh}, nil},
	} {
		_, err := CopyStore(ctx, tc.o)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if _, serr := os.Stat(fresh); serr == nil {
			t.Fatalf("%s: the refused copy left %s behind", tc.name, fresh)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a copy from a missing store made a directory for it")
	}
}

// A table the copy has never heard of comes along too: its columns are
// read from each catalog, a BOOLEAN column is converted by its type, and
// ids that an AUTOINCREMENT table (or an identity sequence) has handed out
// are not handed out again in the copy, even when their rows are gone.
func TestStoreCopyGenericTableAndSequences(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, key := filepath.Join(dir, "a", "kms.db"), filepath.Join(dir, "a", "master.key")
	pg := dbtest.Schema(t, dbtest.PostgresURL(t))
	b := filepath.Join(dir, "b", "kms.db")
	const sqliteExtra = `CREATE TABLE extra (id INTEGER PRIMARY KEY AUTOINCREMENT, flag BOOLEAN NOT NULL, note TEXT NOT NULL DEFAULT '', blob BLOB NOT NULL DEFAULT x'')`
	const pgExtra = `CREATE TABLE extra (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, flag BOOLEAN NOT NULL, note TEXT NOT NULL DEFAULT '', blob BYTEA NOT NULL DEFAULT ''::bytea)`
	for _, st := range []struct{ loc, ddl string }{{a, sqliteExtra}, {pg, pgExtra}, {b, sqliteExtra}} {
		s := openAt(t, st.loc, key)
		if _, err := s.w.Exec(st.ddl); err != nil {
			t.Fatal(err)
		}
		if st.loc == a {
			if _, err := createKey(key); err != nil {
				t.Fatal(err)
			}
			for i, flag := range []int{1, 0, 1} {
				if _, err := s.w.Exec("INSERT INTO extra (flag, note) VALUES (?, ?)", flag, fmt.Sprint("row ", i+1)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.w.Exec("DELETE FROM extra WHERE id = 3"); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
	}
	next := func(loc string) (id int64, flags string) {
		s := openAt(t, loc, key)
		defer s.Close()
		if err := s.w.QueryRow(s.sql("INSERT INTO extra (flag) VALUES (?) RETURNING id"), true).Scan(&id); err != nil {
			t.Fatal(err)
		}
		rows, err := s.r.Query("SELECT flag FROM extra ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var f bool
			rows.Scan(&f)
			flags += fmt.Sprint(f, " ")
		}
		if _, err := s.w.Exec(s.sql("DELETE FROM extra WHERE id = ?"), id); err != nil {
			t.Fatal(err)
		}
		return id, flags
	}
	if _, err := CopyStore(ctx, CopyOptions{From: a, To: pg}); err != nil {
		t.Fatal(err)
	}
	if id, flags := next(pg); id != 4 || flags != "true false true " {
		t.Fatalf("PostgreSQL copy: next id %d (want 4: 3 was handed out before), flags %s", id, flags)
	}
	if _, err := CopyStore(ctx, CopyOptions{From: pg, FromKey: key, To: b}); err != nil {
		t.Fatal(err)
	}
	if id, flags := next(b); id != 5 || flags != "true false true " {
		t.Fatalf("SQLite copy: next id %d (want 5: 4 was handed out before), flags %s", id, flags)
	}
}

// A copy taken while 8 writers go on holds one consistent state of the
// source: whole transactions only, every value decrypting under the key.
func TestStoreCopyUnderConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, key := filepath.Join(dir, "live", "kms.db"), filepath.Join(dir, "live", "master.key")
	wrote, stop := startMirroredWriters(t, p)
	dests := []string{filepath.Join(dir, "copy", "kms.db")}
	if os.Getenv(dbtest.EnvPostgres) != "" || os.Getenv("CI") == "true" {
		dests = append(dests, dbtest.Schema(t, dbtest.PostgresURL(t)))
	}
	var during []int64
	for k, dest := range dests {
		for wrote.Load() < int64(40*(k+1)) {
			time.Sleep(5 * time.Millisecond)
		}
		start := time.Now()
		if _, err := CopyStore(ctx, CopyOptions{From: p, To: dest}); err != nil {
			t.Fatalf("copy while writers run: %v", err)
		}
		during = append(during, wrote.Load())
		t.Logf("copy to %s while writers run: %v", locatorName(dest), time.Since(start).Round(time.Millisecond))
	}
	final := stop()
	for k, dest := range dests {
		s := openAt(t, dest, key)
		n := checkMirrored(t, s)
		s.Close()
		if n == 0 || int64(n) > during[k] || int64(n) >= final {
			t.Fatalf("the copy to %s holds %d writer transactions; %d were committed when it ended, %d in all", locatorName(dest), n, during[k], final)
		}
	}
}
