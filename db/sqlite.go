package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteBackend is the embedded default: one file, WAL, one writer
// connection per process (BEGIN IMMEDIATE), readers that never wait.
type sqliteBackend struct{ s *Store }

// openSQLite opens (creating if needed) the store file at path.
//
// The directory that holds the store must be the caller's own and closed to
// group and others (see checkDataDir). When the store file or its directory
// cannot be written, the store is opened read-only: reads work, and every
// write returns a *ReadOnlyError.
func openSQLite(path, keyPath string) (*Store, error) {
	if keyPath == "" {
		keyPath = filepath.Join(filepath.Dir(path), "master.key")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create store directory: %w", err)
	}
	if err := checkDataDir(dir); err != nil {
		return nil, err
	}
	s := &Store{Path: path, KeyPath: keyPath}
	s.b = sqliteBackend{s}
	ro, err := readOnlyReason(path, dir)
	if err != nil {
		return nil, err
	}
	if ro != "" {
		s.readOnly = &ReadOnlyError{Path: path, Reason: ro}
		if err := s.openReadOnly(); err != nil {
			return nil, err
		}
	} else {
		// Create the file ourselves so it is 0600 from the first byte;
		// SQLite gives the -wal and -shm files the same mode.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		f.Close()
		if s.r, err = sql.Open("sqlite", s.dsn("deferred", nil)); err != nil {
			return nil, err
		}
		if s.w, err = sql.Open("sqlite", s.dsn("immediate", nil)); err != nil {
			s.r.Close()
			return nil, err
		}
		s.w.SetMaxOpenConns(1)
		s.w.SetMaxIdleConns(1)
		s.w.SetConnMaxIdleTime(0)
	}
	// Keep as many reader connections as requests read at once (the API
	// serves dozens of clients): opening one re-runs its pragmas and
	// re-reads the schema, and its prepared statements go with it.
	s.r.SetMaxIdleConns(maxIdleReaders)
	return s, nil
}

// maxIdleReaders bounds the reader connections kept open between reads.
const maxIdleReaders = 64

func (sqliteBackend) name() string { return "SQLite" }

// shared: a SQLite file is used by the processes of one machine.
func (sqliteBackend) shared() bool { return false }

// rebind: the store's queries are written with SQLite's ? placeholders.
func (sqliteBackend) rebind(q string) string { return q }

func (sqliteBackend) contains(expr string) string { return "instr(" + expr + ", ?) > 0" }

// preparesItself: modernc's SQLite parses every query it is given.
func (sqliteBackend) preparesItself() bool { return false }

// textOrder: SQLite's default collation, BINARY, compares bytes.
func (sqliteBackend) textOrder(expr string) string { return expr }

func (sqliteBackend) beginRead(ctx context.Context, r *sql.DB) (*sql.Tx, error) {
	return r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
}

// beginWrite: the writer pool's DSN makes every transaction BEGIN IMMEDIATE,
// so a busy store fails here, before fn runs.
func (sqliteBackend) beginWrite(ctx context.Context, w *sql.DB) (*sql.Tx, error) {
	return w.BeginTx(ctx, nil)
}

// retry: "database is locked" beyond busy_timeout is contention, to be
// waited out.
func (sqliteBackend) retry(err error, _ bool) retryKind {
	if IsBusy(err) {
		return retryContention
	}
	return retryNever
}

// IsBusy reports SQLite's "database is locked" / "busy" errors.
func IsBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return err != nil && strings.Contains(err.Error(), "database is locked")
}

// writeFailed turns SQLite's "attempt to write a readonly database" on a
// store opened writable (remounted read-only since, say) into the store's
// *ReadOnlyError, keeping SQLite's error in the chain.
func (b sqliteBackend) writeFailed(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_READONLY {
		base := filepath.Base(b.s.Path)
		return fmt.Errorf("%w (%w)", &ReadOnlyError{Path: b.s.Path,
			Reason: fmt.Sprintf("SQLite refuses to write to it; check that %s, %s-wal and %s-shm can be written", base, base, base)}, err)
	}
	return err
}

func (sqliteBackend) readFailed(err error) error { return err }

func (s *Store) dsn(txlock string, extra url.Values) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", txlock)
	for k, v := range extra {
		q[k] = append(q[k], v...)
	}
	return "file:" + (&url.URL{Path: s.Path}).EscapedPath() + "?" + q.Encode()
}

// readOnlyReason says why the store cannot be written ("" when it can):
// the kernel's own answer for the file and its directory, so a read-only
// mount, an immutable file and plain permissions all count, and root's
// bypass of permission bits too.
func readOnlyReason(path, dir string) (string, error) {
	unwritable := func(err error) bool {
		return errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EROFS)
	}
	err := syscall.Access(path, accessW)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil // to be created: Open says why if it cannot be
	case err != nil && unwritable(err):
		f, rerr := os.Open(path)
		if rerr != nil {
			return "", fmt.Errorf("open store %s: %w", path, rerr)
		}
		f.Close()
		return fmt.Sprintf("the file cannot be written (%v)", err), nil
	case err != nil:
		return "", fmt.Errorf("open store %s: %w", path, err)
	}
	if err := syscall.Access(dir, accessW|accessX); err != nil && unwritable(err) {
		return fmt.Sprintf("its directory %s cannot be written (%v), and SQLite keeps its journal there", dir, err), nil
	}
	return "", nil
}

// access(2) modes.
const (
	accessW = 0x2
	accessX = 0x1
)

// openReadOnly opens the reader pool of a read-only store; there is no
// writer pool. A WAL database needs its -shm file to be read under locking,
// and SQLite cannot create one in a directory it cannot write: when the
// write-ahead log holds nothing, the store is opened immutable (no locks, no
// -shm, nothing created beside it); when the log holds changes, they can
// only be read with locking, through an -shm file that exists or can be made.
func (s *Store) openReadOnly() error {
	extra := url.Values{"mode": {"ro"}}
	extra.Add("_pragma", "query_only(1)")
	walHasData := false
	if fi, err := os.Stat(s.Path + "-wal"); err == nil && fi.Size() > 0 {
		walHasData = true
	} else {
		extra.Set("immutable", "1")
	}
	var err error
	if s.r, err = sql.Open("sqlite", s.dsn("deferred", extra)); err != nil {
		return err
	}
	var v int
	if err := s.r.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		s.r.Close()
		if walHasData {
			return &readOnlyOpenError{err: err, msg: fmt.Sprintf("cannot read the store %s: it is read-only (%s), and its write-ahead log %s-wal holds changes "+
				"that SQLite can only read through %s-shm, which it cannot create there; open the store once where it can be written "+
				"(that folds the log into %s), or copy %s and %s-wal together to a writable directory: %v",
				s.Path, s.readOnly.Reason, s.Path, s.Path, filepath.Base(s.Path), filepath.Base(s.Path), filepath.Base(s.Path), err)}
		}
		return fmt.Errorf("open store %s read-only: %w", s.Path, err)
	}
	return nil
}

// migrate applies the SQLite sqliteMigrations; PRAGMA user_version counts them.
func (b sqliteBackend) migrate(ctx context.Context) error {
	s := b.s
	var have int
	if err := s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return err
	}
	if have == len(sqliteMigrations) {
		return nil
	}
	if have > len(sqliteMigrations) {
		return fmt.Errorf("store schema version %d is newer than this kmsconsole (%d)", have, len(sqliteMigrations))
	}
	if s.readOnly != nil {
		return &readOnlyOpenError{msg: fmt.Sprintf("cannot open the store %s: it is read-only (%s), and its schema (version %d) predates this kmsconsole (version %d), "+
			"which cannot upgrade it without writing: open it once where it can be written", s.Path, s.readOnly.Reason, have, len(sqliteMigrations))}
	}
	// WAL is a property of the file: set once, before the first migration.
	if _, err := s.w.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
		return fmt.Errorf("enable WAL: %w", err)
	}
	return s.Write(ctx, func(tx *Tx) error {
		// Re-read under the write lock: another process may have migrated.
		if err := tx.tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
			return err
		}
		for i := have; i < len(sqliteMigrations); i++ {
			if _, err := tx.tx.ExecContext(ctx, sqliteMigrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		_, err := tx.tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version=%d", len(sqliteMigrations)))
		return err
	})
}
