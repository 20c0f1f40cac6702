package db

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
)

// backend is what differs between the SQLite file (sqlite.go) and a shared
// PostgreSQL database (postgres.go). The store's queries are written once,
// in the SQL both accept, with ? placeholders that rebind adapts.
type backend interface {
	// name is the kind of store, for messages: "SQLite", "PostgreSQL".
	name() string
	// shared: processes on several machines may use the store at once.
	shared() bool
	// rebind rewrites a query's placeholders for the driver.
	rebind(q string) string
	// contains is a condition true when the text expr contains the value
	// of the one placeholder it adds.
	contains(expr string) string
	// preparesItself: the driver prepares each query once per connection
	// and keeps it (pgx's statement cache), so the store need not prepare
	// the queries of its hot paths (see Tx.queryPrepared).
	preparesItself() bool
	// textOrder is an ORDER BY term that sorts the text expr by its bytes,
	// as SQLite does, whatever collation the database has.
	textOrder(expr string) string
	beginRead(ctx context.Context, r *sql.DB) (*sql.Tx, error)
	beginWrite(ctx context.Context, w *sql.DB) (*sql.Tx, error)
	// retry classifies a failed write transaction; committing marks an
	// error of the commit itself.
	retry(err error, committing bool) retryKind
	// writeFailed and readFailed put a failure in the store's words
	// (read-only file, unreachable database), keeping the cause wrapped.
	writeFailed(err error) error
	readFailed(err error) error
	// migrate brings the schema up to date.
	migrate(ctx context.Context) error
}

// DefaultDataDir is where kmsconsole keeps its files when the store is not
// a file whose directory says where: $XDG_DATA_HOME/kmsconsole.
func DefaultDataDir() string { return filepath.Dir(DefaultPath()) }

// keyCheckMeta is the meta row that holds the check value of the master key
// a shared store was first written with.
const keyCheckMeta = "master_key_check"

// keyCheck is a value derived from the master key (an HMAC under a key of
// its own, so it says nothing about the key) that tells two keys apart.
func (s *Store) keyCheck() (string, error) {
	ring, err := s.keys()
	if err != nil {
		return "", err
	}
	return keyCheckOf(ring.primary), nil
}

func keyCheckOf(k *masterKey) string {
	return hex.EncodeToString(k.mac.sum("master-key-check")[:16])
}

// bindKey ties a shared store to one master key: the first process records
// the key's check value, and every later one (another replica, a restart)
// must hold the same key or refuse to start, before it writes anything
// that other replicas could not read.
func (s *Store) bindKey(ctx context.Context) error {
	check, err := s.keyCheck()
	if err != nil {
		return err
	}
	var stored string
	err = s.Write(ctx, func(tx *Tx) error {
		if _, err := tx.exec("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", keyCheckMeta, check); err != nil {
			return err
		}
		return tx.row("SELECT value FROM meta WHERE name = ?", keyCheckMeta).Scan(&stored)
	})
	if err != nil {
		return fmt.Errorf("check the master key against the store %s: %w", s.Path, err)
	}
	if stored != check && !s.holdsSealingKey(ctx) {
		if sealing, err := s.sealingKeyId(ctx); err == nil && sealing != "" {
			return fmt.Errorf("master key %s is not the key of the store %s, whose master key was rotated (kmsconsole masterkey rotate) to key %s: "+
				"copy master.key from the machine that rotated it (or set KMSCONSOLE_MASTER_KEY_FILE to it); refusing to start rather than write values the others cannot read",
				s.KeyPath, s.Path, sealing)
		}
		return fmt.Errorf("master key %s is not the key of the store %s: every replica must use the same master key file "+
			"(copy master.key from a replica that runs, or set KMSCONSOLE_MASTER_KEY_FILE to it); refusing to start rather than write values the others cannot read",
			s.KeyPath, s.Path)
	}
	return nil
}

// holdsSealingKey reports whether this process holds the key the store
// seals new values under (a replica started while a rotation it can follow
// runs, or after one whose check value was not yet recorded).
func (s *Store) holdsSealingKey(ctx context.Context) bool {
	sealing, err := s.sealingKeyId(ctx)
	if err != nil || sealing == "" {
		return false
	}
	id, err := parseKeyId(sealing)
	if err != nil {
		return false
	}
	k, _ := s.keyFor(id)
	return k != nil
}

// keyRecorded reports whether a shared store already records a master key
// (a replica without the key file must not make a new one).
func (s *Store) keyRecorded() (bool, error) {
	if !s.b.shared() {
		return false, nil
	}
	var n int
	err := s.r.QueryRow(s.sql("SELECT count(*) FROM meta WHERE name = ?"), keyCheckMeta).Scan(&n)
	return n > 0, err
}
