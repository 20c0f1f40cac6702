package ui

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"kmsconsole/model"
	"kmsconsole/service"
)

// The messages are the service's own (service/, model/, ecs/ wording), so
// a change of wording there shows up here.
var humanizeCases = []struct {
	name string
	err  error
	want string
}{
	// InvalidParameter
	{"ExtendedConfig", model.InvalidParam("ExtendedConfig", "RegionId %s differs from the secret's region %s", "cn-beijing", "cn-hangzhou"),
		"The ECS settings are not valid: RegionId cn-beijing differs from the secret's region cn-hangzhou"},
	{"ExtendedConfig nested", model.InvalidParam("ExtendedConfig", "must be one JSON object with SecretSubType, InstanceId and RegionId"),
		"The ECS settings are not valid: must be one JSON object with SecretSubType, InstanceId and RegionId"},
	{"SecretName", model.InvalidParam("SecretName", "the name of an ECS secret must start with %q", "acs/ecs/"),
		`The secret name is not valid: the name of an ECS secret must start with "acs/ecs/"`},
	{"SecretData", model.InvalidParam("SecretData", "Password is empty"),
		"The secret value is not valid: password is empty"},
	{"UserName kept", model.InvalidParam("SecretData", "UserName %q is not a valid Linux user name", "Bad"),
		`The secret value is not valid: UserName "Bad" is not a valid Linux user name`},
	{"RotationInterval", model.InvalidParam("RotationInterval", "must be between 6h and 8760h, got %q", "1h"),
		`The rotation period is not valid: must be between 6h and 8760h, got "1h"`},
	{"unknown parameter", model.InvalidParam("Frobnicate", "must be small"),
		"The parameter Frobnicate is not valid: must be small"},
	{"free-form", model.Errorf(model.CodeInvalidParameter, "something odd"),
		"The request is not valid: something odd"},

	// MissingParameter
	{"missing SecretName", model.MissingParam("SecretName"), "The secret name is required."},
	{"missing unknown", model.MissingParam("Frobnicate"), "The parameter Frobnicate is required."},
	{"missing free-form", model.Errorf(model.CodeMissingParameter, "nothing selected: give secret names, --all, --instance ID or --filter TEXT"),
		"Something required is missing: nothing selected: give secret names, --all, --instance ID or --filter TEXT"},
	{"host key unconfirmed", &service.HostKeyUnconfirmedError{
		APIError: model.Errorf(model.CodeMissingParameter, "The host key of %s:%d has fingerprint %s; check it out of band and repeat with --AcceptHostKey %s",
			"10.0.0.5", 22, "SHA256:abc", "SHA256:abc"),
		HostKey: "ssh-ed25519 AAAA", Fingerprint: "SHA256:abc"},
		"The host key is not confirmed yet: the host key of 10.0.0.5:22 has fingerprint SHA256:abc; check it out of band and repeat with --AcceptHostKey SHA256:abc"},

	// Rejected.*
	{"LimitExceeded", model.Errorf(model.CodeLimitExceeded, "a secret has at most %d stage labels", 20),
		"A limit is reached: a secret has at most 20 stage labels"},
	{"ResourceExist", model.Errorf(model.CodeResourceExist, "The secret %s already exists", "db/prod/password"),
		"That already exists: the secret db/prod/password already exists"},
	{"InDeleteWindow", model.Errorf(model.CodeInDeleteWindow, "The secret %s is pending deletion (planned for %s); restore it first", "app/token", "2026-05-27 10:00"),
		"Not possible while the secret is pending deletion: the secret app/token is pending deletion (planned for 2026-05-27 10:00); restore it first"},
	{"ResourceInUse", model.Errorf(model.CodeResourceInUse, "The instance %s is managed by %d secret(s); delete them first", "i-web1", 1),
		"Not possible right now: the instance i-web1 is managed by 1 secret(s); delete them first"},
	{"ResourceInUse A", model.Errorf(model.CodeResourceInUse, "A rotation of %s is already running", "acs/ecs/web1/root"),
		"Not possible right now: a rotation of acs/ecs/web1/root is already running"},
	{"Throttling", model.Errorf(model.CodeThrottling, "The secret %s was rotated %d times in the last hour (limit %d)", "acs/ecs/web1/root", 5, 5),
		"Too many requests for now; wait and try again: the secret acs/ecs/web1/root was rotated 5 times in the last hour (limit 5)"},
	{"RotationFailed", model.Errorf(model.CodeRotationFailed, "Rotation of %s failed at %s", "acs/ecs/web1/root",
		"set: sudo on i-web1 refused: ecs: sudo failed: set on 127.0.0.1:22: sudo is not installed: not found"),
		"The instance refused sudo: rotation of acs/ecs/web1/root failed at set: sudo on i-web1 refused: sudo failed: set on 127.0.0.1:22: sudo is not installed: not found"},
	{"RotationFailed plain", model.Errorf(model.CodeRotationFailed, "Rotation of %s failed at %s", "acs/ecs/web1/root", "finish: the store said no"),
		"The rotation of acs/ecs/web1/root failed at finish: the store said no"},
	{"RotationFailed settling", model.Errorf(model.CodeRotationFailed, "settling the interrupted rotation of %s: %s", "acs/ecs/web1/root", "test on i-web1: exit 3"),
		"The rotation failed: settling the interrupted rotation of acs/ecs/web1/root: test on i-web1: exit 3"},

	// Forbidden.*
	{"NoPermission role", model.Errorf(model.CodeNoPermission, "operator %s (role %s) may not %s", "bob", "readonly", "rotate secrets"),
		"Your role does not allow this: operator bob (role readonly) may not rotate secrets"},
	{"NoPermission read-only store", model.Errorf(model.CodeNoPermission, "%s was not done: it must be audited, and %v", "GetSecretValue", errors.New("store is read-only")),
		"The store is read-only here: GetSecretValue was not done: it must be audited, and store is read-only"},
	{"NoPermission recheck", model.Errorf(model.CodeNoPermission, "operator %s may not %s: %v", "bob", "rotate secrets", errors.New("operator removed")),
		"You are not allowed to do this: operator bob may not rotate secrets: operator removed"},
	{"NoPermission access key", model.Errorf(model.CodeNoPermission, "The access key %s is not allowed to %s on %s", "ci", "GetSecretValue", "acs:kms:cn-hangzhou:local:secret/db"),
		"This access key does not allow this: the access key ci is not allowed to GetSecretValue on acs:kms:cn-hangzhou:local:secret/db"},
	{"NotFound", model.NotFound("The secret %s has no version %s", "db/prod/password", "v9"),
		"Not found: the secret db/prod/password has no version v9"},
	{"ResourceNotFound", &model.APIError{Code: "ResourceNotFound", Message: "The instance i-x does not exist"},
		"Not found: the instance i-x does not exist"},

	// Others
	{"InternalFailure", model.Errorf(model.CodeInternalFailure, "internal error in %s", "RotateSecret"),
		"Something went wrong inside kmsconsole: internal error in RotateSecret"},
	{"plain Go error", errors.New("store: disk full"),
		"Something went wrong inside kmsconsole: store: disk full"},
	{"UnsupportedAction", model.Errorf(model.CodeUnsupportedAction, "The action %s does not exist", "Frob"),
		"That action does not exist: the action Frob does not exist"},
	{"unknown code", &model.APIError{Code: "Rejected.SomethingNew", Message: "The frobnicator said no"},
		"The frobnicator said no"},
	{"unknown code, no message", &model.APIError{Code: "Rejected.SomethingNew"}, "The request failed."},

	// The instance: what the SSH backend and describeECSError say leads,
	// whatever the code.
	{"rotation unreachable", model.Errorf(model.CodeRotationFailed, "Rotation of %s failed at %s", "acs/ecs/web1/root",
		"set: instance i-web1 (127.0.0.1:1) is unreachable: ecs: host unreachable: connect 127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused (nothing was changed on the host)"),
		"Could not reach the instance: rotation of acs/ecs/web1/root failed at set: instance i-web1 (127.0.0.1:1) is unreachable: connect 127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused (nothing was changed on the host)"},
	{"ExtendedConfig unreachable", model.InvalidParam("ExtendedConfig", "cannot check the user on the instance: %s",
		"connect: instance i-web1 (127.0.0.1:1) is unreachable: ecs: host unreachable: 127.0.0.1:1: SSH handshake timed out"),
		"Could not reach the instance: cannot check the user on the instance: connect: instance i-web1 (127.0.0.1:1) is unreachable: 127.0.0.1:1: SSH handshake timed out"},
	{"host key fetch", model.Errorf(model.CodeInvalidParameter, "cannot fetch the host key of %s:%d: %v", "10.0.0.5", 22, errors.New("ecs: no host key received")),
		"Could not reach the instance: cannot fetch the host key of 10.0.0.5:22: no host key received"},
	{"host key changed", model.Errorf(model.CodeRotationFailed, "Rotation of %s failed at %s", "acs/ecs/web1/root",
		"set: host key of i-web1 changed (pinned SHA256:old, offered SHA256:new); re-pin the instance only if the change is expected"),
		"The instance's host key has changed: rotation of acs/ecs/web1/root failed at set: host key of i-web1 changed (pinned SHA256:old, offered SHA256:new); re-pin the instance only if the change is expected"},
	{"admin login refused", model.InvalidParam("AdminKeyFile", "%s", "management login: the management login root@i-web1 was refused; check the instance's admin key"),
		"The instance refused the management login: management login: the management login root@i-web1 was refused; check the instance's admin key"},
	{"new credential refused", model.Errorf(model.CodeRotationFailed, "Rotation of %s failed at %s", "acs/ecs/web1/root",
		"test: login with the new credential was refused by i-web1 (is password or key authentication enabled for the user?)"),
		"The instance refused the new credential: rotation of acs/ecs/web1/root failed at test: login with the new credential was refused by i-web1 (is password or key authentication enabled for the user?)"},
	{"user missing", model.Errorf(model.CodeRotationFailed, "Rotation of %s failed at %s", "acs/ecs/web1/root", "set: the managed user does not exist on i-web1"),
		"The user does not exist on the instance: rotation of acs/ecs/web1/root failed at set: the managed user does not exist on i-web1"},
	{"raw ecs error", fmt.Errorf("warm: %w", errors.New("ecs: 127.0.0.1:22: management connection lost: EOF")),
		"Could not reach the instance: warm: 127.0.0.1:22: management connection lost: EOF"},

	// The store: a PostgreSQL database down is not an instance, although
	// the driver says "connection refused" too.
	{"store unreachable", model.Errorf(model.CodeInternalFailure, "%s", "the PostgreSQL store postgres://kms@127.0.0.1:5432/kms cannot be reached: begin read: dial tcp 127.0.0.1:5432: connect: connection refused; check that PostgreSQL runs"),
		"Could not reach the store: the PostgreSQL store postgres://kms@127.0.0.1:5432/kms cannot be reached: begin read: dial tcp 127.0.0.1:5432: connect: connection refused; check that PostgreSQL runs"},
	{"store commit broke", model.Errorf(model.CodeInternalFailure, "%s", "the connection to the PostgreSQL store postgres://kms@db/kms broke while a change was being committed: it may or may not have been made; look before you repeat it (commit: conn closed)"),
		"The connection to the store broke: the connection to the PostgreSQL store postgres://kms@db/kms broke while a change was being committed: it may or may not have been made; look before you repeat it (commit: conn closed)"},
}

func TestHumanError(t *testing.T) {
	for _, c := range humanizeCases {
		t.Run(c.name, func(t *testing.T) {
			got, code := humanError(c.err)
			if got != c.want {
				t.Errorf("sentence\n got %q\nwant %q", got, c.want)
			}
			if want := model.AsAPIError(c.err).Code; code != want {
				t.Errorf("code %q, want %q", code, want)
			}
			if strings.Contains(got, code+":") {
				t.Errorf("the sentence repeats the code: %q", got)
			}
		})
	}
	if s, code := humanError(nil); s != "" || code != "" {
		t.Errorf("humanError(nil) = %q, %q", s, code)
	}
}

// Every code the model defines has a case, so a new code gets a sentence.
func TestHumanizeCoversEveryCode(t *testing.T) {
	src, err := os.ReadFile("../model/errors.go")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, c := range humanizeCases {
		covered[model.AsAPIError(c.err).Code] = true
	}
	codes := regexp.MustCompile(`(?m)^\s*Code\w+\s*=\s*"([^"]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(codes) < 12 {
		t.Fatalf("found %d codes in model/errors.go; the pattern is stale", len(codes))
	}
	for _, m := range codes {
		if !covered[m[1]] {
			t.Errorf("code %s has no case in humanizeCases", m[1])
		}
		// And its sentence is not the fallback (the bare message).
		e := model.Errorf(m[1], "The x y")
		if s, _ := humanError(e); s == e.Message {
			t.Errorf("code %s falls back to the bare message: %q", m[1], s)
		}
	}
}

// humanError adds no control characters: whatever the message carries
// (for the caller to sanitise) is all there is.
func TestHumanizeAddsNoControlCharacters(t *testing.T) {
	controls := func(s string) (n int) {
		for _, r := range s {
			if unicode.IsControl(r) || r == 0x7f {
				n++
			}
		}
		return n
	}
	for _, c := range humanizeCases {
		s, code := humanError(c.err)
		if controls(s) != 0 || controls(code) != 0 {
			t.Errorf("%s: control characters in %q / %q", c.name, s, code)
		}
	}
	hostile := model.InvalidParam("ExtendedConfig", "host said \x1b]0;PWNED\x07 and \x1b[2J\u009b")
	s, _ := humanError(hostile)
	if controls(s) != controls(hostile.Message) {
		t.Errorf("control characters: %d in the sentence, %d in the message: %q", controls(s), controls(hostile.Message), s)
	}
}
