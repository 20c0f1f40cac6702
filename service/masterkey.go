package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"kmsconsole/db"
	"kmsconsole/model"
)

// masterKeyLease keeps two master key rotations of one store apart. Its
// lifetime is short: a run killed on a shared store (where no process id
// says it is dead) holds up the next one that long. Two runs that did
// overlap would do no harm — both move rows to the one key that
// master.key.new and the store's meta row name — only twice the work.
const (
	masterKeyLease    = "masterkey"
	masterKeyLeaseTTL = 10 * time.Second
)

// acquireMasterKeyLease takes the lease, waiting out one left by a run
// that was killed (waiting is told once).
func (s *Service) acquireMasterKeyLease(ctx context.Context, waiting func()) (*lease, error) {
	busy := errors.New("busy")
	deadline := time.Now().Add(masterKeyLeaseTTL + 5*time.Second)
	for told := false; ; {
		l, err := s.acquireLease(ctx, masterKeyLease, masterKeyLeaseTTL, func() error { return busy })
		if !errors.Is(err, busy) {
			return l, err
		}
		if time.Now().After(deadline) {
			return nil, model.Errorf(model.CodeResourceInUse, "A master key rotation of this store is already running")
		}
		if !told && waiting != nil {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// MasterKeyRotation is what RotateMasterKey did.
type MasterKeyRotation struct {
	RequestId string
	FromKeyId string
	ToKeyId   string
	// Resumed: an interrupted rotation was taken up where it stopped.
	Resumed bool
	// Moved is the rows sealed again by this run.
	Moved   int
	KeyPath string
}

// RotateMasterKeyOptions tune a master key rotation.
type RotateMasterKeyOptions struct {
	// Batch is the rows moved per transaction (0 = 100): smaller batches
	// hold the store's write lock for less time at once.
	Batch int
	// Progress, when set, is told the rows moved so far after each batch.
	Progress func(moved int)
	// Waiting, when set, is told that another run holds the rotation's
	// lease (one that was killed holds it until it expires).
	Waiting func()
}

// RotateMasterKey moves every sealed row of the store to a new master key
// (SPEC §10; the steps are in db/masterkey.go). Run again after an
// interruption, it resumes. Audited: when it starts (from which key to
// which, by id), and when it ends, with the rows moved.
func (s *Service) RotateMasterKey(ctx context.Context, opts RotateMasterKeyOptions) (*MasterKeyRotation, error) {
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	out := &MasterKeyRotation{KeyPath: s.store.KeyPath}
	err := s.handle(ctx, op{action: "RotateMasterKey", target: "master key", perm: permAdmin, what: "rotate the master key", audit: true},
		func(r *request) error {
			out.RequestId = r.ID
			l, err := s.acquireMasterKeyLease(ctx, opts.Waiting)
			if err != nil {
				return err
			}
			defer l.release()
			start, err := s.store.StartKeyRotation(ctx, func(tx *db.Tx, st db.KeyRotationStart) error {
				detail := fmt.Sprintf("from key %s to key %s", st.FromKeyId, st.ToKeyId)
				if st.Resumed {
					detail = "resumed: " + detail
				}
				return tx.Audit(model.AuditEvent{Time: s.now(), Operator: s.Actor().Name, Action: "RotateMasterKey", Target: "master key",
					Result: "Started", Detail: detail, RequestId: r.ID})
			})
			if err != nil {
				return err
			}
			out.FromKeyId, out.ToKeyId, out.Resumed = start.FromKeyId, start.ToKeyId, start.Resumed
			r.note(fmt.Sprintf("from key %s to key %s", start.FromKeyId, start.ToKeyId))
			for {
				for {
					n, err := s.store.MoveKeyBatch(ctx, opts.Batch)
					if err != nil {
						return err
					}
					if n == 0 {
						break
					}
					out.Moved += n
					if opts.Progress != nil {
						opts.Progress(out.Moved)
					}
				}
				ev := r.ev
				err := s.store.FinishKeyRotation(ctx, func(tx *db.Tx) error {
					r.ev = ev // an attempt run again starts from the record as it was
					r.note(fmt.Sprintf("%d row(s) sealed again; the old key file is replaced", out.Moved))
					return r.success(tx)
				})
				// Rows a process wrote under the old key before it saw the
				// rotation begin: move them too.
				if !errors.Is(err, db.ErrKeyRotationUnfinished) {
					return err
				}
			}
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MasterKeyStatus tells how many rows are under each master key.
func (s *Service) MasterKeyStatus(ctx context.Context) (*db.KeyState, error) {
	var st *db.KeyState
	err := s.handle(ctx, op{action: "MasterKeyStatus", target: "master key", perm: permAdmin, what: "read the master key status"},
		func(r *request) error {
			var err error
			st, err = s.store.MasterKeyState(ctx)
			return err
		})
	return st, err
}
