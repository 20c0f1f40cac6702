package db

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// ErrUntrusted is wrapped by every refusal of a master key or data directory
// that another user owns or can change (errors.Is(err, ErrUntrusted)).
var ErrUntrusted = errors.New("untrusted file permissions")

// trustError is a refusal that names the command that fixes it.
type trustError struct{ msg string }

func (e *trustError) Error() string        { return e.msg }
func (e *trustError) Is(target error) bool { return target == ErrUntrusted }

// checkKeyFile refuses a master key that is not a regular file, that another
// user owns, or that group or others can read or write: the rules ssh
// applies to a private key. Another user who could plant or read the key
// could read every value of the store.
func checkKeyFile(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return &trustError{fmt.Sprintf("master key %s is not a regular file (%v)", path, fi.Mode().Type())}
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		me := userName(os.Geteuid())
		return &trustError{fmt.Sprintf("master key %s is owned by %s, not by %s who runs kmsconsole: refusing it, "+
			"as ssh refuses such a private key (another user may have planted it). If it is the right key, run: chown %s %s",
			path, userName(uid), me, me, shellQuote(path))}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return &trustError{fmt.Sprintf("master key %s can be read or written by group or others (mode %04o): refusing it, "+
			"as ssh refuses such a private key. Run: chmod 600 %s (and treat the key as exposed if others could read it)",
			path, perm, shellQuote(path))}
	}
	return nil
}

// checkDataDir refuses the directory that holds the store and its master
// key when another user owns it or group or others can write it: they could
// plant, swap or delete kms.db and master.key there. Only that directory is
// checked, not its parents.
func checkDataDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("store directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("store directory %s is not a directory", dir)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		me := userName(os.Geteuid())
		return &trustError{fmt.Sprintf("store directory %s is owned by %s, not by %s who runs kmsconsole: "+
			"its owner could plant or replace the store and its master key. If the directory is yours to use, run: chown %s %s",
			dir, userName(uid), me, me, shellQuote(dir))}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &trustError{fmt.Sprintf("store directory %s can be written by group or others (mode %04o): "+
			"they could plant or replace the store and its master key. Run: chmod 700 %s", dir, perm, shellQuote(dir))}
	}
	return nil
}

func fileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// userName is the login name of uid, or the number when it has none.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		return u.Username
	}
	return strconv.Itoa(uid)
}

// shellQuote quotes a path for a command line the operator can paste.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=@:,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
