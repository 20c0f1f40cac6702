package cli

import (
	"context"
	"reflect"

	"kmsconsole/service"
)

// action is one KMS action: its request type, what it does, and how to run it.
type action struct {
	name    string
	summary string
	request any // a zero request, for decoding and help
	run     func(ctx context.Context, s *service.Service, req any) (any, error)
}

// act adapts a typed service method to an action.
func act[Req any, Resp any](name, summary string, fn func(*service.Service, context.Context, Req) (Resp, error)) action {
	return action{
		name: name, summary: summary, request: new(Req),
		run: func(ctx context.Context, s *service.Service, req any) (any, error) {
			return fn(s, ctx, *req.(*Req))
		},
	}
}

var actions = []action{
	act("CreateSecret", "Create a secret with its first version (Generic, or ECS for a managed host).", (*service.Service).CreateSecret),
	act("GetSecretValue", "Read a version's value (ACSCurrent by default).", (*service.Service).GetSecretValue),
	act("PutSecretValue", "Add a version to a generic secret, labelled ACSCurrent unless VersionStages say otherwise.", (*service.Service).PutSecretValue),
	act("UpdateSecretVersionStage", "Move a stage label to another version, or remove a custom label.", (*service.Service).UpdateSecretVersionStage),
	act("GetRandomPassword", "Generate a random password.", (*service.Service).GetRandomPassword),
	act("ListSecrets", "List the region's secrets.", (*service.Service).ListSecrets),
	act("DescribeSecret", "Show a secret's metadata (never its value).", (*service.Service).DescribeSecret),
	act("ListSecretVersionIds", "List a secret's versions and their stage labels.", (*service.Service).ListSecretVersionIds),
	act("UpdateSecret", "Change a secret's description (or an ECS secret's ExtendedConfig.CustomData).", (*service.Service).UpdateSecret),
	act("UpdateSecretRotationPolicy", "Turn an ECS secret's automatic rotation on or off.", (*service.Service).UpdateSecretRotationPolicy),
	act("RotateSecret", "Rotate an ECS secret on its host now: create, set, test, finish.", (*service.Service).RotateSecret),
	act("DeleteSecret", "Plan a secret's deletion (7–30 days) or delete it at once.", (*service.Service).DeleteSecret),
	act("RestoreSecret", "Cancel a planned deletion.", (*service.Service).RestoreSecret),
}

func findAction(name string) *action {
	for i := range actions {
		if actions[i].name == name {
			return &actions[i]
		}
	}
	return nil
}

// newRequest returns a fresh request of the action's type.
func (a *action) newRequest() any {
	return reflect.New(reflect.TypeOf(a.request).Elem()).Interface()
}
