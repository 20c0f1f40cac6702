package serve

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// TestFleetRotateOverSSH: `ssh -p PORT host rotate --all --json` rotates
// every managed secret with an admin operator's role; a readonly operator
// may list the selection (--dry-run) but is refused the rotation.
func TestFleetRotateOverSSH(t *testing.T) {
	sshdtest.Require(t)
	h := newHarness(t, Config{})
	alice := h.operator("alice", model.RoleAdmin)
	bob := h.operator("bob", model.RoleReadonly)
	hosts := []*managedHost{newManagedHost(t, h, "i-fleet1"), newManagedHost(t, h, "i-fleet2")}
	for _, m := range hosts {
		m.create(h, alice)
	}

	out, stderr, code := h.ssh(bob, "rotate", "--all", "--dry-run")
	if code != 0 || !strings.Contains(out, hosts[0].secret) || !strings.Contains(out, hosts[1].secret) {
		t.Fatalf("readonly dry run: exit %d\n%s\n%s", code, out, stderr)
	}
	out, stderr, code = h.ssh(bob, "rotate", "--all", "--json")
	if c, _ := apiError(t, stderr); code != 1 || c != model.CodeNoPermission || out != "" {
		t.Fatalf("readonly rotate: exit %d %s, stdout %q", code, stderr, out)
	}
	for _, m := range hosts {
		if _, pw := m.current(t, h.svc); pw != m.initial {
			t.Fatalf("%s: the refused rotation changed the value", m.secret)
		}
	}

	out, stderr, code = h.ssh(alice, "rotate", "--all", "--json")
	if code != 0 {
		t.Fatalf("rotate over SSH: exit %d\n%s\n%s", code, out, stderr)
	}
	results := map[string]map[string]any{}
	var summary map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if s, ok := m["Summary"].(map[string]any); ok {
			summary = s
			continue
		}
		results[m["SecretName"].(string)] = m
	}
	if summary == nil || summary["Total"] != 2.0 || summary["Succeeded"] != 2.0 {
		t.Fatalf("summary %v\n%s", summary, out)
	}
	var wg sync.WaitGroup
	for _, m := range hosts {
		r := results[m.secret]
		vid, pw := m.current(t, h.svc)
		if r == nil || r["Result"] != "Success" || r["VersionId"] != vid || pw == m.initial {
			t.Errorf("%s: result %v, ACSCurrent %s", m.secret, r, vid)
		}
		if strings.Contains(out, pw) || strings.Contains(stderr, pw) || strings.Contains(h.log.String(), pw) {
			t.Fatalf("%s: the new password reached the output", m.secret)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.verify(context.Background(), pw); err != nil {
				t.Errorf("%s: the new ACSCurrent does not log in: %v", m.secret, err)
			}
		}()
	}
	wg.Wait()
	if out, _, _ := h.ssh(alice, "audit", "--filter", hosts[0].secret); !strings.Contains(out, `"Operator":"alice","Action":"RotateSecret"`) {
		t.Errorf("audit does not name alice's rotation:\n%s", out)
	}
}
