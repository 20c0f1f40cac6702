package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"

	"kmsconsole/model"
	"kmsconsole/service"
)

// action is one KMS action: its request type, what it does, how to run it,
// and the usage of its parameters where paramUsage's does not fit.
type action struct {
	name    string
	summary string
	request any // a zero request, for decoding and help
	usage   map[string]string
	run     func(ctx context.Context, s *service.Service, req any) (any, error)
}

// act adapts a typed service method to an action.
func act[Req any, Resp any](name, summary string, fn func(*service.Service, context.Context, Req) (Resp, error), usage map[string]string) action {
	return action{
		name: name, summary: summary, request: new(Req), usage: usage,
		run: func(ctx context.Context, s *service.Service, req any) (any, error) {
			return fn(s, ctx, *req.(*Req))
		},
	}
}

// u is an action's own parameter usage.
type u = map[string]string

var actions = []action{
	act("CreateSecret", "Create a secret with its first version (Generic, or ECS for a managed host).", (*service.Service).CreateSecret, u{
		"SecretName":     "the new secret's name (an ECS secret's starts with acs/ecs/)",
		"SecretData":     "the first version's value (ECS: JSON with UserName and Password or PrivateKey); - reads standard input",
		"VersionId":      "the first version's id (required for a generic secret)",
		"Description":    "what the secret is for",
		"ExtendedConfig": `an ECS secret's host and user: JSON {"SecretSubType":"Password"|"SSHKey","InstanceId":ID,"RegionId":REGION}`,
	}),
	act("GetSecretValue", "Read a version's value (ACSCurrent by default).", (*service.Service).GetSecretValue, u{
		"VersionId":    "the version to read",
		"VersionStage": "the stage label of the version to read (default ACSCurrent)",
	}),
	act("PutSecretValue", "Add a version to a generic secret, labelled ACSCurrent unless VersionStages say otherwise.", (*service.Service).PutSecretValue, u{
		"VersionId":  "the new version's id (an existing id with the same value changes nothing)",
		"SecretData": "the new version's value; - reads standard input",
	}),
	act("UpdateSecretVersionStage", "Move a stage label to another version, or remove a custom label.", (*service.Service).UpdateSecretVersionStage, u{
		"VersionStage":      "the stage label to move or remove",
		"RemoveFromVersion": "the version that has the label now",
		"MoveToVersion":     "the version to give the label",
	}),
	act("GetRandomPassword", "Generate a random password.", (*service.Service).GetRandomPassword, u{
		"PasswordLength":          "8 to 128 characters (default 32)",
		"ExcludeCharacters":       "characters the password never has",
		"ExcludeLowercase":        "true: no lower-case letters",
		"ExcludeUppercase":        "true: no upper-case letters",
		"ExcludeNumbers":          "true: no digits",
		"ExcludePunctuation":      "true: no punctuation",
		"RequireEachIncludedType": "false: not necessarily one character of each type not excluded (default true)",
	}),
	act("ListSecrets", "List the region's secrets.", (*service.Service).ListSecrets, u{
		"PageSize": "secrets per page, 1 to 100 (default 10)",
		"Filters":  `JSON [{"Key":"SecretName"|"Description"|"SecretType","Values":["part"]}]`,
	}),
	act("DescribeSecret", "Show a secret's metadata (never its value).", (*service.Service).DescribeSecret, nil),
	act("ListSecretVersionIds", "List a secret's versions and their stage labels.", (*service.Service).ListSecretVersionIds, u{
		"IncludeDeprecated": "true: also the versions without a stage label",
		"PageSize":          "versions per page, 1 to 100 (default 20)",
	}),
	act("UpdateSecret", "Change a secret's description (or an ECS secret's ExtendedConfig.CustomData).", (*service.Service).UpdateSecret, u{
		"Description": "the new description",
	}),
	act("UpdateSecretRotationPolicy", "Turn an ECS secret's automatic rotation on or off.", (*service.Service).UpdateSecretRotationPolicy, u{
		"EnableAutomaticRotation": "true to rotate automatically, false to stop",
	}),
	act("RotateSecret", "Rotate an ECS secret on its host now: create, set, test, finish.", (*service.Service).RotateSecret, u{
		"VersionId":  "the new version's id (one that exists: nothing to do); generated when omitted",
		"SecretData": "a chosen new credential instead of a generated one (JSON as CreateSecret's); - reads standard input",
	}),
	act("DeleteSecret", "Plan a secret's deletion (7–30 days) or delete it at once.", (*service.Service).DeleteSecret, u{
		"RecoveryWindowInDays":       "days until the deletion, 7 to 30, during which RestoreSecret cancels it (default 30)",
		"ForceDeleteWithoutRecovery": "true: delete at once, with no way back",
	}),
	act("RestoreSecret", "Cancel a planned deletion.", (*service.Service).RestoreSecret, nil),
}

// paramUsage is the usage of the parameters that mean the same in every
// action that takes them.
var paramUsage = map[string]string{
	"SecretName":                "the secret's name",
	"SecretDataType":            "text (default) or binary (SecretData is then base64)",
	"SecretType":                "Generic (default) or ECS (a managed OS user's credential on a registered instance)",
	"EnableAutomaticRotation":   "true to rotate an ECS secret automatically",
	"RotationInterval":          "the time between automatic rotations: N and d, h, m or s, 6h to 8760h (e.g. 7d)",
	"RotationSchedule":          "instead of an interval, when to rotate, in UTC: rate(N days|hours) or cron(min hour day-of-month month day-of-week year), e.g. cron(0 2 ? * SUN *)",
	"RotationWindow":            "how long after each scheduled start a rotation may begin: 1h to 24h (default 1h for cron, the whole day for rate)",
	"FetchExtendedConfig":       "true: the answer includes ExtendedConfig",
	"VersionStages":             `the new version's stage labels, JSON (default ["ACSCurrent"])`,
	"PageNumber":                "the page to show (default 1)",
	"ExtendedConfig.CustomData": "an ECS secret's own data: a JSON object kept in its ExtendedConfig",
}

// kmsCommand is `kmsconsole kms <Action>`: one command per action, whose
// flags are the fields of its request.
func kmsCommand() *Command {
	g := &Command{
		Name: "kms", Params: "<Action>", SubNoun: "action", Remote: true,
		Summary: "The KMS API: the actions, parameters and JSON of 'aliyun kms'.",
		Help: `Parameters use the cloud KMS CLI's names; lists are JSON ('["MyPendingLabel"]'),
booleans true/false. --SecretData - reads the value from standard input
(one trailing newline dropped), so it stays out of argv and shell history.
Success: JSON on stdout, exit 0. Failure: JSON with Code, Message and
HttpStatus on stderr, exit 1.
`,
	}
	for i := range actions {
		a := &actions[i]
		g.Subs = append(g.Subs, &Command{Name: a.name, Summary: a.summary, Flags: a.flags(),
			Run: func(env *Env, args *Args) int { return env.kms(a, args) }})
	}
	return g
}

// flags are the action's parameters: its request's fields, in order.
func (a *action) flags() []Flag {
	t := reflect.TypeOf(a.request).Elem()
	var flags []Flag
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := paramName(f)
		if name == "" {
			continue
		}
		usage := a.usage[name]
		if usage == "" {
			usage = paramUsage[name]
		}
		flags = append(flags, Flag{Name: name, Value: placeholder(f.Type), Usage: usage})
	}
	return flags
}

// placeholder names the shape of a parameter's value in help.
func placeholder(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true|false"
	case reflect.Int:
		return "N"
	case reflect.Slice:
		return "JSON"
	}
	return "VALUE"
}

// kms runs `kmsconsole kms <Action> --Param value ...`.
func (env *Env) kms(a *action, args *Args) int {
	params := args.given()
	if params["SecretData"] == "-" {
		value, err := readSecretData(env.Stdin)
		if err != nil {
			return env.Fail(err)
		}
		params["SecretData"] = value
	}
	// Bad input is refused before the store is opened.
	req := a.newRequest()
	if err := decode(a.name, params, req); err != nil {
		return env.Fail(err)
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		resp, err := a.run(ctx, svc, req)
		if err != nil {
			return err
		}
		writeJSON(env.Stdout, resp)
		return nil
	})
}

func findAction(name string) *action {
	for i := range actions {
		if actions[i].name == name {
			return &actions[i]
		}
	}
	return nil
}

// Dispatch runs the KMS action named with its parameters (the API's names,
// values as strings, lists as JSON) on svc and returns its answer. It is
// the one way an action runs: the `kms` command (locally and over serve)
// and the HTTP API (package apiserver) decode and run actions alike, so
// their parameters, errors and JSON cannot diverge.
func Dispatch(ctx context.Context, svc *service.Service, name string, params map[string]string) (any, error) {
	a := findAction(name)
	if a == nil {
		if name == "" {
			return nil, model.MissingParam("Action")
		}
		return nil, model.Errorf(model.CodeUnsupportedAction, "The specified action %s is not valid", name)
	}
	req := a.newRequest()
	if err := decode(a.name, params, req); err != nil {
		return nil, err
	}
	return a.run(ctx, svc, req)
}

// EncodeJSON is an answer as the API sends it: the CLI's JSON, compact.
func EncodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// newRequest returns a fresh request of the action's type.
func (a *action) newRequest() any {
	return reflect.New(reflect.TypeOf(a.request).Elem()).Interface()
}
