package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"kmsconsole/model"
)

// Some tests need a process that is not this one: one running as another
// user (root ignores permission bits, so a read-only file is only read-only
// for someone else), in its own mount namespace (a read-only bind mount), or
// with a file size limit (a full disk). They run this test binary again,
// which then executes TestHelperProcess only, as the helper named by
// KMSDB_HELPER, and prints a helperResult as JSON.

type helperResult struct {
	OpenErr    string
	ReadOnly   string // Store.ReadOnly()
	Current    string // the ACSCurrent VersionId of app/db
	Value      string // its value
	Host       string // instance i-web1
	WriteErr   string
	WriteIsRO  bool // errors.Is(WriteErr, ErrReadOnly)
	KeyFileErr string
}

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("KMSDB_HELPER")
	if mode == "" {
		return
	}
	var res helperResult
	path := os.Getenv("KMSDB_PATH")
	switch mode {
	case "readonly":
		if mnt := os.Getenv("KMSDB_MOUNT_RO"); mnt != "" {
			// In this process's own mount namespace (Unshareflags): the
			// store directory, bound onto itself read-only.
			if err := syscall.Mount(mnt, mnt, "", syscall.MS_BIND, ""); err != nil {
				fmt.Fprintln(os.Stderr, "bind mount:", err)
				os.Exit(3)
			}
			if err := syscall.Mount("", mnt, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
				fmt.Fprintln(os.Stderr, "remount read-only:", err)
				os.Exit(3)
			}
		}
		res = helperReadOnly(path)
	case "keyfail":
		res = helperKeyFail(path)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", mode)
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(res)
	os.Exit(0)
}

// helperReadOnly opens the store, reads app/db and i-web1, then tries a
// write.
func helperReadOnly(path string) (res helperResult) {
	s, err := Open(path, "")
	if err != nil {
		res.OpenErr = err.Error()
		return
	}
	defer s.Close()
	if ro := s.ReadOnly(); ro != nil {
		res.ReadOnly = ro.Error()
	}
	ctx := context.Background()
	var sec *SecretRow
	err = s.Read(ctx, func(tx *Tx) error {
		var err error
		if sec, err = tx.SecretByName("app/db"); err != nil || sec == nil {
			return fmt.Errorf("secret: %v", err)
		}
		l, err := tx.Labels(sec.ID)
		if err != nil {
			return err
		}
		res.Current = l[model.StageCurrent]
		v, err := tx.Version(sec, res.Current)
		if err != nil {
			return err
		}
		res.Value = v.Data
		in, err := tx.Instance("i-web1")
		if err != nil || in == nil {
			return fmt.Errorf("instance: %v", err)
		}
		res.Host = in.Host
		return nil
	})
	if err != nil {
		res.OpenErr = "read: " + err.Error()
		return
	}
	err = s.Write(ctx, func(tx *Tx) error {
		return tx.InsertVersion(sec, "v9", "written to a read-only store", model.DataText, time.Now())
	})
	if err != nil {
		res.WriteErr = err.Error()
		res.WriteIsRO = errors.Is(err, ErrReadOnly)
	}
	return
}

// helperKeyFail makes the store's first encrypted write, which creates the
// master key, on a disk that takes no more bytes (RLIMIT_FSIZE 0).
func helperKeyFail(path string) (res helperResult) {
	s, err := Open(path, "")
	if err != nil {
		res.OpenErr = err.Error()
		return
	}
	defer s.Close()
	signal.Ignore(syscall.SIGXFSZ) // a write past the limit fails with EFBIG
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 0, Max: 0}); err != nil {
		res.OpenErr = "setrlimit: " + err.Error()
		return
	}
	err = s.Write(context.Background(), func(tx *Tx) error {
		id, err := tx.InsertSecret(&SecretRow{Secret: model.Secret{Name: "x", Type: model.Generic, RegionId: "r", DataType: model.DataText}})
		if err != nil {
			return err
		}
		return tx.InsertVersion(&SecretRow{ID: id, Secret: model.Secret{Name: "x"}}, "v1", "y", model.DataText, time.Now())
	})
	if err != nil {
		res.KeyFileErr = err.Error()
	}
	return
}

type helperOpts struct {
	env      []string
	cred     *syscall.Credential // run as this user
	unshare  bool                // in a new mount namespace
	binaryIn string              // copy the test binary here first (for another user)
}

// runHelper runs TestHelperProcess as helper mode and decodes its result.
func runHelper(t *testing.T, mode string, o helperOpts) helperResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if o.binaryIn != "" {
		// The go build cache is closed to other users: copy the binary
		// where the helper's user can run it.
		dst := filepath.Join(o.binaryIn, "db.test")
		if _, err := os.Stat(dst); err != nil {
			copyFile(t, exe, dst, 0o755)
		}
		exe = dst
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KMSDB_HELPER="+mode)
	cmd.Env = append(cmd.Env, o.env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: o.cred}
	if o.unshare {
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("helper %s: %v\n%s", mode, err, ee.Stderr)
		}
		t.Fatalf("helper %s: %v", mode, err)
	}
	var res helperResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("helper %s output %q: %v", mode, out, err)
	}
	return res
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dst, mode)
}

// nobody is the unprivileged user the tests hand files to.
const nobodyUid, nobodyGid = 65534, 65534

// otherUser returns the credential of a user other than us: nobody when we
// are root. Without root the test cannot make files another user's, so it
// runs as ourselves, for whom permission bits already hold; except on CI,
// which runs as root and where nothing may be skipped.
func otherUser(t *testing.T) *syscall.Credential {
	if os.Geteuid() == 0 {
		return &syscall.Credential{Uid: nobodyUid, Gid: nobodyGid}
	}
	return nil
}

// sharedTempDir is a fresh directory that another user can reach.
func sharedTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kmsdb-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Give write back to whatever a test made read-only, then remove.
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
		os.RemoveAll(dir)
	})
	return dir
}

// chownTree hands a directory tree to uid/gid.
func chownTree(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}
