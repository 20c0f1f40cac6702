package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"kmsconsole/model"
	"kmsconsole/service"
)

// instanceCommand is `kmsconsole instance add|list|show|remove`.
func instanceCommand() *Command {
	id := Flag{Name: "InstanceId", Value: "ID", Usage: "the instance (or give it as the argument)"}
	return &Command{
		Name:    "instance",
		Summary: "Managed ECS instances: the hosts whose users' credentials rotate.",
		Subs: []*Command{
			{Name: "add", Summary: "Register a managed host and pin its host key; the admin key is stored encrypted.", Run: instanceAdd,
				Flags: []Flag{
					{Name: "InstanceId", Value: "ID", Usage: "the instance's id, as secrets name it (e.g. i-web1)"},
					{Name: "RegionId", Value: "REGION", Usage: "its region (default: --region)"},
					{Name: "Host", Value: "HOST", Usage: "the address or name to reach it over SSH"},
					{Name: "Port", Value: "N", Usage: "the SSH port (default 22)"},
					{Name: "InstanceName", Value: "NAME", Usage: "a name to show"},
					{Name: "AdminUser", Value: "USER", Usage: "root, or a user with passwordless sudo (default root)"},
					{Name: "AdminKeyFile", Value: "PATH", Usage: "the admin user's SSH private key", Required: true},
					{Name: "HostKey", Value: "'TYPE BASE64'", Usage: "the host key to pin, known out of band"},
					{Name: "AcceptHostKey", Value: "SHA256:...", Usage: "pin the host key it presents if its fingerprint is this"},
				},
				Help: `Without --HostKey the host key is fetched and its fingerprint printed; repeat
with --AcceptHostKey set to that fingerprint (checked out of band) to pin it.
`},
			{Name: "list", Summary: "List the region's instances.", Run: instanceList},
			{Name: "show", Params: "[ID]", Summary: "Show an instance: its host, admin user and pinned host key.", Flags: []Flag{id},
				Run: func(env *Env, a *Args) int { return instanceShowOrRemove(env, a, false) }},
			{Name: "remove", Params: "[ID]", Summary: "Remove an instance (refused while secrets manage it).", Flags: []Flag{id},
				Run: func(env *Env, a *Args) int { return instanceShowOrRemove(env, a, true) }},
			rotateAdminKeyCommand(id),
			setAdminKeyPeriodCommand(id),
		},
	}
}

func instanceAdd(env *Env, a *Args) int {
	var req service.AddInstanceRequest
	params := a.given()
	delete(params, "AdminKeyFile")
	if err := decode("instance add", params, &req); err != nil {
		return env.Fail(err)
	}
	keyFile := a.Value("AdminKeyFile")
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return env.Fail(model.InvalidParam("AdminKeyFile", "cannot read %s: %v", keyFile, err))
	}
	req.AdminKey = key
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		v, err := svc.AddInstance(ctx, req)
		if err != nil {
			return err
		}
		writeJSON(env.Stdout, v)
		return nil
	})
}

func instanceList(env *Env, _ *Args) int {
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		list, err := svc.Instances(ctx, false)
		if err != nil {
			return err
		}
		if list == nil {
			list = []service.InstanceView{}
		}
		writeJSON(env.Stdout, map[string]any{"RegionId": svc.Region(), "Instances": list})
		return nil
	})
}

func instanceShowOrRemove(env *Env, a *Args, remove bool) int {
	var ids []string
	if a.Given("InstanceId") {
		ids = append(ids, a.Value("InstanceId"))
	}
	ids = append(ids, a.Params...)
	switch {
	case len(ids) == 0 || ids[0] == "":
		return env.Fail(model.MissingParam("InstanceId"))
	case len(ids) > 1:
		return env.Fail(model.InvalidParam("InstanceId", "give one instance, as ID or --InstanceId ID"))
	}
	id := ids[0]
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		if remove {
			if err := svc.RemoveInstance(ctx, id); err != nil {
				return err
			}
			writeJSON(env.Stdout, map[string]string{"InstanceId": id, "Removed": "true"})
			return nil
		}
		v, err := svc.Instance(ctx, id)
		if err != nil {
			return err
		}
		writeJSON(env.Stdout, v)
		return nil
	})
}

// operatorCommand is `kmsconsole operator add|list|set-role|remove`.
func operatorCommand() *Command {
	name := Flag{Name: "name", Value: "NAME", Usage: "the operator's name, as the audit log shows it", Required: true}
	return &Command{
		Name:    "operator",
		Summary: "The operators who log in to 'kmsconsole serve' with their SSH key.",
		Help: `readonly operators list and describe but never reveal a value or change
anything. A removed operator, or one whose role changed, loses the consoles
already open within seconds.
`,
		Subs: []*Command{
			{Name: "add", Summary: "Register an operator's SSH public key with a role.", Run: operatorAdd,
				Flags: []Flag{name,
					{Name: "key", Value: "FILE_OR_LINE", Usage: "the public key: a file holding it, or the authorized_keys line", Required: true},
					{Name: "role", Value: "ROLE", Usage: "admin or readonly", Default: model.RoleReadonly},
				},
				Help: `A key line may carry from="PATTERNS" (addresses, CIDR, * ? wildcards,
! negation, as in authorized_keys): serve then admits the key only from there.
Any other option (command=, no-pty, restrict, …) is refused, since serve would
not enforce it.
`},
			{Name: "list", Summary: "List the operators, their roles and keys.", Run: operatorList},
			{Name: "set-role", Summary: "Change an operator's role; their open consoles end within seconds.", Run: operatorSetRole,
				Flags: []Flag{name, {Name: "role", Value: "ROLE", Usage: "admin or readonly", Required: true}}},
			{Name: "remove", Summary: "Remove an operator; their open consoles end within seconds.", Run: operatorRemove,
				Flags: []Flag{name}},
		},
	}
}

func operatorAdd(env *Env, a *Args) int {
	key := a.Value("key")
	if b, err := os.ReadFile(key); err == nil {
		key = strings.TrimSpace(string(b))
	}
	role := a.Value("role")
	if role == "" {
		role = model.RoleReadonly
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		if err := svc.AddOperator(ctx, a.Value("name"), key, role); err != nil {
			return err
		}
		writeJSON(env.Stdout, map[string]string{"Name": a.Value("name"), "Role": role})
		return nil
	})
}

func operatorList(env *Env, _ *Args) int {
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		ops, err := svc.Operators(ctx)
		if err != nil {
			return err
		}
		type view struct{ Name, Role, PublicKey, CreateTime string }
		out := []view{}
		for _, o := range ops {
			out = append(out, view{o.Name, o.Role, o.PublicKey, model.FormatTime(o.CreateTime)})
		}
		writeJSON(env.Stdout, map[string]any{"Operators": out})
		return nil
	})
}

func operatorSetRole(env *Env, a *Args) int {
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		if err := svc.SetOperatorRole(ctx, a.Value("name"), a.Value("role")); err != nil {
			return err
		}
		writeJSON(env.Stdout, map[string]string{"Name": a.Value("name"), "Role": a.Value("role")})
		return nil
	})
}

func operatorRemove(env *Env, a *Args) int {
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		if err := svc.RemoveOperator(ctx, a.Value("name")); err != nil {
			return err
		}
		writeJSON(env.Stdout, map[string]string{"Name": a.Value("name"), "Removed": "true"})
		return nil
	})
}

// auditCommand is `kmsconsole audit`.
func auditCommand() *Command {
	return &Command{
		Name: "audit", Remote: true, Run: audit,
		Summary: "The latest audit events, oldest first, one JSON object per line.",
		Flags: []Flag{
			{Name: "limit", Value: "N", Usage: "how many of the latest events", Default: "50"},
			{Name: "filter", Value: "TEXT", Usage: "only events whose text contains TEXT"},
		},
		Help: `Each event has the time, operator, action, target, result and error.
Values are never recorded.
`,
	}
}

// audit prints the latest audit events as JSON lines, oldest first.
func audit(env *Env, a *Args) int {
	limit, err := strconv.Atoi(a.Value("limit"))
	if err != nil || limit < 1 {
		return env.Fail(model.InvalidParam("limit", "must be a positive integer, got %q", a.Value("limit")))
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		events, err := svc.Audit(ctx, limit, a.Value("filter"))
		if err != nil {
			return err
		}
		for i := len(events) - 1; i >= 0; i-- {
			b, _ := jsonLine(events[i])
			fmt.Fprintln(env.Stdout, b)
		}
		return nil
	})
}
