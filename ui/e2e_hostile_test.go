package ui

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aymanbagabas/go-osc52/v2"

	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// requireScript finds util-linux script(1); without it the test skips,
// unless CI=true (then it fails), as the tmux tests do.
func requireScript(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("script"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("script (util-linux, bsdutils on Debian) is not installed (CI=true: not skipping)")
		}
		t.Skip("script is not installed")
	}
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestE2ENoTerminalInjection runs the real binary under script(1) in tmux
// on a store holding hostile text, as an old store may: a description
// with a title, a clear-screen and a conceal sequence, a value with OSC 52
// and a title, an audit event with a title and a line break that fakes a
// row. It opens the details, reveals and copies the value, opens the Audit
// screen and quits; then it reads every byte the console wrote. Each
// payload follows a marker: after a marker the raw payload never appears,
// its visible form does. The console's only OSC 52 is the copy of the
// exact value; it never sets a title nor conceals text.
func TestE2ENoTerminalInjection(t *testing.T) {
	requireTmux(t)
	requireScript(t)
	dbPath := filepath.Join(t.TempDir(), "kms.db")
	ctx := context.Background()
	svc := openService(t, dbPath)
	const (
		name  = "e2e/evil"
		value = "VAL1" + payClip + "VAL2" + payTitle + "VAL3"
		desc  = "DSC1" + payTitle + "DSC2" + payClear + "DSC3" + payHide + "DSC4"
		// The SecretName of a request refused to a readonly operator, as
		// an old store kept it; and its error.
		target = "AUD1" + payTitle + "AUD2" + payRow
		errMsg = "ERR1" + payClip + "ERR2"
	)
	if _, err := svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: name, SecretData: value, VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}
	if err := openStore(t, dbPath).Write(ctx, func(tx *db.Tx) error {
		r, err := tx.SecretByName(name)
		if err != nil {
			return err
		}
		r.Description = desc
		if err := tx.UpdateSecret(r); err != nil {
			return err
		}
		return tx.Audit(model.AuditEvent{Time: time.Now(), Operator: "bob", Action: "GetSecretValue", Target: target,
			Result: "Failure", ErrorCode: "Forbidden", Error: errMsg, RequestId: "req-e2e"})
	}); err != nil {
		t.Fatal(err)
	}

	bin := buildBinary(t)
	typescript := filepath.Join(t.TempDir(), "typescript")
	tm := startTmux(t, 120, 40, fmt.Sprintf("script -qfc %s %s", shQuote(consoleCommand(bin, dbPath)), shQuote(typescript)))
	// The waits look for the console's own words; what became of the
	// stored text is judged on the recorded bytes below.
	tm.waitFor("Secrets [1]", name)
	tm.key("Enter")
	tm.waitFor("Secret "+name, "Versions [1]", "Description")
	tm.key("v")
	tm.waitFor("v hide")
	tm.key("y")
	tm.waitFor("Copied the value of " + name)
	tm.key("a")
	tm.waitFor("Audit [", "bob")
	tm.key("/")
	tm.text("bob")
	tm.key("Enter")
	// The one event left is under the cursor: its detail lines show it all.
	tm.waitFor("/bob → 1", "Forbidden")
	tm.key("q")
	tm.waitGone("Audit [")

	// The console has left the alternate screen: script has it all.
	var raw []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(typescript)
		if err == nil && bytes.Contains(b, []byte("\x1b[?1049l")) {
			raw = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the typescript never recorded the console's exit (%v, %d bytes)", err, len(b))
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := string(raw)

	for _, c := range []struct{ mark, payload, visible string }{
		{"DSC1", payTitle, seeTitle},
		{"DSC2", payClear, seeClear},
		{"DSC3", payHide, seeHide},
		{"VAL1", payClip, seeClip},
		{"VAL2", payTitle, seeTitle},
		{"AUD1", payTitle, seeTitle},
		{"AUD2", payRow, "␍␊"},
		{"ERR1", payClip, seeClip},
	} {
		if strings.Contains(out, c.mark+c.payload) {
			t.Errorf("the raw payload after %s reached the terminal: %q", c.mark, c.mark+c.payload)
		}
		if !strings.Contains(out, c.mark+c.visible) {
			t.Errorf("the visible form after %s is not in the output", c.mark)
		}
	}
	// Sequences the console itself never writes.
	for _, seq := range []string{"\x1b]0;", "\x1b]1;", "\x1b]2;", "\x1b[8m", "\u009b", "PWNED\x07"} {
		if strings.Contains(out, seq) {
			t.Errorf("the output holds %q, which the console never writes", seq)
		}
	}
	// Its only OSC 52 is the copy of the exact value.
	copySeq := osc52.New(value).String()
	if n, all := strings.Count(out, copySeq), strings.Count(out, "\x1b]52;"); n != 1 || all != 1 {
		t.Errorf("OSC 52: %d copies of the value, %d OSC 52 sequences in all; want 1 and 1", n, all)
	}
	if t.Failed() {
		t.Logf("typescript: %s (%d bytes)", typescript, len(raw))
	}
}
