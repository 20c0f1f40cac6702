package ui

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// Rotations belong to the root, not to the page that shows them. A page
// asks for one through common.rotator (the root: rotate, rotateFleet);
// the root counts it as running from that very Update on, so q can never
// slip in between (it asks first and waits), runs it in a goroutine that
// reports through a channel, and pumps that channel one event at a time
// (waitRotation). Each step and end goes to the page that asked, as a
// reply; when that page has gone (Rotate Immediately sent to the
// background), the root says in the flash line how it ended. So closing a
// dialog never loses a rotation's end.

// rotator starts rotations for a page; the root is the one rotator.
type rotator interface {
	// rotate rotates one secret (Rotate Immediately); custom is the
	// operator's value, "" to generate one.
	rotate(from pageID, name, custom string) tea.Cmd
	// rotateFleet runs the fleet engine on items.
	rotateFleet(from pageID, items []service.FleetItem) tea.Cmd
}

type (
	// rotationStepMsg and rotationEndMsg are a run's events for the page
	// that asked: item i of its request (0 for one rotation) started step,
	// or ended. fleet is the engine's result of a fleet's item.
	rotationStepMsg struct {
		i    int
		step string
	}
	rotationEndMsg struct {
		i     int
		name  string
		resp  *service.RotateSecretResponse
		err   error
		fleet *service.FleetResult
	}
	// rotationEventMsg is one event of a run, for the root to count and
	// deliver; ch is the run's channel, pumped on after it.
	rotationEventMsg struct {
		from pageID
		ev   tea.Msg
		ch   <-chan rotationEventMsg
	}
)

func (rotationEventMsg) forRoot() {}

// rotate starts one rotation; it is called from a page's Update: the
// rotation counts as running from now on.
func (m *Model) rotate(from pageID, name, custom string) tea.Cmd {
	m.rotations++
	// A rotation outlives its session (an SSH client hanging up): it
	// finishes, so that the host and the store agree.
	svc, ctx := m.c.svc, context.WithoutCancel(m.c.ctx)
	ch := make(chan rotationEventMsg, 8) // room for every step and the end: the rotation never blocks on the UI
	send := func(ev tea.Msg) { ch <- rotationEventMsg{from: from, ev: ev, ch: ch} }
	return func() tea.Msg {
		go func() {
			defer close(ch)
			req := service.RotateSecretRequest{SecretName: name, SecretData: custom}
			req.Progress = func(step string) { send(rotationStepMsg{step: step}) }
			resp, err := svc.RotateSecret(ctx, req)
			send(rotationEndMsg{name: name, resp: resp, err: err})
		}()
		return waitRotation(ch)()
	}
}

// rotateFleet runs the fleet engine (the one `kmsconsole rotate` runs) on
// the items; it is called from a page's Update: every item counts as a
// running rotation from now on until its end arrives. The engine reports through
// a channel with room for every end (it never waits for the UI); a step
// beyond the room left for the ends still to come is dropped. Rotations
// the engine started finish even when the session ends (ctx then only
// stops it starting more).
func (m *Model) rotateFleet(from pageID, items []service.FleetItem) tea.Cmd {
	m.rotations += len(items)
	svc, ctx := m.c.svc, m.c.ctx
	// Per item at most the four steps and its end.
	ch := make(chan rotationEventMsg, len(items)*6)
	send := func(ev tea.Msg) { ch <- rotationEventMsg{from: from, ev: ev, ch: ch} }
	return func() tea.Msg {
		var mu sync.Mutex
		ends := len(items)
		go func() {
			defer close(ch)
			svc.RotateFleet(ctx, items, service.FleetOptions{
				Parallel: fleetParallel,
				PerHost:  fleetPerHost,
				OnStep: func(i int, step string) {
					mu.Lock()
					defer mu.Unlock()
					if len(ch) < cap(ch)-ends {
						send(rotationStepMsg{i: i, step: step})
					}
				},
				OnDone: func(i int, res service.FleetResult) {
					mu.Lock()
					defer mu.Unlock()
					ends--
					send(rotationEndMsg{i: i, name: res.SecretName, resp: fleetResponse(res), err: fleetError(res), fleet: &res})
				},
			})
		}()
		return waitRotation(ch)()
	}
}

// rotationEvent counts and delivers one event of a run, then pumps on.
func (m *Model) rotationEvent(msg rotationEventMsg) tea.Cmd {
	next := waitRotation(msg.ch)
	to := m.page(msg.from)
	end, ok := msg.ev.(rotationEndMsg)
	if !ok {
		return tea.Batch(m.deliver(to, msg.ev), next)
	}
	m.rotations--
	if m.quitting && m.rotations <= 0 {
		return tea.Quit
	}
	var note tea.Cmd
	if to == nil {
		// Nobody watches this one any more: say how it ended.
		note = flash(flashOK, fmt.Sprintf("Rotated %s: new version %s", end.name, versionOf(end.resp)))
		if end.err != nil {
			sentence, code := humanError(end.err)
			note = flash(flashErr, fmt.Sprintf("Rotation of %s failed: %s · %s", end.name, sentence, code))
		}
	}
	return tea.Batch(m.deliver(to, end), msgCmd(secretChangedMsg{name: end.name}), note, next)
}

func waitRotation(ch <-chan rotationEventMsg) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return nil
		}
		return ev
	}
}

func versionOf(r *service.RotateSecretResponse) string {
	if r == nil {
		return ""
	}
	return r.VersionId
}

var rotationSteps = []struct{ name, what string }{
	{service.StepCreate, "store the new credential as a pending version"},
	{service.StepSet, "apply it on the instance"},
	{service.StepTest, "log in as the managed user with it"},
	{service.StepFinish, "promote it to ACSCurrent"},
}

func stepIndex(step string) int {
	for i, s := range rotationSteps {
		if s.name == step {
			return i
		}
	}
	return -1
}

// rotateDialog is Rotate Immediately: the "Use Custom Secret" prompt, the
// live create → set → test → finish progress, then "Rotation triggered"
// with the new VersionId, or the failure with its code.
type rotateDialog struct {
	pageBase
	formKit
	secret model.Secret
	cfg    model.ECSConfig
	inst   *service.InstanceView

	custom   *components.Choice
	password *components.TextField
	key      *keyInput

	state    rotateState
	step     int // index of the running step
	resp     *service.RotateSecretResponse
	err      error
	spin     spinner.Model
	w, h     int
	failedAt int
}

type rotateState int

const (
	rotatePrompt rotateState = iota
	rotateRunning
	rotateDone
	rotateFailed
)

// instanceLoadedMsg is the instance a rotation will run on, for the
// dialog's header (nil when it cannot be read).
type instanceLoadedMsg struct{ inst *service.InstanceView }

func newRotateDialog(c *common, s model.Secret) *rotateDialog {
	d := &rotateDialog{pageBase: newPageBase(), formKit: formKit{c: c}, secret: s, spin: c.spinner()}
	d.cfg, _ = ecsInfo(&s)
	d.custom = &components.Choice{Name: "Use Custom Secret", Options: []string{"Off", "On"}}
	c.choiceKeys(d.custom)
	in := c.st.secretInput("the new password")
	d.password = components.NewTextField("Secret value", in, model.ValidatePassword)
	d.password.Hide = true
	d.key = newKeyInput(c, "Private key", false)
	d.key.field.Hide = true
	d.form = components.Form{Styles: c.st.Form, Items: []components.Item{d.custom, d.password, d.key.field}, LabelWidth: 18, ErrText: fieldError}
	d.changed = d.sync
	d.discard.watch(d.form.Items...)
	return d
}

func (d *rotateDialog) dialog()          {}
func (d *rotateDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *rotateDialog) Capturing() bool  { return d.state == rotatePrompt }
func (d *rotateDialog) keyPair() bool    { return d.cfg.SecretSubType == model.SubTypeSSHKey }
func (d *rotateDialog) useCustom() bool  { return d.custom.Value() == "On" }

// sync shows the value field the choice and the credential call for.
func (d *rotateDialog) sync() {
	d.password.Hide = !d.useCustom() || d.keyPair()
	d.key.field.Hide = !d.useCustom() || !d.keyPair()
}

func (d *rotateDialog) Init() tea.Cmd {
	svc, ctx, id := d.c.svc, d.c.ctx, d.cfg.InstanceId
	return tea.Batch(d.form.FocusFirst(), func() tea.Msg {
		inst, _ := svc.Instance(ctx, id)
		return instanceLoadedMsg{inst: inst}
	})
}

func (d *rotateDialog) actions() actions {
	k := d.c.keys
	prompt := func() bool { return d.state == rotatePrompt }
	running := func() bool { return d.state == rotateRunning }
	ended := func() bool { return d.state == rotateDone || d.state == rotateFailed }
	confirm := action{key: withHelp(k.Confirm, "enter", "rotate"), title: "Rotate now", run: d.submit}
	as := d.formKit.actions(prompt, []action{confirm}, k.Cancel, pop)
	return append(as,
		action{key: withHelp(k.Back, "esc", "run in background"), title: "Let the rotation run in the background", enabled: running, hint: true,
			run: func() tea.Cmd {
				// It goes on; the root reports its end.
				return tea.Batch(pop(), flash(flashInfo, "The rotation of "+d.secret.Name+" goes on in the background"))
			}},
		action{key: k.Close, title: "Close", enabled: ended, hint: true, run: pop},
	)
}

func (d *rotateDialog) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case instanceLoadedMsg:
		d.inst = msg.inst
	case keyLoadedMsg:
		d.key.apply(msg)
	case rotationStepMsg:
		if i := stepIndex(msg.step); i >= 0 {
			d.step = i
		}
	case rotationEndMsg:
		d.resp, d.err = msg.resp, msg.err
		if msg.err != nil {
			d.state = rotateFailed
			d.failedAt = d.step
		} else {
			d.state = rotateDone
			d.step = len(rotationSteps)
		}
	case spinner.TickMsg:
		if d.state != rotateRunning {
			return nil
		}
		var cmd tea.Cmd
		d.spin, cmd = d.spin.Update(msg)
		return cmd
	case tea.KeyMsg:
		prompt := d.state == rotatePrompt
		cmd := d.onKey(msg, d.actions(), prompt)
		if prompt && d.form.Focused() == d.key.field {
			return tea.Batch(cmd, d.key.changed())
		}
		return cmd
	}
	return nil
}

func (d *rotateDialog) submit() tea.Cmd {
	custom := ""
	if d.useCustom() {
		if d.keyPair() {
			if d.key.field.Check() != nil || !d.key.ready() {
				d.key.field.Touched = true
				return d.form.FocusItem(d.key.field)
			}
			custom = d.key.pem
		} else {
			if d.password.Check() != nil {
				return d.form.FocusItem(d.password)
			}
			custom = d.password.Value()
		}
	}
	d.form.Focused().Blur()
	d.state = rotateRunning
	d.step = 0
	return tea.Batch(d.c.rotator.rotate(d.id(), d.secret.Name, custom), d.spin.Tick)
}

func (d *rotateDialog) View() string {
	st := d.c.st
	w := min(76, d.w-4)
	iw := w - 4
	lw := 18
	field := func(label, value string) string {
		return st.Label.Render(components.Fit(label, lw+2)) + st.Value.Render(model.SafeText(value))
	}
	inst := d.cfg.InstanceId
	if d.inst != nil {
		inst = instanceLabel(d.inst.InstanceId, d.inst.InstanceName, d.inst.Host, d.inst.Port)
	}
	lines := []string{
		"",
		st.Label.Render(components.Fit("Secret", lw+2)) + st.Bold.Render(model.SafeText(d.secret.Name)),
		field("Instance", inst),
		field("Credential", subTypeLabel(d.cfg.SecretSubType)),
		"",
	}
	switch d.state {
	case rotatePrompt:
		lines = append(lines, strings.Split(d.form.View(iw), "\n")...)
		lines = append(lines, "")
		explain := "A new 32-character password (all four character classes) is generated and set on the instance."
		if d.keyPair() {
			explain = "A new RSA-2048 key pair is generated; its public key is added to the user's authorized_keys."
		}
		if d.useCustom() {
			explain = "The value you give is set on the instance and tested before it becomes ACSCurrent."
		}
		for _, l := range wrap(explain, iw) {
			lines = append(lines, st.Dim.Render(l))
		}
		if d.discard.asking {
			lines = append(lines, "", d.discard.prompt(d.c, d.actions().short()))
		} else {
			lines = append(lines, "", d.c.help(d.actions().short()...))
		}
	default:
		lines = append(lines, d.stepLines()...)
		lines = append(lines, "")
		switch d.state {
		case rotateRunning:
			lines = append(lines, st.Dim.Render("Rotating… the instance keeps a working credential at every step."), "", d.c.help(d.actions().short()...))
		case rotateDone:
			lines = append(lines,
				st.OK.Render("✓ ")+st.Bold.Render("Rotation triggered"),
				field("New version", d.resp.VersionId))
			if d.resp.RemovedKeyLines != nil || d.resp.Warning != "" {
				if d.resp.Warning != "" {
					lines = append(lines, st.Label.Render(components.Fit("Old key", lw+2))+st.Warn.Render("not revoked"))
				} else {
					lines = append(lines, field("Old key", removedKeyLines(d.resp.RemovedKeyLines)))
				}
			}
			if d.resp.Warning != "" {
				for _, l := range wrap("Warning: "+d.resp.Warning, iw) {
					lines = append(lines, st.Warn.Render(l))
				}
			}
			lines = append(lines,
				st.Dim.Render("The new credential is ACSCurrent; the old one is ACSPrevious."),
				"", d.c.help(d.actions().short()...))
		case rotateFailed:
			lines = append(lines, st.Err.Render("✗ ")+st.Bold.Render("Rotation failed"))
			lines = append(lines, d.c.errLines(d.err, iw)...)
			lines = append(lines, st.Dim.Render("The instance keeps its previous credential; ACSCurrent is unchanged."), "", d.c.help(d.actions().short()...))
		}
	}
	return d.c.modal("Rotate Immediately", lines, w, d.h)
}

// removedKeyLines says how many authorized_keys lines of a key pair's old
// key a rotation removed.
func removedKeyLines(n *int) string {
	switch {
	case n == nil || *n == 0:
		return "no authorized_keys line held it"
	case *n == 1:
		return "1 authorized_keys line removed"
	}
	return fmt.Sprintf("%d authorized_keys lines removed", *n)
}

// stepLines shows create/set/test/finish: done ✓, running (spinner),
// failed ✗, to do ·.
func (d *rotateDialog) stepLines() []string {
	return renderSteps(d.c.st, rotationSteps, d.step, d.failedAt, d.state, d.spin.View())
}

// rotationStep is one step of a rotation dialog and what it does.
type rotationStep = struct{ name, what string }

// renderSteps draws a rotation's steps (a secret's or an admin key's):
// before step done ✓, step running (spin) or failed ✗ (at failedAt), the
// rest to do ·.
func renderSteps(st *styles, steps []rotationStep, step, failedAt int, state rotateState, spin string) []string {
	var out []string
	for i, s := range steps {
		var mark string
		style := st.Value
		switch {
		case state == rotateFailed && i == failedAt:
			mark, style = st.Err.Render("✗"), st.Err
		case i < step || state == rotateDone:
			mark = st.OK.Render("✓")
		case i == step && state == rotateRunning:
			mark = spin
		default:
			mark, style = st.Dim.Render("·"), st.Dim
		}
		out = append(out, " "+mark+" "+style.Render(components.Fit(s.name, 8))+st.Dim.Render(s.what))
	}
	return out
}
