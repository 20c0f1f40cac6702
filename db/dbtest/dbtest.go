// Package dbtest gives tests a fresh store on the backend the test run
// chose: a SQLite file by default, or, with KMSCONSOLE_TEST_BACKEND=postgres,
// a schema of its own for each test in the PostgreSQL database whose URL
// KMSCONSOLE_TEST_POSTGRES holds (scripts/test-all starts a throwaway
// cluster and runs the packages once per backend: the backend matrix).
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make schemas
)

// Environment of a test run.
const (
	EnvPostgres = "KMSCONSOLE_TEST_POSTGRES" // URL of a throwaway database
	EnvBackend  = "KMSCONSOLE_TEST_BACKEND"  // "postgres" runs the matrix's second column
)

// Postgres reports whether this test run puts its stores on PostgreSQL.
func Postgres() bool { return os.Getenv(EnvBackend) == "postgres" }

// PostgresURL is the throwaway database of the run, for tests that need
// PostgreSQL whatever the backend of the run. Without one such a test
// skips on a developer's machine and fails under CI=true.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvPostgres)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: the test script starts PostgreSQL for this test (scripts/pg-cluster)", EnvPostgres)
		}
		t.Skipf("needs PostgreSQL: set %s (scripts/pg-cluster start DIR prints a URL)", EnvPostgres)
	}
	return u
}

// Backend names the backend of this run, for messages.
func Backend() string {
	if Postgres() {
		return "PostgreSQL"
	}
	return "SQLite"
}

var keyDirOnce sync.Once

// Locator returns what --db takes for a fresh, empty store of this test: a
// path in t.TempDir(), or a PostgreSQL URL whose search_path is a schema
// made for the test and dropped when it ends.
//
// On PostgreSQL the master key lives in the default data directory, which
// this package points at a temporary directory of the test process
// (XDG_DATA_HOME), so that db.Open(locator, "") never touches the user's.
func Locator(t testing.TB) string {
	t.Helper()
	if !Postgres() {
		return filepath.Join(t.TempDir(), "kms.db")
	}
	base := PostgresURL(t)
	keyDirOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kmsconsole-pgtest-")
		if err == nil {
			err = os.Setenv("XDG_DATA_HOME", dir)
		}
		if err != nil {
			panic(err)
		}
	})
	return Schema(t, base)
}

// Schema makes a schema of its own in the database at base for t, dropped
// when t ends, and returns base with search_path set to it.
func Schema(t testing.TB, base string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("dbtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("dbtest: the URL in %s does not parse", EnvPostgres)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// SQLiteOnly skips a test about the SQLite file itself (its permissions, a
// read-only mount, bytes changed under SQLite) when the run uses
// PostgreSQL, where there is no such file. It never skips on SQLite.
func SQLiteOnly(t testing.TB, why string) {
	t.Helper()
	if Postgres() {
		t.Skipf("about the SQLite file (%s); this run uses PostgreSQL", why)
	}
}
