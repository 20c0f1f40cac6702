package ui

import (
	"errors"
	"strings"
	"unicode"

	"kmsconsole/model"
	"kmsconsole/service"
)

// humanError turns an API error into a sentence a person understands and
// the error code, which the caller shows dimmed after it. The sentence
// leads with what happened in plain words and keeps the substance of the
// message after a colon: nothing the message said is lost, only the API's
// wording ("The parameter ExtendedConfig is invalid:") and the Go package
// tags ("ecs: ") go. An unknown code keeps the message as it is.
//
// humanError adds no control characters, but the message is text from
// outside (it may quote a host's output): the caller draws both strings
// through model.SafeText / SafeLines, as it does any error.
func humanError(err error) (sentence, code string) {
	if err == nil {
		return "", ""
	}
	ae := model.AsAPIError(err)
	code, msg := ae.Code, tidyMessage(ae.Message)

	var unconfirmed *service.HostKeyUnconfirmedError
	if errors.As(err, &unconfirmed) || strings.Contains(msg, "; check it out of band and repeat with --AcceptHostKey") {
		return lead("The host key is not confirmed yet", msg), code
	}
	// What went wrong on an instance reads the same whatever the code (a
	// failed rotation, a refused ECS setting, an instance that cannot be
	// added): the first cause the message names leads. The API's
	// "The parameter AdminKeyFile is invalid:" goes: the parameter was
	// fine, the instance was not.
	if l := instanceLead(msg); l != "" {
		if _, detail, ok := cutParam(msg, " is invalid: "); ok {
			msg = detail
		}
		return lead(l, msg), code
	}

	switch code {
	case model.CodeInvalidParameter:
		if p, detail, ok := cutParam(msg, " is invalid: "); ok {
			return lead(subject(p)+" not valid", detail), code
		}
		return lead("The request is not valid", msg), code
	case model.CodeMissingParameter:
		if p, rest, ok := cutParam(msg, " is required"); ok && rest == "" {
			return subject(p) + " required.", code
		}
		return lead("Something required is missing", msg), code
	case model.CodeLimitExceeded:
		return lead("A limit is reached", msg), code
	case model.CodeNoPermission:
		switch {
		case strings.Contains(msg, "(role "):
			return lead("Your role does not allow this", msg), code
		case strings.Contains(msg, "read-only"):
			return lead("The store is read-only here", msg), code
		case strings.HasPrefix(msg, "The access key "):
			return lead("This access key does not allow this", msg), code
		}
		return lead("You are not allowed to do this", msg), code
	case model.CodeNotFound, "ResourceNotFound":
		return lead("Not found", msg), code
	case model.CodeResourceExist:
		return lead("That already exists", msg), code
	case model.CodeInDeleteWindow:
		return lead("Not possible while the secret is pending deletion", msg), code
	case model.CodeResourceInUse:
		return lead("Not possible right now", msg), code
	case model.CodeThrottling:
		return lead("Too many requests for now; wait and try again", msg), code
	case model.CodeRotationFailed:
		if strings.HasPrefix(msg, "Rotation of ") {
			// Already a sentence: "Rotation of x failed at set: …".
			return "The r" + msg[1:], code
		}
		return lead("The rotation failed", msg), code
	case model.CodeInternalFailure:
		return lead("Something went wrong inside kmsconsole", msg), code
	case model.CodeUnsupportedAction:
		return lead("That action does not exist", msg), code
	}
	if msg == "" {
		return "The request failed.", code
	}
	return msg, code
}

// lead joins a plain-words lead and the message's detail.
func lead(l, detail string) string {
	if detail == "" {
		return l + "."
	}
	return l + ": " + lowerFirst(detail)
}

// lowerFirst lowers the first letter of an ordinary word ("The secret …"
// after a colon reads "the secret …") and leaves names alone ("UserName",
// "ACSCurrent", "PublicKey", "SHA256:…").
func lowerFirst(s string) string {
	word, _, _ := strings.Cut(s, " ")
	if word != "A" {
		if len(word) < 2 {
			return s
		}
		for i, r := range word {
			if i == 0 && !unicode.IsUpper(r) || i > 0 && !unicode.IsLower(r) {
				return s
			}
		}
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// cutParam reads the API's "The parameter P<sep><detail>".
func cutParam(msg, sep string) (param, detail string, ok bool) {
	rest, ok := strings.CutPrefix(msg, "The parameter ")
	if !ok {
		return "", "", false
	}
	param, detail, ok = strings.Cut(rest, sep)
	if !ok || param == "" || strings.Contains(param, " ") {
		return "", "", false
	}
	return param, detail, true
}

// params name the API's parameters in plain words, with their verb.
var params = map[string]string{
	"ExtendedConfig":             "The ECS settings are",
	"ExtendedConfig.CustomData":  "The custom data of the ECS settings is",
	"ExtendedConfig.RegionId":    "The region of the ECS settings is",
	"SecretName":                 "The secret name is",
	"SecretData":                 "The secret value is",
	"SecretData.PublicKey":       "The public key is",
	"SecretData.PrivateKey":      "The private key is",
	"PublicKey":                  "The public key is",
	"PrivateKey":                 "The private key is",
	"SecretDataType":             "The value type is",
	"SecretType":                 "The secret type is",
	"VersionId":                  "The version ID is",
	"VersionStage":               "The stage label is",
	"VersionStages":              "The stage labels are",
	"MoveToVersion":              "The version to move the stage to is",
	"RemoveFromVersion":          "The version to take the stage from is",
	"Description":                "The description is",
	"RotationInterval":           "The rotation period is",
	"RotationSchedule":           "The rotation schedule is",
	"RotationWindow":             "The rotation window is",
	"EnableAutomaticRotation":    "The automatic rotation setting is",
	"PasswordLength":             "The password length is",
	"ExcludeCharacters":          "The excluded characters are",
	"InstanceId":                 "The instance ID is",
	"Name":                       "The name is",
	"Role":                       "The role is",
	"Host":                       "The host is",
	"Port":                       "The port is",
	"AdminUser":                  "The admin user is",
	"AdminKeyFile":               "The admin key is",
	"HostKey":                    "The host key is",
	"AcceptHostKey":              "The confirmed host key fingerprint is",
	"UserName":                   "The user name is",
	"RegionId":                   "The region is",
	"region":                     "The region is",
	"RecoveryWindowInDays":       "The recovery window is",
	"Key":                        "The key is",
	"Policy":                     "The policy is",
	"Grace":                      "The grace period is",
	"PageNumber":                 "The page number is",
	"PageSize":                   "The page size is",
	"Filters":                    "The filter is",
	"ForceDeleteWithoutRecovery": "The immediate deletion setting is",
}

// subject is a parameter in plain words with its verb; an unknown one
// keeps its name.
func subject(param string) string {
	if s, ok := params[param]; ok {
		return s
	}
	return "The parameter " + param + " is"
}

// instanceLeads are the causes the service and the SSH backend name when
// an instance is involved (service/ecsbackend.go describeECSError, ecs/),
// each with its lead in plain words.
var instanceLeads = []struct{ marker, lead string }{
	{" changed (pinned ", "The instance's host key has changed"},
	{"cannot fetch the host key of ", "Could not reach the instance"},
	{"is unreachable", "Could not reach the instance"},
	{"host unreachable", "Could not reach the instance"},
	{"connection refused", "Could not reach the instance"},
	{"no route to host", "Could not reach the instance"},
	{"i/o timeout", "Could not reach the instance"},
	{"SSH handshake timed out", "Could not reach the instance"},
	{"management connection lost", "Could not reach the instance"},
	{"connection closed by the host before SSH identification", "Could not reach the instance"},
	{"was refused; check the instance's admin key", "The instance refused the management login"},
	{"management login refused", "The instance refused the management login"},
	{"login with the new credential was refused", "The instance refused the new credential"},
	{"sudo failed", "The instance refused sudo"},
	{": sudo on ", "The instance refused sudo"},
	{"login refused", "The instance refused the login"},
	{"the managed user does not exist on ", "The user does not exist on the instance"},
	{"no such user on host", "The user does not exist on the instance"},
}

// storeLeads are what the store says when the store itself cannot be
// reached (db/postgres.go): the driver's words after them ("connection
// refused") are the database's, not an instance's.
var storeLeads = []struct{ marker, lead string }{
	{"the PostgreSQL store ", "Could not reach the store"},
	{"the connection to the PostgreSQL store ", "The connection to the store broke"},
}

// instanceLead is the lead for the cause the message names first (an
// instance's, or the store's), or "".
func instanceLead(msg string) string {
	at, l := -1, ""
	for _, leads := range [][]struct{ marker, lead string }{storeLeads, instanceLeads} {
		for _, c := range leads {
			if i := strings.Index(msg, c.marker); i >= 0 && (at < 0 || i < at) {
				at, l = i, c.lead
			}
		}
	}
	return l
}

// tidyMessage drops the SSH backend's package tags ("ecs: ") and the
// "ecs: host unreachable: " that repeats an "is unreachable" just before
// it: words for Go programmers, no information for people.
func tidyMessage(msg string) string {
	if i := strings.Index(msg, "is unreachable: ecs: host unreachable: "); i >= 0 {
		msg = msg[:i] + "is unreachable: " + msg[i+len("is unreachable: ecs: host unreachable: "):]
	}
	var b strings.Builder
	for {
		i := strings.Index(msg, "ecs: ")
		if i < 0 {
			break
		}
		b.WriteString(msg[:i])
		if i > 0 && msg[i-1] != ' ' && msg[i-1] != '(' {
			b.WriteString("ecs: ") // part of a word ("acs/ecs: …"): keep
		}
		msg = msg[i+len("ecs: "):]
	}
	b.WriteString(msg)
	return b.String()
}
