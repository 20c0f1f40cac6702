package ui

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// instanceForm registers a managed instance (AddInstance). Without a host
// key it fetches the key the host offers and shows its fingerprint for the
// operator to compare and accept: a key is never pinned silently.
type instanceForm struct {
	pageBase
	formKit

	instance  *components.TextField
	name      *components.TextField
	region    *components.TextField
	host      *components.TextField
	port      *components.TextField
	adminUser *components.TextField
	adminKey  *keyInput
	hostKey   *components.TextField

	state       instanceFormState
	fetchedKey  string
	fingerprint string
	wait        waiter[instanceStep]
	w, h        int
}

type instanceFormState int

const (
	instanceEditing instanceFormState = iota
	instanceAccepting
)

// instanceStep is the answer of one of the form's two requests: the key
// the host offers (FetchHostKey), or the instance added (AddInstance).
type instanceStep struct {
	key, fingerprint string
	added            *service.InstanceView
}

func newInstanceForm(c *common) *instanceForm {
	f := &instanceForm{pageBase: newPageBase(), formKit: formKit{c: c}, wait: newWaiter[instanceStep](c)}
	st := c.st
	f.instance = components.NewTextField("Instance ID", st.input("e.g. i-web1"), model.ValidateInstanceId)
	f.name = components.NewTextField("Name", st.input("optional, e.g. web1"), nil)
	f.region = components.NewTextField("Region", st.input(c.svc.Region()), func(v string) error {
		return model.ValidateRegionId("RegionId", v)
	})
	f.region.SetValue(c.svc.Region())
	f.host = components.NewTextField("Host", st.input("address or name, e.g. 10.0.0.5"), func(v string) error {
		if v == "" {
			return model.MissingParam("Host")
		}
		if strings.ContainsAny(v, " \t/") {
			return model.InvalidParam("Host", "not a host name or address")
		}
		return nil
	})
	f.port = components.NewTextField("Port", st.input("22"), func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return model.InvalidParam("Port", "must be between 1 and 65535")
		}
		return nil
	})
	f.port.SetValue("22")
	f.adminUser = components.NewTextField("Admin user", st.input("root"), func(v string) error {
		if err := model.ValidateUserName(v); err != nil {
			return fmt.Errorf("%q is not a valid Linux user name", v)
		}
		return nil
	})
	f.adminUser.SetValue("root")
	f.adminUser.Hint = "root, or a user with passwordless sudo: the login that changes credentials on the host."
	f.adminKey = newKeyInput(c, "Admin key", true)
	f.adminKey.field.Input.Placeholder = "path of the admin's private key, e.g. ~/.ssh/kms_admin"
	// The host key is judged by the rules AddInstance applies
	// (model.ParseHostKey): a certificate, options or an unaccepted type
	// are refused here, under this field, with the service's words.
	f.hostKey = components.NewTextField("Host key", st.input("optional: '<type> <base64>' as in known_hosts"), func(v string) error {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		_, _, err := model.ParseHostKey("HostKey", v)
		return err
	})
	f.hostKey.Hint = "Leave empty to fetch the key from the host and compare its fingerprint before pinning it."
	f.form = components.Form{Styles: st.Form, LabelWidth: 12, ErrText: fieldError,
		Items: []components.Item{f.instance, f.name, f.region, f.host, f.port, f.adminUser, f.adminKey.field, f.hostKey}}
	f.discard.watch(f.form.Items...)
	return f
}

func (f *instanceForm) Init() tea.Cmd    { return f.form.FocusFirst() }
func (f *instanceForm) SetSize(w, h int) { f.w, f.h = w, h }
func (f *instanceForm) Capturing() bool  { return f.state == instanceEditing }

func (f *instanceForm) idle() bool { return !f.wait.busy && f.state == instanceEditing }

func (f *instanceForm) actions() actions {
	k := f.c.keys
	accepting := func() bool { return !f.wait.busy && f.state == instanceAccepting }
	noHostKey := func() bool { return strings.TrimSpace(f.hostKey.Value()) == "" }
	confirms := []action{
		{key: withHelp(k.Confirm, "enter", "fetch host key"), title: "Fetch the host key to compare", run: f.submit, enabled: noHostKey},
		{key: withHelp(k.Confirm, "enter", "add instance"), title: "Add the instance", run: f.submit,
			enabled: func() bool { return !noHostKey() }},
	}
	as := actions{
		{key: orKeys(withHelp(k.Yes, "y/enter", "accept and pin"), k.Confirm), title: "Accept the host key and add the instance",
			enabled: accepting, hint: true, run: func() tea.Cmd { return f.add(f.fingerprint) }},
		{key: withHelp(k.No, "n/esc", "back to the form"), title: "Back to the form", enabled: accepting, hint: true,
			run: func() tea.Cmd {
				f.state, f.wait.err = instanceEditing, nil
				return f.form.FocusItem(f.hostKey)
			}},
	}
	return append(as, f.formKit.actions(f.idle, confirms, k.Cancel, pop)...)
}

func (f *instanceForm) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case keyLoadedMsg:
		f.adminKey.apply(msg)
		return nil
	case tea.KeyMsg:
		cmd := f.onKey(msg, f.actions(), f.idle())
		if f.idle() && f.form.Focused() == f.adminKey.field {
			cmd = tea.Batch(cmd, f.adminKey.changed())
		}
		return cmd
	}
	cmd, end, ok := f.wait.update(msg)
	if !ok || end == nil {
		return cmd
	}
	if end.err != nil {
		var unconfirmed *service.HostKeyUnconfirmedError
		if errors.As(end.err, &unconfirmed) {
			f.fetchedKey, f.fingerprint, f.state = unconfirmed.HostKey, unconfirmed.Fingerprint, instanceAccepting
		}
		return nil
	}
	if v := end.result.added; v != nil {
		return tea.Batch(pop(), msgCmd(instancesChangedMsg{}),
			flash(flashOK, fmt.Sprintf("Added %s; host key %s pinned", v.InstanceId, v.Fingerprint)))
	}
	f.fetchedKey, f.fingerprint, f.state = end.result.key, end.result.fingerprint, instanceAccepting
	return nil
}

func (f *instanceForm) request() service.AddInstanceRequest {
	port, _ := strconv.Atoi(f.port.Value())
	return service.AddInstanceRequest{
		InstanceId: f.instance.Value(), InstanceName: f.name.Value(), RegionId: f.region.Value(),
		Host: f.host.Value(), Port: port, AdminUser: f.adminUser.Value(),
		AdminKey: []byte(f.adminKey.pem), HostKey: strings.TrimSpace(f.hostKey.Value()),
	}
}

func (f *instanceForm) submit() tea.Cmd {
	f.wait.err = nil
	for _, it := range f.form.Items {
		tf := it.(*components.TextField)
		if tf.Check() != nil || tf == f.adminKey.field && !f.adminKey.ready() {
			return f.form.FocusItem(tf)
		}
	}
	if strings.TrimSpace(f.hostKey.Value()) != "" {
		return f.add("")
	}
	req := f.request()
	svc, ctx := f.c.svc, f.c.ctx
	return f.wait.start(fmt.Sprintf("Fetching the host key of %s:%d…", req.Host, req.Port), func() (instanceStep, error) {
		key, fp, err := svc.FetchHostKey(ctx, req.Host, req.Port)
		return instanceStep{key: key, fingerprint: fp}, err
	})
}

// add registers the instance; accept is the fingerprint the operator
// accepted (the service fetches the key again and refuses another one).
func (f *instanceForm) add(accept string) tea.Cmd {
	req := f.request()
	req.AcceptHostKey = accept
	svc, ctx := f.c.svc, f.c.ctx
	return f.wait.start(fmt.Sprintf("Logging in as %s@%s:%d to prove the admin key works…", req.AdminUser, req.Host, req.Port), func() (instanceStep, error) {
		v, err := svc.AddInstance(ctx, req)
		return instanceStep{added: v}, err
	})
}

func (f *instanceForm) View() string {
	st := f.c.st
	iw := f.w - 4
	fw := min(iw, 96)
	lines := []string{""}
	lines = append(lines, strings.Split(f.form.View(fw), "\n")...)
	lines = append(lines, "")
	if f.state == instanceAccepting {
		kind := strings.SplitN(f.fetchedKey, " ", 2)[0]
		lines = append(lines,
			st.Warn.Render("The host offers this key. Compare its fingerprint out of band before you accept it:"),
			"",
			"   "+st.Label.Render(components.Fit("Key type", 13))+st.Value.Render(model.SafeText(kind)),
			"   "+st.Label.Render(components.Fit("Fingerprint", 13))+st.Bold.Render(model.SafeText(f.fingerprint)),
			"",
			st.Dim.Render("On the host: ssh-keygen -lf /etc/ssh/ssh_host_"+model.SafeText(strings.TrimPrefix(kind, "ssh-"))+"_key.pub"),
			"",
		)
	}
	switch {
	case f.discard.asking:
		lines = append(lines, f.discard.prompt(f.c, f.actions().short()))
	case f.wait.busy:
		lines = append(lines, f.wait.spin.View()+st.Dim.Render(" "+model.SafeText(f.wait.doing)))
	case f.wait.err != nil:
		lines = append(lines, f.c.errLines(f.wait.err, fw)...)
	}
	if f.state == instanceAccepting && !f.wait.busy {
		lines = append(lines, "", f.c.help(f.actions().short()...))
	}
	return components.Box(st.Box, st.Title.Render("Add Instance")+st.Count.Render(" "+model.SafeText(f.c.svc.Region())), indent(strings.Join(lines, "\n"), 1), f.w, f.h)
}
