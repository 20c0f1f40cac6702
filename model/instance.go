package model

import (
	"strings"
	"time"
)

// Instance is a managed Linux host.
type Instance struct {
	InstanceId   string
	InstanceName string
	RegionId     string
	Host         string
	Port         int
	AdminUser    string
	HostKey      string // pinned, "<type> <base64>"
	CreateTime   time.Time

	// The management login's own key rotation (instance rotate-admin-key).
	AdminKeyRotated time.Time // when the admin key was last replaced; zero: never
	AdminKeyPeriod  int64     // seconds between automatic rotations; 0: none
	// AdminKeyPending: a rotation stored a new key and did not finish; the
	// next start (or rotation) settles it.
	AdminKeyPending bool
	// RetiredAdminKey is the public key ("<type> <base64>") of the admin
	// key a rotation replaced while its authorized_keys line may still be
	// on the host; "" once removed.
	RetiredAdminKey string
	// The last automatic rotation's failure: reason, failures in a row,
	// and when the scheduler may try again.
	AdminKeyError    string
	AdminKeyFailures int
	AdminKeyRetry    time.Time
}

// IsIdentifier reports whether s is 1..max characters, the first an ASCII
// letter or digit, the rest letters, digits or one of extra. Hand-written:
// regexps with {0,63} cost milliseconds to compile at every CLI start.
func IsIdentifier(s string, max int, extra string) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}

// IsLinuxUserName reports whether u is a portable Linux login name:
// ^[a-z_][a-z0-9_.-]{0,31}$.
func IsLinuxUserName(u string) bool {
	if len(u) == 0 || len(u) > 32 {
		return false
	}
	for i, r := range u {
		ok := r >= 'a' && r <= 'z' || r == '_' || i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '-')
		if !ok {
			return false
		}
	}
	return true
}

// ValidateInstanceId accepts ids such as i-web1.
func ValidateInstanceId(id string) error {
	if id == "" {
		return MissingParam("InstanceId")
	}
	if !IsIdentifier(id, 64, "_.-") {
		return InvalidParam("InstanceId", "1–64 letters, digits, _ . - (starting with a letter or digit), got %q", id)
	}
	return nil
}

// Operator is someone allowed into serve mode.
type Operator struct {
	Name       string
	PublicKey  string // authorized_keys line
	Role       string
	CreateTime time.Time
}

// Operator roles.
const (
	RoleAdmin    = "admin"
	RoleReadonly = "readonly"
)

// ValidateOperatorName accepts 1–64 name characters.
func ValidateOperatorName(n string) error {
	if !IsIdentifier(n, 64, "_.@-") {
		return InvalidParam("Name", "1–64 letters, digits, _ . @ -, got %q", n)
	}
	return nil
}

// ValidateRole accepts admin or readonly.
func ValidateRole(r string) error {
	if r != RoleAdmin && r != RoleReadonly {
		return InvalidParam("Role", "must be admin or readonly, got %q", r)
	}
	return nil
}

// AuditEvent is one line of the audit log. It never holds a value.
type AuditEvent struct {
	Time      time.Time `json:"Time"`
	Operator  string    `json:"Operator"`
	Action    string    `json:"Action"`
	Target    string    `json:"Target"`
	VersionId string    `json:"VersionId,omitempty"`
	Stage     string    `json:"VersionStage,omitempty"` // a value read at a stage
	Result    string    `json:"Result"`                 // Success or Failure
	ErrorCode string    `json:"ErrorCode,omitempty"`
	Error     string    `json:"Error,omitempty"`
	RequestId string    `json:"RequestId"`
	// Detail says how, where it matters: "console reveal", "console
	// copy", "no-op: the version exists". Never a value.
	Detail string `json:"Detail,omitempty"`
}

// ParseAdminKeyPeriod reads how often an instance's admin key rotates on
// its own: a rotation interval (N followed by d, h, m or s, 6h–8760h, e.g.
// 30d), or "0" / "none" for never. It returns seconds (0 = never).
func ParseAdminKeyPeriod(s string) (int64, error) {
	switch s {
	case "":
		return 0, MissingParam("Period")
	case "0", "none":
		return 0, nil
	}
	n, err := parseInterval("Period", s)
	if err != nil {
		return 0, InvalidParam("Period", "must be a number followed by d, h, m or s between 6h and 8760h (e.g. 30d), or none, got %q", s)
	}
	return n, nil
}
