package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresBackend is a PostgreSQL database that several kmsconsole
// processes, on several machines, share. Writers run SERIALIZABLE and lose
// to each other with a serialization failure, which Store.Write retries;
// nothing of that reaches the user.
type postgresBackend struct {
	s *Store
	// password is the URL's password, kept only to scrub it from any error
	// text a driver might echo.
	password string
}

// IsPostgresURL reports whether a store locator names a PostgreSQL
// database rather than a SQLite file.
func IsPostgresURL(locator string) bool {
	return strings.HasPrefix(locator, "postgres://") || strings.HasPrefix(locator, "postgresql://")
}

// RedactURL is a PostgreSQL URL without its password (in the user part or
// as a password= parameter), fit for messages and logs.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "postgres://(an unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Pool sizes per process: writes are short transactions (no SSH inside
// one), reads serve the API's concurrent clients.
const (
	pgWriters = 8
	pgReaders = 32
)

// openPostgres connects to the database at raw (a postgres:// URL).
func openPostgres(raw, keyPath string) (*Store, error) {
	redacted := RedactURL(raw)
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		// The parser's message may quote the URL: say what is wrong
		// without it.
		return nil, fmt.Errorf("the PostgreSQL URL %s is not valid: %s", redacted, scrub(err.Error(), passwordOf(raw)))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if keyPath == "" {
		keyPath = filepath.Join(DefaultDataDir(), "master.key")
	}
	s := &Store{Path: redacted, KeyPath: keyPath}
	b := &postgresBackend{s: s, password: cfg.Password}
	s.b = b
	s.w = sql.OpenDB(stdlib.GetConnector(*cfg))
	s.w.SetMaxOpenConns(pgWriters)
	s.w.SetMaxIdleConns(pgWriters)
	s.r = sql.OpenDB(stdlib.GetConnector(*cfg))
	s.r.SetMaxOpenConns(pgReaders)
	s.r.SetMaxIdleConns(pgReaders)
	for _, pool := range []*sql.DB{s.w, s.r} {
		pool.SetConnMaxIdleTime(5 * time.Minute)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ConnectTimeout+time.Second)
	defer cancel()
	if err := s.w.PingContext(ctx); err != nil {
		s.Close()
		return nil, b.unreachable(err)
	}
	return s, nil
}

// passwordOf is the password of a URL, "" when there is none.
func passwordOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if pw, ok := u.User.Password(); ok {
		return pw
	}
	return u.Query().Get("password")
}

// scrub removes a password from text.
func scrub(text, password string) string {
	if password == "" {
		return text
	}
	return strings.ReplaceAll(text, password, "xxxxx")
}

func (*postgresBackend) name() string { return "PostgreSQL" }

// shared: replicas on several machines use one database.
func (*postgresBackend) shared() bool { return true }

// rebind turns the store's ? placeholders into $1, $2, … (outside quoted
// literals and identifiers).
func (*postgresBackend) rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (*postgresBackend) contains(expr string) string { return "strpos(" + expr + ", ?) > 0" }

// preparesItself: pgx prepares each query once per connection and caches
// it. Preparing on the reader pool from inside a read transaction would
// moreover wait for a second connection of a bounded pool, which the
// other reads may all hold, each waiting in turn: a deadlock.
func (*postgresBackend) preparesItself() bool { return true }

// textOrder: the database's collation (en_US.UTF-8, say) would put
// "app/a" before "app/B" and skip punctuation; "C" compares bytes.
func (*postgresBackend) textOrder(expr string) string { return expr + ` COLLATE "C"` }

// beginRead: several statements of one read see one snapshot.
func (*postgresBackend) beginRead(ctx context.Context, r *sql.DB) (*sql.Tx, error) {
	return r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
}

// beginWrite: SERIALIZABLE, so concurrent writers (in this process or in
// another replica) behave as if one ran after the other, or one fails with
// a serialization failure and is run again.
func (*postgresBackend) beginWrite(ctx context.Context, w *sql.DB) (*sql.Tx, error) {
	return w.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
}

// retry: serialization failures and deadlocks are contention (even at
// commit: the transaction was rolled back). A connection lost before the
// commit wrote nothing and can be retried; one lost during the commit
// leaves its outcome unknown, so it is reported, not repeated.
func (*postgresBackend) retry(err error, committing bool) retryKind {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01") {
		return retryContention
	}
	if !committing && connectionLost(err) {
		return retryConnection
	}
	return retryNever
}

// connectionLost reports an error that means the database could not be
// reached or the connection broke: PostgreSQL down, restarting, or the
// network in between.
func connectionLost(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-57P03: the server is
		// shutting down, crashed, or still starting.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "connection reset")
}

// storeError is an error of the database, told in the store's own words,
// with any password scrubbed from the driver's text; the driver's error
// stays in the chain.
type storeError struct {
	msg string
	err error
}

func (e *storeError) Error() string { return e.msg }
func (e *storeError) Unwrap() error { return e.err }

// unreachable names the store (without its password) and says what to do.
func (b *postgresBackend) unreachable(err error) error {
	return &storeError{err: err, msg: fmt.Sprintf("the PostgreSQL store %s cannot be reached: %s; check that PostgreSQL runs and accepts "+
		"this user (kmsconsole reconnects by itself once it does)", b.s.Path, scrub(err.Error(), b.password))}
}

// writeFailed says a lost connection in the store's words; a commit whose
// connection broke may or may not have been applied, and the error says so.
func (b *postgresBackend) writeFailed(err error) error {
	if err == nil || !connectionLost(err) {
		return b.scrubbed(err)
	}
	if strings.HasPrefix(err.Error(), "commit: ") {
		return &storeError{err: err, msg: fmt.Sprintf("the connection to the PostgreSQL store %s broke while a change was being committed: "+
			"it may or may not have been made; look before you repeat it (%s)", b.s.Path, scrub(err.Error(), b.password))}
	}
	return b.unreachable(err)
}

func (b *postgresBackend) readFailed(err error) error {
	if err != nil && connectionLost(err) {
		return b.unreachable(err)
	}
	return b.scrubbed(err)
}

// scrubbed is err with the password taken out of its text, when it was there.
func (b *postgresBackend) scrubbed(err error) error {
	if err == nil || b.password == "" || !strings.Contains(err.Error(), b.password) {
		return err
	}
	return &storeError{err: err, msg: scrub(err.Error(), b.password)}
}

// pgMigrationLock is the advisory lock that serialises replicas migrating
// one database at the same time.
const pgMigrationLock = 0x6b6d73 // "kms"

// migrate applies the PostgreSQL migrations. It runs READ COMMITTED under
// an advisory lock, so a replica that waited for another sees its tables.
func (b *postgresBackend) migrate(ctx context.Context) error {
	tx, err := b.s.w.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", pgMigrationLock); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
		return err
	}
	var have int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(max(version), 0) FROM schema_version").Scan(&have); err != nil {
		return err
	}
	if have > len(postgresMigrations) {
		return fmt.Errorf("store schema version %d is newer than this kmsconsole (%d)", have, len(postgresMigrations))
	}
	if have == len(postgresMigrations) {
		return nil
	}
	for i := have; i < len(postgresMigrations); i++ {
		if _, err := tx.ExecContext(ctx, postgresMigrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM schema_version"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_version (version) VALUES ($1)", len(postgresMigrations)); err != nil {
		return err
	}
	return tx.Commit()
}
