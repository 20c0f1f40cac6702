package ui

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// Golden tests: one per screen and dialog, at 100×30 unless said, with the
// fixed clock and data of newFixture. go test ./ui -update rewrites them.

func TestSecretsList(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password", "acs/ecs/db1/deploy")
	s.golden()
}

func TestSecretsList80x24(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 80, 24)
	s.waitFor("db/prod/password")
	s.golden()
}

func TestSecretsListWide(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 150, 30)
	s.waitFor("db/prod/password")
	s.golden()
}

func TestSecretsFilter(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("/")
	s.typeText("ECS")
	v := s.waitFor("/ECS → 2")
	if strings.Contains(v, "db/prod/password") {
		t.Fatalf("the filter kept a non-matching secret:\n%s", v)
	}
	s.press("enter")
	s.golden()
}

// TestKeysTypedInOneBurst: keys that arrive in one read ("/ECS", as over
// SSH when typed quickly) act as if typed one by one; a paste stays text.
func TestKeysTypedInOneBurst(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.typeText("/ECS")
	v := s.waitFor("/ECS → 2")
	if strings.Contains(v, "db/prod/password") {
		t.Fatalf("the filter kept a non-matching secret:\n%s", v)
	}
	s.press("esc")
	s.waitFor("Secrets [5]")
	// A paste is not keys: "/x" pasted on the list does not open the filter.
	s.tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("/x"), Paste: true})
	if v := s.view(); strings.Contains(v, "/x") {
		t.Fatalf("a paste acted as keys:\n%s", v)
	}
}

func TestSecretsFilterClear(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("/")
	s.typeText("zzz")
	s.waitFor("No secret name contains")
	s.press("esc")
	s.waitFor("db/prod/password", "Secrets [5]")
	s.golden()
}

func TestSecretsSelectFleet(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("acs/ecs/db1/deploy")
	// Rows are in name order: acs/ecs/db1/deploy, acs/ecs/web1/root, ...
	s.press("space", "space", "space")
	s.waitFor("2 selected", "Only Managed ECS secrets")
	s.press("R")
	s.waitFor("Rotate Immediately [2 secrets]", "enter rotate all")
	s.golden()
}

func TestFleetRotationResults(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("acs/ecs/db1/deploy")
	s.press("space", "space", "R")
	s.waitFor("[2 secrets]", "enter rotate all")
	s.press("enter")
	s.waitFor("Fleet rotation finished: 0 rotated, 2 failed")
	s.golden()
}

func TestWizardGenericBasics(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("Create Secret", "1 Basics")
	s.press("tab")
	s.typeText("team/payments/api")
	s.press("tab")
	s.typeText("hunter2")
	s.press("tab")
	s.typeText("Payments API token")
	s.golden()
}

func TestWizardValidation(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("tab")
	s.typeText("acs/oops name")
	s.waitFor("Only letters, digits")
	s.press("enter") // the step does not go on: the value is missing too
	s.waitFor("Required")
	s.golden()
}

func TestWizardGenericReviewAndCreate(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("tab")
	s.typeText("team/payments/api")
	s.press("tab")
	s.typeText("hunter2")
	s.press("enter")
	s.waitFor("3 Review", "•••••••• (7 characters)")
	s.press("enter")
	s.waitFor("Secret created", "Created team/payments/api")
	s.golden()
	resp, err := f.svc.GetSecretValue(context.Background(), service.GetSecretValueRequest{SecretName: "team/payments/api"})
	if err != nil || resp.SecretData != "hunter2" {
		t.Fatalf("created value: %v %+v", err, resp)
	}
}

func TestWizardReview(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("tab")
	s.typeText("team/payments/api")
	s.press("tab")
	s.typeText("hunter2")
	s.press("tab")
	s.typeText("Payments API token")
	s.press("enter")
	s.waitFor("● 3 Review") // "○ 3 Review" is in every step's header
	s.golden()
}

func TestWizardECSBasics(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab")
	s.waitFor("acs/ecs/")
	s.typeText("web1/app")
	s.waitFor("1/2")        // the instances have loaded: the picker can move
	s.press("tab", "right") // the second instance
	s.press("tab")
	s.typeText("app")
	s.press("tab", "tab")
	s.typeText("Initial-Passw0rd")
	s.waitFor("i-web1", "Managed user")
	s.golden()
}

func TestWizardECSKeyPair(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab")
	s.typeText("web1/app")
	s.press("tab", "tab")
	s.typeText("app")
	s.press("tab", "right", "tab")
	// A key pasted into a one-line input arrives with spaces for newlines.
	_, priv := fixedPrivateKey(t, 9)
	s.typeText(strings.ReplaceAll(strings.TrimSpace(string(priv)), "\n", " "))
	s.waitFor("public key: ssh-ed25519 SHA256:")
	s.golden()
}

func TestWizardECSRotation(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab")
	s.typeText("web1/app")
	s.press("tab", "tab")
	s.typeText("app")
	s.press("tab", "tab")
	s.typeText("Initial-Passw0rd")
	s.press("enter")
	s.waitFor("2 Rotation", "Automatic rotation")
	s.press("right", "tab", "backspace", "backspace")
	s.typeText("2h")
	s.waitFor("between 6h and 8760h")
	s.press("backspace", "backspace")
	s.typeText("14d")
	s.waitFor("every 14d")
	s.golden()
}

func TestWizardECSReview(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab")
	s.typeText("web1/app")
	s.press("tab", "tab")
	s.typeText("app")
	s.press("tab", "tab")
	s.typeText("Initial-Passw0rd")
	s.press("tab")
	s.typeText("App user on web1")
	s.press("enter", "right", "enter")
	s.waitFor("3 Review", "Enabled · every 7d")
	s.golden()
}

func TestWizardECSCreateFails(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab")
	s.typeText("web1/app")
	s.press("tab", "tab")
	s.typeText("app")
	s.press("tab", "tab")
	s.typeText("Initial-Passw0rd")
	s.press("enter", "enter")
	s.waitFor("● 3 Review") // "○ 3 Review" is in every step's header
	s.press("enter")
	// The instance is a closed port: the user check fails, inline, with
	// the API error code.
	s.waitFor("Could not reach the instance: cannot check the user on the instance", "· "+model.CodeInvalidParameter)
	s.golden()
}

func TestDetailsGeneric(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "enter")
	s.waitFor("Secret db/prod/password", "Versions [2]")
	s.golden()
}

func TestDetailsReveal(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "enter")
	s.waitFor("Versions [2]")
	s.press("v")
	s.waitFor("Pr0d-Passw0rd-2!")
	s.golden()
}

func TestDetailsRevealPrevious(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "enter")
	s.waitFor("Versions [2]")
	s.press("down", "v")
	s.waitFor("Pr0d-Passw0rd!")
	s.press("v")
	s.waitGone("Pr0d-Passw0rd!")
}

func TestDetailsCopyOSC52(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "enter")
	s.waitFor("Versions [2]")
	s.press("y")
	v := s.waitFor("Copied the value of db/prod/password")
	if strings.Contains(v, "Pr0d-Passw0rd-2!") {
		t.Fatal("copy revealed the value on screen")
	}
	want := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte("Pr0d-Passw0rd-2!")) + "\x07"
	if !strings.Contains(s.out.String(), want) {
		t.Fatalf("no OSC 52 sequence in the output: %q", s.out.String())
	}
}

func TestDetailsECSFailed(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("acs/ecs/db1/deploy")
	s.press("enter")
	s.waitFor("Failure reason", "Key pair")
	s.golden()
}

func TestDetailsECSRevealKeyPair(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("acs/ecs/db1/deploy")
	s.press("enter")
	s.waitFor("Failure reason")
	s.press("v")
	s.waitFor("BEGIN PRIVATE KEY")
	s.golden()
}

func TestPutValueDialog(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "enter")
	s.waitFor("Versions [2]")
	s.press("p")
	s.waitFor("Put Secret Value")
	s.typeText("Pr0d-Passw0rd-3!")
	s.press("tab")
	s.golden()
}

func TestPutValueAndMoveStage(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "enter")
	s.waitFor("Versions [2]")
	s.press("p")
	s.waitFor("Put Secret Value")
	s.typeText("Pr0d-Passw0rd-3!")
	s.press("tab")
	s.press("end")
	for range 36 {
		s.press("backspace")
	}
	s.typeText("v3")
	s.press("tab", "end")
	for range 10 {
		s.press("backspace")
	}
	s.typeText("MyPendingLabel")
	s.press("enter")
	s.waitFor("Put version v3 of db/prod/password (MyPendingLabel)", "Versions [3]")
	// Promote it: move ACSCurrent to v3.
	s.press("up", "s")
	s.waitFor("Move Stage", "now on version v2")
	s.golden()
}

func TestMoveStage(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "enter")
	s.waitFor("Versions [2]")
	s.press("down", "s")
	s.waitFor("Move Stage")
	s.press("enter")
	s.waitFor("Moved ACSCurrent to version v1", "Value of version v1 (ACSCurrent)")
	s.golden()
	resp, err := f.svc.GetSecretValue(context.Background(), service.GetSecretValueRequest{SecretName: "db/prod/password"})
	if err != nil || resp.VersionId != "v1" {
		t.Fatalf("current after the move: %v %+v", err, resp)
	}
}

func TestRotatePrompt(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("acs/ecs/web1/root")
	s.press("down", "R")
	s.waitFor("Rotate Immediately", "Use Custom Secret", "i-web1 · web1 · 127.0.0.1:1")
	s.golden()
}

func TestRotatePromptCustom(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("acs/ecs/web1/root")
	s.press("down", "R")
	s.waitFor("Use Custom Secret")
	s.press("right", "tab")
	s.typeText("New-Passw0rd!")
	s.waitFor("Secret value", "•••••••••••••")
	s.golden()
}

func TestRotateFailure(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	s.waitFor("acs/ecs/web1/root")
	s.press("down", "R")
	s.waitFor("Use Custom Secret")
	s.press("enter")
	s.waitFor("Rotation failed", "Rejected.RotationFailed")
	// The list behind has reloaded (the dialog covers its status column).
	s.waitModel("the list showing the failed rotation", func(m *Model) bool {
		p := m.stack[0].(*secretsPage)
		for _, sec := range p.all {
			if sec.Name == "acs/ecs/web1/root" {
				return sec.Status(fixedNow) == "Rotation failed"
			}
		}
		return false
	})
	s.golden()
	// The failure is on the list too once the dialog is closed.
	s2 := start(t, f.svc, 100, 30)
	s2.waitFor("acs/ecs/web1/root")
	v := s2.view()
	if strings.Count(v, "Rotation failed") != 2 {
		t.Fatalf("both ECS secrets should show Rotation failed:\n%s", v)
	}
}

func TestRotateGeneric(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "R")
	s.waitFor("Generic secrets have no built-in rotation")
}

func TestPlanDeletionDialog(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "d")
	s.waitFor("Plan Deletion Secret", "Delete In")
	s.golden()
}

func TestPlanDeletionImmediately(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "d")
	s.waitFor("Plan Deletion Secret")
	s.press("right", "tab")
	s.typeText("db/prod/pass")
	s.press("enter")
	s.waitFor("Type the secret's name exactly")
	s.golden()
}

func TestPlanDeletionImmediatelyDeletes(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "d")
	s.waitFor("Plan Deletion Secret")
	s.press("right", "tab")
	s.typeText("db/prod/password")
	s.press("enter")
	s.waitFor("Deleted db/prod/password", "Secrets [4]")
}

func TestPlanDeletion7Days(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "d")
	s.waitFor("Plan Deletion Secret")
	s.press("tab", "backspace", "backspace")
	s.typeText("5")
	s.waitFor("between 7 and 30")
	s.press("backspace")
	s.typeText("7")
	s.press("enter")
	s.waitFor("Deletion of db/prod/password planned for 2026-05-27 10:00")
	s.waitUntil("both secrets pending deletion", func(v string) bool { return strings.Count(v, "Pending deletion (in 7 days)") == 2 })
	s.golden()
}

func TestRestoreDialog(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("app/staging/token")
	s.press("down", "down", "down", "u")
	s.waitFor("Restore Secret", "Restore app/staging/token?")
	s.golden()
}

func TestRestore(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("app/staging/token")
	s.press("down", "down", "down", "u")
	s.waitFor("Restore Secret")
	s.press("enter")
	s.waitFor("Restored app/staging/token")
	s.waitGone("Pending deletion")
	s.golden()
}

func TestInstances(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("i")
	s.waitFor("Instances [2]", "Reason")
	s.waitGone("checking…")
	s.golden()
}

func TestInstanceAddForm(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("i")
	s.waitFor("Instances [2]")
	s.press("c")
	s.waitFor("Add Instance")
	s.typeText("i-web2")
	s.press("tab")
	s.typeText("web2")
	s.press("tab", "tab")
	s.typeText("10.0.0.7 x")
	s.press("tab", "tab", "tab")
	s.typeText("/nonexistent/key")
	s.waitFor("Cannot read /nonexistent/key")
	s.golden()
}

func TestInstanceAddFetchFails(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("i")
	s.waitFor("Instances [2]")
	s.press("c")
	s.waitFor("Add Instance")
	s.typeText("i-web2")
	s.press("tab", "tab", "tab")
	s.typeText("127.0.0.1")
	s.press("tab", "backspace", "backspace")
	s.typeText("1")
	s.press("tab", "tab")
	_, priv := fixedPrivateKey(t, 2)
	s.typeText(strings.ReplaceAll(strings.TrimSpace(string(priv)), "\n", " "))
	s.waitFor("key read: ssh-ed25519")
	s.press("enter")
	s.waitFor("cannot fetch the host key")
	s.golden()
}

func TestAudit(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("a")
	s.waitFor("Audit [5 latest]")
	s.golden()
}

func TestAuditFilter(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("a")
	s.waitFor("Audit [5 latest]")
	s.press("/")
	s.typeText("DeleteSecret")
	s.waitFor("/DeleteSecret → 1")
	s.golden()
}

func TestRegionSwitcher(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("g")
	s.waitFor("Switch Region", "cn-hangzhou  (current)")
	s.typeText("cn-beijing")
	s.waitFor("cn-beijing  (new")
	s.golden()
}

func TestRegionSwitch(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("g")
	s.waitFor("Switch Region")
	s.typeText("cn-beijing")
	s.press("enter")
	s.waitFor("region cn-beijing", "No secrets in cn-beijing yet", "Switched to region cn-beijing")
	s.golden()
}

func TestHelpOverlay(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("?")
	s.waitFor("Help")
	s.golden()
}

func TestReadonly(t *testing.T) {
	s := start(t, newFixture(t, model.RoleReadonly).svc, 100, 30)
	s.waitFor("db/prod/password", "bob (readonly)")
	s.press("c", "d", "space") // nothing: the keys are off
	s.press("end", "enter")
	s.waitFor("the readonly role cannot read values")
	s.press("v")
	v := s.view()
	if strings.Contains(v, "Pr0d") {
		t.Fatal("a readonly operator saw a value")
	}
	s.golden()
}

func TestReadonlyList(t *testing.T) {
	s := start(t, newFixture(t, model.RoleReadonly).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	v := s.view()
	if strings.Contains(v, "Create Secret") {
		t.Fatal("readonly operators cannot create")
	}
	s.golden()
}

func TestResize(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.tm.Send(tea.WindowSizeMsg{Width: 150, Height: 36})
	v := s.waitFor("LAST ROTATION")
	if n := len(strings.Split(v, "\n")); n != 36 {
		t.Fatalf("view has %d lines after the resize, want 36", n)
	}
}

func TestQuitWaitsForRotation(t *testing.T) {
	ln := hangingListener(t)
	f := newFixturePort(t, model.RoleAdmin, ln.port)
	s := start(t, f.svc, 100, 30)
	s.waitFor("acs/ecs/web1/root")
	s.press("down", "R")
	s.waitFor("Use Custom Secret")
	s.press("enter")
	s.waitFor("Rotating…") // running, stuck dialling the silent host
	s.press("ctrl+c")
	s.waitFor("A rotation is running. Quit when it has finished?")
	s.press("y")
	s.waitFor("Quitting when the running rotation has finished")
	ln.release() // the host goes away: the rotation fails, then the console quits
	s.tm.WaitFinished(t, teatest.WithFinalTimeout(20*time.Second))
}

func TestRotateFailure80x24(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 80, 24)
	s.waitFor("acs/ecs/web1/root")
	s.press("down", "R")
	s.waitFor("Use Custom Secret")
	s.press("enter")
	s.waitFor("Rotation failed", "Rejected.RotationFailed")
	s.golden()
}

func TestWizardECS80x24(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 80, 24)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab")
	s.typeText("web1/app")
	s.press("tab", "tab")
	s.typeText("app")
	s.press("tab", "right", "tab")
	s.typeText("/nonexistent")
	s.waitFor("Cannot read /nonexistent")
	s.golden()
}

// TestWizardECSUserTaken: the fixture's acs/ecs/web1/root manages root on
// i-web1; a second secret for that user is refused on the user field as
// it is typed, and the step does not go on.
func TestWizardECSUserTaken(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab")
	s.typeText("web1/root2")
	s.waitFor("1/2")
	s.press("tab", "right") // i-web1
	s.waitFor("‹ i-web1")
	s.press("tab")
	s.typeText("root")
	s.waitFor("✗ The user root on instance i-web1 is already managed by secret")
	s.press("tab", "tab")
	s.typeText("Initial-Passw0rd")
	s.press("enter")
	v := s.waitFor("› Managed user")
	if !strings.Contains(v, "● 1 Basics") || !strings.Contains(v, "already managed by secret") {
		t.Fatalf("the step went on with a managed user:\n%s", v)
	}
	// Another instance is another account: the error goes.
	s.press("shift+tab", "left") // i-db1
	s.waitGone("already managed")
	s.press("right")
	s.waitFor("already managed by secret")
	s.golden()
}

// TestWizardECSUserTakenAtCreate: the user was free when typed, and another
// secret took it before the final confirm: CreateSecret refuses (before it
// asks the host), the review shows its error, and the user field has it too.
func TestWizardECSUserTakenAtCreate(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab")
	s.typeText("web1/app")
	s.waitFor("1/2")
	s.press("tab", "right") // i-web1
	s.waitFor("‹ i-web1")
	s.press("tab")
	s.typeText("app")
	s.press("tab", "tab")
	s.typeText("Initial-Passw0rd")
	s.press("enter", "enter")
	s.waitFor("● 3 Review") // "○ 3 Review" is in every step's header
	insertECSSecret(t, f.store, "acs/ecs/web1/app-other", "i-web1", "app")
	s.press("enter")
	s.waitFor("That already exists: the user app on instance i-web1 is already managed by secret", "acs/ecs/web1/app-other", model.CodeResourceExist)
	if _, err := f.svc.DescribeSecret(context.Background(), service.SecretNameRequest{SecretName: "acs/ecs/web1/app"}); !model.IsCode(err, model.CodeNotFound) {
		t.Fatalf("the refused secret exists: %v", err)
	}
	s.press("esc", "esc")
	s.waitFor("● 1 Basics", "✗ The user app on instance i-web1 is already managed by secret")
	s.golden()
}

// insertECSSecret writes a password ECS secret for user on instance
// straight into the store, as another process would.
func insertECSSecret(t *testing.T, store *db.Store, name, instance, user string) {
	t.Helper()
	err := store.Write(context.Background(), func(tx *db.Tx) error {
		row := &db.SecretRow{InstanceId: instance, Secret: model.Secret{
			Name: name, Type: model.ECS, RegionId: "cn-hangzhou", DataType: model.DataText,
			ExtendedConfig: model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: instance, RegionId: "cn-hangzhou"}.JSON(),
			CreateTime:     fixedNow, UpdateTime: fixedNow, AutomaticRotation: model.RotationDisabled,
		}}
		id, err := tx.InsertSecret(row)
		if err != nil {
			return err
		}
		row.ID = id
		if err := tx.InsertVersion(row, "v1", model.ECSData{UserName: user, Password: "Other-Passw0rd!"}.JSON(), model.DataText, fixedNow); err != nil {
			return err
		}
		return tx.SetLabels(id, nil, model.Labels{model.StageCurrent: "v1"})
	})
	if err != nil {
		t.Fatal(err)
	}
}
