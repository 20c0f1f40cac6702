package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"kmsconsole/model"
	"kmsconsole/service"
)

// instance runs `kmsconsole instance add|list|show|remove`.
func (env *Env) instance(args []string) int {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(env.Stdout, instanceHelp)
		return 0
	}
	sub, args := args[0], args[1:]
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(env.Stdout, instanceHelp)
		return 0
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	switch sub {
	case "add":
		params, err := parseParams(args)
		if err != nil {
			return env.fail(err)
		}
		var req struct {
			service.AddInstanceRequest
			AdminKeyFile string
		}
		if err := decodeInstanceAdd(params, &req.AddInstanceRequest, &req.AdminKeyFile); err != nil {
			return env.fail(err)
		}
		if req.AdminKeyFile == "" {
			return env.fail(model.MissingParam("AdminKeyFile"))
		}
		key, err := os.ReadFile(req.AdminKeyFile)
		if err != nil {
			return env.fail(model.InvalidParam("AdminKeyFile", "cannot read %s: %v", req.AdminKeyFile, err))
		}
		req.AdminKey = key
		return env.withService(func(svc *service.Service) error {
			v, err := svc.AddInstance(ctx, req.AddInstanceRequest)
			if err != nil {
				return err
			}
			writeJSON(env.Stdout, v)
			return nil
		})
	case "list":
		if len(args) > 0 {
			return env.fail(model.InvalidParam(args[0], "instance list takes no arguments (use --region)"))
		}
		return env.withService(func(svc *service.Service) error {
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
	case "show", "remove":
		id, err := idArg(args, "InstanceId")
		if err != nil {
			return env.fail(err)
		}
		return env.withService(func(svc *service.Service) error {
			if sub == "remove" {
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
	return env.fail(model.Errorf(model.CodeInvalidParameter, "unknown instance command %q (add, list, show, remove)", sub))
}

// idArg accepts "X" or "--Name X".
func idArg(args []string, name string) (string, error) {
	if len(args) == 1 && !strings.HasPrefix(args[0], "-") {
		return args[0], nil
	}
	params, err := parseParams(args)
	if err != nil {
		return "", err
	}
	for k := range params {
		if k != name {
			return "", model.InvalidParam(k, "unknown parameter --%s (expected --%s)", k, name)
		}
	}
	if params[name] == "" {
		return "", model.MissingParam(name)
	}
	return params[name], nil
}

func decodeInstanceAdd(params map[string]string, req *service.AddInstanceRequest, keyFile *string) error {
	if f, ok := params["AdminKeyFile"]; ok {
		*keyFile = f
		delete(params, "AdminKeyFile")
	}
	return decode("instance add", params, req)
}

// operator runs `kmsconsole operator add|list|set-role|remove`.
func (env *Env) operator(args []string) int {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(env.Stdout, operatorHelp)
		return 0
	}
	sub, args := args[0], args[1:]
	ctx, cancel := env.commandContext()
	defer cancel()
	params, err := parseParams(args)
	if err != nil {
		return env.fail(err)
	}
	allowed := map[string][]string{"add": {"name", "key", "role"}, "set-role": {"name", "role"}, "remove": {"name"}, "list": {}}[sub]
	if allowed == nil && sub != "list" {
		return env.fail(model.Errorf(model.CodeInvalidParameter, "unknown operator command %q (add, list, set-role, remove)", sub))
	}
	for k := range params {
		if !contains(allowed, k) {
			return env.fail(model.InvalidParam(k, "operator %s takes no --%s", sub, k))
		}
	}
	return env.withService(func(svc *service.Service) error {
		switch sub {
		case "add":
			key := params["key"]
			if key == "" {
				return model.MissingParam("key")
			}
			if b, err := os.ReadFile(key); err == nil {
				key = strings.TrimSpace(string(b))
			}
			if params["role"] == "" {
				params["role"] = model.RoleReadonly
			}
			if params["name"] == "" {
				return model.MissingParam("name")
			}
			if err := svc.AddOperator(ctx, params["name"], key, params["role"]); err != nil {
				return err
			}
			writeJSON(env.Stdout, map[string]string{"Name": params["name"], "Role": params["role"]})
		case "set-role":
			if params["name"] == "" {
				return model.MissingParam("name")
			}
			if params["role"] == "" {
				return model.MissingParam("role")
			}
			if err := svc.SetOperatorRole(ctx, params["name"], params["role"]); err != nil {
				return err
			}
			writeJSON(env.Stdout, map[string]string{"Name": params["name"], "Role": params["role"]})
		case "remove":
			if params["name"] == "" {
				return model.MissingParam("name")
			}
			if err := svc.RemoveOperator(ctx, params["name"]); err != nil {
				return err
			}
			writeJSON(env.Stdout, map[string]string{"Name": params["name"], "Removed": "true"})
		case "list":
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
		}
		return nil
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// audit prints the latest audit events as JSON lines, oldest first.
func (env *Env) audit(args []string) int {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(env.Stdout, auditHelp)
		return 0
	}
	params, err := parseParams(args)
	if err != nil {
		return env.fail(err)
	}
	limit := 50
	for k, v := range params {
		switch k {
		case "limit":
			if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
				return env.fail(model.InvalidParam("limit", "must be a positive integer, got %q", v))
			}
		case "filter":
		default:
			return env.fail(model.InvalidParam(k, "audit takes --limit and --filter, not --%s", k))
		}
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.withService(func(svc *service.Service) error {
		events, err := svc.Audit(ctx, limit, params["filter"])
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
