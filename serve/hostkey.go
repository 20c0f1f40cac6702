package serve

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"
)

// HostKeyFile is the host key's file name, beside the store.
const HostKeyFile = "serve_host_ed25519"

// DefaultHostKeyPath is where serve keeps its host key: in its data
// directory (cli.Env.DataDir), never the working directory.
func DefaultHostKeyPath(dataDir string) string {
	return filepath.Join(dataDir, HostKeyFile)
}

// loadOrCreateHostKey reads the ed25519 host key at path, creating it (mode
// 0600, its directory 0700) on first use. A key readable by others is
// refused, as sshd does.
func loadOrCreateHostKey(path string) (signer gossh.Signer, pemBytes []byte, created bool, err error) {
	pemBytes, err = readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		pemBytes, err = createHostKey(path)
		created = err == nil
		if errors.Is(err, fs.ErrExist) { // another process made it first
			created = false
			pemBytes, err = readPrivate(path)
		}
	}
	if err != nil {
		return nil, nil, false, err
	}
	signer, err = gossh.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, nil, false, fmt.Errorf("host key %s: %v", path, err)
	}
	return signer, pemBytes, created, nil
}

func readPrivate(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("host key %s is readable by others (mode %04o); chmod 600 it", path, fi.Mode().Perm())
	}
	return os.ReadFile(path)
}

func createHostKey(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	blk, err := gossh.MarshalPrivateKey(priv, "kmsconsole serve host key")
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(blk)
	// Written under a temporary name and linked into place, so a crash
	// never leaves a half-written key and two starts agree on one key.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".serve_host_key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return nil, err // fs.ErrExist when another start won
	}
	return data, nil
}
