package dbtest

import (
	"database/sql"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" driver, for the file behind a path
)

// Raw opens the database behind a store locator with database/sql, for
// tests that change it behind the store's back (a row edited without the
// master key, a trigger that makes audit inserts fail): the "sqlite" driver
// on a SQLite path, or the "pgx" driver on a PostgreSQL URL, whose
// search_path is the test's schema. It is closed when t ends; closing it
// earlier is fine.
func Raw(t testing.TB, locator string) *sql.DB {
	t.Helper()
	driver, dsn := "sqlite", "file:"+locator+"?_pragma=busy_timeout(10000)"
	if strings.HasPrefix(locator, "postgres://") || strings.HasPrefix(locator, "postgresql://") {
		driver, dsn = "pgx", locator
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("dbtest: open the store directly: %v", err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}
