package db

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// masterKeySize is AES-256.
const masterKeySize = 32

// The master key is created (0600) on first use; O_EXCL makes two
// processes starting at once agree on one key. Store.cipher decides when a
// key may be created.

// readKey reads the master key file (fs.ErrNotExist when there is none).
func readKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	if len(key) != masterKeySize {
		return nil, fmt.Errorf("master key %s: want %d bytes, found %d", path, masterKeySize, len(key))
	}
	return key, nil
}

// createKey makes a new random master key file, 0600. If another process
// created one first, that one is used.
func createKey(path string) ([]byte, error) {
	key := make([]byte, masterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKey(path) // another process won the race
	}
	if err != nil {
		return nil, fmt.Errorf("create master key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("write master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync master key: %w", err)
	}
	return key, f.Close()
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

func (s *sealer) seal(plaintext []byte, bind string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plaintext, []byte(bind)), nil
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
