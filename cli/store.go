package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// storeCommand is `kmsconsole store copy|backup`: moving a whole store
// between SQLite and PostgreSQL, and snapshots of a SQLite store. Both work
// on store files and master keys, so they run on the store's host only.
func storeCommand() *Command {
	return &Command{
		Name:    "store",
		Summary: "Move a whole store between SQLite and PostgreSQL, or snapshot a SQLite store while it runs.",
		Subs: []*Command{
			{Name: "copy", Summary: "Copy a whole store, audit log included, into a new empty store (SQLite or PostgreSQL, either way).",
				Run: storeCopy,
				Flags: []Flag{
					{Name: "from", Value: "PATH|URL", Usage: "the store to copy: a SQLite file or a postgres:// URL", Required: true},
					{Name: "to", Value: "PATH|URL", Usage: "where to copy it: a SQLite file (made if absent) or a postgres:// URL; it must hold no rows", Required: true},
					{Name: "to-key", Value: "FILE", Usage: "the master key file to open the destination with; it must hold the source's key (default: the source's key file)"},
				},
				Help: `Values are not decrypted: ciphertexts and row MACs are copied as they are, so
both stores use one master key. The source's key is KMSCONSOLE_MASTER_KEY_FILE,
else master.key in --data-dir, else the default of the source: master.key
beside a SQLite file, or in $XDG_DATA_HOME/kmsconsole for PostgreSQL. The
destination is opened with that same file unless --to-key names another copy
of the key; a key file that does not exist, or holds another key, is refused
before anything is written. A destination that will look for its key
elsewhere (the same rules applied to --to) gets a Note saying where to put it.

The copy reads one snapshot of the source and writes in one transaction, so
the destination holds the whole store or nothing. The destination must be new,
a store without rows: a SQLite file that does not exist yet, or an empty
PostgreSQL database (or schema); anything else is refused and left unchanged.
Every table comes along, the audit log with its ids; the destination's audit
log records the copy (who, from where, on which host). A password in a URL is
never shown.
`},
			{Name: "backup", Params: "FILE", Summary: "Write a consistent snapshot of the SQLite store (--db) to FILE while it is in use.",
				Run: storeBackup,
				Help: `The snapshot is one transaction's view of the store, taken while the console,
serve and the scheduler go on writing (SQLite's VACUUM INTO on a reader). It is
written beside FILE under a temporary name, synced, then given its name: FILE
is whole or absent, mode 0600, and an existing FILE is never overwritten. The
snapshot is a store like any other (kmsconsole --db FILE opens it) whose values
open with the store's master key, which it does not contain: keep the key
with the backup, stored apart from it. The backup is recorded in the store's
audit log. A PostgreSQL store is backed up with pg_dump instead, or copied to a
SQLite file with 'kmsconsole store copy'.
`},
		},
	}
}

// keyPathOf is the master key of the store at locator by the rules of the
// command line (KMSCONSOLE_MASTER_KEY_FILE, --data-dir, the store's default).
func (env *Env) keyPathOf(locator string) string {
	e := *env
	e.DBPath = locator
	return e.MasterKeyPath()
}

// shownLocator is a locator as output may show it.
func shownLocator(loc string) string {
	if db.IsPostgresURL(loc) {
		return db.RedactURL(loc)
	}
	return loc
}

// storeCopyResult is what `store copy` prints.
type storeCopyResult struct {
	RequestId   string
	From        string
	FromBackend string
	To          string
	ToBackend   string
	MasterKey   string
	Rows        map[string]int64
	Note        string `json:",omitempty"`
}

func storeCopy(env *Env, a *Args) int {
	from, to := a.Value("from"), a.Value("to")
	fromKey := env.keyPathOf(from)
	toKey := fromKey
	if a.Given("to-key") {
		toKey = a.Value("to-key")
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	reqID := uuid.NewString()
	rep, err := db.CopyStore(ctx, db.CopyOptions{From: from, To: to, FromKey: fromKey, ToKey: toKey,
		Operator: service.LocalActor().Name, RequestId: reqID})
	if err != nil {
		return env.Fail(copyError(err, from))
	}
	res := storeCopyResult{RequestId: reqID, From: rep.From, FromBackend: rep.FromBackend, To: rep.To, ToBackend: rep.ToBackend,
		MasterKey: rep.KeyPath, Rows: rep.Rows}
	res.Note = destinationKeyNote(env.keyPathOf(to), rep.KeyPath, shownLocator(to))
	writeJSON(env.Stdout, res)
	return 0
}

// destinationKeyNote says what to do when the key the destination was
// written with is not where kmsconsole will look for it ("" when it is).
func destinationKeyNote(want, used, to string) string {
	if filepath.Clean(want) == filepath.Clean(used) {
		return ""
	}
	same, err := db.SameMasterKey(used, want)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("kmsconsole will look for the master key of %s at %s, which does not exist: copy %s there (mode 0600), "+
			"or point KMSCONSOLE_MASTER_KEY_FILE (or --data-dir) at the key", to, want, used)
	case err != nil:
		return fmt.Sprintf("kmsconsole will look for the master key of %s at %s, which cannot be read (%v): it must hold the key in %s", to, want, err, used)
	case !same:
		return fmt.Sprintf("kmsconsole will look for the master key of %s at %s, which holds another key: open the store with %s "+
			"(KMSCONSOLE_MASTER_KEY_FILE or --data-dir) or put that key at %s", to, want, used, want)
	}
	return ""
}

// copyError puts the refusals of a copy in the command line's codes.
func copyError(err error, from string) error {
	switch {
	case errors.Is(err, db.ErrSameStore):
		return model.InvalidParam("to", "%v; copy into a new store", err)
	case errors.Is(err, db.ErrDestinationNotEmpty):
		return model.Errorf(model.CodeResourceExist, "%v", err)
	case errors.Is(err, db.ErrKeyMismatch):
		return model.InvalidParam("to-key", "%v", err)
	case errors.Is(err, fs.ErrNotExist) && !db.IsPostgresURL(from):
		return model.InvalidParam("from", "no store at %s (%v)", from, err)
	}
	return err
}

// storeBackupResult is what `store backup` prints.
type storeBackupResult struct {
	RequestId string
	Store     string
	Backup    string
	Bytes     int64
	Rows      map[string]int64
	MasterKey string
	Note      string
}

func storeBackup(env *Env, a *Args) int {
	switch {
	case len(a.Params) == 0 || a.Params[0] == "":
		return env.Fail(model.MissingParam("FILE"))
	case len(a.Params) > 1:
		return env.Fail(model.InvalidParam("FILE", "give one file to write the snapshot to, got %d", len(a.Params)))
	}
	file := a.Params[0]
	ctx, cancel := env.commandContext()
	defer cancel()
	key := env.MasterKeyPath()
	reqID := uuid.NewString()
	rep, err := db.BackupStore(ctx, env.DBPath, key, file, db.BackupOptions{Operator: service.LocalActor().Name, RequestId: reqID})
	switch {
	case err == nil:
	case errors.Is(err, db.ErrBackupPostgres):
		return env.Fail(model.InvalidParam("db", "%v", err))
	case rep == nil && errors.Is(err, fs.ErrExist):
		return env.Fail(model.InvalidParam("FILE", "%v", err))
	case rep == nil && errors.Is(err, fs.ErrNotExist) && !fileExists(env.DBPath):
		return env.Fail(model.InvalidParam("db", "no store at %s", env.DBPath))
	default:
		return env.Fail(err)
	}
	writeJSON(env.Stdout, storeBackupResult{RequestId: reqID, Store: rep.Store, Backup: rep.File, Bytes: rep.Bytes, Rows: rep.Rows, MasterKey: key,
		Note: fmt.Sprintf("the snapshot's values open only with the master key %s, which it does not contain: keep a copy of the key with the backup "+
			"(to open it, put the key beside it as master.key, or point KMSCONSOLE_MASTER_KEY_FILE at it)", key)})
	return 0
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
