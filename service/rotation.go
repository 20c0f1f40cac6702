package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"kmsconsole/db"
	"kmsconsole/ecs"
	"kmsconsole/model"
)

// Rotation steps, in order, as the console shows them.
const (
	StepCreate = "create"
	StepSet    = "set"
	StepTest   = "test"
	StepFinish = "finish"
)

// Rotation limits.
const (
	maxRotationsPerHour = 50
	// DefaultLeaseTTL is how long a rotation lease lasts unless renewed
	// (renewed every quarter of it while the rotation runs): a process that
	// dies mid-rotation holds up its secret that long, no longer.
	DefaultLeaseTTL = 60 * time.Second
	// maxRetries failed automatic rotations in a row stop the scheduler
	// from retrying until an operator acts.
	maxRetries = 5
)

// stepDone tells Options.AfterStep that a rotation step has completed.
func (s *Service) stepDone(step string) {
	if s.opts.AfterStep != nil {
		s.opts.AfterStep(step)
	}
}

// hostname names this machine in lease holders.
var hostname, _ = os.Hostname()

// newHolder names one rotation attempt: host, pid (so another process on the
// same host can tell a crashed holder from a live one) and a unique id.
func newHolder() string {
	return hostname + ":" + strconv.Itoa(os.Getpid()) + ":" + uuid.NewString()
}

// holderDead reports whether the lease holder was a process on this host that
// no longer exists: its lease need not be waited out.
func holderDead(holder string) bool {
	parts := strings.SplitN(holder, ":", 3)
	if len(parts) != 3 || parts[0] != hostname {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// lease is a held rotation lease, renewed in the background until released.
type lease struct {
	s      *Service
	name   string
	ttl    time.Duration
	holder string
	stop   chan struct{}
	done   chan struct{}
}

// acquireRotationLease takes the secret's rotation lease so no other
// goroutine or process rotates it at the same time.
func (s *Service) acquireRotationLease(ctx context.Context, secretName string) (*lease, error) {
	return s.acquireLease(ctx, rotationLease(secretName), s.leaseTTL(), func() error {
		return model.Errorf(model.CodeResourceInUse, "A rotation of %s is already running", secretName)
	})
}

// acquireLease takes the named lease for ttl, renewed in the background
// every ttl/4 until released; busy is the error when another live holder
// has it.
func (s *Service) acquireLease(ctx context.Context, name string, ttl time.Duration, busy func() error) (*lease, error) {
	l := &lease{s: s, name: name, ttl: ttl, holder: newHolder(), stop: make(chan struct{}), done: make(chan struct{})}
	var got bool
	err := s.store.Write(ctx, func(tx *db.Tx) error {
		now := time.Now()
		var err error
		got, err = tx.AcquireLease(l.name, l.holder, now, now.Add(l.ttl))
		if err != nil || got {
			return err
		}
		holder, err := tx.LeaseHolder(l.name, now)
		if err != nil {
			return err
		}
		// On one machine's SQLite file a holder whose process is gone
		// need not be waited out; across machines only expiry counts.
		if !s.store.Shared() && holderDead(holder) {
			if err := tx.ReleaseLease(l.name, holder); err != nil {
				return err
			}
			got, err = tx.AcquireLease(l.name, l.holder, now, now.Add(l.ttl))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !got {
		return nil, busy()
	}
	go l.renew()
	return l, nil
}

func (l *lease) renew() {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			_ = l.s.store.Write(context.Background(), func(tx *db.Tx) error {
				now := time.Now()
				_, err := tx.AcquireLease(l.name, l.holder, now, now.Add(l.ttl))
				return err
			})
		}
	}
}

func (l *lease) release() {
	close(l.stop)
	<-l.done
	_ = l.s.store.Write(context.Background(), func(tx *db.Tx) error { return tx.ReleaseLease(l.name, l.holder) })
}

// rotationTarget is everything a rotation needs, loaded in one read.
type rotationTarget struct {
	secret  *db.SecretRow
	cfg     model.ECSConfig
	inst    *db.InstanceRow
	labels  model.Labels
	current model.ECSData
	curId   string
	pending *model.ECSData
	pendId  string
}

func (s *Service) loadRotationTarget(ctx context.Context, name string) (*rotationTarget, error) {
	var t rotationTarget
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		sec, err := loadSecret(tx, name, false)
		if err != nil {
			return err
		}
		if sec.Type != model.ECS {
			return model.InvalidParam("SecretName", "%s is a generic secret: it has no built-in rotation; use PutSecretValue", sec.Name)
		}
		t.secret = sec
		if t.cfg, err = model.ParseECSConfig(sec.ExtendedConfig); err != nil {
			return err
		}
		if t.inst, err = tx.Instance(t.cfg.InstanceId); err != nil {
			return err
		}
		if t.inst == nil {
			return model.NotFound("The instance %s of secret %s no longer exists", t.cfg.InstanceId, sec.Name)
		}
		if t.labels, err = tx.Labels(sec.ID); err != nil {
			return err
		}
		read := func(vid string) (*model.ECSData, error) {
			v, err := tx.Version(sec, vid)
			if err != nil || v == nil {
				return nil, err
			}
			var d model.ECSData
			if err := json.Unmarshal([]byte(v.Data), &d); err != nil {
				return nil, fmt.Errorf("version %s of %s is not ECS data", vid, sec.Name)
			}
			return &d, nil
		}
		t.curId = t.labels[model.StageCurrent]
		cur, err := read(t.curId)
		if err != nil {
			return err
		}
		if cur == nil {
			return model.NotFound("The secret %s has no current version", sec.Name)
		}
		t.current = *cur
		if t.pendId = t.labels[model.StagePending]; t.pendId != "" {
			if t.pending, err = read(t.pendId); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, model.Wrap(err)
	}
	return &t, nil
}

// newCredential makes the value of the next version: the custom value when
// given (a bare password or private key, or the full JSON), else a random
// 32-character password or a new RSA-2048 key pair. A custom value is the
// ECS JSON only when it is a JSON object with the ECS fields; anything else
// is the password (or private key) itself, "{" first character included.
func newCredential(subType, user, custom string) (model.ECSData, error) {
	d := model.ECSData{UserName: user}
	if custom != "" {
		if model.LooksLikeECSData(custom) {
			parsed, err := model.ParseECSData(custom, subType)
			if err != nil {
				return d, err
			}
			if parsed.UserName != user {
				return d, model.InvalidParam("SecretData", "UserName must stay %s", user)
			}
			if subType == model.SubTypePassword {
				if err := model.ValidateNewPassword(parsed.Password); err != nil {
					return d, err
				}
			}
			return parsed, nil
		}
		if subType == model.SubTypePassword {
			d.Password = custom
			return d, model.ValidateNewPassword(custom)
		}
		pub, err := model.PublicKeyOf(custom)
		if err != nil {
			return d, model.InvalidParam("SecretData", "a custom key pair is a private key (PEM/OpenSSH) or JSON with PublicKey and PrivateKey")
		}
		d.PublicKey, d.PrivateKey = pub, custom
		return d, nil
	}
	if subType == model.SubTypeSSHKey {
		pub, priv, err := model.NewRSAKeyPair()
		d.PublicKey, d.PrivateKey = pub, priv
		return d, err
	}
	p, err := model.RandomPassword(model.DefaultPasswordOptions())
	d.Password = p
	return d, err
}

// RotateSecret rotates a managed ECS secret: create, set, test, finish
// (SPEC §3). On failure the host keeps the old credential.
func (s *Service) RotateSecret(ctx context.Context, req RotateSecretRequest) (resp *RotateSecretResponse, err error) {
	o := op{action: "RotateSecret", target: req.SecretName, versionId: req.VersionId, perm: permAdmin, what: "rotate secrets", audit: true}
	err = s.handle(ctx, o, func(r *request) error {
		resp, err = s.rotateSecret(ctx, r, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Service) rotateSecret(ctx context.Context, r *request, req RotateSecretRequest) (*RotateSecretResponse, error) {
	if err := model.ValidateSecretNameRef(req.SecretName); err != nil {
		return nil, err
	}
	if req.VersionId != "" {
		if err := model.ValidateVersionId(req.VersionId); err != nil {
			return nil, err
		}
	}
	if len(req.SecretData) > model.MaxSecretData {
		return nil, model.InvalidParam("SecretData", "at most %d bytes", model.MaxSecretData)
	}
	t, err := s.loadRotationTarget(ctx, req.SecretName)
	if err != nil {
		return nil, err
	}
	resp := &RotateSecretResponse{RequestId: r.ID, Arn: s.arn(req.SecretName), SecretName: req.SecretName, VersionId: req.VersionId}
	if req.VersionId != "" && s.versionExists(ctx, t.secret, req.VersionId) {
		// An idempotent retry: nothing happens, and the record says so.
		r.note("no-op: the version exists")
		return resp, nil
	}
	if req.VersionId == "" {
		req.VersionId = uuid.NewString()
		resp.VersionId = req.VersionId
		r.ev.VersionId = req.VersionId
	}
	if err := s.beginRotation(); err != nil {
		return nil, err
	}
	defer s.run.inflight.Done()
	if req.held == nil {
		l, err := s.acquireRotationLease(ctx, req.SecretName)
		if err != nil {
			return nil, err
		}
		defer l.release()
	}
	// Never beside a rotation of the instance's admin key (adminkey.go).
	if err := s.instanceBusy(ctx, t.inst.InstanceId); err != nil {
		return nil, err
	}
	// Once the host may be touched, the rotation runs to its end even if
	// the caller goes away (a closed SSH session, SIGTERM): stopping half-
	// way would only leave work for crash recovery.
	ctx = context.WithoutCancel(ctx)
	if t.pending != nil {
		// An earlier rotation died half-way: settle it before starting.
		if err := s.resolveLocked(ctx, req.SecretName); err != nil {
			return nil, err
		}
		if t, err = s.loadRotationTarget(ctx, req.SecretName); err != nil {
			return nil, err
		}
	}
	progress := func(step string) {
		if req.Progress != nil {
			req.Progress(step)
		}
	}

	// 1. create — durably store the new credential before the host sees it.
	progress(StepCreate)
	cred, err := newCredential(t.cfg.SecretSubType, t.current.UserName, req.SecretData)
	if err != nil {
		return nil, err
	}
	// Dial the management connection while the pending version commits.
	dialed := make(chan error, 1)
	go func() { dialed <- s.ecs.warm(ctx, t.inst) }()
	err = s.store.Write(ctx, func(tx *db.Tx) error {
		n, err := tx.CountRotationsSince(t.secret.Name, s.opts.Now().Add(-time.Hour))
		if err != nil {
			return err
		}
		if n >= maxRotationsPerHour {
			return model.Errorf(model.CodeThrottling, "The secret %s was rotated %d times in the last hour (limit %d)", t.secret.Name, n, maxRotationsPerHour)
		}
		if v, err := tx.Version(t.secret, req.VersionId); err != nil {
			return err
		} else if v != nil {
			return model.Errorf(model.CodeResourceExist, "The version %s of secret %s already exists", req.VersionId, t.secret.Name)
		}
		if err := tx.RecordRotation(t.secret.Name, s.opts.Now()); err != nil {
			return err
		}
		if err := tx.InsertVersion(t.secret, req.VersionId, cred.JSON(), model.DataText, s.now()); err != nil {
			return err
		}
		next := t.labels.Clone()
		next[model.StagePending] = req.VersionId
		return tx.SetLabels(t.secret.ID, t.labels, next)
	})
	<-dialed // the dial's own error shows up again in the set step
	if err != nil {
		return nil, err
	}
	s.stepDone(StepCreate)

	// 2. set, 3. test
	step, applied, err := s.applyAndVerify(ctx, t, cred, req.VersionId, progress)
	if err != nil {
		reason := s.failRotation(ctx, t, cred, req.VersionId, step, describeECSError(step, t.inst, err), applied)
		return nil, model.Errorf(model.CodeRotationFailed, "Rotation of %s failed at %s", t.secret.Name, reason)
	}

	// 4. finish
	progress(StepFinish)
	if err := s.promote(ctx, t.secret.Name, req.VersionId, r, model.Event{Type: model.EventRotationSucceeded}); err != nil {
		return nil, err
	}
	if t.cfg.SecretSubType == model.SubTypeSSHKey {
		removed, err := s.revokeOldKeys(ctx, t, t.current, cred, req.VersionId)
		resp.RemovedKeyLines = &removed
		if err != nil {
			resp.Warning = err.Error()
		}
	}
	return resp, nil
}

func (s *Service) versionExists(ctx context.Context, sec *db.SecretRow, vid string) bool {
	var found bool
	_ = s.store.Read(ctx, func(tx *db.Tx) error {
		v, err := tx.Version(sec, vid)
		found = v != nil
		return err
	})
	return found
}

// applyAndVerify sets the new credential on the host and logs in with it.
// applied says whether the host may have been changed.
func (s *Service) applyAndVerify(ctx context.Context, t *rotationTarget, cred model.ECSData, vid string, progress func(string)) (step string, applied bool, err error) {
	// Changes on one host take turns (chpasswd serialises on the host's
	// shadow lock, and each verification is a fresh login): the time
	// budget of set and test starts once this rotation's turn comes, so
	// fifty rotations started at once on one host all finish.
	release, err := s.ecs.changeTurn(ctx, t.inst.InstanceId)
	if err != nil {
		return StepSet, false, err
	}
	defer release()
	ctx, cancel := contextWithTimeout(ctx)
	defer cancel()
	progress(StepSet)
	// The verification login connects while the host is being changed;
	// it authenticates once the change is done.
	pending := startVerify(ctx, t.inst, t.cfg.SecretSubType, cred.UserName)
	err = s.ecs.withClient(ctx, t.inst, func(c *ecs.Client) error {
		if t.cfg.SecretSubType == model.SubTypeSSHKey {
			return c.AddAuthorizedKey(ctx, cred.UserName, cred.PublicKey, ecs.KeyTag(t.secret.Name, vid))
		}
		return c.SetPassword(ctx, cred.UserName, cred.Password)
	})
	if err != nil {
		pending.Abort()
		// What failed before the change reached the host (no connection,
		// no session, sudo refused, no such user) left it as it was;
		// anything later may have changed it (a connection lost during
		// chpasswd, say), and is rolled back to be sure.
		applied := !errors.Is(err, ecs.ErrNotApplied) && !errors.Is(err, ecs.ErrSudo) && !errors.Is(err, ecs.ErrNoSuchUser) &&
			!errors.Is(err, ecs.ErrAdminAuth) && !isHostKeyMismatch(err)
		return StepSet, applied, err
	}
	s.stepDone(StepSet)
	progress(StepTest)
	err = supply(pending, t.cfg.SecretSubType, cred)
	if isConnectionError(err) {
		// The early connection may have died while the host was
		// changed; one fresh login decides.
		err = verify(ctx, t.inst, t.cfg.SecretSubType, cred)
	}
	if err != nil {
		return StepTest, true, err
	}
	s.stepDone(StepTest)
	return StepTest, true, nil
}

// promote makes the pending version current: ACSPrevious moves onto the old
// current version, the pending label goes, failures are cleared. ev is the
// event the promotion is (RotationSucceeded, or RotationSettled when it
// finishes a rotation a dead process left), committed with it.
func (s *Service) promote(ctx context.Context, name, vid string, r *request, ev model.Event) error {
	return s.store.Write(ctx, func(tx *db.Tx) error {
		sec, err := tx.SecretByName(name)
		if err != nil {
			return err
		}
		if sec == nil {
			return model.NotFound("The secret %s does not exist", name)
		}
		labels, err := tx.Labels(sec.ID)
		if err != nil {
			return err
		}
		next := labels.Clone()
		delete(next, model.StagePending)
		next.Move(model.StageCurrent, vid)
		if err := evict(tx, sec.ID, next); err != nil {
			return err
		}
		if err := tx.SetLabels(sec.ID, labels, next); err != nil {
			return err
		}
		now := s.now()
		sec.LastRotationDate = now
		sec.UpdateTime = now
		sec.RotationError = ""
		sec.RotationFailures = 0
		sec.NextRetry = time.Time{}
		sec.AutomaticRotation = model.RotationDisabled
		if sec.AutoWanted && sec.Rotates() {
			sec.AutomaticRotation = model.RotationEnabled
		}
		if err := tx.UpdateSecret(sec); err != nil {
			return err
		}
		if r != nil {
			r.ev.VersionId = vid
			if err := r.success(tx); err != nil {
				return err
			}
			ev.RequestId = r.ID
		}
		ev.SecretName, ev.VersionId, ev.InstanceId = sec.Name, vid, sec.InstanceId
		return s.emit(tx, ev)
	})
}

// revokeOldKeys kills the secret's previous key pair on the host (SPEC §3,
// finish): it removes every authorized_keys line holding the previous
// ACSCurrent public key, whoever added it (the initial key included), and
// every older line this console added for the secret. A line holding the
// new key, or any key that is not the secret's, is never touched. A failure
// leaves the old key working while the store still holds it as ACSPrevious:
// it is audited and reported, not fatal.
func (s *Service) revokeOldKeys(ctx context.Context, t *rotationTarget, prev, next model.ECSData, keep string) (int, error) {
	prefix := ecs.KeyTag(t.secret.Name, "")
	keepTag := ecs.KeyTag(t.secret.Name, keep)
	newKey, err := ecs.NormalizePublicKey(next.PublicKey)
	if err != nil {
		return 0, fmt.Errorf("the new public key: %w", err)
	}
	prevKey, _ := ecs.NormalizePublicKey(prev.PublicKey) // "" when unparsable: then only tagged lines go
	var removed int
	err = s.ecs.withClient(ctx, t.inst, func(c *ecs.Client) error {
		var err error
		removed, err = c.RemoveAuthorizedKeyLines(ctx, next.UserName, func(l ecs.AuthorizedKeyLine) bool {
			switch {
			case l.Key == newKey:
				return false
			case prevKey != "" && l.Key == prevKey:
				return true
			}
			return strings.HasPrefix(l.Tag, prefix) && l.Tag != keepTag
		})
		return err
	})
	if err != nil {
		reason := describeECSError("revoke old key", t.inst, err) + "; the previous key still logs in: rotate again, or remove its line by hand"
		s.auditEvent(ctx, "RevokeOldKey", t.secret.Name, keep, "Failure", model.CodeRotationFailed, reason)
		return 0, errors.New(reason)
	}
	return removed, nil
}

func (s *Service) auditEvent(ctx context.Context, action, target, vid, result, code, msg string) {
	_ = s.store.Write(ctx, func(tx *db.Tx) error {
		return tx.Audit(model.AuditEvent{Time: s.now(), Operator: s.Actor().Name, Action: action, Target: target,
			VersionId: vid, Result: result, ErrorCode: code, Error: msg, RequestId: newRequestId()})
	})
}

// failRotation puts the host back and records the failure. When the host
// cannot be put back for sure, the pending version is kept so that the next
// start (or scheduler tick) settles it by testing which credential works.
// It returns the reason as recorded, with what became of the rollback.
func (s *Service) failRotation(ctx context.Context, t *rotationTarget, cred model.ECSData, vid, step, reason string, applied bool) string {
	rolledBack := !applied
	if applied {
		rctx, cancel := contextWithTimeout(context.WithoutCancel(ctx))
		err := s.ecs.withClient(rctx, t.inst, func(c *ecs.Client) error {
			if t.cfg.SecretSubType == model.SubTypeSSHKey {
				tag := ecs.KeyTag(t.secret.Name, vid)
				_, err := c.RemoveAuthorizedKeys(rctx, cred.UserName, func(x string) bool { return x == tag })
				return err
			}
			return c.SetPassword(rctx, t.current.UserName, t.current.Password)
		})
		cancel()
		rolledBack = err == nil
		if err != nil {
			reason += "; rollback failed (" + describeECSError("rollback", t.inst, err) + "); the new version is kept pending: the next command on this secret, or the scheduler, settles it by testing which credential the host accepts"
		}
	}
	var failures int
	_ = s.store.Write(context.WithoutCancel(ctx), func(tx *db.Tx) error {
		sec, err := tx.SecretByName(t.secret.Name)
		if err != nil || sec == nil {
			return err
		}
		if rolledBack {
			labels, err := tx.Labels(sec.ID)
			if err != nil {
				return err
			}
			if labels[model.StagePending] == vid {
				next := labels.Clone()
				delete(next, model.StagePending)
				if err := tx.SetLabels(sec.ID, labels, next); err != nil {
					return err
				}
				if err := tx.DeleteVersions(sec.ID, []string{vid}); err != nil {
					return err
				}
			}
		}
		s.markFailed(sec, reason)
		failures = sec.RotationFailures
		if err := tx.UpdateSecret(sec); err != nil {
			return err
		}
		return s.emit(tx, model.Event{Type: model.EventRotationFailed, SecretName: sec.Name, VersionId: vid,
			InstanceId: t.inst.InstanceId, Step: step, Reason: reason, Failures: failures})
	})
	return reason
}

// markFailed sets the failed state with a capped exponential retry time.
// The policy shows Invalid only on a secret that rotates automatically: a
// failed manual rotation of one that never did keeps Disabled, and the
// failure shows on its own (RotationError, status "Rotation failed").
func (s *Service) markFailed(sec *db.SecretRow, reason string) {
	if sec.AutoWanted {
		sec.AutomaticRotation = model.RotationInvalid
	}
	sec.RotationError = reason
	sec.RotationFailures++
	backoff := 5 * time.Minute << min(sec.RotationFailures-1, 6)
	if backoff > 6*time.Hour {
		backoff = 6 * time.Hour
	}
	sec.NextRetry = s.now().Add(backoff)
	sec.UpdateTime = s.now()
}

// ResolvePending settles a rotation that a crash interrupted: if the host
// accepts the pending credential it is promoted, otherwise it is dropped.
func (s *Service) ResolvePending(ctx context.Context, name string) error {
	l, err := s.acquireRotationLease(ctx, name)
	if err != nil {
		return err
	}
	defer l.release()
	return s.resolveLocked(ctx, name)
}

func (s *Service) resolveLocked(ctx context.Context, name string) error {
	t, err := s.loadRotationTarget(ctx, name)
	if err != nil || t.pending == nil {
		return err
	}
	vctx, cancel := contextWithTimeout(ctx)
	defer cancel()
	verr := verify(vctx, t.inst, t.cfg.SecretSubType, *t.pending)
	switch {
	case verr == nil:
		if err := s.promote(ctx, name, t.pendId, nil, model.Event{Type: model.EventRotationSettled,
			Detail: "the host accepts the pending version: the rotation was finished"}); err != nil {
			return err
		}
		msg := "the host accepts the pending version: promoted to ACSCurrent"
		if t.cfg.SecretSubType == model.SubTypeSSHKey {
			if n, err := s.revokeOldKeys(ctx, t, t.current, *t.pending, t.pendId); err == nil {
				msg += fmt.Sprintf("; %d old key line(s) removed", n)
			}
		}
		s.auditEvent(ctx, "ResolvePendingRotation", name, t.pendId, "Success", "", msg)
		return nil
	case errors.Is(verr, ecs.ErrAuthFailed):
		if t.cfg.SecretSubType == model.SubTypeSSHKey {
			tag := ecs.KeyTag(name, t.pendId)
			if err := s.ecs.withClient(vctx, t.inst, func(c *ecs.Client) error {
				_, err := c.RemoveAuthorizedKeys(vctx, t.pending.UserName, func(x string) bool { return x == tag })
				return err
			}); err != nil {
				return model.Errorf(model.CodeRotationFailed, "settling the interrupted rotation of %s: %s", name, describeECSError("remove pending key", t.inst, err))
			}
		}
		err := s.store.Write(ctx, func(tx *db.Tx) error {
			labels, err := tx.Labels(t.secret.ID)
			if err != nil {
				return err
			}
			if labels[model.StagePending] != t.pendId {
				return nil
			}
			next := labels.Clone()
			delete(next, model.StagePending)
			if err := tx.SetLabels(t.secret.ID, labels, next); err != nil {
				return err
			}
			if err := tx.DeleteVersions(t.secret.ID, []string{t.pendId}); err != nil {
				return err
			}
			return s.emit(tx, model.Event{Type: model.EventRotationSettled, SecretName: name, VersionId: t.pendId, InstanceId: t.inst.InstanceId,
				Detail: "the host refuses the pending version: the rotation was rolled back, ACSCurrent unchanged"})
		})
		if err == nil {
			s.auditEvent(ctx, "ResolvePendingRotation", name, t.pendId, "Success", "", "the host refuses the pending version: dropped, ACSCurrent unchanged")
		}
		return err
	}
	return model.Errorf(model.CodeRotationFailed, "settling the interrupted rotation of %s: %s", name, describeECSError("test", t.inst, verr))
}

// ResolveAllPending settles every interrupted rotation in the store; run at
// start-up and by the scheduler. It returns the names it could not settle.
func (s *Service) ResolveAllPending(ctx context.Context) (unresolved []string) {
	var rows []*db.SecretRow
	_ = s.store.Read(ctx, func(tx *db.Tx) error {
		var err error
		rows, err = tx.SecretsWithPending()
		return err
	})
	for _, r := range rows {
		if r.PendingDeletion() {
			continue
		}
		if err := s.ResolvePending(ctx, r.Name); err != nil && !model.IsCode(err, model.CodeResourceInUse) {
			unresolved = append(unresolved, r.Name)
		}
	}
	return unresolved
}

// DueResult is what the scheduler did with one secret.
type DueResult struct {
	SecretName string
	VersionId  string
	Err        error
}

// dueForRotation reports whether the scheduler should rotate r now: its
// next rotation date has passed, or it failed and its retry time has come
// (until maxRetries failures in a row stop retries for an operator to act).
func dueForRotation(r *db.SecretRow, now time.Time) bool {
	if !r.AutoWanted || !r.Rotates() || r.PendingDeletion() {
		return false
	}
	if r.RotationSchedule != "" {
		return dueScheduled(r, now)
	}
	if r.AutomaticRotation == model.RotationInvalid {
		return r.RotationFailures < maxRetries && !now.Before(r.NextRetry)
	}
	base := r.LastRotationDate
	if base.IsZero() {
		base = r.CreateTime
	}
	return !now.Before(base.Add(time.Duration(r.RotationInterval) * time.Second))
}

// RotateDue rotates every secret of every region whose automatic rotation
// is due. Each candidate is re-checked under its rotation lease, so two
// processes running schedulers never rotate one secret twice.
func (s *Service) RotateDue(ctx context.Context) []DueResult {
	now := s.now()
	var names []string
	var moved []db.MovedDue
	if err := s.store.Read(ctx, func(tx *db.Tx) error {
		var err error
		names, moved, err = tx.DueCandidates(now, maxRetries, func(r *db.SecretRow) bool { return dueForRotation(r, now) })
		return err
	}); err != nil {
		return []DueResult{{Err: err}}
	}
	if len(moved) > 0 {
		if err := s.store.Write(ctx, func(tx *db.Tx) error { return tx.MoveDue(moved) }); err != nil {
			return []DueResult{{Err: err}}
		}
	}
	var out []DueResult
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		r := &db.SecretRow{Secret: model.Secret{Name: name}}
		l, err := s.acquireRotationLease(ctx, r.Name)
		if err != nil {
			continue // someone else is rotating it right now
		}
		// A rotation cut short (its process died, or the store went away
		// before the promotion) is settled before the secret is judged
		// due: when the host took the pending version, that promotion is
		// the rotation, and the secret must not be rotated a second time.
		if err := s.resolveLocked(ctx, r.Name); err != nil {
			l.release()
			out = append(out, DueResult{SecretName: r.Name, Err: err})
			continue
		}
		var fresh *db.SecretRow
		_ = s.store.Read(ctx, func(tx *db.Tx) error {
			fresh, err = tx.SecretByName(r.Name)
			return err
		})
		if fresh == nil || !dueForRotation(fresh, s.now()) {
			l.release()
			continue
		}
		resp, err := s.InRegion(fresh.RegionId).RotateSecret(ctx, RotateSecretRequest{SecretName: r.Name, held: l})
		l.release()
		res := DueResult{SecretName: r.Name, Err: err}
		if resp != nil {
			res.VersionId = resp.VersionId
		}
		out = append(out, res)
	}
	return out
}

// Close releases cached SSH connections.
func (s *Service) Close() { s.ecs.Close() }
