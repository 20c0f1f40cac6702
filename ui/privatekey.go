package ui

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/ui/components"
)

// keyInput is a field that takes a private key, pasted or as a file path,
// and derives its public key as the operator types. A path is read in a
// command, never in Update. The key is judged by the service's own rules
// (model.ParsePrivateKey): the console accepts and refuses exactly what the
// service does, with the same messages (a passphrase, a short RSA key, a
// key type kmsconsole does not sign with).
type keyInput struct {
	field *components.TextField
	pem   string // the private key, once it parsed
	pub   string // its authorized_keys line
	err   error
	// what the current pem/pub/err were computed from
	forValue string
	// admin keys need only to parse; managed key pairs also give a public key
	admin bool
	// param is the API parameter the key goes to, named in its errors.
	param string
}

// keyLoadedMsg is a key read and judged, for the page's one key field;
// value is the field's value it was read for.
type keyLoadedMsg struct {
	value    string
	pem, pub string
	err      error
}

func newKeyInput(c *common, name string, admin bool) *keyInput {
	k := &keyInput{admin: admin, param: "PrivateKey"}
	if admin {
		k.param = "AdminKeyFile" // as AddInstance names it
	}
	in := c.st.input("paste the private key, or a file path (~/.ssh/id_ed25519)")
	k.field = components.NewTextField(name, in, func(v string) error {
		if strings.TrimSpace(v) == "" {
			return model.MissingParam(k.param)
		}
		if v != k.forValue {
			return nil // being read
		}
		return k.err
	})
	k.field.Note = func(v string) string {
		if v != k.forValue || k.pem == "" {
			if v != "" && v != k.forValue {
				return "reading…"
			}
			return ""
		}
		if k.admin {
			return "key read: " + keyFingerprint(k.pub)
		}
		return "public key: " + keyFingerprint(k.pub)
	}
	return k
}

// looksPEM tells a pasted key from a path.
func looksPEM(v string) bool { return strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN") }

// changed re-derives after an edit: a pasted key at once (pure), a path
// in a command.
func (k *keyInput) changed() tea.Cmd {
	v := k.field.Value()
	if looksPEM(v) {
		k.field.Input.EchoMode = textinput.EchoPassword
		k.field.Input.EchoCharacter = '•'
	} else {
		k.field.Input.EchoMode = textinput.EchoNormal
	}
	if v == k.forValue {
		return nil
	}
	if strings.TrimSpace(v) == "" {
		k.forValue, k.pem, k.pub, k.err = v, "", "", nil
		k.field.Check()
		return nil
	}
	if looksPEM(v) {
		k.apply(parseKey(k, v, normalizePEM(v)))
		return nil
	}
	return func() tea.Msg {
		path := expandHome(strings.TrimSpace(v))
		b, err := os.ReadFile(path)
		if err != nil {
			return keyLoadedMsg{value: v, err: model.InvalidParam(k.param, "cannot read %s: %v", path, unwrapPathError(err))}
		}
		return parseKey(k, v, string(b))
	}
}

// parseKey judges a key by the service's rules (model.ParsePrivateKey).
func parseKey(k *keyInput, value, pemText string) keyLoadedMsg {
	signer, err := model.ParsePrivateKey(k.param, []byte(pemText))
	if err != nil {
		return keyLoadedMsg{value: value, err: err}
	}
	return keyLoadedMsg{value: value, pem: pemText, pub: model.KeyLine(signer.PublicKey())}
}

// apply takes a result if it is still for the field's value (a path read
// before the operator typed on is stale).
func (k *keyInput) apply(m keyLoadedMsg) {
	if m.value != k.field.Value() {
		return
	}
	k.forValue, k.pem, k.pub, k.err = m.value, m.pem, m.pub, m.err
	if k.field.Touched {
		k.field.Check()
	}
}

// ready reports whether the key for the current value is known and valid.
func (k *keyInput) ready() bool {
	return k.forValue == k.field.Value() && k.err == nil && k.pem != ""
}

// normalizePEM rebuilds the line breaks of a key pasted into a one-line
// input (which turns newlines into spaces).
func normalizePEM(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "\n") {
		return s + "\n"
	}
	begin := strings.Index(s, "-----BEGIN")
	if begin < 0 {
		return s
	}
	headEnd := strings.Index(s[begin+10:], "-----")
	end := strings.LastIndex(s, "-----END")
	if headEnd < 0 || end < 0 {
		return s
	}
	headEnd += begin + 10 + 5
	if headEnd > end {
		return s
	}
	body := strings.Fields(s[headEnd:end])
	return s[begin:headEnd] + "\n" + strings.Join(body, "\n") + "\n" + s[end:] + "\n"
}

func expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	return p
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// keyFingerprint shows a public key line as type and SHA256 fingerprint
// (model.DescribeKey), or the line itself, made safe, if it does not parse.
func keyFingerprint(line string) string {
	d, err := model.DescribeKey(line)
	if err != nil {
		return model.SafeText(line)
	}
	return d
}
