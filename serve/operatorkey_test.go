package serve

import (
	"context"
	"strings"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// TestOperatorKeyFromOverSSH: a registered key line's from= list is
// honoured at login with the real OpenSSH client from 127.0.0.1, a key
// with another option is refused, and both refusals are logged with the
// operator and the reason. The rows are written as stored lines with their
// options (the form `operator add` should keep; see ParseOperatorKey).
func TestOperatorKeyFromOverSSH(t *testing.T) {
	h := newHarness(t, Config{})
	type row struct {
		name, options string
		allowed       bool
		logged        string
	}
	rows := []row{
		{"exact", `from="127.0.0.1"`, true, ""},
		{"cidr", `from="10.0.0.0/8,127.0.0.0/8"`, true, ""},
		{"glob", `from="127.0.0.?"`, true, ""},
		{"other", `from="10.0.0.0/8,192.0.2.*"`, false, `not in the key's from="10.0.0.0/8,192.0.2.*" list`},
		{"negated", `from="!127.0.0.1,*"`, false, `not in the key's from="!127.0.0.1,*" list`},
		{"command", `command="/bin/sh"`, false, `option "command" is not supported`},
		{"nopty", `no-pty,from="127.0.0.1"`, false, `option "no-pty" is not supported`},
	}
	keys := map[string]string{}
	err := h.store.Write(context.Background(), func(tx *db.Tx) error {
		for _, r := range rows {
			pub, priv := sshdtest.GenerateKey(t, "ed25519")
			keys[r.name] = h.keyFile(r.name, priv)
			if err := tx.InsertOperator(model.Operator{Name: r.name, PublicKey: r.options + " " + pub, Role: model.RoleAdmin, CreateTime: time.Now().UTC().Truncate(time.Second)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		_, stderr, code := h.ssh(keys[r.name], "kms", "ListSecrets")
		if r.allowed && code != 0 {
			t.Errorf("%s (%s): refused from 127.0.0.1: exit %d %s", r.name, r.options, code, stderr)
		}
		if !r.allowed && (code != 255 || !strings.Contains(stderr, "Permission denied (publickey)")) {
			t.Errorf("%s (%s): not refused from 127.0.0.1: exit %d %s", r.name, r.options, code, stderr)
		}
	}
	log := h.log.String()
	for _, r := range rows {
		if r.allowed {
			if !strings.Contains(log, "login "+r.name+" (admin) from 127.0.0.1:") {
				t.Errorf("%s: no login logged", r.name)
			}
			continue
		}
		if strings.Contains(log, "login "+r.name+" ") {
			t.Errorf("%s: logged in", r.name)
		}
		want := "of operator " + r.name + " from 127.0.0.1:"
		found := false
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "refused key ssh-ed25519 ") && strings.Contains(line, want) && strings.Contains(line, r.logged) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no log line with %q and %q", r.name, want, r.logged)
		}
	}
	if t.Failed() {
		t.Logf("serve log:\n%s", log)
	}
}
