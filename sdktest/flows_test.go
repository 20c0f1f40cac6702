package sdktest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// The two generic-secret rotation flows of seed 003 ("Rotate a generic
// secret by calling a single API operation" and "... multiple API
// operations"), with the document's own names, versions, labels and
// parameters. The CLI runs each flow first; its answers are the reference
// transcript. Then each official SDK client runs the same flow on the same
// names (the secrets are deleted in between) and must answer the same JSON,
// step by step; at every read, the CLI's answer on the same state is
// compared too.

// step is one answer of a flow, with what makes it differ between runs.
type step struct {
	label string
	a     answer
	v     volatile
}

// flowRun runs a flow with one client and checks the flow's own
// expectations (stages, versions, values) as it goes.
type flowRun struct {
	t     *testing.T
	c     client
	steps []step
}

func (f *flowRun) do(label, action string, p params, v volatile) map[string]any {
	f.t.Helper()
	a := f.c.call(f.t, action, p)
	body := a.must(f.t, f.c.name()+": "+label)
	f.steps = append(f.steps, step{label: label, a: a, v: v})
	return body
}

// read is a read step; the CLI reads the same state and must answer the
// same, field for field.
func (f *flowRun) read(label, action string, p params, v volatile) map[string]any {
	f.t.Helper()
	body := f.do(label, action, p, v)
	if _, isCLI := f.c.(cliClient); !isCLI {
		live := cliClient{}.call(f.t, action, p).must(f.t, "cli: "+label)
		sameBody(f.t, f.c.name()+": "+label+" (against the CLI on the same state)", f.steps[len(f.steps)-1].a, live, volatile{})
	}
	return body
}

func stagesOf(m map[string]any) []string {
	vs, _ := m["VersionStages"].(map[string]any)
	list, _ := vs["VersionStage"].([]any)
	var out []string
	for _, s := range list {
		out = append(out, str(s))
	}
	sort.Strings(out)
	return out
}

// versionStages is ListSecretVersionIds as VersionId → sorted stages.
func versionStages(m map[string]any) map[string][]string {
	out := map[string][]string{}
	vi, _ := m["VersionIds"].(map[string]any)
	list, _ := vi["VersionId"].([]any)
	for _, x := range list {
		v, _ := x.(map[string]any)
		out[str(v["VersionId"])] = stagesOf(v)
	}
	return out
}

func (f *flowRun) expect(what string, got, want any) {
	f.t.Helper()
	if !reflect.DeepEqual(got, want) {
		f.t.Errorf("%s: %s: got %s, want %s", f.c.name(), what, js(got), js(want))
	}
}

// flowSingle is "Rotate a generic secret by calling a single API operation".
func flowSingle(t *testing.T, c client) []step {
	f := &flowRun{t: t, c: c}
	const name = "MyOAuthAppSecret"
	// The flow deletes it as its last step; should it stop before, the
	// next client (or round of -count) still starts on a store without it.
	deleteWhenDone(t, name)
	initial := secretValue("initial-oauth-app-secret")
	// Prerequisite: the initial version, generated in the O&M system, is
	// stored in Secrets Manager, marked ACSCurrent.
	f.do("CreateSecret (prerequisite)", "CreateSecret", params{"SecretName": name, "SecretData": initial, "VersionId": "v1"}, volatile{times: true})
	// Prerequisite: the application reads it by name alone.
	got := f.read("GetSecretValue (prerequisite)", "GetSecretValue", params{"SecretName": name}, volatile{times: true})
	f.expect("the current version before the rotation", []any{got["VersionId"], got["SecretData"]}, []any{"v1", initial})
	// 2. aliyun kms PutSecretValue --SecretName MyOAuthAppSecret
	//    --SecretData sample-app-secret --VersionId v2
	got = f.do("2. PutSecretValue", "PutSecretValue", params{"SecretName": name, "SecretData": secretValue("sample-app-secret"), "VersionId": "v2"}, volatile{})
	f.expect("PutSecretValue without VersionStages labels the version", stagesOf(got), []string{"ACSCurrent"})
	// 3. The application calls GetSecretValue: the latest secret.
	got = f.read("3. GetSecretValue", "GetSecretValue", params{"SecretName": name}, volatile{times: true})
	f.expect("the current version after the rotation", []any{got["VersionId"], got["SecretData"], stagesOf(got)}, []any{"v2", "sample-app-secret", []string{"ACSCurrent"}})
	// "The mark of the original version is changed from ACSCurrent to ACSPrevious."
	got = f.read("ListSecretVersionIds", "ListSecretVersionIds", params{"SecretName": name}, volatile{times: true})
	f.expect("the versions", versionStages(got), map[string][]string{"v1": {"ACSPrevious"}, "v2": {"ACSCurrent"}})
	got = f.read("GetSecretValue ACSPrevious", "GetSecretValue", params{"SecretName": name, "VersionStage": "ACSPrevious"}, volatile{times: true})
	f.expect("the previous version", []any{got["VersionId"], got["SecretData"]}, []any{"v1", initial})
	f.do("DeleteSecret (cleanup)", "DeleteSecret", params{"SecretName": name, "ForceDeleteWithoutRecovery": "true"}, volatile{times: true})
	return f.steps
}

// flowMulti is "Rotate a generic secret by calling multiple API
// operations": the database credential db_cred.
func flowMulti(t *testing.T, c client) []step {
	f := &flowRun{t: t, c: c}
	const name = "db_cred"
	// The flow deletes it as its last step; should it stop before, the
	// next client (or round of -count) still starts on a store without it.
	deleteWhenDone(t, name)
	initial := secretValue(`{"uname": "alice", "pwd": "initial-db-password-1"}`)
	f.do("CreateSecret (prerequisite)", "CreateSecret", params{"SecretName": name, "SecretData": initial, "VersionId": "v1"}, volatile{times: true})
	// 1. aliyun kms GetRandomPassword --ExcludePunctuation true
	got := f.do("1. GetRandomPassword", "GetRandomPassword", params{"ExcludePunctuation": "true"}, volatile{fields: []string{"RandomPassword"}})
	pw := str(got["RandomPassword"])
	if len(pw) != 32 || strings.IndexFunc(pw, unicode.IsPunct) >= 0 || strings.IndexFunc(pw, unicode.IsSymbol) >= 0 {
		t.Errorf("%s: GetRandomPassword --ExcludePunctuation true gave %d characters, punctuation: %v", c.name(), len(pw),
			strings.IndexFunc(pw, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) >= 0)
	}
	secretValue(pw)
	// 2. aliyun kms PutSecretValue --SecretName db_cred --SecretData
	//    "{\"uname\": \"alice\", \"pwd\": \"<the password>\"}" --VersionId v2
	//    --VersionStages "[\"MyPendingLabel\"]"
	// (The document's example loses a backslash before the closing quote
	// of the password; this is the JSON it means.)
	value := secretValue(fmt.Sprintf(`{"uname": "alice", "pwd": "%s"}`, pw))
	got = f.do("2. PutSecretValue MyPendingLabel", "PutSecretValue",
		params{"SecretName": name, "SecretData": value, "VersionId": "v2", "VersionStages": `["MyPendingLabel"]`}, volatile{})
	f.expect("the new version's stages", stagesOf(got), []string{"MyPendingLabel"})
	// "The existing versions marked with ACSCurrent and ACSPrevious remain
	// unchanged."
	got = f.read("GetSecretValue during the rotation", "GetSecretValue", params{"SecretName": name}, volatile{times: true})
	f.expect("the current version during the rotation", []any{got["VersionId"], got["SecretData"]}, []any{"v1", initial})
	got = f.read("ListSecretVersionIds during the rotation", "ListSecretVersionIds", params{"SecretName": name}, volatile{times: true})
	f.expect("the versions during the rotation", versionStages(got), map[string][]string{"v1": {"ACSCurrent"}, "v2": {"MyPendingLabel"}})
	// 3. The rotation program registers the pending credential with the
	// database: it reads it by its label.
	got = f.read("3. GetSecretValue MyPendingLabel", "GetSecretValue", params{"SecretName": name, "VersionStage": "MyPendingLabel"}, volatile{times: true, fields: []string{"SecretData"}})
	f.expect("the pending version", []any{got["VersionId"], got["SecretData"]}, []any{"v2", value})
	var cred struct{ Uname, Pwd string }
	if err := json.Unmarshal([]byte(str(got["SecretData"])), &cred); err != nil || cred.Uname != "alice" || cred.Pwd != pw {
		t.Errorf("%s: the pending value is not the credential stored (%v)", c.name(), err)
	}
	// 4. aliyun kms UpdateSecretVersionStage --SecretName db_cred
	//    --VersionStage ACSCurrent --MoveToVersion v2
	f.do("4. UpdateSecretVersionStage", "UpdateSecretVersionStage", params{"SecretName": name, "VersionStage": "ACSCurrent", "MoveToVersion": "v2"}, volatile{})
	// 5. GetSecretValue: the latest username and password.
	got = f.read("5. GetSecretValue", "GetSecretValue", params{"SecretName": name}, volatile{times: true, fields: []string{"SecretData"}})
	f.expect("the current version after the rotation", []any{got["VersionId"], got["SecretData"]}, []any{"v2", value})
	got = f.read("ListSecretVersionIds after the rotation", "ListSecretVersionIds", params{"SecretName": name}, volatile{times: true})
	f.expect("the versions after the rotation", versionStages(got), map[string][]string{"v1": {"ACSPrevious"}, "v2": {"ACSCurrent", "MyPendingLabel"}})
	f.do("DeleteSecret (cleanup)", "DeleteSecret", params{"SecretName": name, "ForceDeleteWithoutRecovery": "true"}, volatile{times: true})
	return f.steps
}

func TestSeed003Flows(t *testing.T) {
	k := newKey(t, allowAll)
	for _, flow := range []struct {
		name string
		run  func(*testing.T, client) []step
	}{
		{"single API operation", flowSingle},
		{"multiple API operations", flowMulti},
	} {
		t.Run(flow.name, func(t *testing.T) {
			var reference []step
			t.Run("cli", func(t *testing.T) { reference = runFlow(t, flow.run, cliClient{}) })
			if reference == nil {
				t.Fatal("the CLI could not run the flow")
			}
			for _, c := range sdkClients(t, k) {
				t.Run(strings.ReplaceAll(c.name(), "/", "_"), func(t *testing.T) {
					steps := runFlow(t, flow.run, c)
					if len(steps) != len(reference) {
						t.Fatalf("%d steps, the CLI's run had %d", len(steps), len(reference))
					}
					for i, s := range steps {
						sameBody(t, c.name()+": "+s.label+" (against the CLI's run)", s.a, reference[i].a.body, s.v)
					}
				})
			}
		})
	}
}

func runFlow(t *testing.T, run func(*testing.T, client) []step, c client) []step {
	t.Helper()
	steps := run(t, c)
	if t.Failed() {
		t.FailNow()
	}
	return steps
}
