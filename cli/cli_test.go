package cli

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
)

// run executes one command line against the store at dbPath.
func run(t testing.TB, dbPath string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, DBPath: dbPath, Region: "cn-hangzhou"}
	code = Run(args, env)
	return out.String(), errb.String(), code
}

func mustRun(t testing.TB, dbPath string, args ...string) map[string]any {
	t.Helper()
	m := mustRunPlain(t, dbPath, args...)
	if m["RequestId"] == nil || len(m["RequestId"].(string)) != 36 {
		t.Fatalf("%v: no RequestId UUID in %v", args, m)
	}
	return m
}

func errorOf(t testing.TB, stderr string) (code, message string, status int) {
	t.Helper()
	var body struct {
		RequestId  string
		Code       string
		Message    string
		HttpStatus int
	}
	if err := json.Unmarshal([]byte(stderr), &body); err != nil {
		t.Fatalf("stderr is not JSON: %v\n%s", err, stderr)
	}
	if len(body.RequestId) != 36 {
		t.Fatalf("error without RequestId: %s", stderr)
	}
	return body.Code, body.Message, body.HttpStatus
}

// shown is a store locator fit for a test's output: a PostgreSQL URL
// without its password.
func shown(locator string) string {
	if db.IsPostgresURL(locator) {
		return db.RedactURL(locator)
	}
	return locator
}

func dump(t testing.TB, path string) string {
	t.Helper()
	s, err := db.Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Dump()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The seed's first generic flow: put a new version under a custom label,
// read it by that label, then promote it with UpdateSecretVersionStage.
func TestSeedFlowCustomStageThenPromote(t *testing.T) {
	p := dbtest.Locator(t)
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "secret001", "--SecretData", `{"user":"admin","password":"old"}`, "--VersionId", "v1")
	put := mustRun(t, p, "kms", "PutSecretValue", "--SecretName", "secret001", "--VersionId", "v2",
		"--SecretData", `{"user":"admin","password":"new"}`, "--VersionStages", "[\"MyPendingLabel\"]")
	if got := put["VersionStages"].(map[string]any)["VersionStage"].([]any); len(got) != 1 || got[0] != "MyPendingLabel" {
		t.Fatalf("stages %v", got)
	}
	cur := mustRun(t, p, "kms", "GetSecretValue", "--SecretName", "secret001")
	if cur["VersionId"] != "v1" {
		t.Fatalf("a custom label must not change ACSCurrent: %v", cur["VersionId"])
	}
	pend := mustRun(t, p, "kms", "GetSecretValue", "--SecretName", "secret001", "--VersionStage", "MyPendingLabel")
	if pend["VersionId"] != "v2" || !strings.Contains(pend["SecretData"].(string), "new") {
		t.Fatalf("pending read %v", pend)
	}
	mustRun(t, p, "kms", "UpdateSecretVersionStage", "--SecretName", "secret001", "--VersionStage", "ACSCurrent",
		"--RemoveFromVersion", "v1", "--MoveToVersion", "v2")
	cur = mustRun(t, p, "kms", "GetSecretValue", "--SecretName", "secret001")
	if cur["VersionId"] != "v2" {
		t.Fatalf("after promotion ACSCurrent is %v", cur["VersionId"])
	}
	prev := mustRun(t, p, "kms", "GetSecretValue", "--SecretName", "secret001", "--VersionStage", "ACSPrevious")
	if prev["VersionId"] != "v1" {
		t.Fatalf("ACSPrevious is %v, want v1", prev["VersionId"])
	}
	mustRun(t, p, "kms", "UpdateSecretVersionStage", "--SecretName", "secret001", "--VersionStage", "MyPendingLabel", "--RemoveFromVersion", "v2")
	list := mustRun(t, p, "kms", "ListSecretVersionIds", "--SecretName", "secret001")
	b, _ := json.Marshal(list["VersionIds"])
	if strings.Contains(string(b), "MyPendingLabel") {
		t.Fatalf("custom label not removed: %s", b)
	}
}

// The seed's second generic flow: a random password written straight to
// ACSCurrent.
func TestSeedFlowRandomPasswordAsCurrent(t *testing.T) {
	p := dbtest.Locator(t)
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "secret002", "--SecretData", "initial", "--VersionId", "v1")
	pw := mustRun(t, p, "kms", "GetRandomPassword", "--ExcludePunctuation", "true")["RandomPassword"].(string)
	if len(pw) != 32 || strings.ContainsAny(pw, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") {
		t.Fatalf("password %d chars with punctuation excluded: bad", len(pw))
	}
	mustRun(t, p, "kms", "PutSecretValue", "--SecretName", "secret002", "--VersionId", "v2", "--SecretData", pw)
	cur := mustRun(t, p, "kms", "GetSecretValue", "--SecretName", "secret002")
	if cur["VersionId"] != "v2" || cur["SecretData"] != pw {
		t.Fatalf("current is %v", cur["VersionId"])
	}
	stages := cur["VersionStages"].(map[string]any)["VersionStage"].([]any)
	if len(stages) != 1 || stages[0] != "ACSCurrent" {
		t.Fatalf("stages %v", stages)
	}
	prev := mustRun(t, p, "kms", "GetSecretValue", "--SecretName", "secret002", "--VersionStage", "ACSPrevious")
	if prev["SecretData"] != "initial" {
		t.Fatal("ACSPrevious should hold the initial value")
	}
}

func TestDeletionWindow(t *testing.T) {
	p := dbtest.Locator(t)
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "app/db", "--SecretData", "x", "--VersionId", "v1")
	del := mustRun(t, p, "kms", "DeleteSecret", "--SecretName", "app/db", "--RecoveryWindowInDays", "7")
	if del["PlannedDeleteTime"] == "" {
		t.Fatal("no PlannedDeleteTime")
	}
	for _, args := range [][]string{
		{"kms", "GetSecretValue", "--SecretName", "app/db"},
		{"kms", "PutSecretValue", "--SecretName", "app/db", "--VersionId", "v2", "--SecretData", "y"},
		{"kms", "UpdateSecret", "--SecretName", "app/db", "--Description", "d"},
		{"kms", "CreateSecret", "--SecretName", "app/db", "--VersionId", "v1", "--SecretData", "x"},
		{"kms", "DeleteSecret", "--SecretName", "app/db"},
	} {
		_, stderr, code := run(t, p, args...)
		if c, _, status := errorOf(t, stderr); code != 1 || c != "Rejected.ResourceInDeleteWindow" || status != 409 {
			t.Errorf("%v: exit %d code %s status %d", args[1], code, c, status)
		}
	}
	d := mustRun(t, p, "kms", "DescribeSecret", "--SecretName", "app/db")
	if d["PlannedDeleteTime"] != del["PlannedDeleteTime"] {
		t.Errorf("describe during window: %v", d["PlannedDeleteTime"])
	}
	l := mustRun(t, p, "kms", "ListSecrets")
	if l["TotalCount"].(float64) != 1 {
		t.Errorf("listed %v", l["TotalCount"])
	}
	mustRun(t, p, "kms", "RestoreSecret", "--SecretName", "app/db")
	if mustRun(t, p, "kms", "GetSecretValue", "--SecretName", "app/db")["SecretData"] != "x" {
		t.Fatal("value after restore")
	}
	_, stderr, _ := run(t, p, "kms", "RestoreSecret", "--SecretName", "app/db")
	if c, _, _ := errorOf(t, stderr); c != "Rejected.ResourceInUse" {
		t.Errorf("restore of a live secret: %s", c)
	}
	mustRun(t, p, "kms", "DeleteSecret", "--SecretName", "app/db", "--ForceDeleteWithoutRecovery", "true")
	_, stderr, _ = run(t, p, "kms", "DescribeSecret", "--SecretName", "app/db")
	if c, _, _ := errorOf(t, stderr); c != "Forbidden.ResourceNotFound" {
		t.Errorf("after force delete: %s", c)
	}
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "app/db", "--VersionId", "v1", "--SecretData", "again")
}

func TestIdempotentPutAndConflict(t *testing.T) {
	p := dbtest.Locator(t)
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "s", "--SecretData", "a", "--VersionId", "v1")
	mustRun(t, p, "kms", "PutSecretValue", "--SecretName", "s", "--VersionId", "v2", "--SecretData", "b")
	before := dump(t, p)
	mustRun(t, p, "kms", "PutSecretValue", "--SecretName", "s", "--VersionId", "v2", "--SecretData", "b")
	if dump(t, p) != before {
		t.Fatal("a repeated put changed the store")
	}
	_, stderr, _ := run(t, p, "kms", "PutSecretValue", "--SecretName", "s", "--VersionId", "v2", "--SecretData", "c")
	if c, msg, _ := errorOf(t, stderr); c != "Rejected.ResourceExist" || strings.Contains(msg, "\"c\"") {
		t.Fatalf("got %s %s", c, msg)
	}
}

func TestVersionEvictionKeepsTenAndLabelled(t *testing.T) {
	p := dbtest.Locator(t)
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "s", "--SecretData", "a", "--VersionId", "v0")
	mustRun(t, p, "kms", "PutSecretValue", "--SecretName", "s", "--VersionId", "keep", "--SecretData", "k", "--VersionStages", `["Pinned"]`)
	for i := 1; i <= 12; i++ {
		mustRun(t, p, "kms", "PutSecretValue", "--SecretName", "s", "--VersionId", "v"+string(rune('a'+i)), "--SecretData", "d")
	}
	l := mustRun(t, p, "kms", "ListSecretVersionIds", "--SecretName", "s", "--IncludeDeprecated", "true")
	if l["TotalCount"].(float64) != 10 {
		t.Fatalf("kept %v versions, want 10", l["TotalCount"])
	}
	b, _ := json.Marshal(l)
	if !strings.Contains(string(b), `"keep"`) {
		t.Fatal("a labelled version was evicted")
	}
	if strings.Contains(string(b), `"v0"`) {
		t.Fatal("the oldest deprecated version survived")
	}
}

func TestHelpEverywhere(t *testing.T) {
	p := dbtest.Locator(t)
	for _, args := range [][]string{{"--help"}, {"kms", "--help"}, {"kms", "CreateSecret", "--help"}, {"instance", "--help"},
		{"operator", "--help"}, {"operator", "set-role", "--help"}, {"audit", "--help"}, {"rotate", "--help"}} {
		out, _, code := run(t, p, args...)
		if code != 0 || !strings.Contains(out, "Usage") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
	out, _, _ := run(t, p, "kms", "PutSecretValue", "--help")
	for _, param := range []string{"--SecretName", "--VersionId", "--SecretData", "--SecretDataType", "--VersionStages"} {
		if !strings.Contains(out, param) {
			t.Errorf("PutSecretValue help lacks %s", param)
		}
	}
}

func TestAuditNeverHoldsValues(t *testing.T) {
	p := dbtest.Locator(t)
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "s", "--SecretData", "canary-create-93af", "--VersionId", "v1")
	mustRun(t, p, "kms", "PutSecretValue", "--SecretName", "s", "--VersionId", "v2", "--SecretData", "canary-put-11bc")
	run(t, p, "kms", "PutSecretValue", "--SecretName", "s", "--VersionId", "v2", "--SecretData", "canary-conflict-7d")
	mustRun(t, p, "kms", "DeleteSecret", "--SecretName", "s")
	out, _, code := run(t, p, "audit")
	if code != 0 {
		t.Fatal(code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 events (3 successes, 1 refusal), got %d:\n%s", len(lines), out)
	}
	for _, want := range []string{`"Action":"CreateSecret"`, `"Action":"PutSecretValue"`, `"Result":"Failure"`, `"Action":"DeleteSecret"`} {
		if !strings.Contains(out, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
	if strings.Contains(out, "canary") {
		t.Fatal("a value reached the audit log")
	}
	var ev map[string]any
	json.Unmarshal([]byte(lines[0]), &ev)
	if ev["Operator"] == "" || ev["Time"] == "" {
		t.Fatalf("event lacks operator/time: %s", lines[0])
	}
}

func TestGlobalFlagsAndEnv(t *testing.T) {
	dir := t.TempDir()
	p, fromEnv := dbtest.Locator(t), dbtest.Locator(t)
	t.Setenv("KMSCONSOLE_DB", fromEnv)
	t.Setenv("KMSCONSOLE_REGION", "eu-central-1")
	var out, errb bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errb}
	if code := Run([]string{"kms", "CreateSecret", "--SecretName", "x", "--VersionId", "v1", "--SecretData", "y", "--region", "us-west-1", "--db=" + p}, env); code != 0 {
		t.Fatal(errb.String())
	}
	if env.DBPath != p || env.Region != "us-west-1" {
		t.Fatalf("flags not applied: %s %s", shown(env.DBPath), env.Region)
	}
	if !strings.Contains(out.String(), "acs:kms:us-west-1:") {
		t.Fatalf("ARN not in region: %s", out.String())
	}
	env2 := &Env{Stdout: &out, Stderr: &errb}
	Run([]string{"kms", "ListSecrets"}, env2)
	if env2.DBPath != fromEnv || env2.Region != "eu-central-1" {
		t.Fatalf("env not applied: %s %s", shown(env2.DBPath), env2.Region)
	}
	t.Setenv("KMSCONSOLE_DB", "")
	t.Setenv("XDG_DATA_HOME", dir)
	env3 := &Env{Stdout: &out, Stderr: &errb}
	Run([]string{"kms", "GetRandomPassword"}, env3)
	if env3.DBPath != filepath.Join(dir, "kmsconsole", "kms.db") {
		t.Fatalf("default path %s", env3.DBPath)
	}
}

// runWithStdin is run with standard input.
func runWithStdin(t testing.TB, dbPath, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, DBPath: dbPath, Region: "cn-hangzhou"}
	code = Run(args, env)
	return out.String(), errb.String(), code
}

// TestSecretDataFromStdin: `--SecretData -` takes the value from standard
// input, exactly but for one trailing newline, and refuses empty or
// oversized input the way it refuses such a value in argv, changing nothing.
func TestSecretDataFromStdin(t *testing.T) {
	p := dbtest.Locator(t)
	const multiLine = "-----BEGIN X-----\nline two\n-----END X-----"
	if _, stderr, code := runWithStdin(t, p, multiLine+"\n", "kms", "CreateSecret", "--SecretName", "app/cert", "--SecretData", "-", "--VersionId", "v1"); code != 0 {
		t.Fatalf("CreateSecret from stdin: exit %d %s", code, stderr)
	}
	if got := mustRun(t, p, "kms", "GetSecretValue", "--SecretName", "app/cert")["SecretData"]; got != multiLine {
		t.Fatalf("the value read from stdin differs from what was given (%d characters, want %d)", len(got.(string)), len(multiLine))
	}
	if _, stderr, code := runWithStdin(t, p, "p@ss word \r\n", "kms", "PutSecretValue", "--SecretName", "app/cert", "--SecretData", "-", "--VersionId", "v2"); code != 0 {
		t.Fatalf("PutSecretValue from stdin: exit %d %s", code, stderr)
	}
	if got := mustRun(t, p, "kms", "GetSecretValue", "--SecretName", "app/cert")["SecretData"]; got != "p@ss word " {
		t.Fatalf("a CRLF-terminated value from stdin was not read as given less its line end (%d characters)", len(got.(string)))
	}
	// A value given in argv as "--SecretData=-" is the same request.
	if _, stderr, code := runWithStdin(t, p, "v3-value", "kms", "PutSecretValue", "--SecretName", "app/cert", "--SecretData=-", "--VersionId", "v3"); code != 0 {
		t.Fatalf("--SecretData=- : exit %d %s", code, stderr)
	}

	before := dump(t, p)
	for name, stdin := range map[string]string{
		"empty":          "",
		"only a newline": "\n",
		"too large":      strings.Repeat("x", 30721),
		"far too large":  strings.Repeat("x", maxStdinSecretData+10),
	} {
		out, stderr, code := runWithStdin(t, p, stdin, "kms", "PutSecretValue", "--SecretName", "app/cert", "--SecretData", "-", "--VersionId", "v9")
		if code != 1 || out != "" {
			t.Fatalf("%s stdin: exit %d, %d bytes on stdout", name, code, len(out))
		}
		if c, msg, _ := errorOf(t, stderr); c != "InvalidParameter" || !strings.Contains(msg, "SecretData") {
			t.Fatalf("%s stdin: %s %s", name, c, msg)
		}
	}
	if after := dump(t, p); after != before {
		t.Fatal("a refused --SecretData - changed the store")
	}
}

// TestOperatorSetRole: an operator's role changes in place (same key, same
// name), the registry lists the new role, and the change is audited.
func TestOperatorSetRole(t *testing.T) {
	p := dbtest.Locator(t)
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMg4vwS1H3bCpV4a6xJvyVxHIHnfPk6ydnVbR4ZIwxKa ci@build"
	mustRunPlain(t, p, "operator", "add", "--name", "ci", "--key", key, "--role", "readonly")
	if got := mustRunPlain(t, p, "operator", "set-role", "--name", "ci", "--role", "admin"); got["Role"] != "admin" {
		t.Fatalf("set-role answered %v", got)
	}
	ops := mustRunPlain(t, p, "operator", "list")["Operators"].([]any)
	if len(ops) != 1 {
		t.Fatalf("operators: %v", ops)
	}
	op := ops[0].(map[string]any)
	if op["Name"] != "ci" || op["Role"] != "admin" || !strings.HasPrefix(key, op["PublicKey"].(string)) {
		t.Fatalf("after set-role: %v", op)
	}
	out, _, code := run(t, p, "audit", "--filter", "SetOperatorRole")
	if code != 0 || !strings.Contains(out, `"Success"`) || !strings.Contains(out, `"ci"`) {
		t.Fatalf("set-role not audited: %s", out)
	}
}

// mustRunPlain runs a command that must succeed and answer a JSON object
// (the kms actions also carry a RequestId: mustRun checks it).
func mustRunPlain(t testing.TB, dbPath string, args ...string) map[string]any {
	t.Helper()
	out, errOut, code := run(t, dbPath, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: stdout is not JSON: %v\n%s", args, err, out)
	}
	return m
}

// TestNoCommand: a line that names no command runs the table's "" command
// (package app adds the console there); without one it is an error.
func TestNoCommand(t *testing.T) {
	p := dbtest.Locator(t)
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, DBPath: p, Region: "cn-hangzhou"}
	if code := Run([]string{"--region", "us-west-1"}, env); code != 1 || !strings.Contains(errb.String(), "no command given") {
		t.Fatalf("without a console: exit %d %s", code, errb.String())
	}
	ran := false
	console := &Command{Name: "", Summary: "Open the console.", Run: func(env *Env, a *Args) int { ran = true; return 0 }}
	if code := Run([]string{"--region", "us-west-1"}, &Env{Stdout: &out, Stderr: &errb, DBPath: p}, console); code != 0 || !ran {
		t.Fatalf("with a console: exit %d, ran %v", code, ran)
	}
}

// TestJSONKeepsCharactersAsGiven: values are printed as given, not with
// HTML escapes (\u003c): scripts and people read this output, not browsers.
func TestJSONKeepsCharactersAsGiven(t *testing.T) {
	p := dbtest.Locator(t)
	const value = `<script>&"quoted"</script>`
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "app/html", "--VersionId", "v1", "--SecretData", value)
	out, _, code := run(t, p, "kms", "GetSecretValue", "--SecretName", "app/html")
	if code != 0 || !strings.Contains(out, `"SecretData": "<script>&\"quoted\"</script>"`) {
		t.Fatalf("GetSecretValue did not print the value as given (exit %d, HTML escapes: %v)", code, strings.Contains(out, `\u003c`))
	}
}
