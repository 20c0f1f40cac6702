package db

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
)

// A store's values may be sealed under more than one master key while the
// key is rotated (masterkey.go): every ciphertext and every row MAC names
// the key that made it, and the store's meta row sealingKeyMeta names the
// key that new values are sealed under. A process holds a keyring: the key
// in its key file, and the next key (KeyPath + ".new") while a rotation
// runs; it reloads both files when it meets a key it does not hold, so that
// processes sharing the key directory follow a rotation without a restart.

// keyId names a master key without saying anything about it: the first
// bytes of an HMAC under the key.
type keyId [8]byte

func (id keyId) String() string { return hex.EncodeToString(id[:]) }

func parseKeyId(s string) (id keyId, err error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%q is not a master key id", s)
	}
	copy(id[:], b)
	return id, nil
}

func deriveKeyId(raw []byte) (id keyId) {
	h := hmac.New(sha256.New, raw)
	h.Write([]byte("kmsconsole/v1/key-id"))
	copy(id[:], h.Sum(nil))
	return id
}

// masterKey is one master key ready to use: AES-256-GCM for values, and
// the HMAC key derived from it for row MACs.
type masterKey struct {
	id   keyId
	seal *sealer
	mac  *macer
}

func newMasterKey(raw []byte) (*masterKey, error) {
	seal, err := newSealer(raw)
	if err != nil {
		return nil, err
	}
	return &masterKey{id: deriveKeyId(raw), seal: seal, mac: newMacer(raw)}, nil
}

// A sealed value is taggedMagic, the key id, then the nonce and the GCM
// ciphertext. Values sealed before key ids existed are the nonce and the
// ciphertext alone ("untagged"): they open with one of the keys held.
var taggedMagic = [4]byte{'K', 'M', 'K', 1}

const taggedHeader = len(taggedMagic) + len(keyId{})

// sealTag is the prefix of every value sealed under the key.
func (k *masterKey) sealTag() []byte {
	return append(taggedMagic[:len(taggedMagic):len(taggedMagic)], k.id[:]...)
}

func (k *masterKey) sealValue(plaintext []byte, binding string) ([]byte, error) {
	return k.seal.seal(k.sealTag(), plaintext, binding)
}

// splitTagged returns the key id and the rest of a tagged value.
func splitTagged(blob []byte) (id keyId, body []byte, ok bool) {
	if len(blob) < taggedHeader || !bytes.Equal(blob[:len(taggedMagic)], taggedMagic[:]) {
		return id, nil, false
	}
	copy(id[:], blob[len(taggedMagic):taggedHeader])
	return id, blob[taggedHeader:], true
}

// A row MAC is the key id then the HMAC-SHA256 (40 bytes); a MAC made
// before key ids existed is the HMAC alone (32 bytes).
const taggedMACSize = len(keyId{}) + sha256.Size

func (k *masterKey) sumMAC(kind string, fields ...string) []byte {
	return append(k.id[:len(k.id):len(k.id)], k.mac.sum(kind, fields...)...)
}

// keyring is the master keys a process holds; primary is the one in its
// key file. Never changed once published: reloadKeys makes a new one.
type keyring struct {
	primary *masterKey
	keys    []*masterKey // primary first
}

func (r *keyring) byId(id keyId) *masterKey {
	for _, k := range r.keys {
		if k.id == id {
			return k
		}
	}
	return nil
}

// MissingKeyError is a value or row sealed under a master key this process
// does not hold: the key was rotated by a process with another key
// directory (another replica), or its file was lost.
type MissingKeyError struct {
	KeyId   string
	KeyPath string
	Held    []string
}

func (e *MissingKeyError) Error() string {
	return fmt.Sprintf("the store holds values sealed under master key %s, which this process does not hold (%s holds %v): "+
		"the master key was rotated (kmsconsole masterkey rotate) where another key file is used; copy master.key from there to %s — "+
		"kmsconsole picks it up without a restart", e.KeyId, e.KeyPath, e.Held, e.KeyPath)
}

// Is makes a value under a key not held a value that did not open.
func (e *MissingKeyError) Is(target error) bool { return target == ErrDecrypt }

// rotated reports whether the store's master key was ever rotated: a key
// id this process does not know is then a newer key, else a wrong key file.
func (s *Store) rotated() bool {
	var n int
	err := s.r.QueryRow(s.sql("SELECT count(*) FROM meta WHERE name = ?"), sealingKeyMeta).Scan(&n)
	return err == nil && n > 0
}

func (s *Store) missingKey(id keyId, ring *keyring) error {
	held := make([]string, len(ring.keys))
	for i, k := range ring.keys {
		held[i] = k.id.String()
	}
	return &MissingKeyError{KeyId: id.String(), KeyPath: s.KeyPath, Held: held}
}

// nextKeyPath is where a rotation keeps the new key until every row has
// moved to it.
func nextKeyPath(keyPath string) string { return keyPath + ".new" }

// loadNextKey adds the key of a rotation under way, when its file exists.
func loadNextKey(ring *keyring, keyPath string) (*keyring, error) {
	raw, err := readKey(nextKeyPath(keyPath))
	if errors.Is(err, fs.ErrNotExist) {
		return ring, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the next master key of a rotation under way: %w", err)
	}
	k, err := newMasterKey(raw)
	if err != nil {
		return nil, err
	}
	if ring.byId(k.id) != nil {
		return ring, nil
	}
	return &keyring{primary: ring.primary, keys: append(append([]*masterKey(nil), ring.keys...), k)}, nil
}

// reloadKeys reads the key files again and adds the keys not held yet
// (keys held stay: a value moved back and forth by a rotation in progress
// must still open). The primary is the one in the key file now.
func (s *Store) reloadKeys() *keyring {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	ring := s.ring.Load()
	next := &keyring{primary: ring.primary, keys: append([]*masterKey(nil), ring.keys...)}
	if raw, err := readKey(s.KeyPath); err == nil {
		if k, err := newMasterKey(raw); err == nil {
			if held := next.byId(k.id); held != nil {
				next.primary = held
			} else {
				next.primary = k
				next.keys = append(next.keys, k)
			}
		}
	}
	if withNext, err := loadNextKey(next, s.KeyPath); err == nil {
		next = withNext
	}
	s.ring.Store(next)
	return next
}

// keyFor returns the held key of id, reloading the key files once if it
// is not held.
func (s *Store) keyFor(id keyId) (*masterKey, *keyring) {
	ring := s.ring.Load()
	if k := ring.byId(id); k != nil {
		return k, ring
	}
	ring = s.reloadKeys()
	return ring.byId(id), ring
}

// openValue opens a sealed value with the key that sealed it.
func (s *Store) openValue(blob []byte, binding string) ([]byte, error) {
	var missing error
	if id, body, ok := splitTagged(blob); ok {
		k, ring := s.keyFor(id)
		if k != nil {
			if out, err := k.seal.open(body, binding); err == nil {
				return out, nil
			}
		} else {
			missing = s.missingKey(id, ring)
		}
	}
	// Untagged (or, once in 2^32, an untagged nonce that starts like a tag).
	for _, k := range s.ring.Load().keys {
		if out, err := k.seal.open(blob, binding); err == nil {
			return out, nil
		}
	}
	if missing != nil {
		return nil, missing
	}
	return nil, ErrDecrypt
}

// verifyMAC checks a row MAC with the key that made it; err is set only
// when that key is not held.
func (s *Store) verifyMAC(stored []byte, kind string, fields ...string) (bool, error) {
	if _, err := s.keys(); err != nil {
		return false, err
	}
	switch len(stored) {
	case taggedMACSize:
		var id keyId
		copy(id[:], stored)
		k, ring := s.keyFor(id)
		if k == nil {
			return false, s.missingKey(id, ring)
		}
		return k.mac.check(stored[len(id):], kind, fields...), nil
	case sha256.Size:
		for _, k := range s.ring.Load().keys {
			if k.mac.check(stored, kind, fields...) {
				return true, nil
			}
		}
	}
	return false, nil
}

// sealingKeyMeta is the meta row naming the key new values are sealed
// under; without it, the key in the key file.
const sealingKeyMeta = "master_key_id"

// sealKey is the key this transaction seals values and MACs rows under:
// the one the store's meta row names (read in the transaction, so that a
// rotation that finishes cannot miss a value sealed under the old key),
// else the key file's.
func (t *Tx) sealKey() (*masterKey, error) {
	if t.key != nil {
		return t.key, nil
	}
	if err := t.s.checkKey(); err != nil {
		return nil, err
	}
	var v string
	err := t.row("SELECT value FROM meta WHERE name = ?", sealingKeyMeta).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		t.key = t.s.ring.Load().primary
	case err != nil:
		return nil, fmt.Errorf("read which master key seals new values: %w", err)
	default:
		id, err := parseKeyId(v)
		if err != nil {
			return nil, fmt.Errorf("the store's meta row %s: %w", sealingKeyMeta, err)
		}
		k, ring := t.s.keyFor(id)
		if k == nil {
			return nil, t.s.missingKey(id, ring)
		}
		t.key = k
	}
	return t.key, nil
}

// encrypt seals a value under the transaction's key.
func (t *Tx) encrypt(plaintext []byte, binding string) ([]byte, error) {
	k, err := t.sealKey()
	if err != nil {
		return nil, err
	}
	return k.sealValue(plaintext, binding)
}

// sumMAC is a row MAC under the transaction's key.
func (t *Tx) sumMAC(kind string, fields ...string) ([]byte, error) {
	k, err := t.sealKey()
	if err != nil {
		return nil, err
	}
	return k.sumMAC(kind, fields...), nil
}
