package model

import (
	"strings"
	"time"
)

// AccessKey is an application identity for the API (SPEC §7): an
// AccessKeyId, a secret it signs requests with (never held here), and the
// RAM policy that says what it may do.
type AccessKey struct {
	AccessKeyId string
	Name        string
	Status      string // AccessKeyEnabled or AccessKeyDisabled
	// Policy is the policy document as given (validated JSON).
	Policy     string
	CreateTime time.Time
	CreatedBy  string // the operator who created it
	// SecretRotated is when the current secret was made (CreateTime until
	// the first rotation).
	SecretRotated time.Time
	// PreviousSecretUntil is when the secret replaced by the last rotation
	// stops working; zero when there is none (or it has expired).
	PreviousSecretUntil time.Time
}

// Access key states.
const (
	AccessKeyEnabled  = "Enabled"
	AccessKeyDisabled = "Disabled"
)

// AccessKeyIdPrefix starts every AccessKeyId, as the cloud's do, so that an
// id is recognisable in logs and configuration.
const AccessKeyIdPrefix = "LTAI"

// ValidateAccessKeyName accepts 1–64 letters, digits and _ . @ - (as
// operator names).
func ValidateAccessKeyName(n string) error {
	if !IsIdentifier(n, 64, "_.@-") {
		return InvalidParam("Name", "1–64 letters, digits, _ . @ -, got %q", n)
	}
	return nil
}

// LooksLikeAccessKeyId reports whether s has the shape of an AccessKeyId
// (so that a name and an id can share one argument).
func LooksLikeAccessKeyId(s string) bool {
	if !strings.HasPrefix(s, AccessKeyIdPrefix) || len(s) != len(AccessKeyIdPrefix)+20 {
		return false
	}
	for _, r := range s[len(AccessKeyIdPrefix):] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
