package service

import (
	"context"
	"sync"

	"kmsconsole/db"
	"kmsconsole/model"
)

// auditLog writes the records of requests that did not write their own
// (reads, refusals, failures) with group commit: requests that finish
// while a record is being written share the next transaction instead of
// queueing one by one for SQLite's single writer; fewer, larger commits
// also grow the write-ahead log (and its checkpoints) less. Each request
// still waits until its own record is durable before it answers.
//
// There is no background goroutine: the first request to find no write in
// progress leads, writing every record queued so far; then it hands the
// lead to the next waiting request, if any, so that no request writes for
// others longer than one batch.
type auditLog struct {
	mu      sync.Mutex
	queue   []*auditWait
	writing bool
}

type auditWait struct {
	ev   model.AuditEvent
	done chan error    // the result of the batch holding ev
	lead chan struct{} // closed: write the queue
}

// maxAuditBatch bounds one transaction.
const maxAuditBatch = 256

// record writes ev and returns once it is durable, or with the error that
// kept it from being written.
func (a *auditLog) record(ctx context.Context, store *db.Store, ev model.AuditEvent) error {
	w := &auditWait{ev: ev, done: make(chan error, 1), lead: make(chan struct{})}
	a.mu.Lock()
	a.queue = append(a.queue, w)
	if a.writing {
		a.mu.Unlock()
		select {
		case err := <-w.done:
			return err
		case <-w.lead:
		}
		a.mu.Lock()
	}
	a.writing = true
	batch := a.queue[:min(len(a.queue), maxAuditBatch)]
	a.queue = a.queue[len(batch):]
	a.mu.Unlock()

	evs := make([]model.AuditEvent, len(batch))
	for i, b := range batch {
		evs[i] = b.ev
	}
	err := store.Write(context.WithoutCancel(ctx), func(tx *db.Tx) error { return tx.AuditBatch(evs) })
	for _, b := range batch {
		b.done <- err
	}

	a.mu.Lock()
	if len(a.queue) > 0 {
		close(a.queue[0].lead) // still waiting: its record is not written yet
	} else {
		a.writing = false
	}
	a.mu.Unlock()
	return <-w.done
}
