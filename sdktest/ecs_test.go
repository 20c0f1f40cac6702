package sdktest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"kmsconsole/ecs/sshdtest"
)

// passwordLogin logs in to the host as user with password over SSH (the
// host key pinned) and runs `true`. A refused credential is errRefused; any
// other failure (network, host key) is something else.
func passwordLogin(addr, hostKey, user, password string) error {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(hostKey))
	if err != nil {
		return err
	}
	cfg := &ssh.ClientConfig{
		User: user,
		// Password only: each refused method costs PAM's failure delay.
		Auth:            []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.FixedHostKey(pub),
		Timeout:         15 * time.Second,
	}
	c, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		if strings.Contains(err.Error(), "unable to authenticate") {
			return errRefused
		}
		return err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Run("true")
}

var errRefused = errors.New("the host refused the credential")

type ecsData struct{ UserName, Password string }

func ecsValue(t testing.TB, body map[string]any) ecsData {
	t.Helper()
	var d ecsData
	if err := json.Unmarshal([]byte(str(body["SecretData"])), &d); err != nil || d.Password == "" {
		t.Fatalf("the ECS secret's value is not {UserName, Password}: %v", err)
	}
	secretValue(d.Password)
	return d
}

// TestECSRotateSecretThroughTheSDKs registers a real sshd host with
// `kmsconsole instance add`, creates a managed ECS password secret with the
// CLI, rotates it through each SDK client (RotateSecret), and checks on the
// host after each rotation that the new ACSCurrent password logs in over
// SSH and the old one no longer does. Needs root and OpenSSH's sshd: skipped
// without them, unless CI=true, where it fails instead.
func TestECSRotateSecretThroughTheSDKs(t *testing.T) {
	sshdtest.Require(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, adminKey := sshdtest.CreateAdmin(t)
	initial := secretValue("Initial-Passw0rd-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	user := sshdtest.CreateUser(t, "sdkecs", initial)
	if err := passwordLogin(srv.Addr(), srv.HostKey, user, initial); err != nil {
		t.Fatalf("the initial password does not log in: %v", err)
	}
	keyFile := filepath.Join(t.TempDir(), "admin_key")
	if err := os.WriteFile(keyFile, adminKey, 0o600); err != nil {
		t.Fatal(err)
	}
	instance := "i-sdk" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	mustCLI(t, "", "instance", "add", "--InstanceId", instance, "--InstanceName", "sdk test host", "--RegionId", "cn-hangzhou",
		"--Host", srv.Host, "--Port", strconv.Itoa(srv.Port), "--AdminUser", admin, "--AdminKeyFile", keyFile, "--HostKey", srv.HostKey)
	name := "acs/ecs/" + instance + "/" + user
	value, _ := json.Marshal(ecsData{UserName: user, Password: initial})
	mustCLI(t, string(value), "kms", "CreateSecret", "--SecretName", name, "--SecretType", "ECS",
		"--ExtendedConfig", `{"SecretSubType":"Password","InstanceId":"`+instance+`","RegionId":"cn-hangzhou"}`, "--SecretData", "-")
	t.Cleanup(func() {
		kmscli(t, "", "kms", "DeleteSecret", "--SecretName", name, "--ForceDeleteWithoutRecovery", "true")
		kmscli(t, "", "instance", "remove", instance)
	})
	k := newKey(t, `{"Statement":[{"Effect":"Allow","Action":["kms:RotateSecret","kms:GetSecretValue","kms:DescribeSecret","kms:ListSecretVersionIds"],
		"Resource":"acs:kms:cn-hangzhou:*:secret/acs/ecs/*"}]}`)

	previous := initial
	clients := sdkClients(t, k)
	var lastRotation answer
	for _, c := range clients {
		start := time.Now()
		got := c.call(t, "RotateSecret", params{"SecretName": name})
		rot := got.must(t, c.name()+" RotateSecret")
		t.Logf("%s: RotateSecret took %v", c.name(), time.Since(start).Round(time.Millisecond))
		lastRotation = got
		vid := str(rot["VersionId"])
		if rot["SecretName"] != name || vid == "" || !strings.HasSuffix(str(rot["Arn"]), ":secret/"+name) {
			t.Fatalf("%s RotateSecret answered %s", c.name(), js(rot))
		}
		cur := c.call(t, "GetSecretValue", params{"SecretName": name, "FetchExtendedConfig": "true"}).must(t, c.name()+" GetSecretValue")
		sameBody(t, c.name()+" GetSecretValue of the ECS secret", c.call(t, "GetSecretValue", params{"SecretName": name, "FetchExtendedConfig": "true"}),
			cliClient{}.call(t, "GetSecretValue", params{"SecretName": name, "FetchExtendedConfig": "true"}).must(t, "cli GetSecretValue"), volatile{})
		if cur["VersionId"] != vid || !contains(stagesOf(cur), "ACSCurrent") || cur["SecretType"] != "ECS" {
			t.Fatalf("%s: after the rotation, ACSCurrent is %v (stages %v), the rotation made %s", c.name(), cur["VersionId"], stagesOf(cur), vid)
		}
		var ext map[string]any
		if err := json.Unmarshal([]byte(str(cur["ExtendedConfig"])), &ext); err != nil || ext["InstanceId"] != instance {
			t.Errorf("%s: ExtendedConfig %q (%v)", c.name(), str(cur["ExtendedConfig"]), err)
		}
		now := ecsValue(t, cur)
		if now.UserName != user || now.Password == previous {
			t.Fatalf("%s: the rotation did not change the password of %s", c.name(), user)
		}
		if err := passwordLogin(srv.Addr(), srv.HostKey, user, now.Password); err != nil {
			t.Fatalf("%s: the new ACSCurrent password does not log in: %v", c.name(), err)
		}
		if err := passwordLogin(srv.Addr(), srv.HostKey, user, previous); !errors.Is(err, errRefused) {
			t.Fatalf("%s: the old password still logs in, or the test could not tell: %v", c.name(), err)
		}
		prev := c.call(t, "GetSecretValue", params{"SecretName": name, "VersionStage": "ACSPrevious"}).must(t, c.name()+" GetSecretValue ACSPrevious")
		if ecsValue(t, prev).Password != previous {
			t.Errorf("%s: ACSPrevious is not the password the rotation replaced", c.name())
		}
		previous = now.Password

		// RotateSecret with an existing VersionId does nothing.
		again := c.call(t, "RotateSecret", params{"SecretName": name, "VersionId": vid}).must(t, c.name()+" RotateSecret again")
		if again["VersionId"] != vid {
			t.Errorf("%s: RotateSecret with the existing VersionId %s answered %v", c.name(), vid, again["VersionId"])
		}
		if err := passwordLogin(srv.Addr(), srv.HostKey, user, previous); err != nil {
			t.Fatalf("%s: after the repeated RotateSecret the current password does not log in: %v", c.name(), err)
		}
	}

	// The CLI's RotateSecret answers the same JSON.
	cliRot := cliClient{}.call(t, "RotateSecret", params{"SecretName": name}).must(t, "cli RotateSecret")
	sameBody(t, clients[len(clients)-1].name()+" RotateSecret", lastRotation, cliRot, volatile{fields: []string{"VersionId"}})
	cur := cliClient{}.call(t, "GetSecretValue", params{"SecretName": name}).must(t, "cli GetSecretValue")
	if err := passwordLogin(srv.Addr(), srv.HostKey, user, ecsValue(t, cur).Password); err != nil {
		t.Fatalf("after the CLI's rotation the ACSCurrent password does not log in: %v", err)
	}
	// Stages an ECS secret does not serve are refused alike.
	for _, c := range clients {
		p := params{"SecretName": name, "VersionStage": "ACSPending"}
		sameError(t, c.name()+" GetSecretValue ACSPending", c.call(t, "GetSecretValue", p), cliClient{}.call(t, "GetSecretValue", p).err)
		sameBody(t, c.name()+" DescribeSecret", c.call(t, "DescribeSecret", params{"SecretName": name}),
			cliClient{}.call(t, "DescribeSecret", params{"SecretName": name}).must(t, "cli DescribeSecret"), volatile{})
	}
	// The policy covers acs/ecs/* only.
	wantErr(t, "PutSecretValue outside the policy's actions", clients[0].call(t, "PutSecretValue",
		params{"SecretName": name, "VersionId": "x", "SecretData": "{}"}), 403, "Forbidden.NoPermission")
	if strings.Contains(srv.Log(), previous) {
		t.Error("a password reached sshd's log")
	}
}
