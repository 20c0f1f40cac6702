package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"kmsconsole/db/dbtest"
)

// Store and key trust, end to end: what an operator sees from the CLI when
// the master key or the store directory is open to other users, and when
// the store cannot be written.

// TestStoreTrustCLIHelper is not a test: TestReadOnlyStoreThroughTheCLI
// runs this binary again as another user, and it then runs the command line
// in KMSCLI_ARGS (JSON) and exits with its code.
func TestStoreTrustCLIHelper(t *testing.T) {
	raw := os.Getenv("KMSCLI_ARGS")
	if raw == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		os.Exit(100)
	}
	env := &Env{Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr, DBPath: os.Getenv("KMSCLI_DB"), Region: "cn-hangzhou"}
	os.Exit(Run(args, env))
}

// TestMasterKeyTrustThroughTheCLI: a master key that group or others can
// read, or that another user owns, is refused with the command that fixes
// it, and no value is shown. On PostgreSQL the key lives in the data
// directory (--data-dir), not beside the store.
func TestMasterKeyTrustThroughTheCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := filepath.Join(dir, "kms.db")
	var dataDir []string
	if dbtest.Postgres() {
		p = dbtest.Locator(t)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		dataDir = []string{"--data-dir", dir}
	}
	// runIn and mustRunIn are run and mustRun in the data directory.
	runIn := func(t testing.TB, p string, args ...string) (string, string, int) {
		t.Helper()
		return run(t, p, append(dataDir, args...)...)
	}
	mustRunIn := func(t testing.TB, p string, args ...string) map[string]any {
		t.Helper()
		return mustRun(t, p, append(dataDir, args...)...)
	}
	mustRunIn(t, p, "kms", "CreateSecret", "--SecretName", "app/db", "--SecretData", "s3cret-value", "--VersionId", "v1")
	kp := filepath.Join(dir, "master.key")

	os.Chmod(kp, 0o644)
	_, stderr, code := runIn(t, p, "kms", "GetSecretValue", "--SecretName", "app/db")
	if code != 1 || !strings.Contains(stderr, "Run: chmod 600 "+kp) || strings.Contains(stderr, "s3cret-value") {
		t.Errorf("key 0644: exit %d, stderr %s", code, stderr)
	}
	os.Chmod(kp, 0o600)

	if os.Geteuid() == 0 {
		os.Chown(kp, 65534, 65534)
		_, stderr, code = runIn(t, p, "kms", "GetSecretValue", "--SecretName", "app/db")
		if code != 1 || !strings.Contains(stderr, "is owned by nobody") || !strings.Contains(stderr, "chown root "+kp) {
			t.Errorf("key owned by nobody: exit %d, stderr %s", code, stderr)
		}
		os.Chown(kp, 0, 0)
	}
	if out := mustRunIn(t, p, "kms", "GetSecretValue", "--SecretName", "app/db"); out["SecretData"] != "s3cret-value" {
		got, _ := out["SecretData"].(string)
		t.Errorf("with the key fixed the value does not read back (%d bytes)", len(got))
	}
}

// TestStoreDirectoryTrustThroughTheCLI: a store directory that group or
// others can write is refused with the command that fixes it.
func TestStoreDirectoryTrustThroughTheCLI(t *testing.T) {
	dbtest.SQLiteOnly(t, "the directory checked is the one that holds kms.db and its master key, checked when the SQLite file is opened")
	dir := filepath.Join(t.TempDir(), "data")
	p := filepath.Join(dir, "kms.db")
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "app/db", "--SecretData", "s3cret-value", "--VersionId", "v1")

	os.Chmod(dir, 0o770)
	_, stderr, code := run(t, p, "kms", "ListSecrets")
	if code != 1 || !strings.Contains(stderr, "Run: chmod 700 "+dir) {
		t.Errorf("directory 0770: exit %d, stderr %s", code, stderr)
	}
	os.Chmod(dir, 0o700)
	if out := mustRun(t, p, "kms", "GetSecretValue", "--SecretName", "app/db"); out["SecretData"] != "s3cret-value" {
		got, _ := out["SecretData"].(string)
		t.Errorf("with the directory fixed the value does not read back (%d bytes)", len(got))
	}
}

// A store its user cannot write (here: kms.db 0400 in a 0500 directory, run
// as nobody, since root ignores permission bits) lists and describes, and a
// change is refused with a message that says the store is read-only, not
// SQLite's "attempt to write a readonly database".
func TestReadOnlyStoreThroughTheCLI(t *testing.T) {
	dbtest.SQLiteOnly(t, "read-only here is kms.db 0400 in a 0500 directory, run as nobody; a PostgreSQL store has no file, what it may write is the database role's grants")
	base, err := os.MkdirTemp("", "kmscli-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(base, "data"), 0o700); os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	dir := filepath.Join(base, "data")
	p := filepath.Join(dir, "kms.db")
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "app/db", "--SecretData", "s3cret-value", "--VersionId", "v1")
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		filepath.Walk(dir, func(f string, _ os.FileInfo, err error) error {
			if err == nil {
				os.Lchown(f, 65534, 65534)
			}
			return err
		})
	}
	os.Chmod(filepath.Join(dir, "master.key"), 0o400)
	os.Chmod(p, 0o400)
	os.Chmod(dir, 0o500)
	exe, _ := os.Executable()
	bin := filepath.Join(base, "cli.test")
	copyExe(t, exe, bin)

	runAs := func(args ...string) (string, string, int) {
		t.Helper()
		a, _ := json.Marshal(args)
		cmd := exec.Command(bin, "-test.run=^TestStoreTrustCLIHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "KMSCLI_ARGS="+string(a), "KMSCLI_DB="+p, "KMSCONSOLE_MASTER_KEY_FILE=", "HOME="+base)
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	out, stderr, code := runAs("kms", "ListSecrets")
	if code != 0 || !strings.Contains(out, `"app/db"`) {
		t.Errorf("ListSecrets on a read-only store: exit %d\n%s\n%s", code, out, stderr)
	}
	out, stderr, code = runAs("kms", "DescribeSecret", "--SecretName", "app/db")
	if code != 0 || !strings.Contains(out, `"app/db"`) {
		t.Errorf("DescribeSecret on a read-only store: exit %d\n%s\n%s", code, out, stderr)
	}
	_, stderr, code = runAs("kms", "PutSecretValue", "--SecretName", "app/db", "--VersionId", "v2", "--SecretData", "new-value")
	if code != 1 || !strings.Contains(stderr, "the store "+p+" is read-only") || strings.Contains(stderr, "attempt to write") ||
		!strings.Contains(stderr, "Forbidden.NoPermission") {
		t.Errorf("PutSecretValue on a read-only store: exit %d\n%s", code, stderr)
	}
	t.Logf("PutSecretValue on a read-only store: exit %d %s", code, strings.TrimSpace(stderr))
	// A value read is audited, and the audit record cannot be written to a
	// read-only store: the read does not happen (an action that cannot be
	// audited does not happen); metadata reads above still work.
	out, stderr, code = runAs("kms", "GetSecretValue", "--SecretName", "app/db")
	if code != 1 || strings.Contains(out+stderr, "s3cret-value") || !strings.Contains(stderr, "is read-only") ||
		!strings.Contains(stderr, "Forbidden.NoPermission") || !strings.Contains(stderr, "audited") {
		t.Errorf("GetSecretValue on a read-only store: exit %d\n%s\n%s", code, out, stderr)
	}
	t.Logf("GetSecretValue on a read-only store: exit %d %s", code, strings.TrimSpace(stderr))
}

func copyExe(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
