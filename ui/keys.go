package ui

import "github.com/charmbracelet/bubbles/key"

// keyMap is the only place key bindings are defined (SPEC §4): their keys
// and help text. Each screen binds them to its handlers in its action table
// (actions.go), which renders the footer, the ? overlay and the : palette.
type keyMap struct {
	// Everywhere (outside text fields).
	Quit      key.Binding
	ForceQuit key.Binding
	Help      key.Binding
	HelpF1    key.Binding // help that works in text fields too
	Palette   key.Binding
	Back      key.Binding
	Instances key.Binding
	Audit     key.Binding
	// AccessKeys opens the Access Keys screen (the API's application
	// identities). Capital K: k moves up in lists.
	AccessKeys key.Binding
	Region     key.Binding
	Refresh    key.Binding

	// Lists.
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Home     key.Binding
	End      key.Binding
	Filter   key.Binding
	// The arrows alone, where letters are typed (filters, pickers).
	ArrowUp   key.Binding
	ArrowDown key.Binding

	// Secrets.
	Create  key.Binding
	Open    key.Binding
	Rotate  key.Binding
	Delete  key.Binding
	Restore key.Binding
	Select  key.Binding

	// Secret details.
	Reveal    key.Binding
	Copy      key.Binding
	PutValue  key.Binding
	MoveStage key.Binding
	Edit      key.Binding

	// Instances.
	AddInstance    key.Binding
	RemoveInstance key.Binding
	Recheck        key.Binding
	RotateAdminKey key.Binding

	// Access keys.
	ShowPolicy key.Binding
	EditPolicy key.Binding
	DisableKey key.Binding
	EnableKey  key.Binding
	RotateKey  key.Binding
	RemoveKey  key.Binding
	// NewLine breaks a line in a text area, where enter confirms the form.
	NewLine key.Binding

	// Forms and dialogs.
	NextField   key.Binding
	PrevField   key.Binding
	Confirm     key.Binding
	NextStep    key.Binding
	StepBack    key.Binding
	Cancel      key.Binding
	Toggle      key.Binding
	ChoicePrev  key.Binding
	ChoiceNext  key.Binding
	Yes         key.Binding
	No          key.Binding
	FilterApply key.Binding
	FilterClear key.Binding
	Close       key.Binding
	Discard     key.Binding
	KeepEditing key.Binding
}

func newKeyMap() *keyMap {
	b := key.NewBinding
	k, h := key.WithKeys, key.WithHelp
	return &keyMap{
		Quit:       b(k("q"), h("q", "quit")),
		ForceQuit:  b(k("ctrl+c"), h("ctrl+c", "quit")),
		Help:       b(k("?"), h("?", "help")),
		HelpF1:     b(k("f1"), h("f1", "help in fields")),
		Palette:    b(k(":"), h(":", "actions")),
		Back:       b(k("esc"), h("esc", "back")),
		Instances:  b(k("i"), h("i", "instances")),
		Audit:      b(k("a"), h("a", "audit")),
		AccessKeys: b(k("K"), h("K", "access keys")),
		Region:     b(k("g"), h("g", "region")),
		Refresh:    b(k("ctrl+r"), h("ctrl+r", "refresh")),

		Up:       b(k("up", "k"), h("↑/k", "up")),
		Down:     b(k("down", "j"), h("↓/j", "down")),
		PageUp:   b(k("pgup", "ctrl+b"), h("pgup", "page up")),
		PageDown: b(k("pgdown", "ctrl+f"), h("pgdn", "page down")),
		Home:     b(k("home"), h("home", "first")),
		End:      b(k("end", "G"), h("end/G", "last")),
		Filter:   b(k("/"), h("/", "filter")),

		ArrowUp:   b(k("up"), h("↑", "up")),
		ArrowDown: b(k("down"), h("↓", "down")),

		Create:  b(k("c"), h("c", "create")),
		Open:    b(k("enter"), h("enter", "open")),
		Rotate:  b(k("R"), h("R", "rotate now")),
		Delete:  b(k("d"), h("d", "plan deletion")),
		Restore: b(k("u"), h("u", "restore")),
		Select:  b(k(" "), h("space", "select")),

		Reveal:    b(k("v"), h("v", "reveal")),
		Copy:      b(k("y"), h("y", "copy")),
		PutValue:  b(k("p"), h("p", "put value")),
		MoveStage: b(k("s"), h("s", "move stage")),
		Edit:      b(k("e"), h("e", "edit")),

		AddInstance:    b(k("c"), h("c", "add instance")),
		RemoveInstance: b(k("x"), h("x", "remove")),
		Recheck:        b(k("ctrl+r"), h("ctrl+r", "check again")),
		RotateAdminKey: b(k("R"), h("R", "rotate admin key")),

		ShowPolicy: b(k("enter"), h("enter", "show policy")),
		EditPolicy: b(k("p"), h("p", "edit policy")),
		DisableKey: b(k("d"), h("d", "disable")),
		EnableKey:  b(k("e"), h("e", "enable")),
		RotateKey:  b(k("R"), h("R", "rotate secret")),
		RemoveKey:  b(k("x"), h("x", "remove")),
		NewLine:    b(k("ctrl+j", "alt+enter"), h("ctrl+j", "new line")),

		NextField:   b(k("tab", "down"), h("tab", "next field")),
		PrevField:   b(k("shift+tab", "up"), h("shift+tab", "prev field")),
		Confirm:     b(k("enter"), h("enter", "confirm")),
		NextStep:    b(k("enter"), h("enter", "next step")),
		StepBack:    b(k("esc"), h("esc", "step back")),
		Cancel:      b(k("esc"), h("esc", "cancel")),
		Toggle:      b(k(" "), h("space", "toggle")),
		ChoicePrev:  b(k("left"), h("←", "previous")),
		ChoiceNext:  b(k("right", " "), h("→/space", "change")),
		Yes:         b(k("y"), h("y", "yes")),
		No:          b(k("n", "esc"), h("n/esc", "no")),
		FilterApply: b(k("enter"), h("enter", "apply filter")),
		FilterClear: b(k("esc"), h("esc", "clear filter")),
		Close:       b(k("esc", "enter"), h("esc", "close")),
		Discard:     b(k("y"), h("y", "discard")),
		KeepEditing: b(k("n", "esc"), h("n/esc", "keep editing")),
	}
}

// readonly turns off what a readonly operator may not do, so that it
// neither matches nor shows in the hints.
func (k *keyMap) readonly() {
	for _, b := range []*key.Binding{&k.Create, &k.Rotate, &k.Delete, &k.Restore, &k.Select,
		&k.Reveal, &k.Copy, &k.PutValue, &k.MoveStage, &k.Edit, &k.AddInstance, &k.RemoveInstance,
		&k.EditPolicy, &k.DisableKey, &k.EnableKey, &k.RotateKey, &k.RemoveKey} {
		b.SetEnabled(false)
	}
}
