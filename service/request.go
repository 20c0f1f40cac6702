package service

import (
	"context"
	"errors"
	"fmt"

	"kmsconsole/db"
	"kmsconsole/model"
)

// The request path. Every action of the service — a mutation, a read of a
// value, a refused attempt — goes through Service.handle, the way Vault's
// core handles every request in one place:
//
//  1. a request id;
//  2. the actor re-checked against the operator registry (a removed or
//     demoted operator's open session loses its rights at once);
//  3. the permission the action needs;
//  4. the action's own validation and transaction (fn);
//  5. the audit record: written inside the action's write transaction when
//     it succeeds (the change and its record land together), in a
//     transaction of its own when it fails or only read.
//
// A request that cannot be audited does not happen: a failed audit write
// fails the request, and a value read is handed out only once its read is
// on record.

type requestIdKey struct{}

// WithRequestId makes the request handled under ctx use id as its request
// id (in its answer and its audit record): the API answers with the id it
// chose before authenticating, so the caller's RequestId, error or not,
// finds the record.
func WithRequestId(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIdKey{}, id)
}

// requestIdFrom is the id WithRequestId put in ctx, or a new one.
func requestIdFrom(ctx context.Context) string {
	if id, _ := ctx.Value(requestIdKey{}).(string); id != "" {
		return id
	}
	return newRequestId()
}

// permission is what an action needs of the actor.
type permission int

const (
	// permList: metadata (names, stages, dates); any role.
	permList permission = iota
	// permAdmin: values and every change; the admin role.
	permAdmin
)

// op describes one action for the request path.
type op struct {
	action string // the API action, as recorded ("GetSecretValue")
	target string // secret name, instance id or operator name
	// versionId and stage, when known before the action runs.
	versionId, stage string
	perm             permission
	// what the actor is refused ("read secret values").
	what string
	// audit: record this action. Metadata reads are not recorded; every
	// value read and every change is.
	audit bool
	// detail is recorded with the event (e.g. "console reveal").
	detail string
}

// request is one action in flight.
type request struct {
	s  *Service
	ID string
	ev model.AuditEvent
	op op
	// wrote: the success record is in (committed with the change).
	wrote bool
}

// handle runs fn as action o on the request path; fn finds the request id
// in r.ID.
func (s *Service) handle(ctx context.Context, o op, fn func(r *request) error) (err error) {
	r := &request{s: s, ID: requestIdFrom(ctx), op: o}
	r.ev = model.AuditEvent{Operator: s.Actor().Name, Action: o.action, Target: o.target, RequestId: r.ID,
		VersionId: o.versionId, Stage: o.stage, Detail: o.detail}
	defer func() {
		if p := recover(); p != nil {
			// Never let a panic (and what it may print) escape with a
			// value in it: record and report a plain failure.
			err = model.Errorf(model.CodeInternalFailure, "internal error in %s", o.action)
			r.finish(ctx, &err)
			return
		}
		r.finish(ctx, &err)
	}()
	actor := s.Actor()
	if actor.AuditAll {
		r.op.audit = true
	}
	if o.perm == permAdmin {
		if err := s.requireAdmin(ctx, o.what); err != nil {
			return err
		}
	}
	if actor.Authorize != nil {
		if err := actor.Authorize(o.action, o.target); err != nil {
			return err
		}
	}
	return fn(r)
}

// write runs fn in a write transaction that also records the success.
func (r *request) write(ctx context.Context, fn func(tx *db.Tx) error) error {
	ev := r.ev
	return r.s.store.Write(ctx, func(tx *db.Tx) error {
		// The store runs this again after losing to another writer: each
		// attempt starts from the record as it was (notes append to it).
		r.ev = ev
		if err := fn(tx); err != nil {
			return err
		}
		return r.success(tx)
	})
}

// record is the event as stored: every field that came from outside with
// its control characters made visible, so that a hostile name refused
// before validation cannot drive the terminal of whoever reads the log.
func (r *request) record(result string) model.AuditEvent {
	ev := r.ev
	ev.Time = r.s.now()
	ev.Result = result
	for _, f := range []*string{&ev.Operator, &ev.Target, &ev.VersionId, &ev.Stage, &ev.ErrorCode, &ev.Error, &ev.Detail} {
		*f = model.SafeText(*f)
	}
	return ev
}

// success records the action's success inside tx (its own transaction).
func (r *request) success(tx *db.Tx) error {
	if !r.op.audit {
		return nil
	}
	if err := tx.Audit(r.record("Success")); err != nil {
		return fmt.Errorf("write the audit record: %w", err)
	}
	// Written once tx commits: an attempt the store runs again, or one
	// that fails after this, must leave the record to finish.
	tx.OnCommit(func() { r.wrote = true })
	return nil
}

// successAt is success for the version the action ended on.
func (r *request) successAt(tx *db.Tx, versionId string) error {
	if versionId != "" {
		r.ev.VersionId = versionId
	}
	return r.success(tx)
}

// note adds a remark to the record (e.g. "no-op: version exists").
func (r *request) note(detail string) {
	if r.ev.Detail != "" {
		r.ev.Detail += "; "
	}
	r.ev.Detail += detail
}

// finish writes the record not yet written: the failure, or the success of
// an action that did not write (a read). If that write fails, so does the
// request.
func (r *request) finish(ctx context.Context, errp *error) {
	var ae *model.APIError
	if *errp != nil && errors.Is(*errp, db.ErrReadOnly) {
		// Not a failure of kmsconsole: the store cannot be changed here.
		*errp = model.Errorf(model.CodeNoPermission, "%s was not done: %v", r.op.action, *errp)
	}
	if *errp != nil {
		ae = model.AsAPIError(*errp)
		if !errors.As(*errp, new(*model.APIError)) {
			// A plain error becomes an API error; one that carries an
			// API error (with extra fields) stays as it is.
			*errp = ae
		}
	}
	if !r.op.audit || r.wrote {
		return
	}
	if ae != nil {
		r.ev.ErrorCode = ae.Code
		r.ev.Error = ae.Message
	}
	ev := r.record("Success")
	if ae != nil {
		ev.Result = "Failure"
	}
	werr := r.s.run.audit.record(ctx, r.s.store, ev)
	switch {
	case werr != nil && *errp == nil && errors.Is(werr, db.ErrReadOnly):
		// A read on a read-only store (a backup, a read-only mount)
		// cannot be put on record, so it does not happen; metadata
		// reads, which are not audited, still work.
		*errp = model.Errorf(model.CodeNoPermission, "%s was not done: it must be audited, and %v", r.op.action, werr)
	case werr != nil && *errp == nil:
		*errp = model.Errorf(model.CodeInternalFailure, "%s was not done: its audit record could not be written: %v", r.op.action, werr)
	}
	r.wrote = werr == nil
}
