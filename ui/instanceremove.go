package ui

import (
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// newInstanceRemoveDialog confirms RemoveInstance: the store forgets the
// instance, its admin key and its pinned host key. The service refuses
// while secrets still manage it; the refusal shows here with its code.
// Only y removes: enter, pressed out of habit, must not forget a host.
func newInstanceRemoveDialog(c *common, in service.InstanceView) *confirmDialog {
	k := c.keys
	svc, ctx, id := c.svc, c.ctx, in.InstanceId
	return &confirmDialog{
		pageBase: newPageBase(), c: c, title: "Remove Instance", width: 76, busyText: "Removing…", wait: newWaiter[struct{}](c),
		body: func(iw int) []string {
			st := c.st
			row := func(label, value string) string {
				return "  " + st.Label.Render(components.Fit(label, 12)) + st.Value.Render(model.SafeText(value))
			}
			lines := []string{
				st.Value.Render("Remove instance ") + st.Bold.Render(model.SafeText(in.InstanceId)) + st.Value.Render(" from the store?"),
				"",
				row("Instance", in.InstanceId),
				row("Name", in.InstanceName),
				row("Host", fmt.Sprintf("%s:%d", in.Host, in.Port)),
				row("Admin user", in.AdminUser),
				row("Host key", in.Fingerprint),
				"",
			}
			for _, l := range wrap("The store forgets its admin key and its pinned host key. Nothing on the host changes; adding it again (c) asks to confirm its host key anew.", iw) {
				lines = append(lines, st.Dim.Render(l))
			}
			if n := in.ManagedSecrets; n > 0 {
				what := "1 secret still manages it: the store refuses until it is deleted."
				if n > 1 {
					what = fmt.Sprintf("%d secrets still manage it: the store refuses until they are deleted.", n)
				}
				for _, l := range wrap(what, iw) {
					lines = append(lines, st.Warn.Render(l))
				}
			}
			return lines
		},
		yes:      withHelp(k.Yes, "y", "remove"),
		no:       withHelp(k.No, "n/esc", "cancel"),
		yesTitle: "Remove the instance",
		act:      func() error { return svc.RemoveInstance(ctx, id) },
		done: func() tea.Cmd {
			return tea.Batch(msgCmd(instancesChangedMsg{}),
				flash(flashOK, "Removed instance "+instanceLabel(in.InstanceId, in.InstanceName, "", 0)))
		},
	}
}
