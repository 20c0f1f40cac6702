// Package db is kmsconsole's store: schema migrations, transactions and
// encryption at rest, on an embedded SQLite file (the default) or a
// PostgreSQL database that several replicas share. It knows SQL, nothing
// about the API or the UI. What differs between the two is a backend
// (sqlite.go, postgres.go); everything else is written once.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Store is one kmsconsole database and its master key.
type Store struct {
	// Path names the store in messages: the SQLite file, or the
	// PostgreSQL URL without its password.
	Path    string
	KeyPath string

	b backend
	// w is the writer pool: on SQLite one connection opened with BEGIN
	// IMMEDIATE, so writers in this process queue in the pool and writers
	// in other processes wait on busy_timeout instead of failing
	// half-way; on PostgreSQL a few SERIALIZABLE connections.
	w *sql.DB
	// r is the reader pool; readers never block on writers.
	r *sql.DB
	// rebound: queries rewritten for the backend, by query text.
	rebound sync.Map

	// readOnly is set when kms.db or its directory cannot be written:
	// reads work, every write is refused with it.
	readOnly *ReadOnlyError

	// stmts: statements prepared on the reader pool, by query text.
	stmts sync.Map

	keyOnce sync.Once
	// ring: the master keys held (keyring.go), set once keyOnce has run
	// without error; reloadKeys replaces it.
	ring     atomic.Pointer[keyring]
	reloadMu sync.Mutex
	keyErr   error
	// keyChecked: the keys held open a value already stored (checkKey).
	keyChecked atomic.Bool
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

// Open opens (creating if needed) the store at locator, applies migrations,
// and arranges for the master key at keyPath. A postgres:// or
// postgresql:// URL is a PostgreSQL database (keyPath "" = master.key in
// DefaultDataDir); anything else is the path of a SQLite file (keyPath "" =
// master.key beside it).
func Open(locator, keyPath string) (*Store, error) {
	var s *Store
	var err error
	if IsPostgresURL(locator) {
		s, err = openPostgres(locator, keyPath)
	} else {
		s, err = openSQLite(locator, keyPath)
	}
	if err != nil {
		return nil, err
	}
	if err := s.b.migrate(context.Background()); err != nil {
		s.Close()
		if errors.Is(err, ErrReadOnly) {
			return nil, err
		}
		return nil, fmt.Errorf("migrate store %s: %w", s.Path, s.b.readFailed(err))
	}
	if err := s.sealLegacyRows(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	if s.b.shared() {
		// Replicas each hold a copy of the key: one that differs must stop
		// before it writes anything.
		if err := s.bindKey(context.Background()); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Backend names the kind of store: "SQLite" or "PostgreSQL".
func (s *Store) Backend() string { return s.b.name() }

// Shared reports a store that processes on several machines may use at
// once (PostgreSQL): a lease holder's process id says nothing there.
func (s *Store) Shared() bool { return s.b.shared() }

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

// keys loads the master key once, with the next key of a rotation under
// way; a key is created only for a store that holds no encrypted value yet:
// a store restored without its key, or a KMSCONSOLE_MASTER_KEY_FILE that
// points at the wrong file, must stop the process rather than get a fresh
// key.
func (s *Store) keys() (*keyring, error) {
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
			if recorded, rerr := s.keyRecorded(); err == nil && (rerr != nil || recorded) {
				err = rerr
				if err == nil {
					err = fmt.Errorf("master key %s does not exist, but the store %s was first written with a master key: "+
						"copy master.key from a replica that runs (or set KMSCONSOLE_MASTER_KEY_FILE to it); a new key could not read its values", s.KeyPath, s.Path)
				}
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
		var ring *keyring
		if err == nil {
			var k *masterKey
			if k, err = newMasterKey(key); err == nil {
				ring, err = loadNextKey(&keyring{primary: k, keys: []*masterKey{k}}, s.KeyPath)
			}
		}
		if err == nil {
			s.ring.Store(ring)
		}
		s.keyErr = err
	})
	return s.ring.Load(), s.keyErr
}

// checkKey tells, once, whether the key opens a value already stored: a
// wrong key must not encrypt anything, or the store would mix two keys.
// Reads do not pay for it: a wrong key shows when their own value fails
// to open, and only then is the check made, to say why (decrypt).
func (s *Store) checkKey() error {
	if _, err := s.keys(); err != nil {
		return err
	}
	if s.keyChecked.Load() {
		return nil
	}
	sample, err := s.sampleCiphertext()
	if err != nil || sample == nil {
		return err
	}
	if _, err := s.openValue(sample.ciphertext, sample.binding); err != nil {
		var missing *MissingKeyError
		if errors.As(err, &missing) && s.rotated() {
			return err
		}
		return fmt.Errorf("master key %s does not belong to the store %s, use the key it was created with: %w", s.KeyPath, s.Path, err)
	}
	// Only success is remembered: a key copied in later (a replica after a
	// rotation elsewhere) is taken without a restart.
	s.keyChecked.Store(true)
	return nil
}

// decrypt opens a stored value. When it does not open, the key is checked
// against the store, so that a wrong key is named as such.
func (s *Store) decrypt(ciphertext []byte, binding string) ([]byte, error) {
	if _, err := s.keys(); err != nil {
		return nil, err
	}
	plain, err := s.openValue(ciphertext, binding)
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
		return nil, fmt.Errorf("check the master key against the store: %w", s.b.readFailed(err))
	}
	err = s.r.QueryRow(`SELECT instance_id, admin_key FROM instances LIMIT 1`).Scan(&name, &blob)
	if err == nil {
		return &storedCiphertext{blob, instanceBinding(name)}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("check the master key against the store: %w", s.b.readFailed(err))
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
	// committed runs once the transaction has committed (OnCommit).
	committed []func()
	// key: the master key this transaction seals under (sealKey).
	key *masterKey
}

// OnCommit has fn run once this write transaction has committed, and never
// if it does not. Store.Write may run its function more than once (an
// attempt that lost to another writer is rolled back and run again): what
// must only be true of the attempt that committed, such as "the audit
// record is written", is said here rather than set inside the function.
func (t *Tx) OnCommit(fn func()) { t.committed = append(t.committed, fn) }

// Read runs fn in a read transaction (a consistent snapshot).
func (s *Store) Read(ctx context.Context, fn func(*Tx) error) error {
	tx, err := s.b.beginRead(ctx, s.r)
	if err != nil {
		return s.b.readFailed(fmt.Errorf("begin read: %w", err))
	}
	defer tx.Rollback()
	return s.b.readFailed(fn(&Tx{ctx: ctx, tx: tx, s: s, read: true}))
}

// retryKind is how a failed write transaction may be run again.
type retryKind int

const (
	retryNever      retryKind = iota
	retryContention           // lost to another writer: run it again
	retryConnection           // the connection broke before commit: nothing was written
)

// Write runs fn in a write transaction and commits it when fn returns nil.
// A transaction that loses to another writer (SQLite's lock held beyond
// busy_timeout, PostgreSQL's serialization failure) is run again, so
// callers never see contention; a connection lost before the commit is
// retried for a few seconds. fn may therefore run more than once: it must
// only assign, never accumulate, what it hands out.
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) error {
	if s.readOnly != nil {
		return s.readOnly
	}
	start := time.Now()
	for attempt := 0; ; attempt++ {
		committing, err := s.writeOnce(ctx, fn)
		if err == nil || ctx.Err() != nil {
			return err
		}
		limit := time.Duration(0)
		switch s.b.retry(err, committing) {
		case retryContention:
			limit = 2 * busyTimeout
		case retryConnection:
			limit = reconnectFor
		}
		if time.Since(start) > limit {
			return s.b.writeFailed(err)
		}
		pause := time.Duration(attempt+1) * 5 * time.Millisecond
		pause = min(pause, 250*time.Millisecond) + time.Duration(rand.Int64N(int64(5*time.Millisecond)))
		select {
		case <-ctx.Done():
			return s.b.writeFailed(err)
		case <-time.After(pause):
		}
	}
}

// reconnectFor is how long a write waits for a lost database connection to
// come back before it fails with a clear error.
const reconnectFor = 5 * time.Second

// writeOnce runs fn once; committing reports an error of the commit itself.
func (s *Store) writeOnce(ctx context.Context, fn func(*Tx) error) (committing bool, err error) {
	tx, err := s.b.beginWrite(ctx, s.w)
	if err != nil {
		return false, fmt.Errorf("begin write: %w", err)
	}
	t := &Tx{ctx: ctx, tx: tx, s: s}
	if err := fn(t); err != nil {
		tx.Rollback()
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return true, fmt.Errorf("commit: %w", err)
	}
	for _, f := range t.committed {
		f()
	}
	return false, nil
}

func (t *Tx) exec(q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, t.s.sql(q), args...)
}

func (t *Tx) query(q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(t.ctx, t.s.sql(q), args...)
}

// sql is q as the backend writes it (placeholders), rewritten once.
func (s *Store) sql(q string) string {
	if v, ok := s.rebound.Load(q); ok {
		return v.(string)
	}
	r := s.b.rebind(q)
	s.rebound.Store(q, r)
	return r
}

// queryPrepared is query for statements on hot paths: in a read
// transaction the statement is prepared once per reader connection instead
// of parsed at every call. (Not in a write transaction: preparing on the
// writer pool would wait for its one connection, which the transaction
// holds. Not on a backend whose driver prepares by itself: there the
// reader pool is bounded, and preparing on it would likewise wait for a
// connection that other reads hold.)
func (t *Tx) queryPrepared(q string, args ...any) (*sql.Rows, error) {
	if !t.read || t.s.b.preparesItself() {
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
	st, err := s.r.Prepare(s.sql(q))
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
	return t.tx.QueryRowContext(t.ctx, t.s.sql(q), args...)
}

// rowPrepared is row for statements on hot paths (see queryPrepared).
func (t *Tx) rowPrepared(q string, args ...any) *sql.Row {
	if !t.read || t.s.b.preparesItself() {
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
