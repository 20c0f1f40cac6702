package db

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"sync"

	"kmsconsole/model"
)

// Registry rows that steer what kmsconsole does but hold no secret — an
// instance's host, port, admin user and pinned host key; which version a
// stage label points at — are authenticated with HMAC-SHA256 under a key
// derived from the master key. Someone who can write kms.db but has no
// master key cannot redirect a rotation to another host or move ACSCurrent
// back to an old version: the edited row fails its MAC and is refused.
//
// A per-row MAC cannot tell a row from an older, genuine copy of the same
// row: replaying a row that kmsconsole itself once wrote (a label that
// pointed at v1 before a rotation, an instance removed and re-added with
// another host) is not detected.

// macLabel derives the MAC key from the master key, apart from the
// AES-GCM use of that key.
const macLabel = "kmsconsole/v1/mac"

// ErrRowAuth is wrapped by every refusal of a registry row whose MAC does
// not verify (errors.Is(err, ErrRowAuth)); see RowAuthError.
var ErrRowAuth = errors.New("stored row fails authentication")

// RowAuthError is a registry row refused because its MAC does not verify.
type RowAuthError struct {
	// Row names the row: "instance i-web1", "secret app/db stage label ACSCurrent".
	Row string
	// Unsealed: the row has no MAC yet because it was written before rows
	// were authenticated and the store has not been opened writable with
	// its master key since (the one-time sealing step, see sealLegacyRows).
	Unsealed bool
	// Remedy says what to do.
	Remedy string
}

func (e *RowAuthError) Error() string {
	if e.Unsealed {
		return fmt.Sprintf("%s: stored row is not authenticated yet (written by an older kmsconsole); "+
			"open the store once writable, with its master key, to authenticate such rows", e.Row)
	}
	return fmt.Sprintf("%s: stored row fails authentication (edited outside kmsconsole?); it is not used: %s", e.Row, e.Remedy)
}

func (e *RowAuthError) Is(target error) bool { return target == ErrRowAuth }

// macer computes row MACs; HMAC states and encoding buffers come from a
// pool, so that verifying labels on the read path allocates little.
type macer struct{ pool sync.Pool }

type macState struct {
	h   hash.Hash
	buf []byte
	out []byte
}

func newMacer(master []byte) *macer {
	d := hmac.New(sha256.New, master)
	d.Write([]byte(macLabel))
	key := d.Sum(nil)
	m := &macer{}
	m.pool.New = func() any {
		return &macState{h: hmac.New(sha256.New, key), buf: make([]byte, 0, 256), out: make([]byte, 0, sha256.Size)}
	}
	return m
}

// compute puts the MAC of a row in st.out: its kind, then each field
// length-prefixed, so that no two different rows encode alike.
func (st *macState) compute(kind string, fields []string) []byte {
	b := binary.AppendUvarint(st.buf[:0], uint64(len(kind)))
	b = append(b, kind...)
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	st.buf = b[:0]
	st.h.Reset()
	st.h.Write(b)
	st.out = st.h.Sum(st.out[:0])
	return st.out
}

// sum is the MAC of a row, to store.
func (m *macer) sum(kind string, fields ...string) []byte {
	st := m.pool.Get().(*macState)
	out := bytes.Clone(st.compute(kind, fields))
	m.pool.Put(st)
	return out
}

// check reports whether stored is the MAC of the row (false when empty).
func (m *macer) check(stored []byte, kind string, fields ...string) bool {
	st := m.pool.Get().(*macState)
	ok := hmac.Equal(stored, st.compute(kind, fields))
	m.pool.Put(st)
	return ok
}

// The fields of each kind of row, in MAC order.

// instanceFields: the admin key rotation's columns (migration 8) are
// appended only when one of them holds something, so that rows written
// before them still verify; a row that has them cannot pass for one that
// has not, since the MAC was made over more fields.
func instanceFields(r *InstanceRow, adminKeyBlob, pendingBlob []byte) []string {
	f := []string{r.InstanceId, r.InstanceName, r.RegionId, r.Host, strconv.Itoa(r.Port), r.AdminUser, r.HostKey,
		strconv.FormatInt(unix(r.CreateTime), 10), string(adminKeyBlob)}
	if len(pendingBlob) > 0 || r.RetiredAdminKey != "" || !r.AdminKeyRotated.IsZero() || r.AdminKeyPeriod != 0 ||
		r.AdminKeyError != "" || r.AdminKeyFailures != 0 || !r.AdminKeyRetry.IsZero() {
		f = append(f, string(pendingBlob), r.RetiredAdminKey, strconv.FormatInt(unix(r.AdminKeyRotated), 10),
			strconv.FormatInt(r.AdminKeyPeriod, 10), r.AdminKeyError, strconv.Itoa(r.AdminKeyFailures),
			strconv.FormatInt(unix(r.AdminKeyRetry), 10))
	}
	return f
}

// authError is the refusal of a row whose stored MAC did not check.
func (s *Store) authError(stored []byte, row, remedy string) error {
	// No MAC at all: a row from before migration 4 that was never sealed,
	// or one whose MAC was blanked. Only the first is excusable, and only
	// until the store is opened writable with its key.
	return &RowAuthError{Row: row, Unsealed: len(stored) == 0 && s.unsealed.Load(), Remedy: remedy}
}

const (
	instanceRemedy = "re-add it (kmsconsole instance remove, then instance add), or restore kms.db from a backup"
	labelRemedy    = "restore kms.db from a backup, or move the label again"
)

// unsealedMarker is the meta row that migration 4 leaves in a store that
// had instances or stage labels: their MACs are still to be computed.
const unsealedMarker = "unsealed_registry_rows"

// sealLegacyRows is the one-time step that completes migration 4 with the
// master key: rows written before rows were authenticated get their MAC.
// It runs at Open when the marker is there; without the master key (or
// with a wrong one, or on a read-only store) it waits for a later Open, and
// until then those rows are refused as not yet authenticated. The step is
// recorded in the audit log.
func (s *Store) sealLegacyRows(ctx context.Context) error {
	var pending bool
	if err := s.r.QueryRowContext(ctx, s.sql("SELECT EXISTS (SELECT 1 FROM meta WHERE name = ?)"), unsealedMarker).Scan(&pending); err != nil {
		return fmt.Errorf("read store metadata: %w", s.b.readFailed(err))
	}
	if !pending {
		return nil
	}
	s.unsealed.Store(true)
	if s.readOnly != nil {
		return nil
	}
	// The key must be the store's own: rows sealed under another key would
	// all be refused once the right key is back.
	if err := s.checkKey(); err != nil {
		return nil
	}
	var instances, labels int
	err := s.Write(ctx, func(tx *Tx) error {
		// Under the write lock: another process may have sealed them.
		if err := tx.row("SELECT EXISTS (SELECT 1 FROM meta WHERE name = ?)", unsealedMarker).Scan(&pending); err != nil || !pending {
			return err
		}
		k, err := tx.sealKey()
		if err != nil {
			return err
		}
		rows, err := tx.query("SELECT " + instanceColumns + " FROM instances WHERE length(mac) = 0")
		if err != nil {
			return err
		}
		type sealed struct {
			key []any
			mac []byte
		}
		var todo []sealed
		for rows.Next() {
			rec, err := scanInstanceRecord(rows)
			if err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, sealed{[]any{rec.InstanceId}, k.sumMAC("instance", instanceFields(&rec.InstanceRow, rec.blob, rec.pending)...)})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, t := range todo {
			if _, err := tx.exec("UPDATE instances SET mac = ? WHERE instance_id = ?", append([]any{t.mac}, t.key...)...); err != nil {
				return err
			}
		}
		instances = len(todo)
		todo = todo[:0]
		rows, err = tx.query("SELECT st.secret_id, st.stage, st.version_id, s.name FROM stages st JOIN secrets s ON s.id = st.secret_id WHERE length(st.mac) = 0")
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var stage, vid, name string
			if err := rows.Scan(&id, &stage, &vid, &name); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, sealed{[]any{id, stage}, k.sumMAC("stage", name, stage, vid)})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, t := range todo {
			if _, err := tx.exec("UPDATE stages SET mac = ? WHERE secret_id = ? AND stage = ?", append([]any{t.mac}, t.key...)...); err != nil {
				return err
			}
		}
		labels = len(todo)
		if _, err := tx.exec("DELETE FROM meta WHERE name = ?", unsealedMarker); err != nil {
			return err
		}
		return tx.Audit(model.AuditEvent{Time: timeNow(), Operator: "kmsconsole", Action: "AuthenticateRegistry", Result: "Success",
			Detail: fmt.Sprintf("store upgrade: %d instance row(s) and %d stage label(s) written before rows were authenticated now carry a MAC", instances, labels)})
	})
	if err != nil {
		return fmt.Errorf("authenticate the registry rows of %s: %w", s.Path, err)
	}
	s.unsealed.Store(false)
	return nil
}
