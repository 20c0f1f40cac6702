package serve

import (
	"fmt"
	"strings"
	"testing"

	"kmsconsole/model"
)

// TestFirstKeystrokesReachFreshConsoles opens 20 ssh consoles one after
// another and types a filter into each as soon as its first frame is drawn.
// Every console must react: no keystroke may be swallowed by the session's
// set-up (issue 11: 1 in 6–12 consoles used to lose its first keys).
func TestFirstKeystrokesReachFreshConsoles(t *testing.T) {
	requireTool(t, "tmux")
	h := newHarness(t, Config{})
	alice := h.operator("alice", model.RoleAdmin)
	h.mustSSH(alice, "kms", "CreateSecret", "--SecretName", "app/x", "--VersionId", "v1", "--SecretData", "x-value")
	h.mustSSH(alice, "kms", "CreateSecret", "--SecretName", "db/y", "--VersionId", "v1", "--SecretData", "y-value")

	const consoles = 20
	for i := 0; i < consoles; i++ {
		tm := startTmux(t, h.consoleCommand(alice))
		tm.waitText("app/x")
		tm.send("/", "d", "b")
		tm.waitFor(fmt.Sprintf("console %d of %d filtering on \"db\"", i+1, consoles), func(screen string) bool {
			return strings.Contains(screen, "db/y") && !strings.Contains(screen, "app/x")
		})
		tm.kill()
	}
}
