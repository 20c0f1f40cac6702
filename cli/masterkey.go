package cli

import (
	"fmt"
	"strconv"

	"kmsconsole/model"
	"kmsconsole/service"
)

// masterkeyCommand is `kmsconsole masterkey rotate|status` (SPEC §10): the
// key that seals every value, rotated like any other credential. It works
// on the key files, so it runs where the store's key is, never remotely.
func masterkeyCommand() *Command {
	return &Command{
		Name:    "masterkey",
		Summary: "Rotate the master key that seals every value, or see which rows are under which key.",
		Subs: []*Command{
			{Name: "rotate", Summary: "Make a new master key and seal every value, private key, admin key and access-key secret again under it.",
				Run: masterkeyRotate,
				Flags: []Flag{
					{Name: "batch", Value: "N", Usage: "rows sealed again per transaction (default 100)"},
				},
				Help: `The new key is written beside the old one as master.key.new (0600), and from
that moment every write seals under it; the rows are then sealed again, a
batch per transaction, each verified before it moves. When none is left under
the old key, master.key.new replaces master.key and the old key is gone:
values written before the rotation no longer open with it. Every ciphertext
and row MAC names the key that sealed it (kmsconsole masterkey status counts
them).

Stopped at any point (Ctrl-C, kill -9, a power cut), every value stays
readable with the two files, and running the command again resumes where it
stopped. Processes that share the key directory (the console, serve, the
scheduler) follow the rotation without a restart. A serve replica with a
key directory of its own (another machine on the same PostgreSQL database)
cannot read what moved until master.key is copied to it from here; it takes
the copied key without a restart, and until then its reads and writes of
moved rows fail with an error that says so. Keep a copy of the new key with
your backups: a backup taken before the rotation needs the old key.
`},
			{Name: "status", Summary: "How many rows are under each master key, and whether a rotation is under way.",
				Run: masterkeyStatus},
		},
	}
}

func masterkeyRotate(env *Env, a *Args) int {
	opts := service.RotateMasterKeyOptions{}
	if v := a.Value("batch"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return env.Fail(model.InvalidParam("batch", "--batch takes a whole number from 1 to 10000, not %q", v))
		}
		opts.Batch = n
	}
	opts.Progress = func(moved int) { fmt.Fprintf(env.Stderr, "sealed again: %d row(s)\n", moved) }
	opts.Waiting = func() {
		fmt.Fprintln(env.Stderr, "another master key rotation holds the store's lease: waiting for it (a run that was killed holds it for 10 s at most)")
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		rot, err := svc.RotateMasterKey(ctx, opts)
		if err != nil {
			return err
		}
		writeJSON(env.Stdout, rot)
		return nil
	})
}

func masterkeyStatus(env *Env, a *Args) int {
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		st, err := svc.MasterKeyStatus(ctx)
		if err != nil {
			return err
		}
		writeJSON(env.Stdout, st)
		return nil
	})
}
