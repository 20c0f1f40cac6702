package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Rotating the master key (SPEC §10) moves every sealed row — secret
// versions, instance rows (admin keys), stage labels and access keys — to
// a new key, a batch of rows per transaction, so that it can stop at any
// point and be run again:
//
//  1. StartKeyRotation writes the new key to KeyPath + ".new" (0600,
//     atomically; a file left by an interrupted run is used again) and
//     records its id in the meta row master_key_id, from which on every
//     write seals under the new key (Tx.sealKey reads that row in the
//     write transaction).
//  2. MoveKeyBatch re-seals rows that are not yet under it. Each row is
//     verified (opened, or its MAC checked) before it is sealed again, so
//     that a row edited outside kmsconsole is never laundered.
//  3. FinishKeyRotation checks, in one write transaction, that no row is
//     left under another key, records the new key's check value, and only
//     then renames master.key.new over master.key: the old key is gone once
//     nothing needs it.
//
// Until 3, both files are there and every process that uses this key
// directory holds both keys (it reloads them on meeting an unknown key id),
// so every value stays readable wherever the rotation stopped.

// KeyState is where a store's master key stands.
type KeyState struct {
	KeyPath      string
	KeyId        string // the key in KeyPath
	NextKeyPath  string `json:",omitempty"` // a rotation under way
	NextKeyId    string `json:",omitempty"`
	SealingKeyId string // the key new values are sealed under
	// Keys counts the rows under each key id ("untagged": sealed before
	// key ids were recorded), with whether this process holds that key.
	Keys []KeyRows
	// Remaining is the rows not yet under the sealing key.
	Remaining int
}

// KeyRows is the rows sealed under one master key.
type KeyRows struct {
	KeyId  string
	Held   bool
	Rows   int
	Tables map[string]int
}

// UntaggedKeyId stands for rows sealed before key ids were recorded.
const UntaggedKeyId = "untagged"

// sealedTables names the rows a key rotation moves: how to list their keys,
// and the column (a value, or the row MAC that covers every sealed column
// of the row) whose key id says which key the row is under.
var sealedTables = []struct {
	name  string
	key   string // the row's primary key, for messages
	query string // selects the sealing column
	mac   bool   // the column is a row MAC, not a sealed value
}{
	{"versions", "secret_id, version_id", "SELECT ciphertext FROM versions", false},
	{"stages", "secret_id, stage", "SELECT mac FROM stages", true},
	{"instances", "instance_id", "SELECT mac FROM instances", true},
	{"access_keys", "access_key_id", "SELECT mac FROM access_keys", true},
}

// keyIdOf says which key sealed a value or made a MAC.
func keyIdOf(col []byte, mac bool) string {
	if mac {
		if len(col) == taggedMACSize {
			var id keyId
			copy(id[:], col)
			return id.String()
		}
		return UntaggedKeyId
	}
	if id, _, ok := splitTagged(col); ok {
		return id.String()
	}
	return UntaggedKeyId
}

// MasterKeyState counts the rows under each master key.
func (s *Store) MasterKeyState(ctx context.Context) (*KeyState, error) {
	ring, err := s.keys()
	if err != nil {
		return nil, err
	}
	ring = s.reloadKeys()
	st := &KeyState{KeyPath: s.KeyPath, KeyId: ring.primary.id.String(), SealingKeyId: ring.primary.id.String()}
	if raw, err := readKey(nextKeyPath(s.KeyPath)); err == nil {
		st.NextKeyPath, st.NextKeyId = nextKeyPath(s.KeyPath), deriveKeyId(raw).String()
	}
	st.Keys = []KeyRows{}
	byKey := map[string]*KeyRows{}
	err = s.Read(ctx, func(tx *Tx) error {
		var v string
		switch err := tx.row("SELECT value FROM meta WHERE name = ?", sealingKeyMeta).Scan(&v); {
		case err == nil:
			st.SealingKeyId = v
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		for _, tbl := range sealedTables {
			rows, err := tx.query(tbl.query)
			if err != nil {
				return fmt.Errorf("count the keys of %s: %w", tbl.name, err)
			}
			for rows.Next() {
				var col sql.RawBytes
				if err := rows.Scan(&col); err != nil {
					rows.Close()
					return err
				}
				id := keyIdOf(col, tbl.mac)
				kr := byKey[id]
				if kr == nil {
					kr = &KeyRows{KeyId: id, Tables: map[string]int{}}
					if kid, err := parseKeyId(id); err == nil {
						kr.Held = ring.byId(kid) != nil
					}
					byKey[id] = kr
				}
				kr.Rows++
				kr.Tables[tbl.name]++
				if id != st.SealingKeyId {
					st.Remaining++
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the master key state of %s: %w", s.Path, err)
	}
	for _, kr := range byKey {
		st.Keys = append(st.Keys, *kr)
	}
	sort.Slice(st.Keys, func(i, j int) bool { return st.Keys[i].KeyId < st.Keys[j].KeyId })
	return st, nil
}

// KeyRotationStart is what StartKeyRotation did.
type KeyRotationStart struct {
	FromKeyId, ToKeyId string
	// Resumed: an interrupted rotation goes on (its key file was there).
	Resumed bool
}

// StartKeyRotation begins a master key rotation, or finds the one an
// interrupted run left, and makes its key the one new values are sealed
// under. audit runs in the transaction that records it.
func (s *Store) StartKeyRotation(ctx context.Context, audit func(*Tx, KeyRotationStart) error) (*KeyRotationStart, error) {
	if s.readOnly != nil {
		return nil, s.readOnly
	}
	ring, err := s.keys()
	if err != nil {
		return nil, err
	}
	if err := s.checkKey(); err != nil {
		return nil, err
	}
	start := &KeyRotationStart{FromKeyId: ring.primary.id.String()}
	next := nextKeyPath(s.KeyPath)
	raw, err := readKey(next)
	switch {
	case err == nil:
		start.Resumed = true
	case errors.Is(err, fs.ErrNotExist):
		sealing, err := s.sealingKeyId(ctx)
		if err != nil {
			return nil, err
		}
		if sealing != "" && sealing != start.FromKeyId {
			return nil, fmt.Errorf("the store %s seals values under master key %s, which is neither %s (key %s) nor a next key (%s does not exist): "+
				"restore the key file of key %s before rotating", s.Path, sealing, s.KeyPath, start.FromKeyId, next, sealing)
		}
		if raw, err = createKey(next); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	start.ToKeyId = deriveKeyId(raw).String()
	if start.ToKeyId == start.FromKeyId {
		return nil, fmt.Errorf("%s holds the same key as %s: remove it and run the rotation again", next, s.KeyPath)
	}
	s.reloadKeys()
	err = s.Write(ctx, func(tx *Tx) error {
		var v string
		switch err := tx.row("SELECT value FROM meta WHERE name = ?", sealingKeyMeta).Scan(&v); {
		case err == nil && v == start.ToKeyId:
			start.Resumed = true
		case err == nil && v != start.FromKeyId:
			return fmt.Errorf("the store seals values under master key %s, which is neither %s (key %s) nor %s (key %s)",
				v, s.KeyPath, start.FromKeyId, next, start.ToKeyId)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.exec("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
			sealingKeyMeta, start.ToKeyId); err != nil {
			return err
		}
		tx.key = nil // sealed from now on under the new key
		return audit(tx, *start)
	})
	if err != nil {
		return nil, fmt.Errorf("start the master key rotation of %s: %w", s.Path, err)
	}
	return start, nil
}

// sealingKeyId reads the meta row naming the sealing key ("" = none).
func (s *Store) sealingKeyId(ctx context.Context) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, s.sql("SELECT value FROM meta WHERE name = ?"), sealingKeyMeta).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the store's sealing key: %w", s.b.readFailed(err))
	}
	return v, nil
}

// MoveKeyBatch seals up to n rows again under the sealing key; it returns
// how many it moved (0: none is left).
func (s *Store) MoveKeyBatch(ctx context.Context, n int) (moved int, err error) {
	err = s.Write(ctx, func(tx *Tx) error {
		moved = 0
		k, err := tx.sealKey()
		if err != nil {
			return err
		}
		for _, move := range []func(*Tx, *masterKey, int) (int, error){moveVersions, moveStages, moveInstances, moveAccessKeys} {
			if moved >= n {
				break
			}
			m, err := move(tx, k, n-moved)
			if err != nil {
				return err
			}
			moved += m
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("move values to the new master key: %w", err)
	}
	return moved, nil
}

// notUnderMAC is the condition of a row whose MAC another key made.
const notUnderMAC = "(length(mac) <> ? OR substr(mac, 1, ?) <> ?)"

func macArgs(k *masterKey) []any { return []any{taggedMACSize, len(k.id), k.id[:]} }

func moveVersions(tx *Tx, k *masterKey, n int) (int, error) {
	type version struct {
		name, vid string
		secretId  int64
		blob      []byte
	}
	var todo []version
	rows, err := tx.query("SELECT s.name, v.secret_id, v.version_id, v.ciphertext FROM versions v JOIN secrets s ON s.id = v.secret_id"+
		" WHERE substr(v.ciphertext, 1, ?) <> ? LIMIT ?", taggedHeader, k.sealTag(), n)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var v version
		if err := rows.Scan(&v.name, &v.secretId, &v.vid, &v.blob); err != nil {
			rows.Close()
			return 0, err
		}
		todo = append(todo, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, v := range todo {
		plain, err := tx.s.decrypt(v.blob, secretBinding(v.name, v.vid))
		if err != nil {
			return 0, fmt.Errorf("version %s of %s: %w", v.vid, v.name, err)
		}
		blob, err := k.sealValue(plain, secretBinding(v.name, v.vid))
		clear(plain)
		if err != nil {
			return 0, err
		}
		if _, err := tx.exec("UPDATE versions SET ciphertext = ? WHERE secret_id = ? AND version_id = ?", blob, v.secretId, v.vid); err != nil {
			return 0, err
		}
	}
	return len(todo), nil
}

func moveStages(tx *Tx, k *masterKey, n int) (int, error) {
	type label struct {
		secretId         int64
		name, stage, vid string
		mac              []byte
	}
	var todo []label
	rows, err := tx.query("SELECT st.secret_id, s.name, st.stage, st.version_id, st.mac FROM stages st JOIN secrets s ON s.id = st.secret_id"+
		" WHERE (length(st.mac) <> ? OR substr(st.mac, 1, ?) <> ?) LIMIT ?", append(macArgs(k), n)...)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var l label
		if err := rows.Scan(&l.secretId, &l.name, &l.stage, &l.vid, &l.mac); err != nil {
			rows.Close()
			return 0, err
		}
		todo = append(todo, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, l := range todo {
		if err := tx.s.checkLabel(l.mac, l.name, l.stage, l.vid); err != nil {
			return 0, err
		}
		if _, err := tx.exec("UPDATE stages SET mac = ? WHERE secret_id = ? AND stage = ?",
			k.sumMAC("stage", l.name, l.stage, l.vid), l.secretId, l.stage); err != nil {
			return 0, err
		}
	}
	return len(todo), nil
}

// idsNotUnder lists the ids of a table's rows whose MAC another key made.
func idsNotUnder(tx *Tx, k *masterKey, table, idColumn string, n int) ([]string, error) {
	rows, err := tx.query("SELECT "+idColumn+" FROM "+table+" WHERE "+notUnderMAC+" LIMIT ?", append(macArgs(k), n)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func moveInstances(tx *Tx, k *masterKey, n int) (int, error) {
	ids, err := idsNotUnder(tx, k, "instances", "instance_id", n)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		r, err := tx.Instance(id) // verified and opened
		if err != nil {
			return 0, err
		}
		if err := tx.UpdateInstanceKeys(r); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

func moveAccessKeys(tx *Tx, k *masterKey, n int) (int, error) {
	ids, err := idsNotUnder(tx, k, "access_keys", "access_key_id", n)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		r, err := tx.AccessKey(id) // verified and opened
		if err != nil {
			return 0, err
		}
		if r == nil {
			continue
		}
		if err := tx.PutAccessKey(r); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// ErrKeyRotationUnfinished is FinishKeyRotation finding rows still under
// another key (written meanwhile by a process that had not seen the
// rotation begin: move them, then finish again).
var ErrKeyRotationUnfinished = errors.New("rows remain under the old master key")

// FinishKeyRotation ends a rotation whose rows have all moved: it records
// the new key's check value, runs audit in that transaction, and puts the
// new key file in place of the old one.
func (s *Store) FinishKeyRotation(ctx context.Context, audit func(*Tx) error) error {
	next := nextKeyPath(s.KeyPath)
	err := s.Write(ctx, func(tx *Tx) error {
		k, err := tx.sealKey()
		if err != nil {
			return err
		}
		var left int
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{"SELECT count(*) FROM versions WHERE substr(ciphertext, 1, ?) <> ?", []any{taggedHeader, k.sealTag()}},
			{"SELECT count(*) FROM stages WHERE " + notUnderMAC, macArgs(k)},
			{"SELECT count(*) FROM instances WHERE " + notUnderMAC, macArgs(k)},
			{"SELECT count(*) FROM access_keys WHERE " + notUnderMAC, macArgs(k)},
		} {
			var n int
			if err := tx.row(q.sql, q.args...).Scan(&n); err != nil {
				return err
			}
			left += n
		}
		if left > 0 {
			return fmt.Errorf("%w (%d)", ErrKeyRotationUnfinished, left)
		}
		if _, err := tx.exec("UPDATE meta SET value = ? WHERE name = ?", keyCheckOf(k), keyCheckMeta); err != nil {
			return err
		}
		return audit(tx)
	})
	if err != nil {
		return fmt.Errorf("finish the master key rotation of %s: %w", s.Path, err)
	}
	// Every row is under the new key: the old one may go.
	if _, err := os.Stat(next); err == nil {
		if err := os.Rename(next, s.KeyPath); err != nil {
			return fmt.Errorf("put the new master key in place (%s → %s): %w; every value is under the new key, run the rotation again to finish", next, s.KeyPath, err)
		}
		if err := syncDir(filepath.Dir(s.KeyPath)); err != nil {
			return fmt.Errorf("sync the directory of %s: %w", s.KeyPath, err)
		}
	}
	s.reloadKeys()
	return nil
}
