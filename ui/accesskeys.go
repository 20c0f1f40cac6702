package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/spinner"
	"github.com/charmbracelet/bubbles/textarea"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// The Access Keys screen (SPEC §7, issue 12): the API's application
// identities. Only admins manage them (the service refuses everyone else);
// a key's secret is shown once, in accessKeySecretDialog, after a create
// or a rotation, and never again.

// accessKeysPage lists the access keys with their status, who made them
// and, after a rotation, until when the old secret still works.
type accessKeysPage struct {
	pageBase
	c      *common
	keys   []service.AccessKeyInfo
	loaded bool
	err    error

	table components.Table
	spin  spinner.Model
	w, h  int
}

type accessKeysLoadedMsg struct {
	keys []service.AccessKeyInfo
	// sel is the key (name or id) to put the cursor on, "" to keep it.
	sel string
	err error
}

// accessKeysChangedMsg asks the list to load again: a dialog sends it to
// the list page that opened it (replyTo), with the key to select.
type accessKeysChangedMsg struct{ sel string }

// replyTo is a command whose message goes to the page to, like the reply
// to a command of its own: how a dialog tells the page below it what
// changed.
func replyTo(to pageID, msg tea.Msg) tea.Cmd { return msgCmd(replyMsg{to: to, msg: msg}) }

func newAccessKeysPage(c *common) *accessKeysPage {
	p := &accessKeysPage{pageBase: newPageBase(), c: c, spin: c.spinner()}
	p.table.Styles = c.st.Table
	p.table.Row = p.row
	p.table.SetColumns([]components.Column{
		{Title: "Name", Flex: true, Min: 12},
		{Title: "AccessKeyId", Width: 24},
		{Title: "Status", Width: 8},
		{Title: "Created", Width: 16, Drop: 2},
		{Title: "Created by", Width: 10, Drop: 3},
		{Title: "Old secret valid until", Width: 16, Drop: 1},
	})
	p.table.EmptyText = "No access keys yet. Press c to create one for an application."
	return p
}

// permitted: the operator may manage access keys. A readonly operator is
// told so instead of being refused by the service (and the refusal
// audited) each time the screen opens.
func (p *accessKeysPage) permitted() bool { return p.c.canMutate() }

func (p *accessKeysPage) Init() tea.Cmd {
	if !p.permitted() {
		return nil
	}
	return tea.Batch(p.load(""), p.spin.Tick)
}

func (p *accessKeysPage) load(sel string) tea.Cmd {
	svc, ctx := p.c.svc, p.c.ctx
	return func() tea.Msg {
		keys, err := svc.AccessKeys(ctx)
		return accessKeysLoadedMsg{keys: keys, sel: sel, err: err}
	}
}

func (p *accessKeysPage) SetSize(w, h int) {
	p.w, p.h = w, h
	p.table.SetSize(w-3, max(3, h-2-4))
}

func (p *accessKeysPage) Capturing() bool { return false }

// selected is the key under the cursor, nil when there is none.
func (p *accessKeysPage) selected() *service.AccessKeyInfo {
	if !p.loaded || p.err != nil || len(p.keys) == 0 {
		return nil
	}
	return &p.keys[p.table.Cursor()]
}

func (p *accessKeysPage) row(i int) []components.Cell {
	st := p.c.st
	k := p.keys[i]
	status := st.OK
	if k.Status != model.AccessKeyEnabled {
		status = st.Warn
	}
	until := "—"
	if k.PreviousSecretValidUntil != "" {
		until = fmtAPITime(k.PreviousSecretValidUntil)
	}
	return []components.Cell{
		{Text: k.AccessKeyName, Style: st.Value},
		{Text: k.AccessKeyId, Style: st.Value},
		{Text: k.Status, Style: status},
		{Text: fmtAPITime(k.CreateTime), Style: st.Dim},
		{Text: k.CreatedBy, Style: st.Dim},
		{Text: until, Style: st.Warn},
	}
}

func (p *accessKeysPage) actions() actions {
	k := p.c.keys
	sel := p.selected()
	listed := func() bool { return p.loaded && p.err == nil }
	some := func() bool { return sel != nil }
	isEnabled := func() bool { return sel != nil && sel.Status == model.AccessKeyEnabled }
	isDisabled := func() bool { return sel != nil && sel.Status != model.AccessKeyEnabled }
	on := func(f func(k service.AccessKeyInfo) tea.Cmd) func() tea.Cmd {
		return func() tea.Cmd {
			if sel == nil {
				return nil
			}
			return f(*sel)
		}
	}
	as := actions{
		{key: k.Create, title: "Create an access key", hint: true, enabled: listed,
			run: func() tea.Cmd { return push(newAccessKeyForm(p.c, p.id(), nil)) }},
		{key: k.ShowPolicy, title: "Show the selected key's policy", hint: true, enabled: some,
			run: on(func(ak service.AccessKeyInfo) tea.Cmd { return push(newPolicyDialog(p.c, p.id(), ak)) })},
		{key: k.DisableKey, title: "Disable the selected key", hint: true, enabled: some, applies: isEnabled,
			run: on(func(ak service.AccessKeyInfo) tea.Cmd {
				if ak.Status != model.AccessKeyEnabled {
					return flash(flashInfo, ak.AccessKeyName+" is disabled already; e enables it")
				}
				return push(newAccessKeyStatusDialog(p.c, p.id(), ak, false))
			})},
		{key: k.EnableKey, title: "Enable the selected key", hint: true, enabled: some, applies: isDisabled,
			run: on(func(ak service.AccessKeyInfo) tea.Cmd {
				if ak.Status == model.AccessKeyEnabled {
					return flash(flashInfo, ak.AccessKeyName+" is enabled already; d disables it")
				}
				return push(newAccessKeyStatusDialog(p.c, p.id(), ak, true))
			})},
		{key: k.RotateKey, title: "Rotate the selected key's secret", hint: true, enabled: some,
			run: on(func(ak service.AccessKeyInfo) tea.Cmd { return push(newAccessKeyRotateDialog(p.c, p.id(), ak)) })},
		{key: k.EditPolicy, title: "Edit the selected key's policy", hint: true, enabled: some,
			run: on(func(ak service.AccessKeyInfo) tea.Cmd { return push(newAccessKeyForm(p.c, p.id(), &ak)) })},
		{key: k.RemoveKey, title: "Remove the selected key", hint: true, enabled: some,
			run: on(func(ak service.AccessKeyInfo) tea.Cmd { return push(newAccessKeyRemoveDialog(p.c, p.id(), ak)) })},
		{key: k.Refresh, title: "Reload the access keys", hint: true, enabled: p.permitted, run: func() tea.Cmd { return p.load("") }},
		{key: k.Back, title: "Back to the secrets", hint: true, run: pop},
	}
	return append(as, p.c.listActions(&p.table, some, true, true, nil)...)
}

func (p *accessKeysPage) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case accessKeysLoadedMsg:
		keep := ""
		if s := p.selected(); s != nil {
			keep = s.AccessKeyId
		}
		p.loaded, p.err, p.keys = true, msg.err, msg.keys
		p.table.SetRows(len(p.keys))
		want := msg.sel
		if want == "" {
			want = keep
		}
		for i, k := range p.keys {
			if want != "" && (k.AccessKeyId == want || k.AccessKeyName == want) {
				p.table.SetCursor(i)
			}
		}
		return nil
	case accessKeysChangedMsg:
		return p.load(msg.sel)
	case spinner.TickMsg:
		if p.loaded {
			return nil
		}
		var cmd tea.Cmd
		p.spin, cmd = p.spin.Update(msg)
		return cmd
	case tea.KeyMsg:
		cmd, _ := p.actions().handle(msg)
		return cmd
	}
	return nil
}

func (p *accessKeysPage) View() string {
	st := p.c.st
	title := st.Title.Render("Access Keys") + st.Count.Render(fmt.Sprintf(" [%d]", len(p.keys)))
	iw := p.w - 4
	var body string
	switch {
	case !p.permitted():
		title = st.Title.Render("Access Keys")
		var lines []string
		for _, l := range wrap("Access keys are managed by admin operators: the readonly role can neither list nor change them.", iw) {
			lines = append(lines, st.Warn.Render(l))
		}
		lines = append(lines, "")
		for _, l := range wrap("An access key lets an application call the KMS API (serve --api-listen) with Alibaba Cloud's SDKs; ask an admin for one.", iw) {
			lines = append(lines, st.Dim.Render(l))
		}
		body = "\n " + strings.Join(lines, "\n ")
	case p.err != nil:
		body = "\n " + strings.Join(p.c.errLines(p.err, iw), "\n ")
	case !p.loaded:
		body = "\n " + p.spin.View() + st.Dim.Render(" Loading access keys…")
	default:
		detail := p.detailLines(iw)
		p.table.SetSize(p.w-3, max(3, p.h-2-len(detail)))
		body = p.table.View() + "\n" + indent(strings.Join(detail, "\n"), 1)
	}
	return components.Box(st.Box, title, body, p.w, p.h)
}

// detailLines describe the key under the cursor: its policy in one line
// (enter shows all of it) and its secret's age.
func (p *accessKeysPage) detailLines(w int) []string {
	st := p.c.st
	k := p.selected()
	if k == nil {
		return nil
	}
	lw := 12
	label := func(s string) string { return st.Label.Render(components.Fit(s, lw)) }
	secret := "rotated " + fmtAPITime(k.SecretRotated)
	if k.PreviousSecretValidUntil != "" {
		secret += " · old one valid until " + fmtAPITime(k.PreviousSecretValidUntil)
	}
	return []string{
		st.Dim.Render(strings.Repeat("─", w)),
		label("Policy") + st.Value.Render(components.Fit(k.Policy, max(10, w-lw))),
		label("Secret") + st.Dim.Render(components.Fit(secret, max(10, w-lw))),
	}
}

// defaultPolicy is the template a new key starts with: read the secrets
// under app/ in this region, nothing else.
func defaultPolicy(region string) string {
	return `{
  "Version": "1",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["kms:GetSecretValue"],
      "Resource": ["acs:kms:` + region + `:*:secret/app/*"]
    }
  ]
}`
}

// prettyPolicy indents a policy document for reading and editing; a
// document that is not JSON stays as it is.
func prettyPolicy(doc string) string {
	var b bytes.Buffer
	if json.Indent(&b, []byte(doc), "", "  ") != nil {
		return doc
	}
	return b.String()
}

// policyField is a form field holding a policy document: a text area.
type policyField struct {
	area textarea.Model
	Hint string
}

func newPolicyField(c *common, value string) *policyField {
	st := c.st
	a := textarea.New()
	a.ShowLineNumbers = false
	a.Prompt = "│ "
	a.MaxHeight = 0 // no limit on lines: the service judges the document
	a.Placeholder = "a RAM policy document"
	focused := textarea.Style{
		Base: st.r.NewStyle(), CursorLine: st.Form.Value, CursorLineNumber: st.Dim, EndOfBuffer: st.Dim,
		LineNumber: st.Dim, Placeholder: st.Form.Placeholder, Prompt: st.Form.Marker, Text: st.Form.Value,
	}
	blurred := focused
	blurred.Prompt = st.Form.Label
	a.FocusedStyle, a.BlurredStyle = focused, blurred
	a.Cursor.Style = st.Form.Cursor
	a.Cursor.TextStyle = st.Form.Value
	// Enter submits the form and the key map's NewLine breaks a line (the
	// dialog's table); ctrl+v would read the server's clipboard, not the
	// operator's: a terminal paste arrives as typed text.
	a.KeyMap.InsertNewline.SetEnabled(false)
	a.KeyMap.Paste.SetEnabled(false)
	a.SetValue(value)
	a.Blur()
	return &policyField{area: a}
}

func (f *policyField) Title() string  { return "Policy" }
func (f *policyField) Hidden() bool   { return false }
func (f *policyField) Focus() tea.Cmd { return f.area.Focus() }
func (f *policyField) Blur()          { f.area.Blur() }
func (f *policyField) Value() string  { return f.area.Value() }

func (f *policyField) Update(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	f.area, cmd = f.area.Update(msg)
	return cmd
}

func (f *policyField) newLine() tea.Cmd {
	f.area.InsertString("\n")
	return nil
}

func (f *policyField) View(st components.FormStyles, focused bool, w int, errText func(error) string) []string {
	f.area.SetWidth(w)
	out := strings.Split(f.area.View(), "\n")
	if focused && f.Hint != "" {
		for _, l := range components.Wrap(f.Hint, w) {
			out = append(out, st.Hint.Render(l))
		}
	}
	return out
}

// accessKeyForm is Create Access Key (a name and a policy) or, given a
// key, Edit Policy. The service judges the policy: its refusal shows in
// the dialog with the input kept. A created key's secret goes to
// accessKeySecretDialog, which takes the form's place.
type accessKeyForm struct {
	pageBase
	formKit
	list pageID // the list that opened it, told what changed
	edit *service.AccessKeyInfo

	name    *components.TextField
	policy  *policyField
	initial string // the policy the form opened with

	wait waiter[*service.AccessKeySecretResponse]
	w, h int
}

func newAccessKeyForm(c *common, list pageID, edit *service.AccessKeyInfo) *accessKeyForm {
	d := &accessKeyForm{pageBase: newPageBase(), formKit: formKit{c: c}, list: list, edit: edit,
		wait: newWaiter[*service.AccessKeySecretResponse](c)}
	d.initial = defaultPolicy(c.svc.Region())
	if edit != nil {
		d.initial = prettyPolicy(edit.Policy)
	}
	d.policy = newPolicyField(c, d.initial)
	d.policy.Hint = "Statement[] of Effect Allow|Deny, Action (kms:GetSecretValue, kms:List*, kms:*), Resource (secret ARNs, * wildcards). Deny wins; nothing is allowed by default. " +
		d.c.keys.NewLine.Help().Key + " starts a new line."
	if edit != nil {
		d.form = components.Form{Styles: c.st.Form, Items: []components.Item{d.policy}, LabelWidth: 8, ErrText: fieldError}
		return d
	}
	d.name = components.NewTextField("Name", c.st.input("e.g. billing"), model.ValidateAccessKeyName)
	d.name.Hint = "How the audit log names the key's requests: 1–64 letters, digits, _ . @ -"
	d.form = components.Form{Styles: c.st.Form, Items: []components.Item{d.name, d.policy}, LabelWidth: 8, ErrText: fieldError}
	d.discard.watch(d.name)
	return d
}

func (d *accessKeyForm) dialog()          {}
func (d *accessKeyForm) Init() tea.Cmd    { return d.form.FocusFirst() }
func (d *accessKeyForm) SetSize(w, h int) { d.w, d.h = w, h }
func (d *accessKeyForm) Capturing() bool  { return true }
func (d *accessKeyForm) idle() bool       { return !d.wait.busy }

func (d *accessKeyForm) title() string {
	if d.edit != nil {
		return "Edit Policy"
	}
	return "Create Access Key"
}

// dirty: a name typed, or the policy changed.
func (d *accessKeyForm) dirty() bool {
	return d.discard.dirty() || d.policy.Value() != d.initial
}

func (d *accessKeyForm) inPolicy() bool { return d.form.Focused() == d.policy }

func (d *accessKeyForm) actions() actions {
	k := d.c.keys
	on := func() bool { return !d.discard.asking && d.idle() }
	next, prev := k.NextField, k.PrevField
	if d.inPolicy() {
		// ↑ and ↓ move between the policy's lines.
		next, prev = onlyKeys(next, "tab"), onlyKeys(prev, "shift+tab")
	}
	several := func() bool { return on() && d.edit == nil }
	confirm := action{key: withHelp(k.Confirm, "enter", "create"), title: "Create the access key"}
	if d.edit != nil {
		confirm = action{key: withHelp(k.Confirm, "enter", "save"), title: "Save the policy"}
	}
	confirm.enabled, confirm.run, confirm.hint = on, d.submit, true
	as := d.discard.actions(d.c, pop)
	return append(as,
		confirm,
		action{key: k.NewLine, enabled: func() bool { return on() && d.inPolicy() }, run: d.policy.newLine, hint: true},
		action{key: next, enabled: several, run: d.form.Next, hint: true, nav: true},
		action{key: prev, enabled: several, run: d.form.Prev, nav: true},
		action{key: k.Cancel, title: "Cancel", enabled: on, hint: true, run: func() tea.Cmd {
			if d.dirty() {
				d.discard.asking = true
				return nil
			}
			return pop()
		}},
	)
}

func (d *accessKeyForm) Update(msg tea.Msg) tea.Cmd {
	if cmd, end, ok := d.wait.update(msg); ok {
		switch {
		case end == nil:
			return cmd
		case end.err != nil:
			// Put the focus on the field the refusal is about.
			if ae := apiError(end.err); d.name != nil && strings.Contains(ae.Message, "parameter Name ") {
				return d.form.FocusItem(d.name)
			}
			if strings.Contains(apiError(end.err).Message, "parameter Policy ") {
				return d.form.FocusItem(d.policy)
			}
			return nil
		case d.edit != nil:
			name := d.edit.AccessKeyName
			return tea.Batch(pop(), replyTo(d.list, accessKeysChangedMsg{sel: d.edit.AccessKeyId}),
				flash(flashOK, "Saved the policy of "+name))
		}
		r := end.result
		return tea.Batch(msgCmd(replaceMsg{newAccessKeySecretDialog(d.c, *r, false)}),
			replyTo(d.list, accessKeysChangedMsg{sel: r.AccessKeyId}))
	}
	if msg, ok := msg.(tea.KeyMsg); ok {
		return d.onKey(msg, d.actions(), d.idle())
	}
	return nil
}

func (d *accessKeyForm) submit() tea.Cmd {
	svc, ctx, doc := d.c.svc, d.c.ctx, d.policy.Value()
	if d.edit != nil {
		id := d.edit.AccessKeyId
		return d.wait.start("Saving the policy…", func() (*service.AccessKeySecretResponse, error) {
			return nil, svc.SetAccessKeyPolicy(ctx, id, doc)
		})
	}
	if d.name.Check() != nil {
		return d.form.FocusItem(d.name)
	}
	name := d.name.Value()
	return d.wait.start("Creating the access key…", func() (*service.AccessKeySecretResponse, error) {
		return svc.CreateAccessKey(ctx, name, doc)
	})
}

func (d *accessKeyForm) View() string {
	st := d.c.st
	w := min(84, d.w-4)
	iw := w - 4
	var lines []string
	if d.edit != nil {
		lines = append(lines, "", st.Label.Render(components.Fit("Key", 11))+
			st.Bold.Render(model.SafeText(d.edit.AccessKeyName))+st.Dim.Render("  "+model.SafeText(d.edit.AccessKeyId)))
	}
	lines = append(lines, "")
	status := formStatus(&d.formKit, &d.wait, iw, d.actions())
	// The policy takes the room the rest leaves: 12 lines at most, 3 at
	// least (it scrolls).
	rest := strings.Count(d.form.View(iw), "\n") + 1 - d.policy.area.Height()
	d.policy.area.SetHeight(max(3, min(12, d.h-2-len(lines)-rest-1-len(status))))
	lines = append(lines, strings.Split(d.form.View(iw), "\n")...)
	lines = append(lines, "")
	lines = append(lines, status...)
	return d.c.modal(d.title(), lines, w, d.h)
}

// policyDialog shows a key's policy, indented; p edits it.
type policyDialog struct {
	pageBase
	c      *common
	list   pageID
	key    service.AccessKeyInfo
	lines  []string
	offset int
	room   int
	w, h   int
}

func newPolicyDialog(c *common, list pageID, k service.AccessKeyInfo) *policyDialog {
	return &policyDialog{pageBase: newPageBase(), c: c, list: list, key: k}
}

func (d *policyDialog) dialog()          {}
func (d *policyDialog) Init() tea.Cmd    { return nil }
func (d *policyDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *policyDialog) Capturing() bool  { return false }

func (d *policyDialog) scrolls() bool { return len(d.lines) > d.room }

func (d *policyDialog) actions() actions {
	k := d.c.keys
	scroll := func(by int) func() tea.Cmd {
		return func() tea.Cmd {
			d.offset = max(0, min(d.offset+by, len(d.lines)-d.room))
			return nil
		}
	}
	return actions{
		{key: k.EditPolicy, title: "Edit the policy", hint: true, run: func() tea.Cmd {
			return msgCmd(replaceMsg{newAccessKeyForm(d.c, d.list, &d.key)})
		}},
		{key: k.Close, title: "Close", hint: true, run: pop},
		{key: k.Up, enabled: d.scrolls, run: scroll(-1), hint: true, nav: true},
		{key: k.Down, enabled: d.scrolls, run: scroll(1), hint: true, nav: true},
	}
}

func (d *policyDialog) Update(msg tea.Msg) tea.Cmd {
	if msg, ok := msg.(tea.KeyMsg); ok {
		cmd, _ := d.actions().handle(msg)
		return cmd
	}
	return nil
}

func (d *policyDialog) View() string {
	st := d.c.st
	w := min(84, d.w-4)
	iw := w - 4
	head := []string{"", st.Label.Render(components.Fit("Key", 11)) + st.Bold.Render(model.SafeText(d.key.AccessKeyName)) +
		st.Dim.Render("  "+model.SafeText(d.key.AccessKeyId)), ""}
	d.lines = wrap(prettyPolicy(d.key.Policy), iw)
	d.room = max(3, d.h-2-len(head)-2)
	d.offset = max(0, min(d.offset, len(d.lines)-d.room))
	lines := head
	for _, l := range d.lines[d.offset:min(len(d.lines), d.offset+d.room)] {
		lines = append(lines, st.Value.Render(l))
	}
	lines = append(lines, "", d.c.help(d.actions().short()...))
	return d.c.modal("Policy", lines, w, d.h)
}

// keyRows are a key's name and id, for the dialogs about it.
func keyRows(c *common, k service.AccessKeyInfo) []string {
	st := c.st
	row := func(label, value string) string {
		return "  " + st.Label.Render(components.Fit(label, 13)) + st.Value.Render(model.SafeText(value))
	}
	return []string{row("Name", k.AccessKeyName), row("AccessKeyId", k.AccessKeyId), row("Created", fmtAPITime(k.CreateTime)+" by "+k.CreatedBy)}
}

// newAccessKeyStatusDialog confirms disabling (only y: applications are
// refused at once) or enabling (enter or y) a key.
func newAccessKeyStatusDialog(c *common, list pageID, k service.AccessKeyInfo, enable bool) *confirmDialog {
	keys := c.keys
	svc, ctx, id, name := c.svc, c.ctx, k.AccessKeyId, k.AccessKeyName
	d := &confirmDialog{
		pageBase: newPageBase(), c: c, title: "Disable Access Key", width: 76, busyText: "Disabling…", wait: newWaiter[struct{}](c),
		body:     keyQuestion(c, k, "Disable", "Applications that use it are refused at once (Forbidden.AccessKeyDisabled) until it is enabled again. Its secret and policy stay.", c.st.Warn),
		yes:      withHelp(keys.Yes, "y", "disable"),
		no:       withHelp(keys.No, "n/esc", "cancel"),
		yesTitle: "Disable the access key",
		act:      func() error { return svc.SetAccessKeyStatus(ctx, id, enable) },
		done: func() tea.Cmd {
			what := "Disabled"
			if enable {
				what = "Enabled"
			}
			return tea.Batch(replyTo(list, accessKeysChangedMsg{sel: id}), flash(flashOK, fmt.Sprintf("%s access key %s (%s)", what, name, id)))
		},
	}
	if enable {
		d.title, d.busyText, d.yesTitle = "Enable Access Key", "Enabling…", "Enable the access key"
		d.yes, d.no = orKeys(withHelp(keys.Confirm, "enter", "enable"), keys.Yes), orKeys(keys.Cancel, keys.No)
		d.body = keyQuestion(c, k, "Enable", "Applications that hold its secret can call the API again, as its policy allows.", c.st.Dim)
	}
	return d
}

// keyQuestion is a confirmation's body: "VERB access key NAME?", the key's
// rows, then what it will do (wrapped, in style).
func keyQuestion(c *common, k service.AccessKeyInfo, verb, note string, style lipgloss.Style) func(iw int) []string {
	return func(iw int) []string {
		st := c.st
		lines := append([]string{st.Value.Render(verb+" access key ") + st.Bold.Render(model.SafeText(k.AccessKeyName)) + st.Value.Render("?"), ""},
			keyRows(c, k)...)
		lines = append(lines, "")
		for _, l := range wrap(note, iw) {
			lines = append(lines, style.Render(l))
		}
		return lines
	}
}

// newAccessKeyRemoveDialog confirms RemoveAccessKey, like Remove Instance:
// only y removes.
func newAccessKeyRemoveDialog(c *common, list pageID, k service.AccessKeyInfo) *confirmDialog {
	keys := c.keys
	svc, ctx, id, name := c.svc, c.ctx, k.AccessKeyId, k.AccessKeyName
	return &confirmDialog{
		pageBase: newPageBase(), c: c, title: "Remove Access Key", width: 76, busyText: "Removing…", wait: newWaiter[struct{}](c),
		body:     keyQuestion(c, k, "Remove", "Applications that use it are refused at once (InvalidAccessKeyId.NotFound). This cannot be undone: a new key has a new AccessKeyId and secret. The audit log keeps its requests.", c.st.Warn),
		yes:      withHelp(keys.Yes, "y", "remove"),
		no:       withHelp(keys.No, "n/esc", "cancel"),
		yesTitle: "Remove the access key",
		act:      func() error { return svc.RemoveAccessKey(ctx, id) },
		done: func() tea.Cmd {
			return tea.Batch(replyTo(list, accessKeysChangedMsg{}), flash(flashOK, fmt.Sprintf("Removed access key %s (%s)", name, id)))
		},
	}
}

// The grace periods Rotate Access Key offers: how long the old secret
// keeps working.
var rotateGraces = []struct {
	label string
	grace time.Duration // as RotateAccessKey takes it: negative ends it now
}{
	{"24 h (default)", service.DefaultAccessKeyGrace},
	{"1 h", time.Hour},
	{"none", -1},
}

// accessKeyRotateDialog is Rotate Access Key: a new secret, shown once;
// the old one keeps working for the grace period chosen.
type accessKeyRotateDialog struct {
	pageBase
	c     *common
	form  components.Form
	list  pageID
	key   service.AccessKeyInfo
	grace *components.Choice
	wait  waiter[*service.AccessKeySecretResponse]
	w, h  int
}

func newAccessKeyRotateDialog(c *common, list pageID, k service.AccessKeyInfo) *accessKeyRotateDialog {
	d := &accessKeyRotateDialog{pageBase: newPageBase(), c: c, list: list, key: k,
		wait: newWaiter[*service.AccessKeySecretResponse](c)}
	d.grace = &components.Choice{Name: "Old secret"}
	for _, g := range rotateGraces {
		d.grace.Options = append(d.grace.Options, g.label)
	}
	c.choiceKeys(d.grace)
	d.form = components.Form{Styles: c.st.Form, Items: []components.Item{d.grace}, LabelWidth: 12, ErrText: fieldError}
	return d
}

func (d *accessKeyRotateDialog) dialog()          {}
func (d *accessKeyRotateDialog) Init() tea.Cmd    { return d.form.FocusFirst() }
func (d *accessKeyRotateDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *accessKeyRotateDialog) Capturing() bool  { return false }
func (d *accessKeyRotateDialog) idle() bool       { return !d.wait.busy }

func (d *accessKeyRotateDialog) chosen() time.Duration { return rotateGraces[d.grace.Selected].grace }

// actions: one choice and nothing typed, so none of a form's discard
// question.
func (d *accessKeyRotateDialog) actions() actions {
	k := d.c.keys
	choose := func(t tea.KeyType) func() tea.Cmd {
		return func() tea.Cmd { return d.grace.Update(tea.KeyMsg{Type: t}) }
	}
	return actions{
		{key: withHelp(k.Confirm, "enter", "rotate"), title: "Rotate the secret", enabled: d.idle, run: d.submit, hint: true},
		{key: k.ChoiceNext, enabled: d.idle, run: choose(tea.KeyRight), hint: true, nav: true},
		{key: k.ChoicePrev, enabled: d.idle, run: choose(tea.KeyLeft), nav: true},
		{key: k.Cancel, title: "Cancel", enabled: d.idle, run: pop, hint: true},
	}
}

func (d *accessKeyRotateDialog) submit() tea.Cmd {
	svc, ctx, id, grace := d.c.svc, d.c.ctx, d.key.AccessKeyId, d.chosen()
	return d.wait.start("Rotating…", func() (*service.AccessKeySecretResponse, error) {
		return svc.RotateAccessKey(ctx, id, grace)
	})
}

func (d *accessKeyRotateDialog) Update(msg tea.Msg) tea.Cmd {
	if cmd, end, ok := d.wait.update(msg); ok {
		if end == nil || end.err != nil {
			return cmd
		}
		return tea.Batch(msgCmd(replaceMsg{newAccessKeySecretDialog(d.c, *end.result, true)}),
			replyTo(d.list, accessKeysChangedMsg{sel: d.key.AccessKeyId}))
	}
	if msg, ok := msg.(tea.KeyMsg); ok {
		cmd, _ := d.actions().handle(msg)
		return cmd
	}
	return nil
}

func (d *accessKeyRotateDialog) View() string {
	st := d.c.st
	w := min(76, d.w-4)
	iw := w - 4
	lines := append([]string{"", st.Value.Render("Give access key ") + st.Bold.Render(model.SafeText(d.key.AccessKeyName)) + st.Value.Render(" a new secret?"), ""},
		keyRows(d.c, d.key)...)
	lines = append(lines, "")
	lines = append(lines, strings.Split(d.form.View(iw), "\n")...)
	lines = append(lines, "")
	var note string
	style := st.Dim
	switch g := d.chosen(); {
	case g < 0:
		note, style = "The old secret stops working now: applications still using it are refused at once.", st.Warn
	default:
		note = fmt.Sprintf("The old secret keeps working until %s, so applications can move to the new one.", fmtTime(d.c.now().Add(g)))
	}
	if d.key.PreviousSecretValidUntil != "" {
		note += " The secret before it, still in its grace period, stops now."
	}
	for _, l := range wrap(note, iw) {
		lines = append(lines, style.Render(l))
	}
	for _, l := range wrap("The new secret is shown once, next.", iw) {
		lines = append(lines, st.Dim.Render(l))
	}
	lines = append(lines, "")
	lines = append(lines, d.wait.status(d.c, iw, d.actions().short())...)
	return d.c.modal("Rotate Access Key", lines, w, d.h)
}

// accessKeySecretDialog shows a new secret, after a create or a rotation:
// the one time it is shown. It stays masked until v; y copies it with
// OSC 52. Closing before either asks first: the secret cannot be had
// again (only rotated).
type accessKeySecretDialog struct {
	pageBase
	c        *common
	resp     service.AccessKeySecretResponse
	rotated  bool
	revealed bool
	copied   bool
	asking   bool
	w, h     int
}

func newAccessKeySecretDialog(c *common, resp service.AccessKeySecretResponse, rotated bool) *accessKeySecretDialog {
	return &accessKeySecretDialog{pageBase: newPageBase(), c: c, resp: resp, rotated: rotated}
}

func (d *accessKeySecretDialog) dialog()          {}
func (d *accessKeySecretDialog) Init() tea.Cmd    { return nil }
func (d *accessKeySecretDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *accessKeySecretDialog) Capturing() bool  { return false }

func (d *accessKeySecretDialog) actions() actions {
	k := d.c.keys
	open := func() bool { return !d.asking }
	return actions{
		{key: k.Reveal, title: "Reveal the secret", hint: true, enabled: func() bool { return open() && !d.revealed }, run: func() tea.Cmd {
			d.revealed = true
			return nil
		}},
		{key: withHelp(k.Reveal, "v", "hide"), title: "Hide the secret", hint: true, enabled: func() bool { return open() && d.revealed }, run: func() tea.Cmd {
			d.revealed = false
			return nil
		}},
		{key: k.Copy, title: "Copy the secret to the clipboard", hint: true, enabled: open, run: func() tea.Cmd {
			return d.c.copyToClipboard(d.resp.AccessKeyName, "", d.resp.AccessKeySecret)
		}},
		{key: k.Close, title: "Close", hint: true, enabled: open, run: func() tea.Cmd {
			if !d.revealed && !d.copied {
				d.asking = true
				return nil
			}
			return pop()
		}},
		{key: withHelp(k.Yes, "y", "close without it"), title: "Close without the secret", hint: true,
			enabled: func() bool { return d.asking }, run: pop},
		{key: withHelp(k.No, "n/esc", "back to the secret"), title: "Back to the secret", hint: true,
			enabled: func() bool { return d.asking }, run: func() tea.Cmd {
				d.asking = false
				return nil
			}},
	}
}

func (d *accessKeySecretDialog) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case copiedMsg:
		if msg.err != nil {
			return flash(flashErr, "Copy failed: "+msg.err.Error())
		}
		d.copied = true
		return flash(flashOK, "Copied the AccessKeySecret of "+d.resp.AccessKeyName+" to the clipboard")
	case tea.KeyMsg:
		cmd, _ := d.actions().handle(msg)
		return cmd
	}
	return nil
}

func (d *accessKeySecretDialog) View() string {
	st := d.c.st
	w := min(80, d.w-4)
	iw := w - 4
	lw := 17
	row := func(label, value string) string {
		return st.Label.Render(components.Fit(label, lw)) + value
	}
	secret := st.Dim.Render("••••••••••••••••")
	if d.revealed {
		secret = st.Secret.Render(model.SafeText(d.resp.AccessKeySecret))
	}
	if d.copied {
		secret += "  " + st.OK.Render("✓ copied")
	}
	lines := []string{
		"",
		row("Name", st.Bold.Render(model.SafeText(d.resp.AccessKeyName))),
		row("AccessKeyId", st.Value.Render(model.SafeText(d.resp.AccessKeyId))),
		row("AccessKeySecret", secret),
		"",
	}
	for _, l := range wrap("This is the only time the secret is shown: kmsconsole keeps it encrypted and will not show it again. Copy it now into the application's configuration; if it is lost, rotate the key.", iw) {
		lines = append(lines, st.Warn.Render(l))
	}
	if d.rotated {
		note := "The old secret stopped working."
		if d.resp.PreviousSecretValidUntil != "" {
			note = "The old secret keeps working until " + fmtAPITime(d.resp.PreviousSecretValidUntil) + " (UTC)."
		}
		for _, l := range wrap(note, iw) {
			lines = append(lines, st.Dim.Render(l))
		}
	}
	lines = append(lines, "")
	if d.asking {
		lines = append(lines, st.Warn.Render("Close without copying the secret? It cannot be shown again."), d.c.help(d.actions().short()...))
	} else {
		lines = append(lines, d.c.help(d.actions().short()...))
	}
	title := "Access Key Created"
	if d.rotated {
		title = "Access Key Rotated"
	}
	return d.c.modal(title, lines, w, d.h)
}
