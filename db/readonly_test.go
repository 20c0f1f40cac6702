package db

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"kmsconsole/model"
)

// makeStoreDir builds a closed store in dir/name with secret app/db (v1, v2;
// ACSCurrent on v2) and instance i-web1.
func makeStoreDir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(dir, "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	sec := addSecret(t, s, "app/db", map[string]string{"v1": "value-v1", "v2": "value-v2"})
	setLabels(t, s, sec, model.Labels{model.StageCurrent: "v2", model.StagePrevious: "v1"})
	addInstances(t, s, testInstance("i-web1", "192.0.2.10"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// A store that cannot be written — a backup copied read-only, a store
// directory the user cannot write, a read-only mount — opens read-only:
// values, labels and instances read, and every write is refused with an
// error that says the store is read-only (errors.Is ErrReadOnly), without
// creating anything beside it. Root ignores permission bits, so the
// permission cases run as another user (nobody) in a helper process, and
// the mount case as root in its own mount namespace.
func TestReadOnlyStoreReadsAndRefusesWrites(t *testing.T) {
	base := sharedTempDir(t)
	cred := otherUser(t)
	uid, gid := os.Geteuid(), os.Getegid()
	if cred != nil {
		uid, gid = int(cred.Uid), int(cred.Gid)
	}
	for _, c := range []struct {
		name           string
		fileMode       os.FileMode
		dirMode        os.FileMode
		mountReadOnly  bool
		wantReasonSays string
	}{
		{"file 0400", 0o400, 0o700, false, "the file cannot be written (permission denied)"},
		{"directory 0500", 0o600, 0o500, false, "its directory " + filepath.Join(base, "directory-0500") + " cannot be written"},
		{"file and directory read-only", 0o400, 0o500, false, "the file cannot be written (permission denied)"},
		{"read-only mount, as root", 0o600, 0o700, true, "the file cannot be written (read-only file system)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := helperOpts{binaryIn: base, cred: cred}
			dir := makeStoreDir(t, filepath.Join(base, strings.NewReplacer(" ", "-", ",", "").Replace(c.name)))
			path := filepath.Join(dir, "kms.db")
			if c.mountReadOnly {
				if os.Geteuid() != 0 {
					t.Skip("a bind mount needs root")
				}
				o.cred, o.unshare = nil, true
				o.env = append(o.env, "KMSDB_MOUNT_RO="+dir)
			} else {
				chownTree(t, dir, uid, gid)
				os.Chmod(filepath.Join(dir, "master.key"), 0o400)
				os.Chmod(path, c.fileMode)
				os.Chmod(dir, c.dirMode)
			}
			o.env = append(o.env, "KMSDB_PATH="+path)
			before := listDir(t, dir)
			res := runHelper(t, "readonly", o)
			t.Logf("%+v", res)
			if res.OpenErr != "" {
				t.Fatalf("read-only store: %s", res.OpenErr)
			}
			if res.Current != "v2" || res.Value != "value-v2" || res.Host != "192.0.2.10" {
				t.Errorf("read back %+v", res)
			}
			if !strings.Contains(res.ReadOnly, c.wantReasonSays) {
				t.Errorf("ReadOnly() = %q, want it to say %q", res.ReadOnly, c.wantReasonSays)
			}
			if !res.WriteIsRO || !strings.Contains(res.WriteErr, "the store "+path+" is read-only: ") {
				t.Errorf("write: %q (ErrReadOnly %v), want the store named read-only", res.WriteErr, res.WriteIsRO)
			}
			if after := listDir(t, dir); strings.Join(after, " ") != strings.Join(before, " ") {
				t.Errorf("files beside a read-only store changed: %v -> %v", before, after)
			}
		})
	}
}

// copyLive copies a store's files while it is open, as a backup of a live
// store would: changes still in the write-ahead log come along in -wal.
func copyLive(t *testing.T, from, to string, files ...string) {
	t.Helper()
	if err := os.Mkdir(to, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		copyFile(t, filepath.Join(from, f), filepath.Join(to, f), 0o600)
	}
}

// A read-only copy of a live store, whose newest changes are still in its
// write-ahead log, reads them (SQLite reads the log through the copied
// -shm); without the -shm file, SQLite cannot read the log from a directory
// it cannot write, and the error says what to do instead of a bare
// "unable to open database file".
func TestReadOnlyCopyOfLiveStore(t *testing.T) {
	base := sharedTempDir(t)
	cred := otherUser(t)
	live := makeStoreDir(t, filepath.Join(base, "live"))
	s, err := Open(filepath.Join(live, "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var sec *SecretRow
	s.Read(ctx, func(tx *Tx) error { sec, err = tx.SecretByName("app/db"); return err })
	err = s.Write(ctx, func(tx *Tx) error {
		if err := tx.InsertVersion(sec, "v3", "value-v3", model.DataText, time.Now()); err != nil {
			return err
		}
		old, err := tx.Labels(sec.ID)
		if err != nil {
			return err
		}
		return tx.SetLabels(sec.ID, old, model.Labels{model.StageCurrent: "v3", model.StagePrevious: "v2"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(live, "kms.db-wal")); err != nil || fi.Size() == 0 {
		t.Fatalf("the live store's log is empty (%v): the test needs changes in it", err)
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if cred != nil {
		uid, gid = int(cred.Uid), int(cred.Gid)
	}
	for _, c := range []struct {
		name  string
		files []string
		ok    bool
	}{
		{"with -shm", []string{"kms.db", "kms.db-wal", "kms.db-shm", "master.key"}, true},
		{"without -shm", []string{"kms.db", "kms.db-wal", "master.key"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(base, strings.ReplaceAll(c.name, " ", ""))
			copyLive(t, live, dir, c.files...)
			chownTree(t, dir, uid, gid)
			for _, f := range c.files {
				os.Chmod(filepath.Join(dir, f), 0o400)
			}
			os.Chmod(dir, 0o500)
			path := filepath.Join(dir, "kms.db")
			res := runHelper(t, "readonly", helperOpts{binaryIn: base, cred: cred, env: []string{"KMSDB_PATH=" + path}})
			t.Logf("%+v", res)
			if c.ok {
				if res.OpenErr != "" || res.Current != "v3" || res.Value != "value-v3" {
					t.Fatalf("read-only live copy: %+v", res)
				}
				if !res.WriteIsRO {
					t.Errorf("write: %q, want ErrReadOnly", res.WriteErr)
				}
				return
			}
			for _, want := range []string{"cannot read the store " + path + ": it is read-only (the file cannot be written", path + "-wal", "-shm"} {
				if !strings.Contains(res.OpenErr, want) {
					t.Errorf("open error %q does not say %q", res.OpenErr, want)
				}
			}
		})
	}
}

// A read-only store whose schema predates this kmsconsole cannot be
// migrated, and says so.
func TestReadOnlyOldSchemaRefused(t *testing.T) {
	base := sharedTempDir(t)
	cred := otherUser(t)
	dir := filepath.Join(base, "old")
	os.Mkdir(dir, 0o700)
	makeLegacyStore(t, dir)
	uid, gid := os.Geteuid(), os.Getegid()
	if cred != nil {
		uid, gid = int(cred.Uid), int(cred.Gid)
	}
	chownTree(t, dir, uid, gid)
	os.Chmod(filepath.Join(dir, "kms.db"), 0o400)
	path := filepath.Join(dir, "kms.db")
	res := runHelper(t, "readonly", helperOpts{binaryIn: base, cred: cred, env: []string{"KMSDB_PATH=" + path}})
	t.Logf("%+v", res)
	for _, want := range []string{"cannot open the store " + path + ": it is read-only", "(version 3) predates this kmsconsole", "open it once where it can be written"} {
		if !strings.Contains(res.OpenErr, want) {
			t.Errorf("open error %q does not say %q", res.OpenErr, want)
		}
	}
}

// A store opened writable whose writes SQLite refuses all the same — here
// a -shm file left read-only beside a writable kms.db, as SQLite leaves it
// after a read-only open — gets the same typed error, not SQLite's bare
// "attempt to write a readonly database".
func TestSQLiteReadOnlyRefusalIsTyped(t *testing.T) {
	base := sharedTempDir(t)
	cred := otherUser(t)
	if cred == nil {
		t.Skip("needs a user for whom permission bits hold: run as root") // CI runs as root
	}
	live := makeStoreDir(t, filepath.Join(base, "live"))
	s, err := Open(filepath.Join(live, "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addSecret(t, s, "app/other", map[string]string{"v1": "x"}) // something in the log
	dir := filepath.Join(base, "copy")
	copyLive(t, live, dir, "kms.db", "kms.db-wal", "kms.db-shm", "master.key")
	chownTree(t, dir, int(cred.Uid), int(cred.Gid))
	os.Chmod(filepath.Join(dir, "kms.db-shm"), 0o400)
	path := filepath.Join(dir, "kms.db")
	res := runHelper(t, "readonly", helperOpts{binaryIn: base, cred: cred, env: []string{"KMSDB_PATH=" + path}})
	t.Logf("%+v", res)
	if res.OpenErr != "" || res.Value != "value-v2" {
		t.Fatalf("reads: %+v", res)
	}
	if !res.WriteIsRO || !strings.Contains(res.WriteErr, "the store "+path+" is read-only: SQLite refuses to write to it; check that kms.db, kms.db-wal and kms.db-shm can be written") {
		t.Errorf("write: %q (ErrReadOnly %v)", res.WriteErr, res.WriteIsRO)
	}
}
