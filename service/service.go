// Package service implements the KMS actions and the rotation workflow. The
// CLI, the console, serve and the scheduler all call it, so behaviour, error
// codes and audit are defined once.
package service

import (
	"context"
	"os"
	"os/user"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"kmsconsole/db"
	"kmsconsole/model"
)

// Actor is who performs the actions: the OS user locally, the SSH operator
// in serve mode.
type Actor struct {
	Name string
	Role string
	// Recheck, when set, reads the actor's role again from the operator
	// registry. Every privileged action calls it, so that removing an
	// operator, or lowering their role, takes effect in a session that is
	// already open, not at its next login. It fails when the actor is no
	// longer registered.
	Recheck func(ctx context.Context) (role string, err error)
	// Authorize, when set, decides every action on top of the role: an
	// API access key's policy (SPEC §7). It gets the action and its
	// target (a secret name, or "" for ListSecrets/GetRandomPassword).
	Authorize func(action, target string) error
	// AuditAll records every action, metadata reads included (the API's
	// access keys: every request is audited under the key's name).
	AuditAll bool
}

// LocalActor is the OS user running the process, with admin rights: whoever
// can read the store file and the master key can do everything anyway.
func LocalActor() Actor {
	return Actor{Name: localUserName(), Role: model.RoleAdmin}
}

// localUserName is looked up once, and only when needed: reading the user
// database costs more than a whole GetSecretValue.
var localUserName = sync.OnceValue(func() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "uid-" + strconv.Itoa(os.Getuid())
})

// Options configure a Service.
type Options struct {
	Region string
	Actor  Actor
	Now    func() time.Time // injectable clock; defaults to time.Now
	// AfterStep, when set, runs after each rotation step (StepCreate,
	// StepSet, StepTest) has completed: the crash tests kill their process
	// there to leave a rotation half-way.
	AfterStep func(step string)
	// LeaseTTL is how long a rotation lease lasts unless renewed
	// (0 = DefaultLeaseTTL). Replicas of one store should agree on it.
	LeaseTTL time.Duration
}

// leaseTTL is the rotation lease's lifetime.
func (s *Service) leaseTTL() time.Duration {
	if s.opts.LeaseTTL > 0 {
		return s.opts.LeaseTTL
	}
	return DefaultLeaseTTL
}

// Service is the API over one store, acting for one actor in one region.
type Service struct {
	store *db.Store
	opts  Options
	// holder names this process in leases, so another process can tell
	// a live rotation from a crashed one.
	holder string
	ecs    *ecsBackend
	run    *runState // shared by every copy made by As and InRegion
}

// runState tracks rotations in flight so shutdown can let them finish.
type runState struct {
	keys     accessKeyCache // the API's key lookups
	audit    auditLog       // group commit of request records
	mu       sync.Mutex
	inflight sync.WaitGroup
	draining bool
	// wakeEvents, when set, is called after a commit that queued events.
	wakeEvents func()
}

// beginRotation registers a rotation, refusing new ones while draining.
func (s *Service) beginRotation() error {
	s.run.mu.Lock()
	defer s.run.mu.Unlock()
	if s.run.draining {
		return model.Errorf(model.CodeResourceInUse, "kmsconsole is shutting down; no new rotation starts")
	}
	s.run.inflight.Add(1)
	return nil
}

// Drain refuses new rotations and waits until those running have finished
// (or ctx ends). Serve mode calls it on SIGTERM.
func (s *Service) Drain(ctx context.Context) error {
	s.run.mu.Lock()
	s.run.draining = true
	s.run.mu.Unlock()
	done := make(chan struct{})
	go func() { s.run.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DefaultRegion is used when neither --region nor KMSCONSOLE_REGION is set.
const DefaultRegion = "cn-hangzhou"

// New returns a service over store.
func New(store *db.Store, opts Options) *Service {
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Actor.Role == "" {
		opts.Actor.Role = model.RoleAdmin // the local OS user; named lazily
	}
	return &Service{store: store, opts: opts, holder: uuid.NewString(), ecs: newECSBackend(), run: &runState{}}
}

// As returns a service acting for another actor (one per serve session).
func (s *Service) As(a Actor) *Service {
	c := *s
	c.opts.Actor = a
	return &c
}

// InRegion returns a service working in another region.
func (s *Service) InRegion(region string) *Service {
	c := *s
	c.opts.Region = region
	return &c
}

// Region is the service's region.
func (s *Service) Region() string { return s.opts.Region }

// Actor is who the service acts for.
func (s *Service) Actor() Actor {
	a := s.opts.Actor
	if a.Name == "" {
		a.Name = localUserName()
	}
	return a
}

func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Second) }

// Arn is a secret's ARN in the service's region.
func (s *Service) Arn(name string) string { return s.arn(name) }

func (s *Service) arn(name string) string {
	return "acs:kms:" + s.opts.Region + ":local:secret/" + name
}

func newRequestId() string { return uuid.NewString() }

// CanMutate reports whether the actor may change things or read values, by
// the role it had when the session began: screens use it to offer actions.
// The actions themselves check the current role (requireAdmin).
func (s *Service) CanMutate() bool { return s.opts.Actor.Role == model.RoleAdmin }

// requireAdmin is the last line of defence of every mutation and reveal.
func (s *Service) requireAdmin(ctx context.Context, action string) error {
	role := s.opts.Actor.Role
	if recheck := s.opts.Actor.Recheck; recheck != nil {
		current, err := recheck(ctx)
		if err != nil {
			return model.Errorf(model.CodeNoPermission, "operator %s may not %s: %v", s.Actor().Name, action, err)
		}
		role = current
	}
	if role != model.RoleAdmin {
		return model.Errorf(model.CodeNoPermission, "operator %s (role %s) may not %s", s.Actor().Name, role, action)
	}
	return nil
}

// loadSecret finds a secret by name, refusing unknown names and, unless
// allowDeleting, secrets in their deletion window.
func loadSecret(tx *db.Tx, name string, allowDeleting bool) (*db.SecretRow, error) {
	if err := model.ValidateSecretNameRef(name); err != nil {
		return nil, err
	}
	r, err := tx.SecretByName(name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, model.NotFound("The secret %s does not exist", name)
	}
	if !allowDeleting && r.PendingDeletion() {
		return nil, errPendingDeletion(r)
	}
	return r, nil
}

// errPendingDeletion refuses to use a secret in its deletion window.
func errPendingDeletion(r *db.SecretRow) error {
	return model.Errorf(model.CodeInDeleteWindow, "The secret %s is pending deletion (planned for %s); restore it first", r.Name, model.FormatTime(r.PlannedDeleteTime))
}

// Audit returns the latest audit events whose text contains filter.
func (s *Service) Audit(ctx context.Context, limit int, filter string) ([]model.AuditEvent, error) {
	var out []model.AuditEvent
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		var err error
		out, err = tx.AuditEvents(limit, filter)
		return err
	})
	return out, err
}
