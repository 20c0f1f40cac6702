package model

import (
	"regexp"
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
}

var instanceIdRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidateInstanceId accepts ids such as i-web1.
func ValidateInstanceId(id string) error {
	if id == "" {
		return MissingParam("InstanceId")
	}
	if !instanceIdRE.MatchString(id) {
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

var operatorNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$`)

// ValidateOperatorName accepts 1–64 name characters.
func ValidateOperatorName(n string) error {
	if !operatorNameRE.MatchString(n) {
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
	Result    string    `json:"Result"` // Success or Failure
	ErrorCode string    `json:"ErrorCode,omitempty"`
	Error     string    `json:"Error,omitempty"`
	RequestId string    `json:"RequestId"`
}
