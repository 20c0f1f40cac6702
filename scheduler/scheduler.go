// Package scheduler runs kmsconsole's background work: it settles rotations
// a crash interrupted (of secrets and of instances' admin keys), purges
// secrets whose deletion time has passed, and rotates secrets whose
// automatic rotation is due and admin keys whose period has passed,
// retrying failures with capped backoff. It runs inside `kmsconsole serve`
// and the local console; the service's rotation leases keep two running
// schedulers from rotating one secret (or one admin key) twice.
package scheduler

import (
	"context"
	"fmt"
	"time"

	"kmsconsole/model"
	"kmsconsole/service"
)

// ActorName names the scheduler in the audit log.
const ActorName = "scheduler"

// DefaultTick is how often the scheduler looks for work.
const DefaultTick = 30 * time.Second

// Report is what one pass did.
type Report struct {
	Unresolved []string // interrupted rotations that could not be settled yet
	Purged     []string
	Rotated    []service.DueResult
	// Admin keys: interrupted rotations not settled yet, and the instances
	// whose period had passed.
	UnresolvedAdminKeys []string
	AdminKeysRotated    []service.AdminKeyDueResult
	Err                 error
}

// Pass does one round of background work.
func Pass(ctx context.Context, svc *service.Service) Report {
	var r Report
	r.Unresolved = svc.ResolveAllPending(ctx)
	r.UnresolvedAdminKeys = svc.ResolveAllPendingAdminKeys(ctx)
	r.Purged, r.Err = svc.PurgeDue(ctx)
	r.Rotated = svc.RotateDue(ctx)
	r.AdminKeysRotated = svc.RotateDueAdminKeys(ctx)
	return r
}

// Run makes a pass at once and then every tick until ctx ends. log, when
// set, hears one line per thing done (never a value).
func Run(ctx context.Context, svc *service.Service, tick time.Duration, log func(string)) {
	if tick <= 0 {
		tick = DefaultTick
	}
	if log == nil {
		log = func(string) {}
	}
	// Automatic work is audited as the scheduler, not as whoever started
	// the process.
	svc = svc.As(service.Actor{Name: ActorName, Role: model.RoleAdmin})
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		r := Pass(ctx, svc)
		for _, n := range r.Purged {
			log("purged " + n)
		}
		for _, d := range r.Rotated {
			if d.Err != nil && d.SecretName == "" {
				// The due secrets could not be listed (the store is down).
				log(fmt.Sprintf("finding the secrets due for rotation failed: %v", d.Err))
			} else if d.Err != nil {
				log(fmt.Sprintf("rotation of %s failed: %v", d.SecretName, d.Err))
			} else {
				log(fmt.Sprintf("rotated %s to %s", d.SecretName, d.VersionId))
			}
		}
		for _, d := range r.AdminKeysRotated {
			if d.Err != nil {
				log(fmt.Sprintf("rotation of the admin key of %s failed: %v", d.InstanceId, d.Err))
			} else {
				log(fmt.Sprintf("rotated the admin key of %s to %s", d.InstanceId, d.Fingerprint))
			}
		}
		if r.Err != nil {
			log("purge: " + r.Err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
