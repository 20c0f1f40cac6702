package cli

import (
	"context"
	"fmt"
	"strconv"

	"kmsconsole/model"
	"kmsconsole/service"
)

// `kmsconsole instance rotate-admin-key` and `set-admin-key-period`: the
// management login's own key rotation (service/adminkey.go). With --all the
// fleet engine of `kmsconsole rotate` runs it, with the same outputs.

func rotateAdminKeyCommand(id Flag) *Command {
	return &Command{
		Name: "rotate-admin-key", Params: "[ID]", Run: instanceRotateAdminKey,
		Summary: "Replace the SSH key kmsconsole logs in to an instance with (or every instance's, with --all).",
		Flags: []Flag{id,
			{Name: "all", Switch: true, Usage: "every instance of the region"},
			{Name: "parallel", Value: "N", Default: strconv.Itoa(service.DefaultFleetParallel), Usage: fmt.Sprintf("with --all: rotations at once, 1-%d", maxRotateParallel)},
			{Name: "json", Switch: true, Usage: "with --all: one JSON line per instance as it finishes (InstanceId, Kind, Fingerprint, Result, FailedStep, Code, Reason, Ms, RemovedKeyLines), then a Summary line"},
		},
		Help: `A new ed25519 key is made and stored (encrypted, pending) before the host is
touched; its public key is added to the admin user's authorized_keys over the
current management login; a fresh login with it must work; then it becomes the
instance's admin key, and the lines holding the old key are removed from that
authorized_keys (no other line is touched) and a login with the old key is
tried, which must be refused. A failure before the new key is promoted removes
its line again: the old key keeps working. If the process is killed half-way,
the next start of serve or the console (their scheduler), or the next
rotate-admin-key of that instance, settles it by testing the keys. Never runs
beside a rotation of a secret of the same instance: it waits up to two minutes
for those to end. Keys are never printed, only fingerprints.

One instance answers JSON (Fingerprint, PreviousFingerprint, RemovedKeyLines,
OldKeyRefused). With --all the progress and results are those of
'kmsconsole rotate' (a live view on a terminal, else a line per instance, or
--json lines), and the exit status is 0 only if every admin key rotated.
`,
	}
}

func setAdminKeyPeriodCommand(id Flag) *Command {
	return &Command{
		Name: "set-admin-key-period", Params: "[ID]", Run: instanceSetAdminKeyPeriod,
		Summary: "Rotate an instance's admin key on its own every PERIOD (serve and the console's scheduler).",
		Flags: []Flag{id,
			{Name: "Period", Value: "PERIOD", Usage: "N followed by d, h, m or s, 6h-8760h (e.g. 30d); none (or 0) turns it off", Required: true},
		},
		Help: `The period counts from the last rotation of the admin key (or from when the
instance was added). Setting it again re-arms rotations that failed.
`,
	}
}

// instanceIds is the instance a command names, as ID or --InstanceId ID
// (nil when none).
func instanceIds(a *Args) []string {
	var ids []string
	if a.Given("InstanceId") {
		ids = append(ids, a.Value("InstanceId"))
	}
	return append(ids, a.Params...)
}

func instanceRotateAdminKey(env *Env, a *Args) int {
	ids := instanceIds(a)
	all := a.Switch("all")
	switch {
	case len(ids) > 0 && all:
		return env.Fail(model.InvalidParam("InstanceId", "give --InstanceId ID or --all, not both"))
	case len(ids) > 1:
		return env.Fail(model.InvalidParam("InstanceId", "give one instance, as ID or --InstanceId ID (or --all)"))
	case len(ids) == 1 && ids[0] == "":
		return env.Fail(model.InvalidParam("InstanceId", "--InstanceId needs an instance id"))
	case len(ids) == 0 && !all:
		return env.Fail(model.Errorf(model.CodeMissingParameter, "nothing selected: give --InstanceId ID or --all"))
	case !all && (a.Given("parallel") || a.Given("json")):
		return env.Fail(model.InvalidParam("all", "--parallel and --json go with --all"))
	}
	if all {
		return rotateAllAdminKeys(env, a)
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		resp, err := svc.RotateAdminKey(ctx, service.RotateAdminKeyRequest{InstanceId: ids[0]})
		if err != nil {
			return err
		}
		writeJSON(env.Stdout, resp)
		return nil
	})
}

// rotateAllAdminKeys runs --all through the fleet engine and the outputs of
// `kmsconsole rotate`.
func rotateAllAdminKeys(env *Env, a *Args) int {
	ra := rotateArgs{json: a.Switch("json"), perHost: 1, adminKeys: true}
	v := a.Value("parallel")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxRotateParallel {
		return env.Fail(model.InvalidParam("parallel", "--parallel must be a whole number from 1 to %d, got %q", maxRotateParallel, v))
	}
	ra.parallel = n
	base := env.Context
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	defer cancel()
	exit := 0
	if code := env.WithService(func(svc *service.Service) error {
		items, err := svc.SelectAdminKeys(ctx, nil, true)
		if err != nil {
			return err
		}
		if len(items) > 0 && !svc.CanMutate() {
			a := svc.Actor()
			return model.Errorf(model.CodeNoPermission, "operator %s (role %s) may not rotate admin keys", a.Name, a.Role)
		}
		exit = env.rotateFleet(ctx, cancel, svc, items, ra)
		return nil
	}); code != 0 {
		return code
	}
	return exit
}

func instanceSetAdminKeyPeriod(env *Env, a *Args) int {
	ids := instanceIds(a)
	switch {
	case len(ids) == 0 || ids[0] == "":
		return env.Fail(model.MissingParam("InstanceId"))
	case len(ids) > 1:
		return env.Fail(model.InvalidParam("InstanceId", "give one instance, as ID or --InstanceId ID"))
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		v, err := svc.SetAdminKeyPeriod(ctx, ids[0], a.Value("Period"))
		if err != nil {
			return err
		}
		writeJSON(env.Stdout, v)
		return nil
	})
}
