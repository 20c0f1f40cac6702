package model

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event types (SPEC §9): what `serve --on-event` and `--event-webhook`
// receive. A receiver must ignore types it does not know: more may come.
const (
	EventRotationSucceeded = "RotationSucceeded"
	EventRotationFailed    = "RotationFailed"
	// EventRotationSettled: a rotation that a dead process left pending was
	// finished or rolled back by another (Detail says which).
	EventRotationSettled = "RotationSettled"
	EventSecretCreated   = "SecretCreated"
	// EventSecretDeleted: a deletion was planned (Detail says when the
	// secret goes), or the secret was deleted at once (then SecretPurged
	// follows in the same transaction).
	EventSecretDeleted  = "SecretDeleted"
	EventSecretRestored = "SecretRestored"
	EventSecretPurged   = "SecretPurged"
)

// EventTypes lists every event type, in the order SPEC §9 names them.
var EventTypes = []string{
	EventRotationSucceeded, EventRotationFailed, EventRotationSettled,
	EventSecretCreated, EventSecretDeleted, EventSecretRestored, EventSecretPurged,
}

// Event is one thing that happened to a secret, as its receivers get it:
// this struct marshalled to JSON, byte for byte the body committed to the
// outbox. It never holds a value, nor anything derived from one.
//
// Receivers get each event at least once and must deduplicate by Id; the
// events of one secret arrive in the order they were committed.
type Event struct {
	// Id is a UUID, the same in every delivery of the event.
	Id   string `json:"Id"`
	Type string `json:"Type"`
	// Time is when the change was made (UTC), not when it was delivered.
	Time       time.Time `json:"Time"`
	SecretName string    `json:"SecretName"`
	// VersionId is the version the event is about: the new version of a
	// rotation, the version settled; empty when none is.
	VersionId string `json:"VersionId,omitempty"`
	// Operator is who made the change: an operator, an access key's name,
	// or "scheduler" for automatic work.
	Operator string `json:"Operator"`
	// InstanceId is the host of a managed ECS secret.
	InstanceId string `json:"InstanceId,omitempty"`
	// Step is the rotation step that failed (create, set, test, finish).
	Step string `json:"Step,omitempty"`
	// Reason says why a rotation failed, in the service's words, which
	// never quote a value.
	Reason string `json:"Reason,omitempty"`
	// Failures counts the consecutive failed rotations of the secret.
	Failures int `json:"Failures,omitempty"`
	// Detail says how, where it matters: "the host accepts the new
	// credential: finished", "deletion planned for 2026-12-01T00:00:00Z".
	Detail string `json:"Detail,omitempty"`
	// RequestId ties the event to its record in the audit log.
	RequestId string `json:"RequestId,omitempty"`
}

// IsEventType reports whether t is one of EventTypes.
func IsEventType(t string) bool { return slices.Contains(EventTypes, t) }

// Validate checks what the outbox relies on: an id, a known type, a time
// and the secret the event is about.
func (e *Event) Validate() error {
	var missing []string
	if e.Id == "" {
		missing = append(missing, "Id")
	}
	if e.SecretName == "" {
		missing = append(missing, "SecretName")
	}
	if e.Time.IsZero() {
		missing = append(missing, "Time")
	}
	if len(missing) > 0 {
		return fmt.Errorf("event %s without %s", e.Type, strings.Join(missing, ", "))
	}
	if !IsEventType(e.Type) {
		return fmt.Errorf("unknown event type %q (known: %s)", e.Type, strings.Join(EventTypes, ", "))
	}
	return nil
}
