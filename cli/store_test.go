package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

// storeSecretValues are the values storeFill writes: secret → stage → value.
var storeSecretValues = map[string]map[string]string{
	"app/db":           {"ACSCurrent": `{"user":"app","password":"p3"}`, "ACSPrevious": `{"user":"app","password":"p2"}`, "MyPendingLabel": `{"user":"app","password":"p4"}`},
	"app/api":          {"ACSCurrent": "api-token-1"},
	"acs/ecs/web1/app": {"ACSCurrent": model.ECSData{UserName: "app", Password: "Xx1!copy-ecs"}.JSON()},
}

// storeFill gives a SQLite store, through the command line where it can,
// secrets with several versions and stage labels, operators and access
// keys; the instance and its managed secret (automatic rotation wanted: a
// boolean on PostgreSQL) are written directly, since adding an instance
// logs in to it.
func storeFill(t *testing.T, p string) {
	t.Helper()
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "app/db", "--SecretData", `{"user":"app","password":"p1"}`, "--VersionId", "v1")
	mustRun(t, p, "kms", "PutSecretValue", "--SecretName", "app/db", "--VersionId", "v2", "--SecretData", `{"user":"app","password":"p2"}`)
	mustRun(t, p, "kms", "PutSecretValue", "--SecretName", "app/db", "--VersionId", "v3", "--SecretData", `{"user":"app","password":"p3"}`)
	mustRun(t, p, "kms", "PutSecretValue", "--SecretName", "app/db", "--VersionId", "v4", "--SecretData", `{"user":"app","password":"p4"}`,
		"--VersionStages", `["MyPendingLabel"]`)
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "app/api", "--SecretData", "api-token-1", "--VersionId", "v1", "--Description", "the API's token")
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "old/one", "--SecretData", "bye", "--VersionId", "v1")
	mustRun(t, p, "kms", "DeleteSecret", "--SecretName", "old/one", "--RecoveryWindowInDays", "7")
	mustRunPlain(t, p, "operator", "add", "--name", "alice", "--key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMg4vwS1H3bCpV4a6xJvyVxHIHnfPk6ydnVbR4ZIwxKa", "--role", "admin")
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	mustRunPlain(t, p, "operator", "add", "--name", "bob", "--key", strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))))
	policy := `{"Statement":[{"Effect":"Allow","Action":"kms:GetSecretValue","Resource":"*"}]}`
	mustRunPlain(t, p, "accesskey", "create", "--name", "fleet", "--policy", policy)
	mustRunPlain(t, p, "accesskey", "rotate", "--name", "fleet", "--grace", "1h")
	mustRunPlain(t, p, "accesskey", "create", "--name", "ci", "--policy", policy)

	s, err := db.Open(p, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	err = s.Write(context.Background(), func(tx *db.Tx) error {
		if err := tx.InsertInstance(&db.InstanceRow{Instance: model.Instance{InstanceId: "i-web1", RegionId: "cn-hangzhou",
			Host: "127.0.0.1", Port: 2222, AdminUser: "root", HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMg4vwS1H3bCpV4a6xJvyVxHIHnfPk6ydnVbR4ZIwxKa", CreateTime: now},
			AdminKey: []byte("admin key of i-web1")}); err != nil {
			return err
		}
		cfg := model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: "i-web1", RegionId: "cn-hangzhou"}
		row := &db.SecretRow{Secret: model.Secret{Name: "acs/ecs/web1/app", Type: model.ECS, RegionId: "cn-hangzhou", DataType: model.DataText,
			ExtendedConfig: cfg.JSON(), CreateTime: now, UpdateTime: now, AutomaticRotation: model.RotationEnabled, AutoWanted: true,
			RotationInterval: int64((30 * 24 * time.Hour).Seconds()), LastRotationDate: now}, InstanceId: "i-web1"}
		if row.ID, err = tx.InsertSecret(row); err != nil {
			return err
		}
		if err := tx.InsertVersion(row, "v1", storeSecretValues["acs/ecs/web1/app"]["ACSCurrent"], model.DataText, now); err != nil {
			return err
		}
		return tx.SetLabels(row.ID, nil, model.Labels{model.StageCurrent: "v1"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// storeDump is Store.Dump of the store at loc opened with key, without the
// master-key check a PostgreSQL store records for itself (never copied).
func storeDump(t *testing.T, loc, key string) string {
	t.Helper()
	s, err := db.Open(loc, key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Dump()
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.SplitAfter(d, "\n") {
		if !strings.HasPrefix(l, "meta [master_key_check ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// storeAuditRows are the raw rows of a store's audit log, ids included,
// read with the database's own driver.
func storeAuditRows(t *testing.T, loc string) []string {
	t.Helper()
	driver, dsn := "sqlite", "file:"+loc+"?mode=ro"
	if db.IsPostgresURL(loc) {
		driver, dsn = "pgx", loc
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query("SELECT * FROM audit ORDER BY id")
	if err != nil {
		t.Fatalf("read the audit log: %v", err)
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
		out = append(out, fmt.Sprintf("%v", vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkStoreValues reads every value back through the CLI from the store at
// loc, whose master key lives in keyDir.
func checkStoreValues(t *testing.T, loc, keyDir string) {
	t.Helper()
	for name, stages := range storeSecretValues {
		for stage, want := range stages {
			got := mustRun(t, loc, "--data-dir", keyDir, "kms", "GetSecretValue", "--SecretName", name, "--VersionStage", stage)
			if got["SecretData"] != want {
				t.Fatalf("%s at %s on %s: the copy's value differs", name, stage, shownLocator(loc))
			}
		}
	}
	s, err := db.Open(loc, filepath.Join(keyDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Read(context.Background(), func(tx *db.Tx) error {
		inst, err := tx.Instance("i-web1")
		if err != nil || inst == nil || string(inst.AdminKey) != "admin key of i-web1" {
			return fmt.Errorf("instance i-web1 in the copy: %v", err)
		}
		ak, err := tx.AccessKey("fleet")
		if err != nil || ak == nil || len(ak.Secret) == 0 || len(ak.PreviousSecret) == 0 {
			return fmt.Errorf("access key fleet in the copy: %v", err)
		}
		sec, err := tx.SecretByName("acs/ecs/web1/app")
		if err != nil || sec == nil || !sec.AutoWanted {
			return fmt.Errorf("the ECS secret in the copy wants automatic rotation no more: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// noPassword fails the test when a password shows in output.
func noPassword(t *testing.T, pw string, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if pw != "" && strings.Contains(o, pw) {
			t.Fatal("a password of the PostgreSQL URL shows in the output")
		}
	}
}

func passwordOfURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}

// TestStoreCopyThroughTheCLI: `store copy` from SQLite to PostgreSQL and
// back, through cli.Run: every table and the audit log (ids and all) come
// through unchanged, values are read back on each copy with the one master
// key, and each destination records the copy.
func TestStoreCopyThroughTheCLI(t *testing.T) {
	pg := dbtest.Schema(t, dbtest.PostgresURL(t))
	pw := passwordOfURL(pg)
	xdg := t.TempDir() // where a PostgreSQL store's key is looked for by default: none there
	t.Setenv("XDG_DATA_HOME", xdg)
	t.Setenv("KMSCONSOLE_MASTER_KEY_FILE", "")
	dir := t.TempDir()
	a, keyDir := filepath.Join(dir, "a", "kms.db"), filepath.Join(dir, "a")
	storeFill(t, a)
	dumpA, auditA := storeDump(t, a, ""), storeAuditRows(t, a)

	start := time.Now()
	stdout, stderr, code := run(t, "", "store", "copy", "--from", a, "--to", pg)
	t.Logf("store copy SQLite → PostgreSQL: %v", time.Since(start).Round(time.Millisecond))
	noPassword(t, pw, stdout, stderr)
	if code != 0 {
		t.Fatalf("store copy to PostgreSQL: exit %d %s", code, stderr)
	}
	for _, want := range []string{`"ToBackend": "PostgreSQL"`, `"FromBackend": "SQLite"`, `"MasterKey": "` + filepath.Join(keyDir, "master.key"),
		`"versions": 7`, `"secrets": 4`, `"access_keys": 2`, `"operators": 2`, `"instances": 1`,
		"will look for the master key of", filepath.Join(xdg, "kmsconsole", "master.key") + ", which does not exist"} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("store copy's answer lacks %q:\n%s", want, stdout)
		}
	}
	if got := storeDump(t, pg, filepath.Join(keyDir, "master.key")); got != dumpA {
		t.Fatalf("the PostgreSQL copy's dump differs:\n%s\nwant\n%s", got, dumpA)
	}
	auditPG := storeAuditRows(t, pg)
	if len(auditPG) != len(auditA)+1 || strings.Join(auditPG[:len(auditA)], "\n") != strings.Join(auditA, "\n") {
		t.Fatalf("the PostgreSQL copy's audit log:\n%s\nwant it to start with\n%s", strings.Join(auditPG, "\n"), strings.Join(auditA, "\n"))
	}
	out, _, code := run(t, pg, "--data-dir", keyDir, "audit", "--filter", "CopyStore")
	noPassword(t, pw, out)
	if code != 0 || !strings.Contains(out, `"Operator":"`+service.LocalActor().Name+`"`) || !strings.Contains(out, a) || strings.Count(out, "\n") != 1 {
		t.Fatalf("the copy is not audited in the destination: %s", out)
	}
	checkStoreValues(t, pg, keyDir)

	b := filepath.Join(dir, "b", "kms.db")
	auditPG = storeAuditRows(t, pg) // the reads above are audited too
	stdout, stderr, code = run(t, "", "--data-dir", keyDir, "store", "copy", "--from", pg, "--to", b)
	noPassword(t, pw, stdout, stderr)
	if code != 0 || !strings.Contains(stdout, `"ToBackend": "SQLite"`) || strings.Contains(stdout, "Note") {
		t.Fatalf("store copy back to SQLite: exit %d %s%s", code, stdout, stderr)
	}
	if got := storeDump(t, b, filepath.Join(keyDir, "master.key")); got != dumpA {
		t.Fatalf("the round trip's dump differs:\n%s\nwant\n%s", got, dumpA)
	}
	auditB := storeAuditRows(t, b)
	if len(auditB) != len(auditPG)+1 || strings.Join(auditB[:len(auditPG)], "\n") != strings.Join(auditPG, "\n") {
		t.Fatalf("the round trip's audit log:\n%s\nwant it to start with\n%s", strings.Join(auditB, "\n"), strings.Join(auditPG, "\n"))
	}
	if !strings.Contains(auditB[len(auditB)-1], "CopyStore") || !strings.Contains(auditB[len(auditB)-1], db.RedactURL(pg)) {
		t.Fatalf("the copy back is not audited as one from the PostgreSQL store: %s", auditB[len(auditB)-1])
	}
	noPassword(t, pw, strings.Join(auditB, "\n"))
	checkStoreValues(t, b, keyDir)
}

// TestStoreCommandsBadInput: what `store copy` and `store backup` refuse,
// each with its code, changing nothing; no password is ever shown.
func TestStoreCommandsBadInput(t *testing.T) {
	t.Setenv("KMSCONSOLE_MASTER_KEY_FILE", "")
	dir := t.TempDir()
	a := filepath.Join(dir, "a", "kms.db")
	mustRun(t, a, "kms", "CreateSecret", "--SecretName", "s1", "--SecretData", "one", "--VersionId", "v1")
	full := filepath.Join(dir, "full", "kms.db")
	mustRun(t, full, "kms", "CreateSecret", "--SecretName", "other", "--SecretData", "x", "--VersionId", "v1")
	os.WriteFile(filepath.Join(dir, "other.key"), bytes.Repeat([]byte{7}, 32), 0o600)
	taken := filepath.Join(dir, "taken.db")
	os.WriteFile(taken, []byte("keep"), 0o600)
	fresh := filepath.Join(dir, "fresh", "kms.db")
	const pw = "n0t-a-real-pw-5531"
	pgURL := "postgres://kms:" + pw + "@127.0.0.1:1/kms"
	dumpA, dumpFull := dump(t, a), dump(t, full)

	cases := []struct {
		name string
		args []string
		code string
		msg  string
	}{
		{"copy without flags", []string{"store", "copy"}, "MissingParameter", "from"},
		{"copy without --to", []string{"store", "copy", "--from", a}, "MissingParameter", "to"},
		{"copy with an empty --to", []string{"store", "copy", "--from", a, "--to", ""}, "MissingParameter", "to"},
		{"copy onto itself", []string{"store", "copy", "--from", a, "--to", a}, "InvalidParameter", "same store"},
		{"copy onto itself by another path", []string{"store", "copy", "--from", a, "--to", filepath.Join(dir, "a", "..", "a", "kms.db")}, "InvalidParameter", "same store"},
		{"copy into a store with rows", []string{"store", "copy", "--from", a, "--to", full}, "Rejected.ResourceExist", "secrets (1 row), versions (1 row)"},
		{"copy from nowhere", []string{"store", "copy", "--from", filepath.Join(dir, "none", "kms.db"), "--to", fresh}, "InvalidParameter", "no store at"},
		{"copy with another key", []string{"store", "copy", "--from", a, "--to", fresh, "--to-key", filepath.Join(dir, "other.key")}, "InvalidParameter", "different keys"},
		{"copy with an unknown flag", []string{"store", "copy", "--from", a, "--to", fresh, "--force"}, "InvalidParameter", "--force"},
		{"copy from an unreachable PostgreSQL", []string{"--data-dir", filepath.Join(dir, "a"), "store", "copy", "--from", pgURL, "--to", fresh}, "InternalFailure", "cannot be reached"},
		{"backup without a file", []string{"store", "backup"}, "MissingParameter", "FILE"},
		{"backup to two files", []string{"store", "backup", "x.db", "y.db"}, "InvalidParameter", "one file"},
		{"backup over a file", []string{"store", "backup", taken}, "InvalidParameter", "never overwrites"},
		{"backup over the store", []string{"store", "backup", a}, "InvalidParameter", "never overwrites"},
		{"backup of a PostgreSQL store", []string{"--db", pgURL, "store", "backup", filepath.Join(dir, "pg.db")}, "InvalidParameter", "pg_dump"},
		{"backup of no store", []string{"--db", filepath.Join(dir, "none", "kms.db"), "store", "backup", filepath.Join(dir, "n.db")}, "InvalidParameter", "no store at"},
	}
	for _, tc := range cases {
		stdout, stderr, code := run(t, a, tc.args...)
		noPassword(t, pw, stdout, stderr)
		if code != 1 || stdout != "" {
			t.Errorf("%s: exit %d, stdout %q", tc.name, code, stdout)
			continue
		}
		gotCode, msg, _ := errorOf(t, stderr)
		if gotCode != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %s %q, want %s with %q", tc.name, gotCode, msg, tc.code, tc.msg)
		}
	}
	if dump(t, a) != dumpA || dump(t, full) != dumpFull {
		t.Fatal("a refused command changed a store")
	}
	for _, p := range []string{filepath.Dir(fresh), filepath.Join(dir, "pg.db"), filepath.Join(dir, "n.db"), filepath.Join(dir, "none")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a refused command left %s behind", p)
		}
	}
	if b, _ := os.ReadFile(taken); string(b) != "keep" {
		t.Fatal("backup changed an existing file")
	}

	// Over serve's SSH, store commands are the host's business only.
	s, err := db.Open(a, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc := service.New(s, service.Options{Region: "cn-hangzhou"})
	defer svc.Close()
	var out, errb bytes.Buffer
	if code := Run([]string{"store", "backup", filepath.Join(dir, "ssh.db")}, &Env{Stdout: &out, Stderr: &errb, Service: svc}); code != 1 {
		t.Fatalf("store backup over SSH: exit %d", code)
	}
	if c, _, _ := errorOf(t, errb.String()); c != model.CodeNoPermission {
		t.Fatalf("store backup over SSH: %s", errb.String())
	}
}

// TestStoreBackupThroughTheCLI: a snapshot taken through cli.Run opens as a
// store of its own, with the master key given by --data-dir, and holds the
// values; the store's audit log records the backup.
func TestStoreBackupThroughTheCLI(t *testing.T) {
	t.Setenv("KMSCONSOLE_MASTER_KEY_FILE", "")
	dir := t.TempDir()
	a, keyDir := filepath.Join(dir, "a", "kms.db"), filepath.Join(dir, "a")
	storeFill(t, a)
	if err := os.Mkdir(filepath.Join(dir, "backups"), 0o700); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "backups", "kms-monday.db")
	m := mustRunPlain(t, a, "store", "backup", snap)
	if m["Backup"] != snap || m["MasterKey"] != filepath.Join(keyDir, "master.key") || !strings.Contains(m["Note"].(string), "keep a copy of the key") {
		t.Fatalf("store backup answered %v", m)
	}
	if fi, err := os.Stat(snap); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the snapshot: %v", err)
	}
	if storeDump(t, snap, filepath.Join(keyDir, "master.key")) != storeDump(t, a, "") {
		t.Fatal("the snapshot's rows differ from the store's")
	}
	checkStoreValues(t, snap, keyDir)
	out, _, code := run(t, a, "audit", "--filter", "BackupStore")
	if code != 0 || !strings.Contains(out, snap) {
		t.Fatalf("the backup is not audited: %s", out)
	}
}
