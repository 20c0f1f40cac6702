// Package db is kmsconsole's SQLite store: schema migrations, transactions
// and encryption at rest. It knows SQL, nothing about the API or the UI.
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
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Store is one kmsconsole database file and its master key.
type Store struct {
	Path    string
	KeyPath string

	// Writes go through one connection opened with BEGIN IMMEDIATE, so
	// writers in this process queue in the pool and writers in other
	// processes wait on busy_timeout instead of failing half-way.
	w *sql.DB
	// Reads use their own pool and never block on writers (WAL).
	r *sql.DB

	keyOnce   sync.Once
	seal      *sealer
	keyErr    error
	checkOnce sync.Once
	checkErr  error
}

// busyTimeout is how long a statement waits for another process's lock.
const busyTimeout = 30 * time.Second

// DefaultPath is $XDG_DATA_HOME/kmsconsole/kms.db (or ~/.local/share/...).
func DefaultPath() string {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "kmsconsole", "kms.db")
}

// Open opens (creating if needed) the store at path, applies migrations, and
// arranges for the master key at keyPath ("" = master.key beside the store).
func Open(path, keyPath string) (*Store, error) {
	if keyPath == "" {
		keyPath = filepath.Join(filepath.Dir(path), "master.key")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create store directory: %w", err)
	}
	// Create the file ourselves so it is 0600 from the first byte; SQLite
	// gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	f.Close()

	dsn := func(txlock string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", txlock)
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	s := &Store{Path: path, KeyPath: keyPath}
	if s.r, err = sql.Open("sqlite", dsn("deferred")); err != nil {
		return nil, err
	}
	if s.w, err = sql.Open("sqlite", dsn("immediate")); err != nil {
		s.r.Close()
		return nil, err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxIdleTime(0)
	s.r.SetMaxIdleConns(4)
	if err := s.migrate(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate store %s: %w", path, err)
	}
	return s, nil
}

// Close closes both pools.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

func (s *Store) migrate(ctx context.Context) error {
	var have int
	if err := s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return err
	}
	if have == len(migrations) {
		return nil
	}
	if have > len(migrations) {
		return fmt.Errorf("store schema version %d is newer than this kmsconsole (%d)", have, len(migrations))
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
		for i := have; i < len(migrations); i++ {
			if _, err := tx.tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		_, err := tx.tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version=%d", len(migrations)))
		return err
	})
}

// cipher is the master key, loaded once; a key is created only for a store
// that holds no encrypted value yet: a store restored without its key, or a
// KMSCONSOLE_MASTER_KEY_FILE that points at the wrong file, must stop the
// process rather than get a fresh key.
func (s *Store) cipher() (*sealer, error) {
	s.keyOnce.Do(func() {
		key, err := readKey(s.KeyPath)
		if errors.Is(err, fs.ErrNotExist) {
			var sample *storedCiphertext
			if sample, err = s.sampleCiphertext(); err == nil && sample != nil {
				err = fmt.Errorf("master key %s does not exist, but the store %s holds encrypted values: "+
					"restore the key from your backup (or set KMSCONSOLE_MASTER_KEY_FILE to it); a new key could not read them", s.KeyPath, s.Path)
			}
			if err == nil {
				key, err = createKey(s.KeyPath)
			}
		}
		if err == nil {
			s.seal, err = newSealer(key)
		}
		s.keyErr = err
	})
	return s.seal, s.keyErr
}

// checkKey tells, once, whether the key opens a value already stored: a
// wrong key must not encrypt anything, or the store would mix two keys.
// Reads do not pay for it: a wrong key shows when their own value fails
// to open, and only then is the check made, to say why (decrypt).
func (s *Store) checkKey() error {
	seal, err := s.cipher()
	if err != nil {
		return err
	}
	s.checkOnce.Do(func() {
		sample, err := s.sampleCiphertext()
		if err == nil && sample != nil {
			if _, oerr := seal.open(sample.ciphertext, sample.binding); oerr != nil {
				err = fmt.Errorf("master key %s does not belong to the store %s, use the key it was created with: %w", s.KeyPath, s.Path, oerr)
			}
		}
		s.checkErr = err
	})
	return s.checkErr
}

// encrypt seals a value bound to binding, with a key checked against the store.
func (s *Store) encrypt(plaintext []byte, binding string) ([]byte, error) {
	if err := s.checkKey(); err != nil {
		return nil, err
	}
	return s.seal.seal(plaintext, binding)
}

// decrypt opens a stored value. When it does not open, the key is checked
// against the store, so that a wrong key is named as such.
func (s *Store) decrypt(ciphertext []byte, binding string) ([]byte, error) {
	seal, err := s.cipher()
	if err != nil {
		return nil, err
	}
	plain, err := seal.open(ciphertext, binding)
	if err != nil {
		if kerr := s.checkKey(); kerr != nil {
			return nil, kerr
		}
		return nil, err
	}
	return plain, nil
}

// storedCiphertext is one encrypted value of the store and its binding.
type storedCiphertext struct {
	ciphertext []byte
	binding    string
}

// sampleCiphertext returns one committed ciphertext of the store (a secret
// version, else an instance's admin key), or nil for a store without any.
// It reads through the reader pool: callers may hold the write transaction.
func (s *Store) sampleCiphertext() (*storedCiphertext, error) {
	var name, vid string
	var blob []byte
	err := s.r.QueryRow(`SELECT s.name, v.version_id, v.ciphertext FROM versions v JOIN secrets s ON s.id = v.secret_id LIMIT 1`).Scan(&name, &vid, &blob)
	if err == nil {
		return &storedCiphertext{blob, secretBinding(name, vid)}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("check the master key against the store: %w", err)
	}
	err = s.r.QueryRow(`SELECT instance_id, admin_key FROM instances LIMIT 1`).Scan(&name, &blob)
	if err == nil {
		return &storedCiphertext{blob, instanceBinding(name)}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("check the master key against the store: %w", err)
	}
	return nil, nil
}

// Tx is one transaction; every store operation is a method on it so the
// service can compose several into one atomic step.
type Tx struct {
	ctx context.Context
	tx  *sql.Tx
	s   *Store
}

// Read runs fn in a read transaction (a consistent snapshot).
func (s *Store) Read(ctx context.Context, fn func(*Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(&Tx{ctx: ctx, tx: tx, s: s})
}

// Write runs fn in a write transaction and commits it when fn returns nil.
// A lock held by another process beyond busy_timeout is retried, so callers
// never see "database is locked" under ordinary contention.
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) error {
	deadline := time.Now().Add(2 * busyTimeout)
	for attempt := 0; ; attempt++ {
		err := s.writeOnce(ctx, fn)
		if err == nil || !IsBusy(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
}

func (s *Store) writeOnce(ctx context.Context, fn func(*Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write: %w", err)
	}
	if err := fn(&Tx{ctx: ctx, tx: tx, s: s}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
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

func (t *Tx) exec(q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, q, args...)
}

func (t *Tx) query(q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(t.ctx, q, args...)
}

func (t *Tx) row(q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}
