package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"kmsconsole/db/dbtest"
	"kmsconsole/ecs"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// TestInstanceAndECSSecretThroughTheCLI registers an instance by fetching
// and accepting its host key, creates ECS secrets, rotates one and checks
// that no credential reaches any output.
func TestInstanceAndECSSecretThroughTheCLI(t *testing.T) {
	sshdtest.Require(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, adminKey := sshdtest.CreateAdmin(t)
	initial, _ := model.RandomPassword(model.DefaultPasswordOptions())
	user := sshdtest.CreateUser(t, "cli", initial)
	p := dbtest.Locator(t)
	keyFile := filepath.Join(t.TempDir(), "admin_key")
	if err := os.WriteFile(keyFile, adminKey, 0o600); err != nil {
		t.Fatal(err)
	}
	var outputs []string
	runAll := func(args ...string) (string, string, int) {
		o, e, c := run(t, p, args...)
		outputs = append(outputs, o, e)
		return o, e, c
	}
	add := []string{"instance", "add", "--InstanceId", "i-web1", "--InstanceName", "web 1", "--RegionId", "cn-hangzhou",
		"--Host", srv.Host, "--Port", strconv.Itoa(srv.Port), "--AdminUser", admin, "--AdminKeyFile", keyFile}
	fp, _ := ecs.Fingerprint(srv.HostKey)

	// Without a host key: the fingerprint is shown, nothing is pinned.
	_, stderr, code := runAll(add...)
	if code != 1 || !strings.Contains(stderr, fp) {
		t.Fatalf("want the fingerprint %s to confirm, got exit %d %s", fp, code, stderr)
	}
	// A 4xx whose body carries the fetched key, so the next command is
	// obvious (it used to be InternalFailure 500).
	var body struct {
		Code, HostKey, Fingerprint string
		HttpStatus                 int
	}
	if err := json.Unmarshal([]byte(stderr), &body); err != nil || body.Code != "MissingParameter" || body.HttpStatus != 400 ||
		body.HostKey != srv.HostKey || body.Fingerprint != fp {
		t.Fatalf("unconfirmed host key answer: %+v (%v)", body, err)
	}
	_, stderr, _ = runAll(append(add, "--AcceptHostKey", "SHA256:not-this-one")...)
	if c, msg, _ := errorOf(t, stderr); c != "InvalidParameter" || !strings.Contains(msg, fp) {
		t.Fatalf("wrong fingerprint accepted: %s %s", c, msg)
	}
	out, stderr, code := runAll(append(add, "--AcceptHostKey", fp)...)
	if code != 0 {
		t.Fatalf("add: %s", stderr)
	}
	var view map[string]any
	json.Unmarshal([]byte(out), &view)
	if view["Fingerprint"] != fp || view["HostKey"] != srv.HostKey {
		t.Fatalf("pinned %v", view)
	}
	out, _, _ = runAll("instance", "list")
	if !strings.Contains(out, "i-web1") || !strings.Contains(out, fp) {
		t.Fatalf("list: %s", out)
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Fatal("instance list shows the admin key")
	}

	cfg := `{"SecretSubType":"Password","InstanceId":"i-web1","RegionId":"cn-hangzhou"}`
	create := func(name, data string) (string, string, int) {
		return runAll("kms", "CreateSecret", "--SecretName", name, "--SecretType", "ECS", "--ExtendedConfig", cfg, "--SecretData", data)
	}
	// A user the host does not have is refused.
	_, stderr, _ = create("acs/ecs/web1/ghost", `{"UserName":"ghostuser","Password":"Whatever-1"}`)
	if c, msg, _ := errorOf(t, stderr); c != "Forbidden.ResourceNotFound" || !strings.Contains(msg, "ghostuser") {
		t.Fatalf("missing user: %s %s", c, msg)
	}
	// A wrong initial value is accepted with a warning.
	out, stderr, code = create("acs/ecs/web1/wrong", model.ECSData{UserName: user, Password: "Not-The-Password-1"}.JSON())
	if code != 0 || !strings.Contains(out, "first rotation will set a valid") {
		t.Fatalf("wrong initial value: exit %d %s %s", code, out, stderr)
	}
	// One secret per (instance, user): a second one is refused, naming
	// the first, until the first is gone.
	_, stderr, _ = create("acs/ecs/web1/"+user, model.ECSData{UserName: user, Password: initial}.JSON())
	if c, msg, _ := errorOf(t, stderr); c != "Rejected.ResourceExist" || !strings.Contains(msg, "acs/ecs/web1/wrong") {
		t.Fatalf("second secret for the same user: %s %s", c, msg)
	}
	if _, stderr, code := runAll("kms", "DeleteSecret", "--SecretName", "acs/ecs/web1/wrong", "--ForceDeleteWithoutRecovery", "true"); code != 0 {
		t.Fatalf("delete: %s", stderr)
	}
	out, stderr, code = create("acs/ecs/web1/"+user, model.ECSData{UserName: user, Password: initial}.JSON())
	if code != 0 || strings.Contains(out, "Warning") {
		t.Fatalf("create: %s %s", out, stderr)
	}
	out, stderr, code = runAll("kms", "RotateSecret", "--SecretName", "acs/ecs/web1/"+user)
	if code != 0 {
		t.Fatalf("rotate: %s", stderr)
	}
	var rot map[string]any
	json.Unmarshal([]byte(out), &rot)
	// Reading the value is the one output allowed to show it.
	got := mustRun(t, p, "kms", "GetSecretValue", "--SecretName", "acs/ecs/web1/"+user)
	if got["VersionId"] != rot["VersionId"] {
		t.Fatalf("current %v, rotated %v", got["VersionId"], rot["VersionId"])
	}
	var data model.ECSData
	json.Unmarshal([]byte(got["SecretData"].(string)), &data)
	if err := ecs.VerifyPassword(t.Context(), srv.Host, srv.Port, srv.HostKey, user, data.Password); err != nil {
		t.Fatalf("new password: %v", err)
	}
	audit, _, _ := runAll("audit")
	for i, text := range append(outputs, srv.Log(), audit) {
		for _, secret := range []string{data.Password, initial, string(adminKey[40:100])} {
			if strings.Contains(text, secret) {
				t.Errorf("a credential leaked into output #%d", i)
			}
		}
	}
	// An instance in use cannot be removed; once free it can.
	_, stderr, _ = runAll("instance", "remove", "i-web1")
	if c, _, _ := errorOf(t, stderr); c != "Rejected.ResourceInUse" {
		t.Fatalf("remove in use: %s", c)
	}
	mustRun(t, p, "kms", "DeleteSecret", "--SecretName", "acs/ecs/web1/"+user, "--ForceDeleteWithoutRecovery", "true")
	if err := ecs.VerifyPassword(t.Context(), srv.Host, srv.Port, srv.HostKey, user, data.Password); err != nil {
		t.Fatalf("deleting the secret changed the host: %v", err)
	}
	if _, stderr, code := runAll("instance", "remove", "i-web1"); code != 0 {
		t.Fatalf("remove: %s", stderr)
	}
}
