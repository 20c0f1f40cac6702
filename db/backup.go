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
	"syscall"

	"kmsconsole/model"
)

// ErrBackupPostgres is wrapped by the refusal to back up a PostgreSQL store:
// its backups are PostgreSQL's business (pg_dump, base backups).
var ErrBackupPostgres = errors.New("store backup writes SQLite snapshots; a PostgreSQL store is backed up with pg_dump")

// BackupOptions say who takes a backup, for the store's audit log.
type BackupOptions struct {
	Operator, RequestId string
}

// BackupReport says what a backup wrote.
type BackupReport struct {
	Store string // the store backed up
	File  string // the snapshot, an absolute path
	Bytes int64
	// Rows counts the snapshot's rows, by table.
	Rows map[string]int64
}

// BackupStore writes a snapshot of the SQLite store at locator to file
// (see Store.Backup). A PostgreSQL URL is refused without connecting, and a
// path where no store exists is refused rather than made into a new store.
func BackupStore(ctx context.Context, locator, keyPath, file string, o BackupOptions) (*BackupReport, error) {
	if IsPostgresURL(locator) {
		return nil, pgBackupError(RedactURL(locator))
	}
	if _, err := os.Stat(locator); err != nil {
		return nil, fmt.Errorf("back up the store %s: %w", locator, err)
	}
	s, err := Open(locator, keyPath)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Backup(ctx, file, o)
}

func pgBackupError(path string) error {
	return fmt.Errorf("%w: the store %s is PostgreSQL; back it up with pg_dump (for example pg_dump --format=custom --file=FILE "+
		"with the database's URL), or copy it into a SQLite file with kmsconsole store copy, and keep its master key with the backup",
		ErrBackupPostgres, path)
}

// Backup writes a consistent snapshot of a SQLite store to file while
// writers go on: VACUUM INTO, on a reader connection, reads one snapshot
// (WAL readers never wait for writers, nor they for it) into a temporary
// file beside file, which is synced and then linked to its name, so file
// is either absent or whole, and an existing file is never overwritten.
// The snapshot is a store like any other (WAL, mode 0600): Open reads it,
// with the same master key, which it does not contain. The backup is
// recorded in the store's audit log when the store can be written.
func (s *Store) Backup(ctx context.Context, file string, o BackupOptions) (*BackupReport, error) {
	if s.b.shared() {
		return nil, pgBackupError(s.Path)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("back up to %s: %w", file, err)
	}
	if _, err := os.Lstat(abs); err == nil {
		return nil, fmt.Errorf("back up to %s: %w: store backup never overwrites a file; give a new name", abs, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("back up to %s: %w", abs, err)
	}
	dir := filepath.Dir(abs)
	// Made here, 0600, and empty: VACUUM INTO fills an empty file and keeps
	// its mode, so the snapshot is never readable by others, not even
	// while it is written.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(abs)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("back up to %s: %w", abs, err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer func() {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(tmpName + suffix)
		}
	}()

	if err := s.vacuumInto(ctx, tmpName); err != nil {
		return nil, fmt.Errorf("back up %s: write the snapshot: %w", s.Path, err)
	}
	rows, err := finishSnapshot(ctx, tmpName)
	if err != nil {
		return nil, fmt.Errorf("back up %s: %w", s.Path, err)
	}
	if err := installNew(tmpName, abs); err != nil {
		return nil, fmt.Errorf("back up %s: %w", s.Path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("back up %s: %w", s.Path, err)
	}
	report := &BackupReport{Store: s.Path, File: abs, Bytes: fi.Size(), Rows: rows}
	if s.readOnly != nil {
		return report, nil // a read-only store cannot record it
	}
	host, _ := os.Hostname()
	operator := o.Operator
	if operator == "" {
		operator = "kmsconsole"
	}
	err = s.Write(ctx, func(tx *Tx) error {
		return tx.Audit(model.AuditEvent{Time: timeNow(), Operator: operator, Action: "BackupStore", Target: s.Path, Result: "Success",
			RequestId: o.RequestId, Detail: fmt.Sprintf("snapshot written to %s on host %s (%d bytes; values still encrypted, the master key not included)", abs, host, fi.Size())})
	})
	if err != nil {
		return report, fmt.Errorf("the snapshot %s is written, but recording it in the audit log failed: %w", abs, err)
	}
	return report, nil
}

// vacuumInto writes the store's current state into the empty file tmp,
// from one read transaction on a reader connection.
func (s *Store) vacuumInto(ctx context.Context, tmp string) error {
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if s.readOnly != nil {
		// The readers of a read-only store are query_only, which refuses
		// VACUUM INTO too; the file itself stays read-only (mode=ro).
		if _, err := conn.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
			return err
		}
		defer conn.ExecContext(context.Background(), "PRAGMA query_only = 1")
	}
	_, err = conn.ExecContext(ctx, "VACUUM INTO ?", tmp)
	return err
}

// finishSnapshot makes the snapshot at path a store like the others (WAL
// journal), checks it, counts its rows and syncs it to disk.
func finishSnapshot(ctx context.Context, path string) (map[string]int64, error) {
	snap, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	snap.SetMaxOpenConns(1)
	rows, err := func() (map[string]int64, error) {
		var mode, check string
		if err := snap.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
			return nil, fmt.Errorf("set the snapshot's journal: %w", err)
		}
		if err := snap.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil || check != "ok" {
			return nil, fmt.Errorf("the snapshot fails its check (%s): %v", check, err)
		}
		names, err := scanStrings(snap.QueryContext(ctx, sqliteTablesQuery))
		if err != nil {
			return nil, fmt.Errorf("read the snapshot's tables: %w", err)
		}
		counts := map[string]int64{}
		for _, n := range names {
			var c int64
			if err := snap.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(n)).Scan(&c); err != nil {
				return nil, fmt.Errorf("count the snapshot's %s: %w", n, err)
			}
			counts[n] = c
		}
		return counts, nil
	}()
	// Closing the last connection folds the WAL back into the file.
	if cerr := snap.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("sync the snapshot: %w", err)
	}
	return rows, nil
}

// installNew gives the finished file tmp the name final, failing if final
// exists (a hard link cannot replace a name), and makes the name durable.
func installNew(tmp, final string) error {
	err := os.Link(tmp, final)
	var le *os.LinkError
	if err != nil && errors.As(err, &le) && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP)) {
		// A file system without hard links: look, then rename (the window
		// between the two is the best it allows).
		if _, serr := os.Lstat(final); serr == nil {
			err = fmt.Errorf("%s: %w", final, fs.ErrExist)
		} else {
			err = os.Rename(tmp, final)
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s appeared while the snapshot was written; it was not overwritten: %w", final, fs.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("install the snapshot as %s: %w", final, err)
	}
	return syncDir(filepath.Dir(final))
}
