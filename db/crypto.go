package db

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// masterKeySize is AES-256.
const masterKeySize = 32

// The master key is created (0600) on first use, atomically: a temporary
// file in the same directory is written and synced, then hard-linked to the
// final name, which fails when the name exists, so two processes starting at
// once agree on one key and a failed write (a full disk) leaves no partial
// key behind. Store.cipher decides when a key may be created.

// keySizeError is a master key file of the wrong length.
type keySizeError struct {
	path string
	size int
}

func (e *keySizeError) Error() string {
	return fmt.Sprintf("master key %s holds %d bytes, want %d", e.path, e.size, masterKeySize)
}

// readKey reads the master key file (fs.ErrNotExist when there is none),
// refusing one that another user owns or can read or write.
func readKey(path string) ([]byte, error) {
	// O_NONBLOCK: a FIFO planted in place of the key must not hang us.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	if err := checkKeyFile(path, fi); err != nil {
		return nil, err
	}
	key, err := io.ReadAll(io.LimitReader(f, masterKeySize+1))
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	if len(key) != masterKeySize {
		return nil, &keySizeError{path, len(key)}
	}
	return key, nil
}

// createKey makes a new random master key file, 0600, and its directory
// (0700) when there is none yet: a PostgreSQL store's key lives in the data
// directory, which nothing else has made on a fresh machine. If another
// process created the key first, that one is used.
func createKey(path string) ([]byte, error) {
	key := make([]byte, masterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the directory of master key %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".master.key.tmp-*") // 0600
	if err != nil {
		return nil, fmt.Errorf("create master key %s: %w", path, err)
	}
	// Once linked, the key lives on under its final name; until then the
	// temporary name is all there is, and it must not stay behind.
	defer os.Remove(tmp.Name())
	if err := writeSynced(tmp, key); err != nil {
		return nil, fmt.Errorf("write master key %s: %w (no key file was left behind)", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(path) // another process won the race
		}
		var le *os.LinkError
		if errors.As(err, &le) && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP)) {
			// A file system without hard links: exclusive create instead.
			return createKeyExcl(path, key)
		}
		return nil, fmt.Errorf("install master key %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("sync directory of master key %s: %w", path, err)
	}
	return key, nil
}

// createKeyExcl is createKey for file systems without hard links: O_EXCL
// still makes one process win, and a failed write removes the file.
func createKeyExcl(path string, key []byte) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create master key %s: %w", path, err)
	}
	if err := writeSynced(f, key); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write master key %s: %w (no key file was left behind)", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("sync directory of master key %s: %w", path, err)
	}
	return key, nil
}

// writeSynced writes b to f, syncs and closes it.
func writeSynced(f *os.File, b []byte) error {
	n, err := f.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// syncDir makes a new name in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		err = nil // a file system that cannot sync directories
	}
	return errors.Join(err, d.Close())
}

// sealer encrypts values with AES-256-GCM. The additional data binds each
// ciphertext to what it belongs to (secret name + VersionId, or instance id),
// so a ciphertext copied to another row fails to open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// seal returns prefix, a random nonce and the ciphertext of plaintext.
func (s *sealer) seal(prefix, plaintext []byte, bind string) ([]byte, error) {
	n := s.aead.NonceSize()
	out := make([]byte, len(prefix)+n, len(prefix)+n+len(plaintext)+s.aead.Overhead())
	copy(out, prefix)
	nonce := out[len(prefix):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(out, nonce, plaintext, []byte(bind)), nil
}

// ErrDecrypt means a ciphertext did not open: wrong master key, tampering, or
// a ciphertext moved to another row.
var ErrDecrypt = errors.New("stored value failed authentication (wrong master key or tampered store)")

func (s *sealer) open(ciphertext []byte, bind string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ciphertext) < n {
		return nil, ErrDecrypt
	}
	out, err := s.aead.Open(nil, ciphertext[:n], ciphertext[n:], []byte(bind))
	if err != nil {
		return nil, ErrDecrypt
	}
	return out, nil
}

func secretBinding(name, versionId string) string {
	return "kmsconsole/v1/secret\x00" + name + "\x00" + versionId
}

func instanceBinding(instanceId string) string {
	return "kmsconsole/v1/instance\x00" + instanceId
}

// pendingAdminKeyBinding binds the new admin key of a rotation under way to
// its instance, apart from the admin key itself, so the two cannot be
// swapped.
func pendingAdminKeyBinding(instanceId string) string {
	return "kmsconsole/v1/instance-pending-admin-key\x00" + instanceId
}

// accessKeyBinding binds an access key's secret to its id; previous marks
// the secret a rotation replaced, so the two cannot be swapped.
func accessKeyBinding(accessKeyId string, previous bool) string {
	if previous {
		return "kmsconsole/v1/accesskey-previous\x00" + accessKeyId
	}
	return "kmsconsole/v1/accesskey\x00" + accessKeyId
}
