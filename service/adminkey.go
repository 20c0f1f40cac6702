package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"kmsconsole/db"
	"kmsconsole/ecs"
	"kmsconsole/model"
)

// Rotation of an instance's management login (SPEC §10, issue 15): the SSH
// key kmsconsole logs in to the host with is replaced with the discipline
// of a user credential:
//
//  1. create: a new ed25519 key is stored, sealed, as the instance's
//     pending admin key before the host sees it;
//  2. set: its public key is added to the admin user's authorized_keys,
//     over the management connection (the old key);
//  3. test: a fresh login with the new key (not the shared pool) runs a
//     command;
//  4. finish: in one transaction the pending key becomes the admin key and
//     the old one's public key is kept as the retired key; the pool drops
//     its connections made with the old key;
//  5. the lines holding the retired key go from authorized_keys (lines
//     with any other key stay), and a login with it is tried: it must be
//     refused.
//
// A failure before 4 removes the new line and clears the pending key: the
// old key keeps working. What a dead process left (a pending key, a
// retired key still on the host) is settled by the next rotation of that
// instance and by the scheduler at start and at every tick: a pending key
// the host accepts is promoted, one it refuses is removed; a retired key's
// lines are removed.
//
// An instance's admin key rotation never runs beside a rotation of a
// secret of that instance, in any process: it takes the instance's admin
// key lease and then the rotation lease of every secret that manages the
// instance (waiting for rotations under way to end), and a secret's
// rotation that starts meanwhile finds the admin key lease taken and
// refuses (rotateSecret, instanceBusy).

// RotateAdminKeyRequest rotates one instance's admin key.
type RotateAdminKeyRequest struct {
	InstanceId string
	// Progress, when set, is told each step as it starts (StepCreate,
	// StepSet, StepTest, StepFinish).
	Progress func(step string) `json:"-"`
	// held: the caller (the scheduler) holds the instance's lock.
	held *instanceLock
}

// RotateAdminKeyResponse is what a rotation did. It never holds a key,
// only fingerprints.
type RotateAdminKeyResponse struct {
	RequestId           string
	InstanceId          string
	AdminUser           string
	Fingerprint         string // of the new admin key
	PreviousFingerprint string // of the key it replaced
	// RemovedKeyLines: authorized_keys lines of the previous key removed.
	RemovedKeyLines int
	// OldKeyRefused: a login with the previous key was tried after its
	// lines went, and the host refused it.
	OldKeyRefused bool
	Warning       string `json:",omitempty"`
}

// adminKeyLockWait bounds how long an admin key rotation waits for the
// rotations under way on its instance to end (a variable for tests).
var adminKeyLockWait = 2 * time.Minute

// adminKeyLease is the lease of an instance's admin key rotation.
func adminKeyLease(instanceId string) string { return "adminkey:" + instanceId }

// adminKeyTag is the comment of the authorized_keys line of an admin key
// the console added; it names the key by its fingerprint. ECS secret names
// start with acs/ecs/, so no secret's tag is ever one of these.
func adminKeyTag(instanceId, fingerprint string) string {
	return ecs.KeyTag("admin-key@"+instanceId, strings.TrimPrefix(fingerprint, "SHA256:"))
}

// publicKeyOf is a private key's public key as authorized_keys lines hold
// it ("<type> <base64>") and its fingerprint.
func publicKeyOf(privateKey []byte) (line, fingerprint string, err error) {
	signer, err := ssh.ParsePrivateKey(privateKey)
	if err != nil {
		return "", "", errors.New("the stored admin key does not parse")
	}
	return model.KeyLine(signer.PublicKey()), model.KeyFingerprint(signer.PublicKey()), nil
}

// fingerprintOf is the fingerprint of a public key line ("" if unparsable).
func fingerprintOf(line string) string {
	fp, _ := ecs.Fingerprint(line)
	return fp
}

// instanceLock is an instance's admin key lease and the rotation leases of
// the secrets that manage it.
type instanceLock struct {
	leases []*lease
}

func (l *instanceLock) release() {
	for i := len(l.leases) - 1; i >= 0; i-- {
		l.leases[i].release()
	}
}

// lockInstance takes the instance's admin key lease, then the rotation
// lease of every secret that manages the instance, waiting up to wait for
// rotations under way. ResourceInUse when another admin key rotation of the
// instance runs, or a secret's rotation does not end in time.
func (s *Service) lockInstance(ctx context.Context, instanceId string, wait time.Duration) (*instanceLock, error) {
	own, err := s.acquireLease(ctx, adminKeyLease(instanceId), s.leaseTTL(), func() error {
		return model.Errorf(model.CodeResourceInUse, "The admin key of instance %s is already being rotated", instanceId)
	})
	if err != nil {
		return nil, err
	}
	l := &instanceLock{leases: []*lease{own}}
	var names []string
	if err := s.store.Read(ctx, func(tx *db.Tx) error {
		rows, err := tx.SecretsOfInstance(instanceId)
		for _, r := range rows {
			names = append(names, r.Name)
		}
		return err
	}); err != nil {
		l.release()
		return nil, model.Wrap(err)
	}
	deadline := time.Now().Add(wait)
	for _, name := range names {
		for {
			sl, err := s.acquireRotationLease(ctx, name)
			if err == nil {
				l.leases = append(l.leases, sl)
				break
			}
			if !model.IsCode(err, model.CodeResourceInUse) || time.Now().After(deadline) {
				l.release()
				if model.IsCode(err, model.CodeResourceInUse) {
					return nil, model.Errorf(model.CodeResourceInUse, "The secret %s of instance %s is being rotated; its admin key rotates once no rotation runs there: try again", name, instanceId)
				}
				return nil, err
			}
			select {
			case <-ctx.Done():
				l.release()
				return nil, ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return l, nil
}

// instanceBusy refuses to rotate a secret while the admin key of its
// instance is being rotated (by a live process).
func (s *Service) instanceBusy(ctx context.Context, instanceId string) error {
	var holder string
	if err := s.store.Read(ctx, func(tx *db.Tx) (err error) {
		holder, err = tx.LeaseHolder(adminKeyLease(instanceId), time.Now())
		return err
	}); err != nil {
		return err
	}
	if holder == "" || !s.store.Shared() && holderDead(holder) {
		return nil
	}
	return model.Errorf(model.CodeResourceInUse, "The admin key of instance %s is being rotated; try again when it is done", instanceId)
}

// loadInstance reads an instance with its keys; NotFound when unknown.
func (s *Service) loadInstance(ctx context.Context, id string) (*db.InstanceRow, error) {
	var inst *db.InstanceRow
	err := s.store.Read(ctx, func(tx *db.Tx) (err error) {
		inst, err = tx.Instance(id)
		return err
	})
	if err != nil {
		return nil, model.Wrap(err)
	}
	if inst == nil {
		return nil, model.NotFound("The instance %s does not exist", id)
	}
	return inst, nil
}

// RotateAdminKey replaces the instance's management login key: create,
// set, test, finish, then the old key's lines go. On a failure before the
// promotion the host is put back and the old key keeps working.
func (s *Service) RotateAdminKey(ctx context.Context, req RotateAdminKeyRequest) (resp *RotateAdminKeyResponse, err error) {
	o := op{action: "RotateAdminKey", target: req.InstanceId, perm: permAdmin, what: "rotate admin keys", audit: true}
	err = s.handle(ctx, o, func(r *request) error {
		resp, err = s.rotateAdminKey(ctx, r, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// adminKeyRun is one rotation in flight: its step records are written with
// the transaction that ends the rotation (or that stores the pending key),
// all under the request's id.
type adminKeyRun struct {
	s      *Service
	r      *request // nil: a settlement
	rid    string   // the request id of the records
	inst   *db.InstanceRow
	events []model.AuditEvent
}

func (a *adminKeyRun) step(result, detail string) {
	a.events = append(a.events, model.AuditEvent{Time: a.s.now(), Operator: a.s.Actor().Name, Action: "RotateAdminKeyStep",
		Target: a.inst.InstanceId, Result: result, RequestId: a.rid, Detail: model.SafeText(detail)})
}

// flush writes the step records gathered so far in tx.
func (a *adminKeyRun) flush(tx *db.Tx) error {
	evs := a.events
	tx.OnCommit(func() { a.events = a.events[len(evs):] })
	return tx.AuditBatch(evs)
}

func (s *Service) rotateAdminKey(ctx context.Context, r *request, req RotateAdminKeyRequest) (*RotateAdminKeyResponse, error) {
	if err := model.ValidateInstanceId(req.InstanceId); err != nil {
		return nil, err
	}
	id := req.InstanceId
	if _, err := s.loadInstance(ctx, id); err != nil {
		return nil, err
	}
	if err := s.beginRotation(); err != nil {
		return nil, err
	}
	defer s.run.inflight.Done()
	if req.held == nil {
		l, err := s.lockInstance(ctx, id, adminKeyLockWait)
		if err != nil {
			return nil, err
		}
		defer l.release()
	}
	// From here on the host may be touched: the rotation runs to its end
	// even if the caller goes away.
	ctx = context.WithoutCancel(ctx)
	inst, err := s.loadInstance(ctx, id)
	if err != nil {
		return nil, err
	}
	if inst.AdminKeyPending || inst.RetiredAdminKey != "" {
		// A rotation died half-way: settle it first.
		if err := s.settleAdminKeyLocked(ctx, id); err != nil {
			return nil, err
		}
		if inst, err = s.loadInstance(ctx, id); err != nil {
			return nil, err
		}
	}
	progress := func(step string) {
		if req.Progress != nil {
			req.Progress(step)
		}
	}
	run := &adminKeyRun{s: s, r: r, rid: r.ID, inst: inst}
	_, oldFp, err := publicKeyOf(inst.AdminKey)
	if err != nil {
		return nil, model.Errorf(model.CodeRotationFailed, "Rotation of the admin key of %s: %v", id, err)
	}
	resp := &RotateAdminKeyResponse{RequestId: r.ID, InstanceId: id, AdminUser: inst.AdminUser, PreviousFingerprint: oldFp}

	// 1. create — durably store the new key before the host sees it.
	progress(StepCreate)
	newPub, newKey, err := model.NewEd25519Key()
	if err != nil {
		return nil, fmt.Errorf("generate the new admin key: %w", err)
	}
	resp.Fingerprint = fingerprintOf(newPub)
	run.step("Success", fmt.Sprintf("create: new admin key %s stored pending (replaces %s)", resp.Fingerprint, oldFp))
	err = s.store.Write(ctx, func(tx *db.Tx) error {
		row, err := tx.Instance(id)
		if err != nil {
			return err
		}
		if row == nil {
			return model.NotFound("The instance %s does not exist", id)
		}
		if row.PendingAdminKey != nil {
			return model.Errorf(model.CodeResourceInUse, "The instance %s already has a pending admin key", id)
		}
		row.PendingAdminKey = newKey
		if err := tx.UpdateInstanceKeys(row); err != nil {
			return err
		}
		return run.flush(tx)
	})
	if err != nil {
		return nil, model.Wrap(err)
	}
	s.stepDone(StepCreate)

	// 2. set — over the management connection, with the old key.
	progress(StepSet)
	sctx, cancel := contextWithTimeout(ctx)
	err = s.ecs.withClient(sctx, inst, func(c *ecs.Client) error {
		return c.AddAuthorizedKey(sctx, inst.AdminUser, newPub, adminKeyTag(id, resp.Fingerprint))
	})
	cancel()
	if err != nil {
		applied := !errors.Is(err, ecs.ErrNotApplied) && !errors.Is(err, ecs.ErrSudo) && !errors.Is(err, ecs.ErrNoSuchUser) &&
			!errors.Is(err, ecs.ErrAdminAuth) && !isHostKeyMismatch(err)
		return nil, s.failAdminKeyRotation(ctx, run, newPub, newKey, StepSet, describeECSError("set", inst, err), applied)
	}
	run.step("Success", fmt.Sprintf("set: %s added to the authorized_keys of %s", resp.Fingerprint, inst.AdminUser))
	s.stepDone(StepSet)

	// 3. test — a fresh login with the new key.
	progress(StepTest)
	if err := testAdminKey(ctx, inst, newKey); err != nil {
		return nil, s.failAdminKeyRotation(ctx, run, newPub, newKey, StepTest, describeAdminLogin("test", inst, err), true)
	}
	run.step("Success", fmt.Sprintf("test: a fresh login as %s with %s works", inst.AdminUser, resp.Fingerprint))
	s.stepDone(StepTest)

	// 4. finish
	progress(StepFinish)
	run.step("Success", fmt.Sprintf("finish: %s is the admin key; %s is retired", resp.Fingerprint, oldFp))
	r.note(fmt.Sprintf("admin key %s replaced by %s", oldFp, resp.Fingerprint))
	if err := s.promoteAdminKey(ctx, run, newKey); err != nil {
		return nil, err
	}
	s.stepDone(StepFinish)

	// 5. the old key's lines go.
	resp.RemovedKeyLines, resp.OldKeyRefused, err = s.retireAdminKey(ctx, id, r.ID, inst.AdminKey)
	if err != nil {
		resp.Warning = err.Error()
	}
	return resp, nil
}

// testAdminKey logs in to the instance with key on a fresh connection, as
// the management login would, and runs a command there.
func testAdminKey(ctx context.Context, inst *db.InstanceRow, key []byte) error {
	ctx, cancel := contextWithTimeout(ctx)
	defer cancel()
	t := targetOf(inst)
	t.AdminKey = key
	c, err := ecs.Dial(ctx, t)
	if err != nil {
		return err
	}
	defer c.Close()
	ok, err := c.UserExists(ctx, inst.AdminUser)
	if err == nil && !ok {
		err = fmt.Errorf("%w: %q", ecs.ErrNoSuchUser, inst.AdminUser)
	}
	return err
}

// describeAdminLogin is describeECSError for a login with a new (or
// retired) admin key, whose refusal is not a broken management login.
func describeAdminLogin(step string, inst *db.InstanceRow, err error) string {
	if errors.Is(err, ecs.ErrAdminAuth) {
		return fmt.Sprintf("%s: the host %s refused a login as %s with the new admin key (does its sshd accept ed25519 keys?)", step, inst.InstanceId, inst.AdminUser)
	}
	return describeECSError(step, inst, err)
}

// failAdminKeyRotation puts the host back (the new key's lines go, over
// the old key's connection) and clears the pending key, recording each
// outcome. When the host cannot be put back for sure, the pending key is
// kept: the next start settles it by testing it.
func (s *Service) failAdminKeyRotation(ctx context.Context, run *adminKeyRun, newPub string, newKey []byte, step, reason string, applied bool) error {
	inst := run.inst
	run.step("Failure", reason)
	rolledBack := !applied
	outcome := "nothing reached the host; the pending key was dropped; the old admin key still logs in"
	if applied {
		rctx, cancel := contextWithTimeout(ctx)
		var removed int
		err := s.ecs.withClient(rctx, inst, func(c *ecs.Client) error {
			var err error
			removed, err = c.RemoveAuthorizedKeyLines(rctx, inst.AdminUser, func(l ecs.AuthorizedKeyLine) bool { return l.Key == newPub })
			return err
		})
		cancel()
		rolledBack = err == nil
		if rolledBack {
			outcome = fmt.Sprintf("rolled back: %d line(s) of the new key removed, the pending key dropped; the old admin key still logs in", removed)
			run.step("Success", "rollback: "+outcome)
		} else {
			outcome = "rollback failed (" + describeECSError("rollback", inst, err) + "); the new key is kept pending: the next start, or the next rotation of this instance, settles it by testing which key the host accepts"
			run.step("Failure", "rollback: "+outcome)
		}
	} else {
		run.step("Success", "rollback: "+outcome)
	}
	reason += "; " + outcome
	_ = s.store.Write(context.WithoutCancel(ctx), func(tx *db.Tx) error {
		row, err := tx.Instance(inst.InstanceId)
		if err != nil || row == nil {
			return err
		}
		if rolledBack && bytes.Equal(row.PendingAdminKey, newKey) {
			row.PendingAdminKey = nil
		}
		s.markAdminKeyFailed(row, reason)
		if err := tx.UpdateInstanceKeys(row); err != nil {
			return err
		}
		return run.flush(tx)
	})
	return model.Errorf(model.CodeRotationFailed, "Rotation of the admin key of %s failed at %s", inst.InstanceId, reason)
}

// markAdminKeyFailed records a failure with a capped exponential retry
// time, as markFailed does for a secret.
func (s *Service) markAdminKeyFailed(row *db.InstanceRow, reason string) {
	row.AdminKeyError = reason
	row.AdminKeyFailures++
	backoff := 5 * time.Minute << min(row.AdminKeyFailures-1, 6)
	row.AdminKeyRetry = s.now().Add(min(backoff, 6*time.Hour))
}

// promoteAdminKey makes the pending key the admin key and keeps the old
// one's public key as the retired key, in one transaction with the step
// records and the request's success (r nil: a settlement). The pool then
// drops every connection made with the old key.
func (s *Service) promoteAdminKey(ctx context.Context, run *adminKeyRun, newKey []byte) error {
	id := run.inst.InstanceId
	err := s.store.Write(ctx, func(tx *db.Tx) error {
		row, err := tx.Instance(id)
		if err != nil {
			return err
		}
		if row == nil {
			return model.NotFound("The instance %s does not exist", id)
		}
		if !bytes.Equal(row.PendingAdminKey, newKey) {
			return model.Errorf(model.CodeRotationFailed, "The pending admin key of %s changed during its rotation", id)
		}
		oldPub, _, err := publicKeyOf(row.AdminKey)
		if err != nil {
			return err
		}
		newPub, _, err := publicKeyOf(newKey)
		if err != nil {
			return err
		}
		row.AdminKey, row.PendingAdminKey = newKey, nil
		if oldPub != newPub {
			row.RetiredAdminKey = oldPub
		}
		row.AdminKeyRotated = s.now()
		row.AdminKeyError, row.AdminKeyFailures, row.AdminKeyRetry = "", 0, time.Time{}
		if err := tx.UpdateInstanceKeys(row); err != nil {
			return err
		}
		if err := run.flush(tx); err != nil {
			return err
		}
		if run.r != nil {
			return run.r.success(tx)
		}
		return nil
	})
	if err != nil {
		return model.Wrap(err)
	}
	s.ecs.forget(id)
	return nil
}

// retireAdminKey removes from the admin user's authorized_keys every line
// holding the retired admin key (never one holding the current key, and no
// other line) and clears the retired key; given the retired private key
// (nil once a crash lost it), it then tries a login with it, which must be
// refused. A failure leaves the retired key recorded for the next
// settlement; it is audited and returned.
func (s *Service) retireAdminKey(ctx context.Context, id, requestId string, oldKey []byte) (removed int, refused bool, err error) {
	inst, err := s.loadInstance(ctx, id)
	if err != nil || inst.RetiredAdminKey == "" {
		return 0, false, err
	}
	retired := inst.RetiredAdminKey
	curPub, _, err := publicKeyOf(inst.AdminKey)
	if err != nil {
		return 0, false, err
	}
	audit := func(result, detail string) {
		_ = s.store.Write(ctx, func(tx *db.Tx) error {
			return tx.Audit(model.AuditEvent{Time: s.now(), Operator: s.Actor().Name, Action: "RotateAdminKeyStep", Target: id,
				Result: result, RequestId: requestId, Detail: model.SafeText(detail)})
		})
	}
	// Another instance registered on the same host and user that still
	// logs in with the retired key would be locked out: its line stays.
	var sharing []string
	if err := s.store.Read(ctx, func(tx *db.Tx) error {
		list, err := tx.Instances("")
		if err != nil {
			return err
		}
		for _, o := range list {
			if o.InstanceId == id || o.Host != inst.Host || o.Port != inst.Port || o.AdminUser != inst.AdminUser {
				continue
			}
			other, err := tx.Instance(o.InstanceId)
			if err != nil {
				return err
			}
			for _, k := range [][]byte{other.AdminKey, other.PendingAdminKey} {
				if pub, _, err := publicKeyOf(k); k != nil && err == nil && pub == retired {
					sharing = append(sharing, o.InstanceId)
					break
				}
			}
		}
		return nil
	}); err != nil {
		return 0, false, model.Wrap(err)
	}
	rctx, cancel := contextWithTimeout(ctx)
	defer cancel()
	if len(sharing) > 0 {
		reason := fmt.Sprintf("revoke: the old admin key %s was left in the authorized_keys of %s: instance %s (the same host and user) logs in with it; rotate its admin key too",
			fingerprintOf(retired), inst.AdminUser, strings.Join(sharing, ", "))
		audit("Failure", reason)
		return 0, false, errors.Join(errors.New(reason), s.clearRetiredAdminKey(ctx, id, retired))
	}
	if retired != curPub {
		err = s.ecs.withClient(rctx, inst, func(c *ecs.Client) error {
			var err error
			removed, err = c.RemoveAuthorizedKeyLines(rctx, inst.AdminUser, func(l ecs.AuthorizedKeyLine) bool {
				return l.Key == retired && l.Key != curPub
			})
			return err
		})
		if err != nil {
			reason := describeECSError("remove the old admin key", inst, err) + "; the old admin key still logs in: the scheduler (serve, the console) or the next rotation of this instance removes it"
			audit("Failure", reason)
			return 0, false, errors.New(reason)
		}
	}
	if err := s.clearRetiredAdminKey(ctx, id, retired); err != nil {
		return removed, false, err
	}
	detail := fmt.Sprintf("revoke: %d line(s) of the old admin key %s removed", removed, fingerprintOf(retired))
	if oldPub, _, perr := publicKeyOf(oldKey); oldKey == nil || perr != nil || oldPub != retired {
		audit("Success", detail)
		return removed, false, nil
	}
	// The old key must no longer log in (it could be authorized elsewhere
	// than ~/.ssh/authorized_keys, which kmsconsole does not manage).
	lerr := testAdminKey(rctx, inst, oldKey)
	switch {
	case errors.Is(lerr, ecs.ErrAdminAuth):
		refused = true
		audit("Success", detail+"; a login with it is refused")
	case lerr == nil:
		reason := detail + "; yet a login with it still works (is it authorized elsewhere than ~/.ssh/authorized_keys?): remove it from the host by hand"
		audit("Failure", reason)
		return removed, false, errors.New(reason)
	default:
		audit("Success", detail+"; could not try a login with it: "+describeECSError("check", inst, lerr))
	}
	return removed, refused, nil
}

// clearRetiredAdminKey forgets the retired key once its lines are gone
// (or must stay).
func (s *Service) clearRetiredAdminKey(ctx context.Context, id, retired string) error {
	return model.Wrap(s.store.Write(ctx, func(tx *db.Tx) error {
		row, err := tx.Instance(id)
		if err != nil || row == nil || row.RetiredAdminKey != retired {
			return err
		}
		row.RetiredAdminKey = ""
		return tx.UpdateInstanceKeys(row)
	}))
}

// ResolvePendingAdminKey settles what a rotation of the instance's admin
// key that died half-way left: a pending key the host accepts is promoted
// (and the old key's lines go), one it refuses is removed from the host
// and dropped; a retired key's lines still on the host go.
func (s *Service) ResolvePendingAdminKey(ctx context.Context, id string) error {
	if err := model.ValidateInstanceId(id); err != nil {
		return err
	}
	l, err := s.lockInstance(ctx, id, 0)
	if err != nil {
		return err
	}
	defer l.release()
	return s.settleAdminKeyLocked(ctx, id)
}

func (s *Service) settleAdminKeyLocked(ctx context.Context, id string) error {
	inst, err := s.loadInstance(ctx, id)
	if err != nil {
		return err
	}
	rid := newRequestId()
	if inst.PendingAdminKey != nil {
		run := &adminKeyRun{s: s, rid: rid, inst: inst}
		pendPub, pendFp, err := publicKeyOf(inst.PendingAdminKey)
		if err != nil {
			return model.Errorf(model.CodeRotationFailed, "settling the admin key rotation of %s: the pending key: %v", id, err)
		}
		verr := testAdminKey(ctx, inst, inst.PendingAdminKey)
		switch {
		case verr == nil:
			run.step("Success", fmt.Sprintf("settle: the host accepts the pending admin key %s: promoted", pendFp))
			if err := s.promoteAdminKey(ctx, run, inst.PendingAdminKey); err != nil {
				return err
			}
			s.auditEvent(ctx, "ResolvePendingAdminKey", id, "", "Success", "", "the host accepts the pending admin key "+pendFp+": promoted")
		case errors.Is(verr, ecs.ErrAdminAuth):
			rctx, cancel := contextWithTimeout(ctx)
			err := s.ecs.withClient(rctx, inst, func(c *ecs.Client) error {
				_, err := c.RemoveAuthorizedKeyLines(rctx, inst.AdminUser, func(l ecs.AuthorizedKeyLine) bool { return l.Key == pendPub })
				return err
			})
			cancel()
			if err != nil {
				return model.Errorf(model.CodeRotationFailed, "settling the admin key rotation of %s: %s", id, describeECSError("remove the pending admin key", inst, err))
			}
			run.step("Success", fmt.Sprintf("settle: the host refuses the pending admin key %s: its lines removed, dropped; the admin key is unchanged", pendFp))
			err = s.store.Write(ctx, func(tx *db.Tx) error {
				row, err := tx.Instance(id)
				if err != nil || row == nil || !bytes.Equal(row.PendingAdminKey, inst.PendingAdminKey) {
					return err
				}
				row.PendingAdminKey = nil
				if err := tx.UpdateInstanceKeys(row); err != nil {
					return err
				}
				return run.flush(tx)
			})
			if err != nil {
				return model.Wrap(err)
			}
			s.auditEvent(ctx, "ResolvePendingAdminKey", id, "", "Success", "", "the host refuses the pending admin key "+pendFp+": dropped, the admin key is unchanged")
		default:
			return model.Errorf(model.CodeRotationFailed, "settling the admin key rotation of %s: %s", id, describeECSError("test the pending admin key", inst, verr))
		}
	}
	if _, _, err := s.retireAdminKey(ctx, id, rid, nil); err != nil {
		// Settled all the same when the retired key was let go (another
		// instance logs in with it); not while its lines remain to remove.
		if inst, lerr := s.loadInstance(ctx, id); lerr != nil || inst.RetiredAdminKey != "" {
			return model.Errorf(model.CodeRotationFailed, "settling the admin key rotation of %s: %v", id, err)
		}
	}
	return nil
}

// ResolveAllPendingAdminKeys settles every admin key rotation a crash
// interrupted; run at start-up and by the scheduler. It returns the
// instances it could not settle (one being rotated is left alone).
func (s *Service) ResolveAllPendingAdminKeys(ctx context.Context) (unresolved []string) {
	var list []model.Instance
	_ = s.store.Read(ctx, func(tx *db.Tx) (err error) {
		list, err = tx.Instances("")
		return err
	})
	for _, in := range list {
		if !in.AdminKeyPending && in.RetiredAdminKey == "" {
			continue
		}
		if err := s.ResolvePendingAdminKey(ctx, in.InstanceId); err != nil && !model.IsCode(err, model.CodeResourceInUse) {
			unresolved = append(unresolved, in.InstanceId)
		}
	}
	return unresolved
}

// adminKeyDue reports whether the scheduler should rotate the instance's
// admin key now: its period has passed since the last rotation (or since
// the instance was added), or it failed and its retry time has come (until
// maxRetries failures in a row stop retries for an operator to act).
func adminKeyDue(in model.Instance, now time.Time) bool {
	if in.AdminKeyPeriod <= 0 {
		return false
	}
	if in.AdminKeyFailures > 0 {
		return in.AdminKeyFailures < maxRetries && !now.Before(in.AdminKeyRetry)
	}
	return !now.Before(nextAdminKeyRotation(in))
}

// nextAdminKeyRotation is when the period next makes the admin key due
// (zero without a period).
func nextAdminKeyRotation(in model.Instance) time.Time {
	if in.AdminKeyPeriod <= 0 {
		return time.Time{}
	}
	base := in.AdminKeyRotated
	if base.IsZero() {
		base = in.CreateTime
	}
	return base.Add(time.Duration(in.AdminKeyPeriod) * time.Second)
}

// AdminKeyDueResult is what the scheduler did with one instance.
type AdminKeyDueResult struct {
	InstanceId  string
	Fingerprint string
	Err         error
}

// RotateDueAdminKeys rotates the admin key of every instance whose period
// has passed. Each is checked again under the instance's lock, so two
// schedulers never rotate one twice.
func (s *Service) RotateDueAdminKeys(ctx context.Context) []AdminKeyDueResult {
	var list []model.Instance
	if err := s.store.Read(ctx, func(tx *db.Tx) (err error) {
		list, err = tx.Instances("")
		return err
	}); err != nil {
		return []AdminKeyDueResult{{Err: err}}
	}
	var out []AdminKeyDueResult
	for _, in := range list {
		if ctx.Err() != nil {
			break
		}
		if !adminKeyDue(in, s.now()) {
			continue
		}
		l, err := s.lockInstance(ctx, in.InstanceId, 0)
		if err != nil {
			continue // a rotation runs there now; the next tick looks again
		}
		fresh, err := s.loadInstance(ctx, in.InstanceId)
		if err != nil || !adminKeyDue(fresh.Instance, s.now()) {
			l.release()
			continue
		}
		resp, err := s.RotateAdminKey(ctx, RotateAdminKeyRequest{InstanceId: in.InstanceId, held: l})
		l.release()
		res := AdminKeyDueResult{InstanceId: in.InstanceId, Err: err}
		if resp != nil {
			res.Fingerprint = resp.Fingerprint
		}
		out = append(out, res)
	}
	return out
}

// SetAdminKeyPeriod sets how often the instance's admin key rotates on its
// own ("30d"; "none" or "0" for never). Setting it re-arms a rotation that
// failed.
func (s *Service) SetAdminKeyPeriod(ctx context.Context, id, period string) (view *InstanceView, err error) {
	err = s.handle(ctx, op{action: "SetAdminKeyPeriod", target: id, perm: permAdmin, what: "change instances", audit: true, detail: "Period " + period}, func(r *request) error {
		if err := model.ValidateInstanceId(id); err != nil {
			return err
		}
		seconds, err := model.ParseAdminKeyPeriod(period)
		if err != nil {
			return err
		}
		return r.write(ctx, func(tx *db.Tx) error {
			row, err := tx.Instance(id)
			if err != nil {
				return err
			}
			if row == nil {
				return model.NotFound("The instance %s does not exist", id)
			}
			row.AdminKeyPeriod = seconds
			row.AdminKeyError, row.AdminKeyFailures, row.AdminKeyRetry = "", 0, time.Time{}
			if err := tx.UpdateInstanceKeys(row); err != nil {
				return err
			}
			v := viewOf(row.Instance)
			view = &v
			return nil
		})
	})
	return view, err
}
