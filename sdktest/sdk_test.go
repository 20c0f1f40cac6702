package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alibabacloud-go/tea/tea"
)

// A secret whose name and value exercise the encodings: the SDKs put every
// parameter in the query string, percent-encoded their own way.
const (
	trickyName  = "app/db+pass=w@rd.x_y-1"
	trickyValue = "s3cr3t value with spaces & symbols *~+%/:?#=\"'é中😀\nsecond line"
)

// TestGetSecretValueEveryClient: each official client reads a secret made
// with the CLI, and gets field for field what `kmsconsole kms
// GetSecretValue` answers.
func TestGetSecretValueEveryClient(t *testing.T) {
	deleteWhenDone(t, trickyName)
	mustCLI(t, secretValue(trickyValue), "kms", "CreateSecret", "--SecretName", trickyName, "--VersionId", "v1", "--SecretData", "-",
		"--Description", "read by the SDKs")
	k := newKey(t, allowAll)
	for _, p := range []params{
		{"SecretName": trickyName},
		{"SecretName": trickyName, "VersionStage": "ACSCurrent", "FetchExtendedConfig": "true"},
		{"SecretName": trickyName, "VersionId": "v1"},
	} {
		want := cliClient{}.call(t, "GetSecretValue", p).must(t, "cli GetSecretValue")
		if want["SecretData"] != trickyValue {
			t.Fatalf("the CLI read back a different value (%d bytes, want %d)", len(str(want["SecretData"])), len(trickyValue))
		}
		for _, c := range sdkClients(t, k) {
			what := fmt.Sprintf("%s GetSecretValue %v", c.name(), keysOfParams(p))
			got := c.call(t, "GetSecretValue", p)
			sameBody(t, what, got, want, volatile{})
		}
	}
	// Each SDK writes the awkward value (in its query string) and reads
	// back exactly what it wrote; so does the CLI.
	for i, c := range sdkClients(t, k) {
		value := fmt.Sprintf("%s #%d", trickyValue, i)
		vid := fmt.Sprintf("w%d", i)
		c.call(t, "PutSecretValue", params{"SecretName": trickyName, "VersionId": vid, "SecretData": secretValue(value)}).must(t, c.name()+" PutSecretValue")
		for _, r := range []client{c, cliClient{}} {
			if got := r.call(t, "GetSecretValue", params{"SecretName": trickyName}).must(t, r.name()+" GetSecretValue"); got["SecretData"] != value || got["VersionId"] != vid {
				t.Errorf("%s wrote %s, %s read %v (%d bytes, same value: %v)", c.name(), vid, r.name(), got["VersionId"], len(str(got["SecretData"])), got["SecretData"] == value)
			}
		}
	}
}

func keysOfParams(p params) []string {
	var out []string
	for k := range p {
		out = append(out, k)
	}
	return out
}

// TestActionsMatchCLI runs every generic-secret action with each SDK and
// with the CLI and compares the answers: the same JSON (one code path,
// three transports), errors included.
func TestActionsMatchCLI(t *testing.T) {
	k := newKey(t, allowAll)
	clients := append([]client{cliClient{}}, sdkClients(t, k)...)
	// Each transport works on its own secret; names are substituted before
	// answers are compared.
	name := func(c client) string {
		return "parity/" + strings.NewReplacer("/", "-", "=", "-").Replace(c.name()) + "/s"
	}
	for _, c := range clients {
		deleteWhenDone(t, name(c), name(c)+"2")
	}
	run := func(action string, mk func(c client) params, v volatile) {
		t.Helper()
		var want answer
		for i, c := range clients {
			got := c.call(t, action, mk(c))
			if i == 0 {
				want = got
				continue
			}
			what := c.name() + " " + action
			if want.err != nil {
				sameError(t, what, renamed(got, name(c), name(clients[0])), want.err)
				continue
			}
			sameBody(t, what, renamed(got, name(c), name(clients[0])), want.body, v)
		}
	}
	times := volatile{times: true}
	run("CreateSecret", func(c client) params {
		return params{"SecretName": name(c), "VersionId": "v1", "SecretData": secretValue("parity-value-1"), "Description": "parity"}
	}, times)
	run("CreateSecret", func(c client) params {
		return params{"SecretName": name(c), "VersionId": "v1", "SecretData": "parity-value-1"}
	}, times)
	run("PutSecretValue", func(c client) params {
		return params{"SecretName": name(c), "VersionId": "v2", "SecretData": secretValue("parity-value-2")}
	}, times)
	run("PutSecretValue", func(c client) params { // the same again: a no-op success
		return params{"SecretName": name(c), "VersionId": "v2", "SecretData": "parity-value-2"}
	}, times)
	run("PutSecretValue", func(c client) params { // the same VersionId, other data
		return params{"SecretName": name(c), "VersionId": "v2", "SecretData": "parity-value-x"}
	}, times)
	run("PutSecretValue", func(c client) params {
		return params{"SecretName": name(c), "VersionId": "v3", "SecretData": secretValue("parity-value-3"), "VersionStages": `["MyPendingLabel","Other"]`}
	}, times)
	run("GetSecretValue", func(c client) params {
		return params{"SecretName": name(c), "VersionStage": "MyPendingLabel", "FetchExtendedConfig": "true"}
	}, times)
	run("GetSecretValue", func(c client) params { return params{"SecretName": name(c), "VersionStage": "NoSuchLabel"} }, times)
	run("GetSecretValue", func(c client) params { return params{"SecretName": name(c) + "-missing"} }, times)
	run("UpdateSecretVersionStage", func(c client) params {
		return params{"SecretName": name(c), "VersionStage": "ACSCurrent", "RemoveFromVersion": "v2", "MoveToVersion": "v3"}
	}, times)
	run("UpdateSecretVersionStage", func(c client) params {
		return params{"SecretName": name(c), "VersionStage": "Other", "RemoveFromVersion": "v3"}
	}, times)
	run("UpdateSecretVersionStage", func(c client) params {
		return params{"SecretName": name(c), "VersionStage": "ACSPrevious", "RemoveFromVersion": "v2"}
	}, times)
	run("ListSecretVersionIds", func(c client) params { return params{"SecretName": name(c)} }, times)
	run("ListSecretVersionIds", func(c client) params {
		return params{"SecretName": name(c), "IncludeDeprecated": "true", "PageNumber": "1", "PageSize": "2"}
	}, times)
	run("DescribeSecret", func(c client) params { return params{"SecretName": name(c)} }, times)
	run("UpdateSecret", func(c client) params { return params{"SecretName": name(c), "Description": "changed by " + "x"} }, times)
	run("UpdateSecretRotationPolicy", func(c client) params {
		return params{"SecretName": name(c), "EnableAutomaticRotation": "true", "RotationInterval": "7d"}
	}, times)
	run("RotateSecret", func(c client) params { return params{"SecretName": name(c)} }, times)
	run("GetRandomPassword", func(client) params {
		return params{"PasswordLength": "40", "ExcludePunctuation": "true"}
	}, volatile{fields: []string{"RandomPassword"}})
	run("GetRandomPassword", func(client) params { return params{"PasswordLength": "7"} }, times)
	run("DeleteSecret", func(c client) params { return params{"SecretName": name(c), "RecoveryWindowInDays": "7"} }, times)
	run("GetSecretValue", func(c client) params { return params{"SecretName": name(c)} }, times)
	run("DescribeSecret", func(c client) params { return params{"SecretName": name(c)} }, times)
	run("RestoreSecret", func(c client) params { return params{"SecretName": name(c)} }, times)
	run("RestoreSecret", func(c client) params { return params{"SecretName": name(c)} }, times)
	run("CreateSecret", func(c client) params { // no VersionId
		return params{"SecretName": name(c) + "2", "SecretData": "x"}
	}, times)

	// ListSecrets answers for the whole store, so every client lists the
	// same state.
	for _, p := range []params{
		{"Filters": `[{"Key":"SecretName","Values":["parity/"]}]`, "PageSize": "3", "PageNumber": "2"},
		{"Filters": `[{"Key":"Description","Values":["changed by"]}]`},
	} {
		want := cliClient{}.call(t, "ListSecrets", p).must(t, "cli ListSecrets")
		if n, _ := want["TotalCount"].(float64); n < 4 {
			t.Fatalf("cli ListSecrets %v: TotalCount %v, want the 4 parity secrets", p, want["TotalCount"])
		}
		for _, c := range clients[1:] {
			sameBody(t, c.name()+" ListSecrets", c.call(t, "ListSecrets", p), want, volatile{})
		}
	}
	for _, c := range clients {
		c.call(t, "DeleteSecret", params{"SecretName": name(c), "ForceDeleteWithoutRecovery": "true"}).must(t, c.name()+" DeleteSecret")
	}
}

// renamed is an answer with the name from replaced by to everywhere (the
// SecretName, the Arn, messages).
func renamed(a answer, from, to string) answer {
	r := strings.NewReplacer(from, to)
	re := func(m map[string]any) map[string]any {
		if m == nil {
			return nil
		}
		b, _ := json.Marshal(m)
		var out map[string]any
		json.Unmarshal([]byte(r.Replace(string(b))), &out)
		return out
	}
	out := answer{body: re(a.body), typed: re(a.typed)}
	if a.err != nil {
		e := *a.err
		e.Message = r.Replace(e.Message)
		out.err = &e
	}
	return out
}

// TestErrorBodyAsTheSDKsParseIt: error bodies carry what the SDKs extract.
func TestErrorBodyAsTheSDKsParseIt(t *testing.T) {
	k := newKey(t, allowAll)
	for _, c := range sdkClients(t, k) {
		got := c.call(t, "DescribeSecret", params{"SecretName": "no/such/secret"})
		e := wantErr(t, c.name()+" DescribeSecret of a missing secret", got, 404, "Forbidden.ResourceNotFound")
		if e.HostId != kp.host {
			t.Errorf("%s: HostId %q, want the endpoint the client addressed, %s", c.name(), e.HostId, kp.host)
		}
	}
	// kms-20160120 builds its message from the body: "code: <status>,
	// <Message> request id: <RequestId>".
	got := newTeaClient(t, k, "").call(t, "GetSecretValue", params{"SecretName": "no/such/secret"})
	if e := got.err; e == nil {
		t.Error("kms-20160120: a missing secret was read")
	} else if !strings.HasPrefix(e.Message, "code: 404, ") || !strings.HasSuffix(e.Message, "request id: "+e.RequestId) {
		t.Errorf("kms-20160120 message %q", e.Message)
	}
}

// TestPlainHTTPOnLoopback: a second serve with --api-insecure-http on
// 127.0.0.1 answers the old SDK with Scheme http and kms-20160120 with
// Protocol http; on a non-loopback address the flag is refused.
func TestPlainHTTPOnLoopback(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "kms.db")
	// (Were it accepted, serve would run until the timeout kills it.)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	refused := exec.CommandContext(ctx, kp.bin, "--db", db, "serve", "--listen", "127.0.0.1:0", "--api-listen", "0.0.0.0:0", "--api-insecure-http")
	refused.Env = cleanEnv()
	out, err := refused.CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "loopback") {
		t.Fatalf("--api-insecure-http on 0.0.0.0 was not refused: %v %s", err, out)
	}
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(kp.bin, "--db", db, "serve", "--listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--api-insecure-http")
	cmd.Env, cmd.Stdout, cmd.Stderr = cleanEnv(), logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the second serve exited with %v", err)
			}
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			t.Error("the second serve did not stop on SIGINT")
		}
	})
	var endpoint string
	for deadline := time.Now().Add(20 * time.Second); ; {
		b, _ := os.ReadFile(filepath.Join(dir, "api_endpoint"))
		if endpoint = strings.TrimSpace(string(b)); endpoint != "" {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
			t.Fatalf("no api_endpoint: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	host, ok := strings.CutPrefix(endpoint, "http://")
	if !ok {
		t.Fatalf("endpoint %q is not http://", endpoint)
	}
	run := func(args ...string) map[string]any {
		c := exec.Command(kp.bin, append([]string{"--db", db}, args...)...)
		c.Env, c.Stdin = cleanEnv(), strings.NewReader("plain-http-value")
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		return m
	}
	run("kms", "CreateSecret", "--SecretName", "app/plain", "--VersionId", "v1", "--SecretData", "-")
	m := run("accesskey", "create", "--name", "plain", "--policy", allowAll)
	k := accessKey{ID: str(m["AccessKeyId"]), Secret: str(m["AccessKeySecret"])}

	old := newOldClientAt(t, k, host)
	old.scheme = "http"
	if b := old.call(t, "GetSecretValue", params{"SecretName": "app/plain"}).must(t, "old SDK over http"); b["SecretData"] != "plain-http-value" {
		t.Errorf("old SDK over http: %v", keysOf(b))
	}
	tc := newTeaClientAt(t, k, "", host)
	tc.c.Protocol = tea.String("http")
	got := tc.call(t, "GetSecretValue", params{"SecretName": "app/plain"})
	if b := got.must(t, "kms-20160120 over http"); b["SecretData"] != "plain-http-value" {
		t.Errorf("kms-20160120 over http: %v", keysOf(b))
	}
}
