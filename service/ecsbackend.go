package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"kmsconsole/db"
	"kmsconsole/ecs"
	"kmsconsole/model"
)

// ecsBackend shares management connections among every rotation in the
// process (ecs.Pool): a rotation in a long-running process (console, serve,
// a fleet run) costs one login (the verification) instead of two, and many
// rotations on one host multiplex their sessions over one connection.
type ecsBackend struct {
	pool *ecs.Pool

	mu    sync.Mutex
	turns map[string]chan struct{} // per instance: changes under way
}

// changesPerHost bounds the credential changes (set + verification login)
// under way at once on one instance, across every caller in the process.
const changesPerHost = 4

// maxTurnWait bounds how long a rotation waits for its turn on a host.
const maxTurnWait = 10 * time.Minute

func newECSBackend() *ecsBackend {
	return &ecsBackend{pool: ecs.NewPool(), turns: map[string]chan struct{}{}}
}

// changeTurn waits until fewer than changesPerHost changes run on the
// instance, and returns the function that ends this one's turn. Nothing
// has touched the host while waiting, so a wait that fails is not applied.
func (b *ecsBackend) changeTurn(ctx context.Context, instanceId string) (release func(), err error) {
	b.mu.Lock()
	sem := b.turns[instanceId]
	if sem == nil {
		sem = make(chan struct{}, changesPerHost)
		b.turns[instanceId] = sem
	}
	b.mu.Unlock()
	t := time.NewTimer(maxTurnWait)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for a turn on instance %s: %w", ecs.ErrNotApplied, instanceId, ctx.Err())
	case <-t.C:
		return nil, fmt.Errorf("%w: %d other changes on instance %s did not end within %v", ecs.ErrNotApplied, changesPerHost, instanceId, maxTurnWait)
	}
}

func targetOf(inst *db.InstanceRow) ecs.Target {
	return ecs.Target{Host: inst.Host, Port: inst.Port, HostKey: inst.HostKey, AdminUser: inst.AdminUser, AdminKey: inst.AdminKey}
}

// withClient runs fn on a management connection to the instance. fn must be
// idempotent: when nothing reached the host (ecs.ErrNotApplied, e.g. a
// cached connection had died) it runs once more on a fresh connection.
func (b *ecsBackend) withClient(ctx context.Context, inst *db.InstanceRow, fn func(*ecs.Client) error) error {
	return b.pool.Do(ctx, inst.InstanceId, targetOf(inst), fn)
}

// warm opens a connection to the instance if none is open.
func (b *ecsBackend) warm(ctx context.Context, inst *db.InstanceRow) error {
	return b.pool.Warm(ctx, inst.InstanceId, targetOf(inst))
}

// forget drops the connections to an instance that was removed.
func (b *ecsBackend) forget(instanceId string) { b.pool.Forget(instanceId) }

// Close closes every connection.
func (b *ecsBackend) Close() { b.pool.Close() }

func isHostKeyMismatch(err error) bool {
	var mm *ecs.HostKeyMismatchError
	return errors.As(err, &mm)
}

// isConnectionError tells a dead connection from a refusal by the host.
func isConnectionError(err error) bool {
	return errors.Is(err, ecs.ErrUnreachable)
}

// verify logs in as the managed user with the credential in data.
func verify(ctx context.Context, inst *db.InstanceRow, subType string, data model.ECSData) error {
	if subType == model.SubTypeSSHKey {
		return ecs.VerifyKey(ctx, inst.Host, inst.Port, inst.HostKey, data.UserName, []byte(data.PrivateKey))
	}
	return ecs.VerifyPassword(ctx, inst.Host, inst.Port, inst.HostKey, data.UserName, data.Password)
}

// startVerify begins a verification login whose credential comes later.
func startVerify(ctx context.Context, inst *db.InstanceRow, subType, user string) *ecs.PendingLogin {
	if subType == model.SubTypeSSHKey {
		return ecs.StartVerifyKey(ctx, inst.Host, inst.Port, inst.HostKey, user)
	}
	return ecs.StartVerifyPassword(ctx, inst.Host, inst.Port, inst.HostKey, user)
}

// supply completes a pending verification with the new credential.
func supply(p *ecs.PendingLogin, subType string, data model.ECSData) error {
	if subType == model.SubTypeSSHKey {
		signer, err := ssh.ParsePrivateKey([]byte(data.PrivateKey))
		if err != nil {
			p.Abort()
			return fmt.Errorf("parse the new private key: %w", err)
		}
		return p.Supply(signer)
	}
	return p.Supply(data.Password)
}

// describeECSError turns an ecs error into a reason for people: what failed
// and what to do, never a value.
func describeECSError(step string, inst *db.InstanceRow, err error) string {
	var mm *ecs.HostKeyMismatchError
	switch {
	case errors.As(err, &mm):
		return fmt.Sprintf("%s: host key of %s changed (pinned %s, offered %s); re-pin the instance only if the change is expected", step, inst.InstanceId, mm.Want, mm.Got)
	case errors.Is(err, ecs.ErrUnreachable):
		return fmt.Sprintf("%s: instance %s (%s:%d) is unreachable: %v", step, inst.InstanceId, inst.Host, inst.Port, err)
	case errors.Is(err, ecs.ErrAdminAuth):
		return fmt.Sprintf("%s: the management login %s@%s was refused; check the instance's admin key", step, inst.AdminUser, inst.InstanceId)
	case errors.Is(err, ecs.ErrSudo):
		return fmt.Sprintf("%s: sudo on %s refused: %v", step, inst.InstanceId, err)
	case errors.Is(err, ecs.ErrNoSuchUser):
		return fmt.Sprintf("%s: the managed user does not exist on %s", step, inst.InstanceId)
	case errors.Is(err, ecs.ErrAuthFailed):
		return fmt.Sprintf("%s: login with the new credential was refused by %s (is password or key authentication enabled for the user?)", step, inst.InstanceId)
	}
	return fmt.Sprintf("%s on %s: %v", step, inst.InstanceId, err)
}

// ecsCreatePlan is what CreateSecret checked of an ECS secret before writing.
type ecsCreatePlan struct {
	instanceId string
	// data is the SecretData as validated, re-encoded: what is stored is
	// exactly what was checked against the host.
	data    string
	warning string
}

// recheck makes sure the instance still exists inside the write transaction.
func (p *ecsCreatePlan) recheck(tx *db.Tx) error {
	inst, err := tx.Instance(p.instanceId)
	if err != nil {
		return err
	}
	if inst == nil {
		return model.NotFound("The instance %s does not exist", p.instanceId)
	}
	return nil
}

// prepareECSSecret validates an ECS secret's config and data, checks that the
// managed user exists on the host, and tries the initial credential.
func (s *Service) prepareECSSecret(ctx context.Context, req CreateSecretRequest, row *db.SecretRow) (*ecsCreatePlan, error) {
	cfg, err := model.ParseECSConfig(req.ExtendedConfig)
	if err != nil {
		return nil, err
	}
	if cfg.RegionId != s.opts.Region {
		return nil, model.InvalidParam("ExtendedConfig", "RegionId %s differs from the secret's region %s", cfg.RegionId, s.opts.Region)
	}
	data, err := model.ParseECSData(req.SecretData, cfg.SecretSubType)
	if err != nil {
		return nil, err
	}
	var inst *db.InstanceRow
	if err := s.store.Read(ctx, func(tx *db.Tx) error {
		inst, err = tx.Instance(cfg.InstanceId)
		return err
	}); err != nil {
		return nil, err
	}
	if inst == nil {
		return nil, model.NotFound("The instance %s does not exist", cfg.InstanceId)
	}
	if inst.RegionId != s.opts.Region {
		return nil, model.InvalidParam("ExtendedConfig", "instance %s is in region %s, not %s", inst.InstanceId, inst.RegionId, s.opts.Region)
	}
	// Refuse a user another secret manages before asking its host;
	// CreateSecret checks again in the transaction that inserts.
	if err := model.Wrap(s.store.Read(ctx, func(tx *db.Tx) error {
		return managedUserTaken(tx, inst.InstanceId, data.UserName)
	})); err != nil {
		return nil, err
	}
	var exists bool
	err = s.ecs.withClient(ctx, inst, func(c *ecs.Client) error {
		exists, err = c.UserExists(ctx, data.UserName)
		return err
	})
	if err != nil {
		return nil, model.InvalidParam("ExtendedConfig", "cannot check the user on the instance: %s", describeECSError("connect", inst, err))
	}
	if !exists {
		return nil, model.NotFound("The user %s does not exist on instance %s", data.UserName, inst.InstanceId)
	}
	row.ExtendedConfig = cfg.JSON()
	row.InstanceId = inst.InstanceId
	plan := &ecsCreatePlan{instanceId: inst.InstanceId, data: data.JSON()}
	if err := verify(ctx, inst, cfg.SecretSubType, data); err != nil {
		plan.warning = fmt.Sprintf("the initial credential does not log in to %s as %s; the first rotation will set a valid one", inst.InstanceId, data.UserName)
	}
	return plan, nil
}

// contextWithTimeout bounds one host operation.
func contextWithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 30*time.Second)
}
