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
	"sync/atomic"
	"syscall"
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

	// readOnly is set when kms.db or its directory cannot be written:
	// reads work, every write is refused with it.
	readOnly *ReadOnlyError

	// stmts: statements prepared on the reader pool, by query text.
	stmts sync.Map

	keyOnce   sync.Once
	seal      *sealer
	mac       *macer
	keyErr    error
	checkOnce sync.Once
	checkErr  error
	// unsealed: registry rows written before migration 4 still wait for
	// their MAC (see sealLegacyRows).
	unsealed atomic.Bool
}

// ErrReadOnly is wrapped by every write refused because the store cannot be
// written (errors.Is(err, ErrReadOnly)); see ReadOnlyError.
var ErrReadOnly = errors.New("store is read-only")

// ReadOnlyError is a write refused because the store file, or the directory
// that holds it, cannot be written (a backup, a read-only mount).
type ReadOnlyError struct {
	Path   string
	Reason string
}

func (e *ReadOnlyError) Error() string {
	return fmt.Sprintf("the store %s is read-only: %s; it can be read, not changed", e.Path, e.Reason)
}

func (e *ReadOnlyError) Is(target error) bool { return target == ErrReadOnly }

// readOnlyOpenError is a read-only store that cannot even be opened.
type readOnlyOpenError struct {
	msg string
	err error
}

func (e *readOnlyOpenError) Error() string   { return e.msg }
func (e *readOnlyOpenError) Unwrap() []error { return []error{ErrReadOnly, e.err} }

// ReadOnly returns nil for a writable store, else the *ReadOnlyError that
// every write gets.
func (s *Store) ReadOnly() error {
	if s.readOnly == nil {
		return nil
	}
	return s.readOnly
}

// timeNow is the clock of the store's own audit events.
var timeNow = func() time.Time { return time.Now().UTC() }

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
//
// The directory that holds the store must be the caller's own and closed to
// group and others (see checkDataDir). When the store file or its directory
// cannot be written, the store is opened read-only: reads work, and every
// write returns a *ReadOnlyError.
func Open(path, keyPath string) (*Store, error) {
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
	if err := s.migrate(context.Background()); err != nil {
		s.Close()
		if errors.Is(err, ErrReadOnly) {
			return nil, err
		}
		return nil, fmt.Errorf("migrate store %s: %w", path, err)
	}
	if err := s.sealLegacyRows(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// maxIdleReaders bounds the reader connections kept open between reads.
const maxIdleReaders = 64

// dsn is the modernc URI of the store, with extra SQLite URI parameters.
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

// Close closes both pools.
func (s *Store) Close() error {
	s.stmts.Range(func(q, st any) bool {
		st.(*sql.Stmt).Close()
		s.stmts.Delete(q)
		return true
	})
	if s.w == nil {
		return s.r.Close()
	}
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
	if s.readOnly != nil {
		return &readOnlyOpenError{msg: fmt.Sprintf("cannot open the store %s: it is read-only (%s), and its schema (version %d) predates this kmsconsole (version %d), "+
			"which cannot upgrade it without writing: open it once where it can be written", s.Path, s.readOnly.Reason, have, len(migrations))}
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
		var sizeErr *keySizeError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			var sample *storedCiphertext
			if sample, err = s.sampleCiphertext(); err == nil && sample != nil {
				err = fmt.Errorf("master key %s does not exist, but the store %s holds encrypted values: "+
					"restore the key from your backup (or set KMSCONSOLE_MASTER_KEY_FILE to it); a new key could not read them", s.KeyPath, s.Path)
			}
			if err == nil && s.readOnly != nil {
				err = fmt.Errorf("master key %s does not exist, and the store %s is read-only (%s): no key is created for it", s.KeyPath, s.Path, s.readOnly.Reason)
			}
			if err == nil {
				key, err = createKey(s.KeyPath)
			}
		case errors.As(err, &sizeErr):
			// Never replaced here: a key cut short (a full disk under an
			// older kmsconsole) or the wrong file is the operator's call.
			var sample *storedCiphertext
			if sample, err = s.sampleCiphertext(); err == nil && sample != nil {
				err = fmt.Errorf("%v, and the store %s holds values encrypted under the original key: "+
					"restore master.key from your backup (or set KMSCONSOLE_MASTER_KEY_FILE to it); do not replace it with a new key", sizeErr, s.Path)
			} else if err == nil {
				err = fmt.Errorf("%v (a key file cut short, e.g. by a full disk, or not a kmsconsole key); "+
					"the store %s holds no encrypted value yet, so it can go: run rm %s and kmsconsole creates a new key on its next write",
					sizeErr, s.Path, shellQuote(s.KeyPath))
			}
		}
		if err == nil {
			s.seal, err = newSealer(key)
		}
		if err == nil {
			s.mac = newMacer(key)
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
	// read: a read transaction, on the reader pool, where statements on
	// hot paths are prepared once per connection (see queryPrepared).
	read bool
}

// Read runs fn in a read transaction (a consistent snapshot).
func (s *Store) Read(ctx context.Context, fn func(*Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(&Tx{ctx: ctx, tx: tx, s: s, read: true})
}

// Write runs fn in a write transaction and commits it when fn returns nil.
// A lock held by another process beyond busy_timeout is retried, so callers
// never see "database is locked" under ordinary contention.
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) error {
	if s.readOnly != nil {
		return s.readOnly
	}
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
		return s.readOnlyNow(fmt.Errorf("begin write: %w", err))
	}
	if err := fn(&Tx{ctx: ctx, tx: tx, s: s}); err != nil {
		tx.Rollback()
		return s.readOnlyNow(err)
	}
	if err := tx.Commit(); err != nil {
		return s.readOnlyNow(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// readOnlyNow turns SQLite's "attempt to write a readonly database" on a
// store opened writable (remounted read-only since, say) into the store's
// *ReadOnlyError, keeping SQLite's error in the chain.
func (s *Store) readOnlyNow(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_READONLY {
		base := filepath.Base(s.Path)
		return fmt.Errorf("%w (%w)", &ReadOnlyError{Path: s.Path,
			Reason: fmt.Sprintf("SQLite refuses to write to it; check that %s, %s-wal and %s-shm can be written", base, base, base)}, err)
	}
	return err
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

// queryPrepared is query for statements on hot paths: in a read
// transaction the statement is prepared once per reader connection instead
// of parsed at every call. (Not in a write transaction: preparing on the
// writer pool would wait for its one connection, which the transaction
// holds.)
func (t *Tx) queryPrepared(q string, args ...any) (*sql.Rows, error) {
	if !t.read {
		return t.query(q, args...)
	}
	st, err := t.s.readStmt(q)
	if err != nil {
		return t.query(q, args...)
	}
	return t.tx.StmtContext(t.ctx, st).QueryContext(t.ctx, args...)
}

// readStmt returns q prepared on the reader pool, preparing it once.
func (s *Store) readStmt(q string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.r.Prepare(q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

func (t *Tx) row(q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

// rowPrepared is row for statements on hot paths (see queryPrepared).
func (t *Tx) rowPrepared(q string, args ...any) *sql.Row {
	if !t.read {
		return t.row(q, args...)
	}
	st, err := t.s.readStmt(q)
	if err != nil {
		return t.row(q, args...)
	}
	return t.tx.StmtContext(t.ctx, st).QueryRowContext(t.ctx, args...)
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
