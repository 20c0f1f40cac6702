package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aymanbagabas/go-osc52/v2"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// detailsPage shows one secret: its fields, its versions with their stage
// labels, and the selected version's value, masked until revealed. The
// value is fetched only to reveal or copy it, never to draw the page.
type detailsPage struct {
	pageBase
	c    *common
	name string

	secret   model.Secret // the zero Secret until loaded
	versions []model.Version
	// cred is what an ECS secret manages (user, instance, key
	// fingerprint), read without the value; nil for a generic secret,
	// or when it could not be read (credErr).
	cred    *service.ManagedCredential
	credErr error
	loaded  bool
	err     error

	table components.Table

	// The revealed value, for one version; "" when masked.
	revealed    string
	revealedFor string
	valueErr    error
	busy        string // what the spinner is waiting for
	// reading counts the value reads asked for: only the last one's
	// answer is shown (a reveal, a move, another reveal).
	reading int
	spin    spinner.Model

	w, h int
}

type detailsLoadedMsg struct {
	secret   *model.Secret
	versions []model.Version
	cred     *service.ManagedCredential
	credErr  error
	err      error
}

// valueMsg carries a fetched value to reveal or copy; read is the
// request it answers.
type valueMsg struct {
	read      int
	versionId string
	data      string
	copy      bool
	err       error
}

type copiedMsg struct {
	name, versionId string
	err             error
}

func newDetailsPage(c *common, name string) *detailsPage {
	p := &detailsPage{pageBase: newPageBase(), c: c, name: name, spin: c.spinner()}
	p.table.Styles = c.st.Table
	p.table.Row = p.versionRow
	p.table.SetColumns([]components.Column{
		{Title: "Version ID", Flex: true, Min: 16},
		{Title: "Created", Width: 16},
		{Title: "Stages", Width: 30},
	})
	return p
}

func (p *detailsPage) Init() tea.Cmd {
	p.busy = "Loading…"
	return tea.Batch(p.load(), p.spin.Tick)
}

func (p *detailsPage) load() tea.Cmd {
	svc, ctx, name := p.c.svc, p.c.ctx, p.name
	return func() tea.Msg {
		secret, err := svc.Secret(ctx, name)
		if err != nil {
			return detailsLoadedMsg{err: err}
		}
		versions, err := svc.Versions(ctx, name)
		if err != nil {
			return detailsLoadedMsg{err: err}
		}
		msg := detailsLoadedMsg{secret: secret, versions: versions}
		if secret.Type == model.ECS {
			// The credential's description, not its value: no read of
			// the value, and readonly operators see it too. The page
			// shows without it when it cannot be read.
			msg.cred, msg.credErr = svc.ManagedCredential(ctx, name)
		}
		return msg
	}
}

func (p *detailsPage) fetch(versionId string, copy bool) tea.Cmd {
	p.reading++
	p.busy, p.valueErr = "Reading the value…", nil
	svc, ctx, name, read := p.c.svc, p.c.ctx, p.name, p.reading
	return tea.Batch(p.spin.Tick, func() tea.Msg {
		// Every reveal and every copy is a read of the value, audited as
		// such: a copy fetches again even when the value is on screen.
		purpose := "console reveal"
		if copy {
			purpose = "console copy"
		}
		resp, err := svc.GetSecretValue(ctx, service.GetSecretValueRequest{SecretName: name, VersionId: versionId, Purpose: purpose})
		if err != nil {
			return valueMsg{read: read, versionId: versionId, copy: copy, err: err}
		}
		return valueMsg{read: read, versionId: versionId, data: resp.SecretData, copy: copy}
	})
}

// copyToClipboard writes the value as an OSC 52 sequence to the program's
// output: the operator's terminal copies it, over SSH and in tmux too.
func (c *common) copyToClipboard(name, versionId, value string) tea.Cmd {
	out := c.out
	return func() tea.Msg {
		_, err := io.WriteString(out, osc52.New(value).String())
		return copiedMsg{name: name, versionId: versionId, err: err}
	}
}

func (p *detailsPage) SetSize(w, h int) { p.w, p.h = w, h }
func (p *detailsPage) Capturing() bool  { return false }

func (p *detailsPage) ecs() bool { return p.secret.Type == model.ECS }

// selected is the version under the cursor.
func (p *detailsPage) selected() *model.Version {
	if len(p.versions) == 0 {
		return nil
	}
	return &p.versions[p.table.Cursor()]
}

func (p *detailsPage) hide() {
	p.revealed, p.revealedFor, p.valueErr = "", "", nil
}

func (p *detailsPage) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case detailsLoadedMsg:
		p.busy, p.loaded, p.err = "", true, msg.err
		if msg.err != nil {
			return nil
		}
		// A reload (after a put, a stage move, a rotation) shows the
		// current version again, masked.
		p.secret, p.versions = *msg.secret, msg.versions
		p.cred, p.credErr = msg.cred, msg.credErr
		p.table.SetRows(len(p.versions))
		p.table.SetCursor(0)
		for i, v := range p.versions {
			if slices.Contains(v.Stages, model.StageCurrent) {
				p.table.SetCursor(i)
			}
		}
		p.hide()
		return nil

	case secretChangedMsg:
		if msg.name == p.name {
			return p.load()
		}
	case valueMsg:
		if msg.read != p.reading {
			return nil
		}
		p.busy = ""
		if msg.err != nil {
			p.valueErr = msg.err
			return nil
		}
		if msg.copy {
			return p.c.copyToClipboard(p.name, msg.versionId, msg.data)
		}
		p.revealed, p.revealedFor, p.valueErr = msg.data, msg.versionId, nil
		return nil

	case copiedMsg:
		if msg.err != nil {
			return flash(flashErr, "Copy failed: "+msg.err.Error())
		}
		return flash(flashOK, fmt.Sprintf("Copied the value of %s (version %s) to the clipboard", msg.name, msg.versionId))

	case spinner.TickMsg:
		if p.busy == "" {
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

func (p *detailsPage) actions() actions {
	k := p.c.keys
	v := p.selected()
	loaded := func() bool { return p.loaded && p.secret.Name != "" }
	pending := p.secret.PendingDeletion
	notPending := func() bool { return !p.secret.PendingDeletion() }
	generic := func() bool { return loaded() && !p.ecs() }
	shown := func() bool { return v != nil && p.revealedFor == v.VersionId }
	// Reading a value of a secret pending deletion is refused: the keys
	// say so rather than do nothing.
	readable := func(run func() tea.Cmd) func() tea.Cmd {
		return func() tea.Cmd {
			if p.secret.PendingDeletion() {
				return flash(flashErr, "The secret is pending deletion: restore it (u) to read the value")
			}
			if v == nil {
				return nil
			}
			return run()
		}
	}
	changeable := func(run func() tea.Cmd) func() tea.Cmd {
		return func() tea.Cmd {
			if p.secret.PendingDeletion() {
				return flash(flashErr, "The secret is pending deletion: restore it (u) first")
			}
			return run()
		}
	}
	as := actions{
		{key: k.Back, title: "Back to the list", hint: true, run: pop},
		{key: k.Reveal, title: "Reveal the selected version's value", hint: true, applies: notPending,
			enabled: func() bool { return loaded() && !shown() }, run: readable(func() tea.Cmd { return p.fetch(v.VersionId, false) })},
		{key: withHelp(k.Reveal, "v", "hide"), title: "Hide the value", hint: true, enabled: func() bool { return loaded() && shown() },
			run: func() tea.Cmd { p.hide(); return nil }},
		{key: k.Copy, title: "Copy the selected version's value to the clipboard", hint: true, enabled: loaded, applies: notPending,
			run: readable(func() tea.Cmd { return p.fetch(v.VersionId, true) })},
		{key: k.Rotate, title: "Rotate the secret now", hint: true, enabled: loaded,
			applies: func() bool { return p.ecs() && !p.secret.PendingDeletion() },
			run:     func() tea.Cmd { return rotateOrExplain(p.c, &p.secret) }},
		{key: k.PutValue, title: "Put a new value (a new version)", hint: true, enabled: generic, applies: notPending,
			run: changeable(func() tea.Cmd { return push(newPutValueDialog(p.c, p.name)) })},
		{key: k.MoveStage, title: "Move a stage label to another version", hint: true, enabled: generic, applies: notPending,
			run: changeable(func() tea.Cmd {
				target := ""
				if v != nil {
					target = v.VersionId
				}
				return push(newStageDialog(p.c, p.name, p.versions, target))
			})},
		{key: k.Restore, title: "Restore the secret", hint: true, enabled: loaded, applies: pending, run: func() tea.Cmd {
			if !p.secret.PendingDeletion() {
				return flash(flashErr, "The secret is not pending deletion")
			}
			return push(newRestoreDialog(p.c, p.secret))
		}},
		{key: k.Delete, title: "Plan the deletion of the secret", hint: true, enabled: loaded, applies: notPending, run: func() tea.Cmd {
			if p.secret.PendingDeletion() {
				return flash(flashErr, "Already pending deletion; press u to restore")
			}
			return push(newDeletionDialog(p.c, p.secret))
		}},
		{key: k.Edit, title: "Edit the description and the rotation", hint: true, enabled: loaded, applies: notPending,
			run: changeable(func() tea.Cmd { return push(newEditDialog(p.c, p.secret)) })},
		{key: k.Refresh, title: "Reload the secret", run: p.load},
	}
	return append(as, p.c.listActions(&p.table, loaded, true, false, p.hide)[:2]...)
}

func (p *detailsPage) versionRow(i int) []components.Cell {
	st := p.c.st
	v := p.versions[i]
	stages := strings.Join(v.Stages, ", ")
	style := st.Value
	if stages == "" {
		stages, style = "(deprecated)", st.Dim
	}
	return []components.Cell{
		{Text: v.VersionId, Style: st.Value},
		{Text: fmtTime(v.CreateTime), Style: st.Dim},
		{Text: stages, Style: style},
	}
}

func (p *detailsPage) View() string {
	st := p.c.st
	// The title cuts a long name (the Name field has it whole): a box
	// drops a title that does not fit.
	title := st.Title.Render("Secret ") + st.Count.Render(ansi.Truncate(model.SafeText(p.name), max(8, p.w-13), "…"))
	iw := p.w - 4
	var lines []string
	switch {
	case p.err != nil:
		lines = append([]string{""}, p.c.errLines(p.err, iw)...)
	case !p.loaded:
		lines = []string{"", p.spin.View() + st.Dim.Render(" "+p.busy)}
	default:
		lines = p.fieldLines(iw)
		lines = append(lines, "")
		lines = append(lines, p.valueLines(iw, p.h-2-len(lines)-4-min(len(p.versions), 3))...)
		lines = append(lines, "", st.Section.Render("Versions")+st.Count.Render(fmt.Sprintf(" [%d]", len(p.versions))))
		for i := range lines {
			lines[i] = " " + lines[i]
		}
		th := max(2, p.h-2-len(lines))
		p.table.SetSize(iw+1, th)
		lines = append(lines, p.table.View())
		return components.Box(st.Box, title, strings.Join(lines, "\n"), p.w, p.h)
	}
	return components.Box(st.Box, title, indent(strings.Join(lines, "\n"), 1), p.w, p.h)
}

// fieldLines are the secret's fields in two columns where they fit. The
// name is whole here (the list and the title may cut it), and an ECS
// secret says what it manages: the instance, the OS user, the kind of
// credential and, for a key pair, the ACSCurrent public key's
// fingerprint, all read without the value.
func (p *detailsPage) fieldLines(w int) []string {
	st := p.c.st
	s := &p.secret
	lw := 15
	// Values come from the store (names, descriptions, ExtendedConfig).
	field := func(label, value string, style func(...string) string) string {
		return st.Label.Render(components.Fit(label, lw)) + style(model.SafeText(value))
	}
	// long is a field whose value may not fit on one line: it wraps
	// (wrap makes control characters visible), a name after a "/".
	long := func(label, value string, style func(...string) string) []string {
		var out []string
		for i, l := range wrapName(value, max(10, w-lw)) {
			if i > 0 {
				label = ""
			}
			out = append(out, st.Label.Render(components.Fit(label, lw))+style(l))
		}
		return out
	}
	pair := func(a, b string) string {
		if w < 2*lw+40 || b == "" {
			return a
		}
		return components.Pad(a, w/2) + b
	}
	status := s.Status(p.c.now())
	out := long("Name", s.Name, st.Bold.Render)
	out = append(out, pair(field("Type", s.Type.Label(), st.Value.Render), field("Status", status, st.status(status).Render)))
	if s.Description != "" {
		out = append(out, field("Description", s.Description, st.Value.Render))
	}
	out = append(out, long("ARN", p.c.svc.Arn(s.Name), st.Dim.Render)...)
	out = append(out, pair(field("Created", fmtTime(s.CreateTime), st.Value.Render), field("Updated", fmtTime(s.UpdateTime), st.Value.Render)))
	if cfg, ok := ecsInfo(s); ok {
		out = append(out, p.credentialLines(cfg, field, long, pair)...)
		// The policy and the last failure are two things: a failed
		// manual rotation leaves a Disabled policy Disabled, and its
		// reason shows below whatever the policy.
		// A schedule has lines of its own: the state alone here.
		rot := rotationText(s)
		if s.RotationSchedule != "" {
			rot, _, _ = strings.Cut(rot, " · ")
		}
		out = append(out, pair(field("Auto rotation", rot, st.Value.Render), field("Last rotation", fmtTime(s.LastRotationDate), st.Value.Render)))
		switch {
		case s.RotationSchedule != "":
			out = append(out, p.scheduleLines(w, field, pair)...)
		case s.AutomaticRotation != model.RotationDisabled:
			out = append(out, field("Next rotation", fmtTime(s.NextRotationDate), st.Value.Render))
		}
	}
	if s.RotationError != "" {
		// The reason as a sentence, like any error the console shows.
		reason, _ := humanError(&model.APIError{Message: s.RotationError})
		for i, l := range wrap(reason, max(10, w-lw)) {
			label := "Failure reason"
			if i > 0 {
				label = ""
			}
			out = append(out, st.Label.Render(components.Fit(label, lw))+st.Err.Render(l))
		}
	}
	if s.PendingDeletion() {
		out = append(out, field("Deletion", "planned for "+fmtTime(s.PlannedDeleteTime)+" — press u to restore", st.Warn.Render))
	}
	return out
}

// scheduleLines describe a scheduled secret's rotation as DescribeSecret
// does: the schedule, its window, and while rotation is on the next window
// and the secret's own start in it.
func (p *detailsPage) scheduleLines(w int, field func(label, value string, style func(...string) string) string,
	pair func(a, b string) string) []string {
	st := p.c.st
	s := &p.secret
	window := "—"
	if sched, err := s.ParsedSchedule(); err == nil && sched != nil {
		window = model.FormatRotationWindow(sched.Window)
		if s.RotationWindow == 0 {
			window += " (the default)"
		}
	}
	out := []string{pair(field("Schedule", s.RotationSchedule, st.Value.Render), field("Window", window, st.Value.Render))}
	if s.AutomaticRotation == model.RotationDisabled {
		return out
	}
	plan, ok := s.NextScheduled(p.c.now())
	if !ok {
		return append(out, field("Next window", "none: the schedule has no window left", st.Warn.Render))
	}
	a, b := field("Next window", fmtWindow(plan.WindowStart, plan.WindowEnd), st.Value.Render), field("Next rotation", fmtTime(plan.Start), st.Value.Render)
	// A window over midnight leaves no room for a second column, nor
	// does a narrow screen (where pair keeps only the first).
	if joined := pair(a, b); ansi.StringWidth(a) < w/2 && joined != a {
		return append(out, joined)
	}
	return append(out, a, b)
}

// credentialLines describe what an ECS secret manages. Without the
// description (it could not be read) they fall back on ExtendedConfig.
func (p *detailsPage) credentialLines(cfg model.ECSConfig,
	field func(label, value string, style func(...string) string) string,
	long func(label, value string, style func(...string) string) []string,
	pair func(a, b string) string) []string {
	st := p.c.st
	cr := p.cred
	if cr == nil {
		out := []string{pair(field("Instance", cfg.InstanceId, st.Value.Render), field("Credential", subTypeLabel(cfg.SecretSubType), st.Value.Render))}
		if p.credErr != nil {
			out = append(out, st.Label.Render(components.Fit("Managed user", 15))+p.c.errLine(p.credErr))
		}
		return out
	}
	var out []string
	if cr.InstanceMissing {
		out = append(out, st.Label.Render(components.Fit("Instance", 15))+st.Value.Render(model.SafeText(cr.Instance.InstanceId))+
			st.Warn.Render(" · no longer registered: add it again (i) to rotate"))
	} else {
		in := cr.Instance
		out = append(out, long("Instance", instanceLabel(in.InstanceId, in.InstanceName, in.Host, in.Port), st.Value.Render)...)
	}
	user, userStyle := cr.UserName, st.Value.Render
	if user == "" {
		user, userStyle = "—", st.Dim.Render
	}
	out = append(out, pair(field("Managed user", user, userStyle), field("Credential", subTypeLabel(cr.SubType), st.Value.Render)))
	if cr.SubType == model.SubTypeSSHKey && cr.KeyFingerprint != "" {
		// The fingerprint whole; its key type and stage where they fit.
		fp := model.SafeText(cr.KeyFingerprint)
		line := st.Label.Render(components.Fit("Public key", 15)) + st.Value.Render(fp)
		for _, more := range []string{" (" + cr.KeyType + ", ACSCurrent)", " (" + cr.KeyType + ")"} {
			if 15+ansi.StringWidth(fp+more) <= p.w-4 {
				line += st.Dim.Render(model.SafeText(more))
				break
			}
		}
		out = append(out, line)
	}
	return out
}

// wrapName wraps a name (or an ARN) to w cells, after a "/" where one
// falls in the second half of the line, else where the line ends.
// Control characters are made visible first.
func wrapName(s string, w int) []string {
	r := []rune(model.SafeText(s))
	var out []string
	for len(r) > w {
		cut := w
		for i := w; i > w/2; i-- {
			if r[i-1] == '/' {
				cut = i
				break
			}
		}
		out = append(out, string(r[:cut]))
		r = r[cut:]
	}
	return append(out, string(r))
}

// valueLines is the value of the selected version: masked, or revealed
// (at most room lines).
func (p *detailsPage) valueLines(w, room int) []string {
	st := p.c.st
	v := p.selected()
	if v == nil {
		return nil
	}
	head := st.Section.Render("Value") + st.Dim.Render(" of version "+model.SafeText(v.VersionId))
	if len(v.Stages) > 0 {
		head += st.Dim.Render(" (" + model.SafeText(strings.Join(v.Stages, ", ")) + ")")
	}
	out := []string{head}
	switch {
	case p.busy != "":
		out = append(out, p.spin.View()+st.Dim.Render(" "+p.busy))
	case p.valueErr != nil:
		out = append(out, p.c.errLines(p.valueErr, w)...)
	case !p.c.canMutate():
		out = append(out, st.Dim.Render("•••••••••••••••• (the readonly role cannot read values)"))
	case p.secret.PendingDeletion():
		out = append(out, st.Dim.Render("•••••••••••••••• (pending deletion: restore it to read the value)"))
	case p.revealedFor != v.VersionId:
		out = append(out, st.Dim.Render("••••••••••••••••")+"  "+p.c.help(p.c.keys.Reveal, p.c.keys.Copy))
	default:
		body := p.revealedLines(w)
		if room < 2 {
			room = 2
		}
		if len(body) > room {
			more := len(body) - room + 1
			body = append(body[:room-1], st.Dim.Render(fmt.Sprintf("… %d more lines (y copies the whole value)", more)))
		}
		out = append(out, body...)
	}
	return out
}

// revealedLines lays out a revealed value: ECS JSON field by field (a
// private key on its own lines), anything else wrapped. A value is text
// from outside like any other: it is shown with its control characters
// made visible (y still copies the exact value).
func (p *detailsPage) revealedLines(w int) []string {
	st := p.c.st
	var d model.ECSData
	if p.ecs() && json.Unmarshal([]byte(p.revealed), &d) == nil {
		lw := 12
		out := []string{st.Label.Render(components.Fit("UserName", lw)) + st.Secret.Render(model.SafeText(d.UserName))}
		if d.Password != "" {
			out = append(out, st.Label.Render(components.Fit("Password", lw))+st.Secret.Render(model.SafeText(d.Password)))
		}
		if d.PublicKey != "" {
			for i, l := range wrap(d.PublicKey, w-lw) {
				label := ""
				if i == 0 {
					label = "PublicKey"
				}
				out = append(out, st.Label.Render(components.Fit(label, lw))+st.Secret.Render(l))
			}
		}
		if d.PrivateKey != "" {
			out = append(out, st.Label.Render("PrivateKey"))
			for _, l := range strings.Split(model.SafeLines(strings.TrimRight(d.PrivateKey, "\n")), "\n") {
				out = append(out, st.Secret.Render(l))
			}
		}
		return out
	}
	var out []string
	for _, l := range wrap(p.revealed, w) {
		out = append(out, st.Secret.Render(l))
	}
	return out
}

func (c *common) help(bs ...key.Binding) string {
	var parts []string
	for _, b := range bs {
		if !b.Enabled() {
			continue
		}
		parts = append(parts, c.st.Help.ShortKey.Render(b.Help().Key)+" "+c.st.Help.ShortDesc.Render(b.Help().Desc))
	}
	return strings.Join(parts, c.st.Help.ShortSeparator.Render(" · "))
}
