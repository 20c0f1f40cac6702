package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The whole-process benchmarks compare `kmsconsole kms GetSecretValue` (start,
// open the store, read, decrypt, print JSON) with the sqlite3 CLI reading the
// one row from the same store. Goal: within 1.5x of sqlite3.
//
// BenchmarkProcessSQLiteDriverFloor runs the same query through the smallest
// Go program built on modernc.org/sqlite (testdata/sqlitefloor): the time no
// code of ours can remove while the store driver is the pure-Go one.

func processBenchStore(b *testing.B) (bin, dbPath string) {
	dir := b.TempDir()
	bin = filepath.Join(dir, "kmsconsole")
	build := exec.Command("go", "build", "-o", bin, "kmsconsole")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatal(err)
	}
	dbPath = filepath.Join(dir, "kms.db")
	for i := 0; i < 200; i++ {
		name := "app/s" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if _, _, code := run(b, dbPath, "kms", "CreateSecret", "--SecretName", name, "--SecretData", "value-0123456789", "--VersionId", "v1"); code != 0 {
			b.Fatal("seed failed")
		}
	}
	return bin, dbPath
}

func BenchmarkProcessGetSecretValue(b *testing.B) {
	bin, dbPath := processBenchStore(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "kms", "GetSecretValue", "--SecretName", "app/sha")
		cmd.Env = append(os.Environ(), "KMSCONSOLE_DB="+dbPath)
		if out, err := cmd.Output(); err != nil || len(out) == 0 {
			b.Fatalf("%v", err)
		}
	}
}

func BenchmarkProcessSqlite3OneRow(b *testing.B) {
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		b.Skip("sqlite3 not installed (the README test command installs it)")
	}
	_, dbPath := processBenchStore(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(sqlite3, dbPath, currentCiphertextQuery)
		if out, err := cmd.Output(); err != nil || len(out) == 0 {
			b.Fatalf("%v", err)
		}
	}
}

// currentCiphertextQuery is the one row a GetSecretValue of app/sha reads.
const currentCiphertextQuery = "SELECT hex(v.ciphertext) FROM versions v JOIN secrets s ON s.id = v.secret_id JOIN stages st ON st.secret_id = v.secret_id AND st.version_id = v.version_id WHERE s.name = 'app/sha' AND st.stage = 'ACSCurrent'"

func BenchmarkProcessSQLiteDriverFloor(b *testing.B) {
	_, dbPath := processBenchStore(b)
	floor := filepath.Join(b.TempDir(), "sqlitefloor")
	build := exec.Command("go", "build", "-o", floor, "./testdata/sqlitefloor")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(floor, dbPath, currentCiphertextQuery)
		if out, err := cmd.Output(); err != nil || len(out) == 0 {
			b.Fatalf("%v", err)
		}
	}
}
