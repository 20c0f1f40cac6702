package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// wizard is the Create Secret wizard: (1) type, name, the ECS instance,
// user and initial credential or the generic value, description; (2)
// rotation (ECS); (3) review and confirm. Every field is validated as typed
// with the model's validators, the errors under the field.
type wizard struct {
	pageBase
	c    *common
	step wizardStep

	basics   components.Form
	typ      *components.Choice
	name     *components.TextField
	instance *components.Choice
	user     *components.TextField
	cred     *components.Choice
	password *components.TextField
	key      *keyInput
	value    *components.TextField
	desc     *components.TextField

	rotationForm components.Form
	rot          *rotationFields

	instances   []service.InstanceView
	instLoaded  bool
	instErr     error
	wait        waiter[*service.CreateSecretResponse]
	resp        *service.CreateSecretResponse
	spin        spinner.Model // while Next waits for the user check
	w, h        int
	lastTypeECS bool
	// discard guards esc on the first step: what was typed is not thrown
	// away without asking.
	discard discard

	// The service's answer, per instance and user, to whether another
	// secret already manages that user there (nil: free). The user field
	// shows a refusal as its error; CreateSecret checks again on create.
	taken    map[userKey]error
	asking   map[userKey]bool
	lastKey  userKey
	checking bool // Next waits for the answer about the current user
	// queued are the keys typed while Next waits: they apply once the
	// step has gone on, and are dropped when the user was refused.
	queued []tea.KeyMsg
}

// userKey is an instance and a user on it.
type userKey struct{ instance, user string }

type wizardStep int

const (
	stepBasics wizardStep = iota
	stepRotation
	stepReview
	stepCreated
)

const (
	typeGeneric = "Generic secret"
	typeECS     = "Managed ECS secret"
	credPass    = "Password"
	credKey     = "Key pair"
)

type wizardInstancesMsg struct {
	list []service.InstanceView
	err  error
}

// wizardUserCheckMsg asks the service about key once typing has paused;
// wizardUserCheckedMsg is its answer. advance: Next is waiting for it.
type (
	wizardUserCheckMsg   struct{ key userKey }
	wizardUserCheckedMsg struct {
		key     userKey
		err     error
		advance bool
	}
)

// userCheckDelay is how long typing must pause before the service is
// asked about the user typed.
const userCheckDelay = 250 * time.Millisecond

func newWizard(c *common) *wizard {
	z := &wizard{pageBase: newPageBase(), c: c, spin: c.spinner(), wait: newWaiter[*service.CreateSecretResponse](c),
		taken: map[userKey]error{}, asking: map[userKey]bool{}}
	st := c.st
	z.typ = &components.Choice{Name: "Type", Options: []string{typeGeneric, typeECS}}
	z.name = components.NewTextField("Name", st.input("e.g. db/prod/password"), func(v string) error {
		return model.ValidateSecretName(v, z.secretType())
	})
	z.name.Input.CharLimit = model.MaxSecretNameLen
	z.instance = &components.Choice{Name: "Instance", Picker: true, Hint: "←/→ picks one of the region's instances"}
	z.user = components.NewTextField("Managed user", st.input("an existing OS user, e.g. root"), func(v string) error {
		if err := validateManagedUser(v); err != nil {
			return err
		}
		if key, ok := z.keyFor(v); ok {
			return z.taken[key]
		}
		return nil
	})
	z.user.Hint = "The user must exist on the instance; it is checked there when you create the secret."
	z.cred = &components.Choice{Name: "Initial value", Options: []string{credPass, credKey}}
	z.password = components.NewTextField("Password", st.secretInput("the user's current password"), model.ValidatePassword)
	z.password.Hint = "The password the user has now; rotations replace it."
	z.key = newKeyInput(c, "Private key", false)
	z.key.field.Hint = "Paste the private key, or give a file path; the public key is derived from it."
	z.value = components.NewTextField("Secret value", st.secretInput("the value to keep"), func(v string) error {
		return model.ValidateSecretData(v, model.DataText)
	})
	z.desc = components.NewTextField("Description", st.input("optional"), model.ValidateDescription)
	for _, ch := range []*components.Choice{z.typ, z.instance, z.cred} {
		c.choiceKeys(ch)
	}
	z.basics = components.Form{Styles: st.Form, LabelWidth: 14, ErrText: fieldError,
		Items: []components.Item{z.typ, z.name, z.instance, z.user, z.cred, z.password, z.key.field, z.value, z.desc}}

	z.rot = newRotationFields(c, func(secs int64) string {
		return "first automatic rotation at " + fmtTime(c.now().Add(time.Duration(secs)*time.Second))
	}, func(expr string, window int64) model.Secret {
		// The service anchors a new secret's rate() windows at its
		// creation, and spreads starts by the name.
		return model.Secret{Name: z.name.Value(), Type: model.ECS, AutomaticRotation: model.RotationEnabled,
			RotationSchedule: expr, RotationWindow: window, RotationAnchor: c.now(), CreateTime: c.now()}
	})
	z.rotationForm = components.Form{Styles: st.Form, LabelWidth: rotationLabelWidth, ErrText: fieldError, Items: z.rot.items()}
	z.syncVisibility()
	z.discard.watch(append(slices.Clone(z.basics.Items), z.rotationForm.Items...)...)
	return z
}

func validateManagedUser(v string) error {
	if v == "" {
		return model.MissingParam("UserName")
	}
	if err := model.ValidateUserName(v); err != nil {
		return fmt.Errorf("%q is not a valid Linux user name", v)
	}
	return nil
}

// keyFor is the chosen instance and user v, when both are valid.
func (z *wizard) keyFor(v string) (userKey, bool) {
	if !z.ecs() || z.instance.Selected < 0 || z.instance.Selected >= len(z.instances) || validateManagedUser(v) != nil {
		return userKey{}, false
	}
	return userKey{instance: z.instances[z.instance.Selected].InstanceId, user: v}, true
}

// userChanged re-validates the user field when the instance or the user
// changed, and asks the service about a pair it has no answer for once
// typing pauses.
func (z *wizard) userChanged() tea.Cmd {
	key, ok := z.keyFor(z.user.Value())
	if key == z.lastKey {
		return nil
	}
	z.lastKey = key
	if z.user.Value() != "" {
		touched := z.user.Touched
		z.user.Check()
		z.user.Touched = touched
	}
	if _, known := z.taken[key]; !ok || known {
		return nil
	}
	return tea.Tick(userCheckDelay, func(time.Time) tea.Msg { return wizardUserCheckMsg{key: key} })
}

// checkUser asks the service whether another secret manages key.
func (z *wizard) checkUser(key userKey, advance bool) tea.Cmd {
	z.asking[key] = true
	svc, ctx := z.c.svc, z.c.ctx
	return func() tea.Msg {
		err := svc.CheckManagedUser(ctx, key.instance, key.user)
		return wizardUserCheckedMsg{key: key, err: err, advance: advance}
	}
}

func (z *wizard) secretType() model.SecretType {
	if z.typ.Value() == typeECS {
		return model.ECS
	}
	return model.Generic
}

func (z *wizard) ecs() bool { return z.secretType() == model.ECS }

func (z *wizard) syncVisibility() {
	ecs := z.ecs()
	z.instance.Hide, z.user.Hide, z.cred.Hide = !ecs, !ecs, !ecs
	z.password.Hide = !ecs || z.cred.Value() != credPass
	z.key.field.Hide = !ecs || z.cred.Value() != credKey
	z.value.Hide = ecs
	z.rot.sync(false)
	if ecs != z.lastTypeECS {
		// Lead the operator into the naming rule of the type.
		switch v := z.name.Value(); {
		case ecs && v == "":
			z.name.SetValue(model.ECSNamePrefix)
		case !ecs && v == model.ECSNamePrefix:
			z.name.SetValue("")
		}
		z.lastTypeECS = ecs
		if z.name.Value() != "" {
			z.name.Check()
		}
	}
}

func (z *wizard) Init() tea.Cmd {
	svc, ctx := z.c.svc, z.c.ctx
	return tea.Batch(z.basics.FocusFirst(), func() tea.Msg {
		list, err := svc.Instances(ctx, false)
		return wizardInstancesMsg{list: list, err: err}
	})
}

func (z *wizard) SetSize(w, h int) { z.w, z.h = w, h }
func (z *wizard) Capturing() bool  { return z.step != stepCreated }

// form is the form of the step (nil on the others).
func (z *wizard) form() *components.Form {
	switch z.step {
	case stepBasics:
		return &z.basics
	case stepRotation:
		return &z.rotationForm
	}
	return nil
}

func (z *wizard) actions() actions {
	k := z.c.keys
	idle := func() bool { return !z.wait.busy && !z.checking && !z.discard.asking }
	at := func(steps ...wizardStep) func() bool {
		return func() bool { return idle() && slices.Contains(steps, z.step) }
	}
	editing := at(stepBasics, stepRotation)
	choice := func() bool {
		if !editing() {
			return false
		}
		_, ok := z.form().Focused().(*components.Choice)
		return ok
	}
	several := func() bool {
		if !editing() {
			return false
		}
		n := 0
		for _, it := range z.form().Items {
			if !it.Hidden() {
				n++
			}
		}
		return n > 1
	}
	move := func(next bool) func() tea.Cmd {
		return func() tea.Cmd {
			if next {
				return z.form().Next()
			}
			return z.form().Prev()
		}
	}
	choose := func(t tea.KeyType) func() tea.Cmd {
		return func() tea.Cmd { return z.input(tea.KeyMsg{Type: t}) }
	}
	as := z.discard.actions(z.c, pop)
	return append(as,
		action{key: k.NextStep, title: "Go on to the next step", enabled: editing, hint: true, run: z.next},
		action{key: withHelp(k.Confirm, "enter", "create secret"), title: "Create the secret", enabled: at(stepReview), hint: true, run: z.create},
		action{key: withHelp(k.Open, "enter", "open the secret"), title: "Open the new secret", enabled: at(stepCreated), hint: true,
			run: func() tea.Cmd { return msgCmd(replaceMsg{newDetailsPage(z.c, z.resp.SecretName)}) }},
		action{key: k.NextField, enabled: several, hint: true, nav: true, run: move(true)},
		action{key: k.PrevField, enabled: several, nav: true, run: move(false)},
		action{key: k.ChoiceNext, enabled: choice, hint: true, nav: true, run: choose(tea.KeyRight)},
		action{key: k.ChoicePrev, enabled: choice, nav: true, run: choose(tea.KeyLeft)},
		action{key: withHelp(k.StepBack, "esc", "cancel"), title: "Cancel", enabled: at(stepBasics), hint: true, run: z.discard.cancel(pop)},
		action{key: k.StepBack, title: "Back to the previous step", enabled: at(stepRotation, stepReview), hint: true, run: z.back},
		action{key: withHelp(k.Back, "esc", "back to the list"), title: "Back to the list", enabled: at(stepCreated), hint: true, run: pop},
	)
}

// back goes to the previous step, its input kept.
func (z *wizard) back() tea.Cmd {
	z.wait.err = nil
	if z.step == stepReview && z.ecs() {
		z.step = stepRotation
		return z.rotationForm.FocusFirst()
	}
	z.step = stepBasics
	return z.basics.FocusFirst()
}

// input gives a key no action took to the focused field.
func (z *wizard) input(msg tea.KeyMsg) tea.Cmd {
	form := z.form()
	if form == nil {
		return nil
	}
	cmd := form.Update(msg)
	z.syncVisibility()
	if form.Focused() == z.key.field {
		cmd = tea.Batch(cmd, z.key.changed())
	}
	return tea.Batch(cmd, z.userChanged())
}

func (z *wizard) Update(msg tea.Msg) tea.Cmd {
	if cmd, end, ok := z.wait.update(msg); ok {
		if end != nil {
			return z.created(end.result, end.err)
		}
		if _, tick := msg.(spinner.TickMsg); !tick {
			return cmd
		}
		// A spinner frame: the user check's spinner takes it too.
		if z.checking {
			var c2 tea.Cmd
			z.spin, c2 = z.spin.Update(msg)
			return tea.Batch(cmd, c2)
		}
		return cmd
	}
	switch msg := msg.(type) {
	case wizardInstancesMsg:
		z.instLoaded, z.instErr, z.instances = true, msg.err, msg.list
		z.instance.Options = nil
		for _, in := range msg.list {
			z.instance.Options = append(z.instance.Options, instanceLabel(in.InstanceId, in.InstanceName, in.Host, in.Port))
		}
		z.instance.Err = nil
		switch {
		case msg.err != nil:
			z.instance.Err = msg.err
		case len(msg.list) == 0:
			z.instance.Err = fmt.Errorf("No instances in %s: add one on the Instances screen (i) first", z.c.svc.Region())
		}
		return z.userChanged()
	case wizardUserCheckMsg:
		if msg.key != z.lastKey || z.asking[msg.key] {
			return nil
		}
		if _, known := z.taken[msg.key]; known {
			return nil
		}
		return z.checkUser(msg.key, false)
	case wizardUserCheckedMsg:
		delete(z.asking, msg.key)
		switch {
		case msg.err == nil:
			z.taken[msg.key] = nil
		case model.IsCode(msg.err, model.CodeResourceExist):
			z.taken[msg.key] = msg.err
		default:
			// No answer (e.g. the store is busy): CreateSecret decides.
			if msg.advance {
				z.taken[msg.key] = nil
			}
		}
		if key, ok := z.keyFor(z.user.Value()); ok && key == msg.key && z.user.Value() != "" {
			touched := z.user.Touched || msg.err != nil
			z.user.Check()
			z.user.Touched = touched
		}
		if !msg.advance || !z.checking {
			return nil
		}
		z.checking = false
		queued := z.queued
		z.queued = nil
		if z.step != stepBasics {
			return nil
		}
		cmds := []tea.Cmd{z.next()}
		if z.step == stepBasics {
			return cmds[0] // refused: the focus is on the user
		}
		for _, k := range queued {
			cmds = append(cmds, z.Update(k))
		}
		return tea.Batch(cmds...)
	case keyLoadedMsg:
		z.key.apply(msg)
		return nil
	case tea.KeyMsg:
		if z.checking {
			z.queued = append(z.queued, msg)
			return nil
		}
		if cmd, ok := z.actions().handle(msg); ok {
			return cmd
		}
		if z.wait.busy || z.discard.asking {
			return nil
		}
		return z.input(msg)
	}
	return nil
}

// created takes CreateSecret's answer: the created step, or the error on
// the review.
func (z *wizard) created(resp *service.CreateSecretResponse, err error) tea.Cmd {
	if err != nil && z.ecs() {
		if bad := z.rot.showError(err); bad != nil {
			// The service refused the rotation policy: back to its
			// step, the error under the field it names.
			z.wait.err = nil
			z.step = stepRotation
			return z.rotationForm.FocusItem(bad)
		}
	}
	if err != nil {
		if key, ok := z.keyFor(z.user.Value()); ok && model.IsCode(err, model.CodeResourceExist) {
			// Another secret may have taken the user since it was
			// checked: ask again, so the user field shows it too.
			delete(z.taken, key)
			return z.checkUser(key, false)
		}
		return nil
	}
	z.resp, z.step = resp, stepCreated
	return tea.Batch(msgCmd(secretChangedMsg{name: resp.SecretName}), flash(flashOK, "Created "+resp.SecretName))
}

// next validates the step and moves on; the focus goes to the first field
// in error otherwise.
func (z *wizard) next() tea.Cmd {
	switch z.step {
	case stepBasics:
		var bad components.Item
		for _, it := range z.basics.Items {
			if it.Hidden() {
				continue
			}
			var err error
			switch f := it.(type) {
			case *components.TextField:
				err = f.Check()
				if f == z.key.field && err == nil && !z.key.ready() {
					err = fmt.Errorf("the key is still being read")
				}
			case *components.Choice:
				err = f.Err
				if f == z.instance && len(f.Options) == 0 && err == nil {
					err = fmt.Errorf("no instance")
				}
			}
			if err != nil && bad == nil {
				bad = it
			}
		}
		if bad != nil {
			return z.basics.FocusItem(bad)
		}
		if key, ok := z.keyFor(z.user.Value()); ok {
			// Go on only once the service said no other secret manages
			// the user there.
			if _, known := z.taken[key]; !known {
				z.checking = true
				return tea.Batch(z.spin.Tick, z.checkUser(key, true))
			}
		}
		if z.ecs() {
			z.step = stepRotation
			return z.rotationForm.FocusFirst()
		}
		z.step = stepReview
		return nil
	case stepRotation:
		if bad := z.rot.check(); bad != nil {
			return z.rotationForm.FocusItem(bad)
		}
		z.step = stepReview
	}
	return nil
}

func (z *wizard) request() service.CreateSecretRequest {
	req := service.CreateSecretRequest{SecretName: z.name.Value(), Description: z.desc.Value()}
	if !z.ecs() {
		// The console names a generic secret's first version v1, as the
		// cloud console does; the API itself requires a VersionId.
		req.SecretType = string(model.Generic)
		req.SecretData = z.value.Value()
		req.VersionId = "v1"
		return req
	}
	req.SecretType = string(model.ECS)
	inst := z.instances[z.instance.Selected]
	cfg := model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: inst.InstanceId, RegionId: z.c.svc.Region()}
	data := model.ECSData{UserName: z.user.Value()}
	if z.cred.Value() == credKey {
		cfg.SecretSubType = model.SubTypeSSHKey
		data.PublicKey, data.PrivateKey = z.key.pub, z.key.pem
	} else {
		data.Password = z.password.Value()
	}
	req.ExtendedConfig, req.SecretData = cfg.JSON(), data.JSON()
	if z.rot.on() {
		req.EnableAutomaticRotation = true
		req.RotationInterval, req.RotationSchedule, req.RotationWindow = z.rot.request()
	}
	return req
}

func (z *wizard) create() tea.Cmd {
	req := z.request()
	what := "Creating the secret…"
	if z.ecs() {
		what = fmt.Sprintf("Checking user %s on %s and trying the initial credential…", z.user.Value(), z.instances[z.instance.Selected].InstanceId)
	}
	svc, ctx := z.c.svc, z.c.ctx
	return z.wait.start(what, func() (*service.CreateSecretResponse, error) {
		return svc.CreateSecret(ctx, req)
	})
}

func (z *wizard) View() string {
	st := z.c.st
	iw := z.w - 4
	fw := min(iw, 96)
	lines := []string{"", z.stepsView(), ""}
	switch z.step {
	case stepBasics:
		lines = append(lines, strings.Split(z.basics.View(fw), "\n")...)
	case stepRotation:
		lines = append(lines, strings.Split(z.rotationForm.View(fw), "\n")...)
		lines = append(lines, "")
		for _, l := range wrap(z.rot.explain(), fw) {
			lines = append(lines, st.Dim.Render(l))
		}
	case stepReview:
		lines = append(lines, z.reviewLines(fw)...)
	case stepCreated:
		lines = append(lines, z.createdLines(fw)...)
	}
	lines = append(lines, "")
	switch {
	case z.checking:
		lines = append(lines, z.spin.View()+st.Dim.Render(model.SafeText(fmt.Sprintf(" Checking that no other secret manages %s on %s…", z.user.Value(), z.lastKey.instance))))
	case z.discard.asking:
		lines = append(lines, z.discard.prompt(z.c, z.actions().short()))
	case z.wait.busy:
		lines = append(lines, z.wait.spin.View()+st.Dim.Render(" "+model.SafeText(z.wait.doing)))
	case z.wait.err != nil:
		lines = append(lines, z.c.errLines(z.wait.err, fw)...)
	}
	return components.Box(st.Box, st.Title.Render("Create Secret"), indent(strings.Join(lines, "\n"), 1), z.w, z.h)
}

func (z *wizard) stepsView() string {
	st := z.c.st
	names := []string{"Basics", "Rotation", "Review"}
	var parts []string
	for i, n := range names {
		label := fmt.Sprintf("%d %s", i+1, n)
		switch {
		case wizardStep(i) == stepRotation && !z.ecs():
			parts = append(parts, st.Dim.Render(label+" (ECS only)"))
		case wizardStep(i) == z.step:
			parts = append(parts, st.Title.Render("● "+label))
		case wizardStep(i) < z.step:
			parts = append(parts, st.OK.Render("✓ "+label))
		default:
			parts = append(parts, st.Dim.Render("○ "+label))
		}
	}
	return strings.Join(parts, st.Dim.Render("  ──  "))
}

func (z *wizard) reviewLines(w int) []string {
	st := z.c.st
	row := func(label, value string, style func(...string) string) string {
		return "  " + st.Label.Render(components.Fit(label, 20)) + style(model.SafeText(value))
	}
	desc := z.desc.Value()
	if desc == "" {
		desc = "—"
	}
	out := []string{
		row("Type", z.typ.Value(), st.Value.Render),
		row("Name", z.name.Value(), st.Bold.Render),
		row("Description", desc, st.Value.Render),
	}
	if z.ecs() {
		inst := z.instances[z.instance.Selected]
		out = append(out,
			row("Instance", instanceLabel(inst.InstanceId, inst.InstanceName, inst.Host, inst.Port), st.Value.Render),
			row("Managed user", z.user.Value(), st.Value.Render),
		)
		if z.cred.Value() == credKey {
			out = append(out, row("Initial value", "Key pair · "+keyFingerprint(z.key.pub), st.Value.Render))
		} else {
			out = append(out, row("Initial value", fmt.Sprintf("Password · •••••••• (%d characters)", utf8.RuneCountInString(z.password.Value())), st.Value.Render))
		}
		out = append(out, row("Automatic rotation", z.rot.summary(), st.Value.Render))
		if plan, ok := z.rot.nextWindow(); ok {
			out = append(out, row("Next window", fmtWindow(plan.WindowStart, plan.WindowEnd), st.Value.Render))
		}
	} else {
		out = append(out, row("Value", fmt.Sprintf("•••••••• (%d characters)", utf8.RuneCountInString(z.value.Value())), st.Value.Render))
	}
	out = append(out, "")
	note := "The value becomes version ACSCurrent of the new secret."
	if z.ecs() {
		note = "The user is checked on the instance and the initial credential tried; nothing on the instance changes."
	}
	for _, l := range wrap(note, w) {
		out = append(out, st.Dim.Render(l))
	}
	return out
}

func (z *wizard) createdLines(w int) []string {
	st := z.c.st
	r := z.resp
	row := func(label, value string) string {
		return "  " + st.Label.Render(components.Fit(label, 20)) + st.Value.Render(model.SafeText(value))
	}
	out := []string{
		st.OK.Render("✓ ") + st.Bold.Render("Secret created"),
		"",
		row("Name", r.SecretName),
		row("Version ID", r.VersionId),
		row("ARN", r.Arn),
		row("Automatic rotation", r.AutomaticRotation),
	}
	if r.RotationSchedule != "" {
		out = append(out, row("Schedule", r.RotationSchedule+", window "+r.RotationWindow))
		if r.NextRotationWindowStart != "" {
			start, _ := model.ParseTime(r.NextRotationWindowStart)
			end, _ := model.ParseTime(r.NextRotationWindowEnd)
			out = append(out, row("Next window", fmtWindow(start, end)))
		}
	}
	if r.NextRotationDate != "" {
		out = append(out, row("Next rotation", fmtAPITime(r.NextRotationDate)))
	}
	if r.Warning != "" {
		out = append(out, "")
		for _, l := range wrap("Warning: "+r.Warning, w) {
			out = append(out, st.Warn.Render(l))
		}
	}
	return out
}
