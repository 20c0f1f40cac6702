package db

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kmsconsole/model"
)

// me is the name of the user running the tests, as the messages name it.
func me() string { return userName(os.Geteuid()) }

func readV1(s *Store, name string) error {
	return s.Read(context.Background(), func(tx *Tx) error {
		sec, err := tx.SecretByName(name)
		if err != nil {
			return err
		}
		_, err = tx.Version(sec, "v1")
		return err
	})
}

func writeV2(s *Store, name string) error {
	return s.Write(context.Background(), func(tx *Tx) error {
		sec, err := tx.SecretByName(name)
		if err != nil {
			return err
		}
		return tx.InsertVersion(sec, "v2", "value-2", model.DataText, time.Now())
	})
}

// A master key that another user owns is refused, as ssh refuses such a
// private key: another user could have planted it beside the store and
// would then read every value encrypted under it. The message names the
// chown to run.
func TestMasterKeyOwnedByAnotherUserRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root") // CI runs as root
	}
	t.Run("existing key", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(filepath.Join(dir, "kms.db"), "")
		if err != nil {
			t.Fatal(err)
		}
		addSecret(t, s, "app/db", map[string]string{"v1": "value-1"})
		s.Close()
		kp := filepath.Join(dir, "master.key")
		if err := os.Chown(kp, nobodyUid, nobodyGid); err != nil {
			t.Fatal(err)
		}
		s, err = Open(filepath.Join(dir, "kms.db"), "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		want := "master key " + kp + " is owned by nobody, not by " + me()
		fix := "run: chown " + me() + " " + kp
		for what, err := range map[string]error{"read": readV1(s, "app/db"), "write": writeV2(s, "app/db")} {
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fix) {
				t.Errorf("%s: got %v, want an error saying %q and %q", what, err, want, fix)
			}
		}
	})
	// A key planted before the store's first value: the value must not be
	// encrypted under it.
	t.Run("planted before the first value", func(t *testing.T) {
		dir := t.TempDir()
		kp := filepath.Join(dir, "master.key")
		if err := os.WriteFile(kp, bytes.Repeat([]byte{9}, masterKeySize), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chown(kp, nobodyUid, nobodyGid)
		s, err := Open(filepath.Join(dir, "kms.db"), "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = s.Write(context.Background(), func(tx *Tx) error {
			return tx.InsertVersion(&SecretRow{ID: 1, Secret: model.Secret{Name: "x"}}, "v1", "y", model.DataText, time.Now())
		})
		if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "chown "+me()+" "+kp) {
			t.Errorf("got %v, want the planted key refused", err)
		}
	})
}

// A master key that group or others can read or write is refused with the
// chmod to run; 0600 and 0400 are fine.
func TestMasterKeyModeRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	addSecret(t, s, "app/db", map[string]string{"v1": "value-1"})
	s.Close()
	kp := filepath.Join(dir, "master.key")
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o620, 0o602, 0o666, 0o600, 0o400} {
		if err := os.Chmod(kp, mode); err != nil {
			t.Fatal(err)
		}
		s, err := Open(filepath.Join(dir, "kms.db"), "")
		if err != nil {
			t.Fatal(err)
		}
		err = readV1(s, "app/db")
		s.Close()
		if mode&0o077 == 0 {
			if err != nil {
				t.Errorf("mode %04o: %v", mode, err)
			}
			continue
		}
		if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "can be read or written by group or others") ||
			!strings.Contains(err.Error(), "Run: chmod 600 "+kp) {
			t.Errorf("mode %04o: got %v, want the key refused with chmod 600 %s", mode, err, kp)
		}
	}
	// A key path with a space gets a command that pastes as one argument.
	odd := filepath.Join(dir, "my key")
	os.WriteFile(odd, bytes.Repeat([]byte{1}, masterKeySize), 0o644)
	s, err = Open(filepath.Join(dir, "kms.db"), odd)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := readV1(s, "app/db"); err == nil || !strings.Contains(err.Error(), "chmod 600 '"+odd+"'") {
		t.Errorf("quoted path: %v", err)
	}
}

// The directory that holds the store and its key is refused when group or
// others can write it, or another user owns it: they could plant or swap
// kms.db and master.key. The message names the chmod or chown to run.
func TestDataDirTrust(t *testing.T) {
	for _, mode := range []os.FileMode{0o770, 0o720, 0o777, 0o757, 0o1777, 0o775} {
		dir := filepath.Join(t.TempDir(), "data")
		os.Mkdir(dir, 0o700)
		os.Chmod(dir, mode)
		s, err := Open(filepath.Join(dir, "kms.db"), "")
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "can be written by group or others") ||
			!strings.Contains(err.Error(), "Run: chmod 700 "+dir) {
			t.Errorf("dir mode %04o: got %v, want a refusal naming chmod 700 %s", mode, err, dir)
		}
		if _, serr := os.Stat(filepath.Join(dir, "kms.db")); serr == nil {
			t.Errorf("dir mode %04o: a store was created in it", mode)
		}
	}
	for _, mode := range []os.FileMode{0o700, 0o750, 0o755, 0o711} {
		dir := filepath.Join(t.TempDir(), "data")
		os.Mkdir(dir, mode)
		os.Chmod(dir, mode)
		s, err := Open(filepath.Join(dir, "kms.db"), "")
		if err != nil {
			t.Errorf("dir mode %04o: %v", mode, err)
			continue
		}
		s.Close()
	}
	if os.Geteuid() != 0 {
		t.Skip("giving a directory to another user needs root") // CI runs as root
	}
	dir := filepath.Join(t.TempDir(), "data")
	os.Mkdir(dir, 0o700)
	os.Chown(dir, nobodyUid, nobodyGid)
	_, err := Open(filepath.Join(dir, "kms.db"), "")
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "store directory "+dir+" is owned by nobody, not by "+me()) ||
		!strings.Contains(err.Error(), "run: chown "+me()+" "+dir) {
		t.Errorf("dir owned by nobody: got %v", err)
	}
}

// Creating the master key on a disk that takes no more bytes (a full disk;
// here RLIMIT_FSIZE 0 in a helper process) fails cleanly: no 0-byte or
// partial master.key and no temporary file stay behind, so the next run,
// with room, creates a good key.
func TestMasterKeyCreationFailureLeavesNoKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kms.db")
	s, err := Open(path, "") // schema written while there is room
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	res := runHelper(t, "keyfail", helperOpts{env: []string{"KMSDB_PATH=" + path}})
	if res.OpenErr != "" {
		t.Fatal(res.OpenErr)
	}
	if !strings.Contains(res.KeyFileErr, "write master key "+filepath.Join(dir, "master.key")) {
		t.Errorf("first write on a full disk: %q, want the key write to fail", res.KeyFileErr)
	}
	for _, name := range listDir(t, dir) {
		if strings.Contains(name, "master.key") {
			fi, _ := os.Stat(filepath.Join(dir, name))
			t.Errorf("left behind: %s (%d bytes)", name, fi.Size())
		}
	}
	s, err = Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addSecret(t, s, "app/db", map[string]string{"v1": "value-1"})
	if err := readV1(s, "app/db"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "master.key")); err != nil || fi.Size() != masterKeySize || fi.Mode().Perm() != 0o600 {
		t.Errorf("key after the retry: %v %v", fi, err)
	}
}

// Processes starting at once agree on one key: every Store that creates
// the key at the same time ends up with the same one, and no temporary
// file stays.
func TestMasterKeyCreatedOnceUnderRace(t *testing.T) {
	dir := t.TempDir()
	kp := filepath.Join(dir, "master.key")
	const n = 16
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			keys[i], errs[i] = createKey(kp)
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("creator %d: %v, same key %v", i, errs[i], bytes.Equal(keys[i], keys[0]))
		}
	}
	onDisk, err := readKey(kp)
	if err != nil || !bytes.Equal(onDisk, keys[0]) {
		t.Fatalf("key on disk: %v", err)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("files left: %v", names)
	}
}

// A master key cut short (0 bytes, as a full disk left it before keys were
// written atomically) is reported naming the file and what to do, and never
// replaced: restore it when values need it, remove it when none do.
func TestShortMasterKeyReported(t *testing.T) {
	t.Run("store with values", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(filepath.Join(dir, "kms.db"), "")
		if err != nil {
			t.Fatal(err)
		}
		addSecret(t, s, "app/db", map[string]string{"v1": "value-1"})
		s.Close()
		kp := filepath.Join(dir, "master.key")
		os.Truncate(kp, 0)
		s, err = Open(filepath.Join(dir, "kms.db"), "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for what, err := range map[string]error{"read": readV1(s, "app/db"), "write": writeV2(s, "app/db")} {
			for _, want := range []string{"master key " + kp + " holds 0 bytes, want 32", "restore master.key from your backup", "do not replace it"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: got %v, want it to say %q", what, err, want)
				}
			}
		}
		if fi, _ := os.Stat(kp); fi.Size() != 0 {
			t.Errorf("the empty key was replaced")
		}
	})
	t.Run("store without values", func(t *testing.T) {
		dir := t.TempDir()
		kp := filepath.Join(dir, "master.key")
		os.WriteFile(kp, nil, 0o600)
		s, err := Open(filepath.Join(dir, "kms.db"), "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = s.Write(context.Background(), func(tx *Tx) error {
			return tx.InsertVersion(&SecretRow{ID: 1, Secret: model.Secret{Name: "x"}}, "v1", "y", model.DataText, time.Now())
		})
		for _, want := range []string{"master key " + kp + " holds 0 bytes", "holds no encrypted value yet", "run rm " + kp} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want it to say %q", err, want)
			}
		}
		if fi, _ := os.Stat(kp); fi.Size() != 0 {
			t.Errorf("the empty key was replaced")
		}
	})
}
