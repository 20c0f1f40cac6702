package cli

import (
	"os"
	"strings"
	"time"

	"kmsconsole/model"
	"kmsconsole/service"
)

// accessKeyCommand is `kmsconsole accesskey create|list|disable|enable|
// set-policy|rotate|remove`: the API's application identities (SPEC §7).
func accessKeyCommand() *Command {
	key := Flag{Name: "name", Value: "NAME_OR_ID", Usage: "the access key's name, or its AccessKeyId", Required: true}
	policy := Flag{Name: "policy", Value: "JSON|@FILE", Usage: "the RAM policy: the JSON document, or @FILE to read it from FILE", Required: true}
	return &Command{
		Name:    "accesskey",
		Remote:  true,
		Summary: "The access keys applications sign API requests with (serve --api-listen).",
		Help: `An access key is an AccessKeyId and an AccessKeySecret, as the cloud's, for
Alibaba Cloud's own SDKs pointed at kmsconsole's API. The secret is printed once,
at create or rotate, and stored encrypted. What a key may do is its policy's
business alone (RAM grammar: Statement[] of Effect Allow|Deny, Action such as
kms:GetSecretValue or kms:*, Resource secret ARNs as CreateSecret returns them,
* wildcards); Deny wins and nothing is allowed by default. Every request is
audited under the key's name. Managing keys needs the admin role.
`,
		Subs: []*Command{
			{Name: "create", Summary: "Create an access key with a policy; prints its secret once.", Run: accessKeyCreate,
				Flags: []Flag{{Name: "name", Value: "NAME", Usage: "the key's name, as the audit log shows it", Required: true}, policy}},
			{Name: "list", Summary: "List the access keys (never their secrets).", Run: accessKeyList},
			{Name: "disable", Summary: "Refuse the key's requests (Forbidden.AccessKeyDisabled) until enabled.", Run: accessKeyStatus(false), Flags: []Flag{key}},
			{Name: "enable", Summary: "Accept a disabled key's requests again.", Run: accessKeyStatus(true), Flags: []Flag{key}},
			{Name: "set-policy", Summary: "Replace an access key's policy.", Run: accessKeySetPolicy, Flags: []Flag{key, policy}},
			{Name: "rotate", Summary: "Give a key a new secret; the old one works for a grace period.", Run: accessKeyRotate,
				Flags: []Flag{key, {Name: "grace", Value: "DURATION", Default: "24h",
					Usage: "how long the old secret keeps working (Go duration, e.g. 1h; 0s ends it at once; at most 720h)"}}},
			{Name: "remove", Summary: "Remove an access key; its requests fail at once.", Run: accessKeyRemove, Flags: []Flag{key}},
		},
	}
}

// policyArg reads --policy: the document, or @FILE.
func policyArg(a *Args) (string, error) {
	p := a.Value("policy")
	if file, ok := strings.CutPrefix(p, "@"); ok {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", model.InvalidParam("policy", "cannot read %s: %v", file, err)
		}
		p = string(b)
	}
	return p, nil
}

func accessKeyCreate(env *Env, a *Args) int {
	policy, err := policyArg(a)
	if err != nil {
		return env.Fail(err)
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		resp, err := svc.CreateAccessKey(ctx, a.Value("name"), policy)
		if err != nil {
			return err
		}
		writeJSON(env.Stdout, resp)
		return nil
	})
}

func accessKeyList(env *Env, _ *Args) int {
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		keys, err := svc.AccessKeys(ctx)
		if err != nil {
			return err
		}
		if keys == nil {
			keys = []service.AccessKeyInfo{}
		}
		writeJSON(env.Stdout, map[string]any{"AccessKeys": keys})
		return nil
	})
}

func accessKeyStatus(enabled bool) func(env *Env, a *Args) int {
	return func(env *Env, a *Args) int {
		ctx, cancel := env.commandContext()
		defer cancel()
		return env.WithService(func(svc *service.Service) error {
			if err := svc.SetAccessKeyStatus(ctx, a.Value("name"), enabled); err != nil {
				return err
			}
			status := "Disabled"
			if enabled {
				status = "Enabled"
			}
			writeJSON(env.Stdout, map[string]string{"AccessKey": a.Value("name"), "Status": status})
			return nil
		})
	}
}

func accessKeySetPolicy(env *Env, a *Args) int {
	policy, err := policyArg(a)
	if err != nil {
		return env.Fail(err)
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		if err := svc.SetAccessKeyPolicy(ctx, a.Value("name"), policy); err != nil {
			return err
		}
		writeJSON(env.Stdout, map[string]string{"AccessKey": a.Value("name"), "Policy": "replaced"})
		return nil
	})
}

func accessKeyRotate(env *Env, a *Args) int {
	grace := service.DefaultAccessKeyGrace
	if a.Given("grace") {
		d, err := time.ParseDuration(a.Value("grace"))
		if err != nil || d < 0 {
			return env.Fail(model.InvalidParam("grace", "a duration such as 24h or 0s, got %q", a.Value("grace")))
		}
		grace = d
		if d == 0 {
			grace = -1 // the old secret ends at once
		}
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		resp, err := svc.RotateAccessKey(ctx, a.Value("name"), grace)
		if err != nil {
			return err
		}
		writeJSON(env.Stdout, resp)
		return nil
	})
}

func accessKeyRemove(env *Env, a *Args) int {
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		if err := svc.RemoveAccessKey(ctx, a.Value("name")); err != nil {
			return err
		}
		writeJSON(env.Stdout, map[string]string{"AccessKey": a.Value("name"), "Removed": "true"})
		return nil
	})
}
