package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

// seedBadInputStore makes a store with a generic secret (two versions, a
// custom label) and an ECS secret on a registered instance. The ECS rows are
// written directly: no host is needed to refuse bad input.
func seedBadInputStore(t *testing.T) string {
	p := dbtest.Locator(t)
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "s1", "--SecretData", "one", "--VersionId", "v1")
	mustRun(t, p, "kms", "PutSecretValue", "--SecretName", "s1", "--VersionId", "v2", "--SecretData", "two", "--VersionStages", `["Label"]`)
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "gone", "--VersionId", "v1", "--SecretData", "x")
	mustRun(t, p, "kms", "DeleteSecret", "--SecretName", "gone")
	s, err := db.Open(p, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 22, 17, 42, 53, 0, time.UTC)
	err = s.Write(context.Background(), func(tx *db.Tx) error {
		if err := tx.InsertInstance(&db.InstanceRow{Instance: model.Instance{InstanceId: "i-web1", RegionId: "cn-hangzhou",
			Host: "127.0.0.1", Port: 1, AdminUser: "root", HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMg4vwS1H3bCpV4a6xJvyVxHIHnfPk6ydnVbR4ZIwxKa", CreateTime: now},
			AdminKey: []byte("unused")}); err != nil {
			return err
		}
		cfg := model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: "i-web1", RegionId: "cn-hangzhou"}
		row := &db.SecretRow{Secret: model.Secret{Name: "acs/ecs/web1/root", Type: model.ECS, RegionId: "cn-hangzhou", DataType: model.DataText,
			ExtendedConfig: cfg.JSON(), CreateTime: now, UpdateTime: now, AutomaticRotation: model.RotationDisabled}, InstanceId: "i-web1"}
		var err error
		if row.ID, err = tx.InsertSecret(row); err != nil {
			return err
		}
		if err := tx.InsertVersion(row, "v1", model.ECSData{UserName: "root", Password: "Xx1!xxxxxxxx"}.JSON(), model.DataText, now); err != nil {
			return err
		}
		return tx.SetLabels(row.ID, nil, model.Labels{model.StageCurrent: "v1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	p := seedBadInputStore(t)
	keyFile := filepath.Join(t.TempDir(), "admin")
	os.WriteFile(keyFile, []byte("not a key"), 0o600)
	long := func(n int) string { return strings.Repeat("a", n) }
	ecsCfg := `{"SecretSubType":"Password","InstanceId":"i-web1","RegionId":"cn-hangzhou"}`
	cases := []struct {
		name    string
		args    []string
		code    string
		mention string // the message must name this (usually the parameter)
	}{
		{"create without name", []string{"kms", "CreateSecret", "--SecretData", "x"}, "MissingParameter", "SecretName"},
		{"name with a space", []string{"kms", "CreateSecret", "--SecretName", "a b", "--SecretData", "x"}, "InvalidParameter", "SecretName"},
		{"name with #", []string{"kms", "CreateSecret", "--SecretName", "a#b", "--SecretData", "x"}, "InvalidParameter", "SecretName"},
		{"name 193 chars", []string{"kms", "CreateSecret", "--SecretName", long(193), "--SecretData", "x"}, "InvalidParameter", "192"},
		{"generic name under acs/", []string{"kms", "CreateSecret", "--SecretName", "acs/mine", "--SecretData", "x"}, "InvalidParameter", "acs/"},
		{"ECS name without acs/ecs/", []string{"kms", "CreateSecret", "--SecretName", "web", "--SecretType", "ECS", "--SecretData", "x", "--ExtendedConfig", ecsCfg}, "InvalidParameter", "acs/ecs/"},
		{"unknown SecretType", []string{"kms", "CreateSecret", "--SecretName", "n", "--SecretType", "Token", "--SecretData", "x"}, "InvalidParameter", "SecretType"},
		{"create without data", []string{"kms", "CreateSecret", "--SecretName", "n"}, "MissingParameter", "SecretData"},
		{"data over 30720 bytes", []string{"kms", "CreateSecret", "--SecretName", "n", "--SecretData", long(30721)}, "InvalidParameter", "30720"},
		{"unknown data type", []string{"kms", "CreateSecret", "--SecretName", "n", "--SecretData", "x", "--SecretDataType", "blob"}, "InvalidParameter", "SecretDataType"},
		{"binary not base64", []string{"kms", "CreateSecret", "--SecretName", "n", "--SecretData", "%%%", "--SecretDataType", "binary"}, "InvalidParameter", "base64"},
		{"VersionId 65 chars", []string{"kms", "CreateSecret", "--SecretName", "n", "--SecretData", "x", "--VersionId", long(65)}, "InvalidParameter", "VersionId"},
		{"VersionId with space", []string{"kms", "CreateSecret", "--SecretName", "n", "--SecretData", "x", "--VersionId", "v 1"}, "InvalidParameter", "VersionId"},
		{"generic secret without VersionId", []string{"kms", "CreateSecret", "--SecretName", "n", "--SecretData", "x"}, "MissingParameter", "VersionId"},
		{"description too long", []string{"kms", "CreateSecret", "--SecretName", "n", "--VersionId", "v9", "--SecretData", "x", "--Description", long(1025)}, "InvalidParameter", "Description"},
		{"rotation on a generic secret", []string{"kms", "CreateSecret", "--SecretName", "n", "--VersionId", "v9", "--SecretData", "x", "--EnableAutomaticRotation", "true"}, "InvalidParameter", "EnableAutomaticRotation"},
		{"boolean not true/false", []string{"kms", "CreateSecret", "--SecretName", "n", "--SecretData", "x", "--EnableAutomaticRotation", "yes"}, "InvalidParameter", "EnableAutomaticRotation"},
		{"name taken", []string{"kms", "CreateSecret", "--SecretName", "s1", "--VersionId", "v9", "--SecretData", "x"}, "Rejected.ResourceExist", "s1"},
		{"name of a secret in its deletion window", []string{"kms", "CreateSecret", "--SecretName", "gone", "--VersionId", "v9", "--SecretData", "x"}, "Rejected.ResourceInDeleteWindow", "gone"},
		{"ExtendedConfig not JSON", []string{"kms", "CreateSecret", "--SecretName", "acs/ecs/x", "--SecretType", "ECS", "--SecretData", "x", "--ExtendedConfig", "{"}, "InvalidParameter", "ExtendedConfig"},
		{"ECS subtype unknown", []string{"kms", "CreateSecret", "--SecretName", "acs/ecs/x", "--SecretType", "ECS", "--SecretData", `{"UserName":"root","Password":"p"}`, "--ExtendedConfig", `{"SecretSubType":"Token","InstanceId":"i-web1","RegionId":"cn-hangzhou"}`}, "InvalidParameter", "SecretSubType"},
		{"ECS unknown instance", []string{"kms", "CreateSecret", "--SecretName", "acs/ecs/x", "--SecretType", "ECS", "--SecretData", `{"UserName":"root","Password":"p"}`, "--ExtendedConfig", `{"SecretSubType":"Password","InstanceId":"i-none","RegionId":"cn-hangzhou"}`}, "Forbidden.ResourceNotFound", "i-none"},
		{"ECS other region", []string{"kms", "CreateSecret", "--SecretName", "acs/ecs/x", "--SecretType", "ECS", "--SecretData", `{"UserName":"root","Password":"p"}`, "--ExtendedConfig", `{"SecretSubType":"Password","InstanceId":"i-web1","RegionId":"eu-west-1"}`}, "InvalidParameter", "region"},
		{"ECS data without password", []string{"kms", "CreateSecret", "--SecretName", "acs/ecs/x", "--SecretType", "ECS", "--SecretData", `{"UserName":"root"}`, "--ExtendedConfig", ecsCfg}, "InvalidParameter", "SecretData"},
		{"ECS bad user name", []string{"kms", "CreateSecret", "--SecretName", "acs/ecs/x", "--SecretType", "ECS", "--SecretData", `{"UserName":"Root;rm","Password":"p"}`, "--ExtendedConfig", ecsCfg}, "InvalidParameter", "UserName"},
		{"ECS interval 5h", []string{"kms", "CreateSecret", "--SecretName", "acs/ecs/x", "--SecretType", "ECS", "--SecretData", `{"UserName":"root","Password":"p"}`, "--ExtendedConfig", ecsCfg, "--EnableAutomaticRotation", "true", "--RotationInterval", "5h"}, "InvalidParameter", "RotationInterval"},
		{"ECS interval without enabling", []string{"kms", "CreateSecret", "--SecretName", "acs/ecs/x", "--SecretType", "ECS", "--SecretData", `{"UserName":"root","Password":"p"}`, "--ExtendedConfig", ecsCfg, "--RotationInterval", "7d"}, "InvalidParameter", "RotationInterval"},
		{"unknown action", []string{"kms", "GetSecretValues", "--SecretName", "s1"}, "InvalidAction.NotFound", "GetSecretValues"},
		{"unknown parameter", []string{"kms", "GetSecretValue", "--SecretName", "s1", "--Stage", "ACSCurrent"}, "InvalidParameter", "Stage"},
		{"lower-case parameter", []string{"kms", "GetSecretValue", "--secretname", "s1"}, "InvalidParameter", "secretname"},
		{"parameter without value", []string{"kms", "GetSecretValue", "--SecretName"}, "InvalidParameter", "SecretName"},
		{"parameter given twice", []string{"kms", "GetSecretValue", "--SecretName", "s1", "--SecretName=s2"}, "InvalidParameter", "more than once"},
		{"positional argument", []string{"kms", "GetSecretValue", "s1"}, "InvalidParameter", "--Name value"},
		{"unknown command", []string{"secrets", "list"}, "InvalidParameter", "secrets"},
		{"get without name", []string{"kms", "GetSecretValue"}, "MissingParameter", "SecretName"},
		{"get unknown secret", []string{"kms", "GetSecretValue", "--SecretName", "nope"}, "Forbidden.ResourceNotFound", "nope"},
		{"get unknown stage", []string{"kms", "GetSecretValue", "--SecretName", "s1", "--VersionStage", "Nope"}, "Forbidden.ResourceNotFound", "Nope"},
		{"get unknown version", []string{"kms", "GetSecretValue", "--SecretName", "s1", "--VersionId", "v9"}, "Forbidden.ResourceNotFound", "v9"},
		{"get version not at stage", []string{"kms", "GetSecretValue", "--SecretName", "s1", "--VersionId", "v1", "--VersionStage", "Label"}, "Forbidden.ResourceNotFound", "Label"},
		{"get internal pending stage", []string{"kms", "GetSecretValue", "--SecretName", "s1", "--VersionStage", "ACSPending"}, "InvalidParameter", "reserved"},
		{"get VersionId 65 chars", []string{"kms", "GetSecretValue", "--SecretName", "s1", "--VersionId", long(65)}, "InvalidParameter", "VersionId"},
		{"get bad boolean", []string{"kms", "GetSecretValue", "--SecretName", "s1", "--FetchExtendedConfig", "maybe"}, "InvalidParameter", "FetchExtendedConfig"},
		{"ECS read at custom stage", []string{"kms", "GetSecretValue", "--SecretName", "acs/ecs/web1/root", "--VersionStage", "Label"}, "InvalidParameter", "ACSCurrent or ACSPrevious"},
		{"get in deletion window", []string{"kms", "GetSecretValue", "--SecretName", "gone"}, "Rejected.ResourceInDeleteWindow", "gone"},
		{"put stages not JSON", []string{"kms", "PutSecretValue", "--SecretName", "s1", "--VersionId", "v3", "--SecretData", "x", "--VersionStages", "ACSCurrent"}, "InvalidParameter", "VersionStages"},
		{"put stages a JSON string", []string{"kms", "PutSecretValue", "--SecretName", "s1", "--VersionId", "v3", "--SecretData", "x", "--VersionStages", `"ACSCurrent"`}, "InvalidParameter", "VersionStages"},
		{"put reserved stage", []string{"kms", "PutSecretValue", "--SecretName", "s1", "--VersionId", "v3", "--SecretData", "x", "--VersionStages", `["ACSPending"]`}, "InvalidParameter", "VersionStages"},
		{"put stage 65 chars", []string{"kms", "PutSecretValue", "--SecretName", "s1", "--VersionId", "v3", "--SecretData", "x", "--VersionStages", `["` + long(65) + `"]`}, "InvalidParameter", "VersionStages"},
		{"put without VersionId", []string{"kms", "PutSecretValue", "--SecretName", "s1", "--SecretData", "x"}, "MissingParameter", "VersionId"},
		{"put VersionId reused with other data", []string{"kms", "PutSecretValue", "--SecretName", "s1", "--VersionId", "v1", "--SecretData", "different"}, "Rejected.ResourceExist", "v1"},
		{"put on an ECS secret", []string{"kms", "PutSecretValue", "--SecretName", "acs/ecs/web1/root", "--VersionId", "v3", "--SecretData", "x"}, "InvalidParameter", "RotateSecret"},
		{"put a 9th label", []string{"kms", "PutSecretValue", "--SecretName", "s1", "--VersionId", "v3", "--SecretData", "x", "--VersionStages", `["L1","L2","L3","L4","L5","L6","L7"]`}, "Rejected.LimitExceeded", "8"},
		{"put over 30720 bytes", []string{"kms", "PutSecretValue", "--SecretName", "s1", "--VersionId", "v3", "--SecretData", long(30721)}, "InvalidParameter", "SecretData"},
		{"stage: neither move nor remove", []string{"kms", "UpdateSecretVersionStage", "--SecretName", "s1", "--VersionStage", "Label"}, "MissingParameter", "MoveToVersion"},
		{"stage: remove ACSCurrent", []string{"kms", "UpdateSecretVersionStage", "--SecretName", "s1", "--VersionStage", "ACSCurrent", "--RemoveFromVersion", "v1"}, "InvalidParameter", "never removed"},
		{"stage: move to unknown version", []string{"kms", "UpdateSecretVersionStage", "--SecretName", "s1", "--VersionStage", "Label", "--MoveToVersion", "v9"}, "Forbidden.ResourceNotFound", "v9"},
		{"stage: remove from wrong version", []string{"kms", "UpdateSecretVersionStage", "--SecretName", "s1", "--VersionStage", "Label", "--RemoveFromVersion", "v1"}, "InvalidParameter", "RemoveFromVersion"},
		{"stage: remove unknown stage", []string{"kms", "UpdateSecretVersionStage", "--SecretName", "s1", "--VersionStage", "Other", "--RemoveFromVersion", "v1"}, "InvalidParameter", "RemoveFromVersion"},
		{"stage on an ECS secret", []string{"kms", "UpdateSecretVersionStage", "--SecretName", "acs/ecs/web1/root", "--VersionStage", "ACSCurrent", "--MoveToVersion", "v1"}, "InvalidParameter", "RotateSecret"},
		{"password length 7", []string{"kms", "GetRandomPassword", "--PasswordLength", "7"}, "InvalidParameter", "PasswordLength"},
		{"password length 129", []string{"kms", "GetRandomPassword", "--PasswordLength", "129"}, "InvalidParameter", "PasswordLength"},
		{"password length not a number", []string{"kms", "GetRandomPassword", "--PasswordLength", "ten"}, "InvalidParameter", "PasswordLength"},
		{"password excludes everything", []string{"kms", "GetRandomPassword", "--ExcludeLowercase", "true", "--ExcludeUppercase", "true", "--ExcludeNumbers", "true", "--ExcludePunctuation", "true"}, "InvalidParameter", "excluded"},
		{"list page size 101", []string{"kms", "ListSecrets", "--PageSize", "101"}, "InvalidParameter", "PageSize"},
		{"list page size 0", []string{"kms", "ListSecrets", "--PageSize", "0"}, "InvalidParameter", "PageSize"},
		{"list unknown filter key", []string{"kms", "ListSecrets", "--Filters", `[{"Key":"Owner","Values":["a"]}]`}, "InvalidParameter", "Owner"},
		{"list filters not JSON", []string{"kms", "ListSecrets", "--Filters", "SecretName=a"}, "InvalidParameter", "Filters"},
		{"versions page number 0", []string{"kms", "ListSecretVersionIds", "--SecretName", "s1", "--PageNumber", "0"}, "InvalidParameter", "PageNumber"},
		{"delete window 6 days", []string{"kms", "DeleteSecret", "--SecretName", "s1", "--RecoveryWindowInDays", "6"}, "InvalidParameter", "RecoveryWindowInDays"},
		{"delete window 31 days", []string{"kms", "DeleteSecret", "--SecretName", "s1", "--RecoveryWindowInDays", "31"}, "InvalidParameter", "RecoveryWindowInDays"},
		{"delete window and force", []string{"kms", "DeleteSecret", "--SecretName", "s1", "--RecoveryWindowInDays", "7", "--ForceDeleteWithoutRecovery", "true"}, "InvalidParameter", "RecoveryWindowInDays"},
		{"delete unknown secret", []string{"kms", "DeleteSecret", "--SecretName", "nope"}, "Forbidden.ResourceNotFound", "nope"},
		{"restore a live secret", []string{"kms", "RestoreSecret", "--SecretName", "s1"}, "Rejected.ResourceInUse", "not pending"},
		{"rotate a generic secret", []string{"kms", "RotateSecret", "--SecretName", "s1"}, "InvalidParameter", "PutSecretValue"},
		{"rotation policy on a generic secret", []string{"kms", "UpdateSecretRotationPolicy", "--SecretName", "s1", "--EnableAutomaticRotation", "true", "--RotationInterval", "7d"}, "InvalidParameter", "generic"},
		{"rotation policy without Enable", []string{"kms", "UpdateSecretRotationPolicy", "--SecretName", "acs/ecs/web1/root", "--RotationInterval", "7d"}, "MissingParameter", "EnableAutomaticRotation"},
		{"rotation interval 8761h", []string{"kms", "UpdateSecretRotationPolicy", "--SecretName", "acs/ecs/web1/root", "--EnableAutomaticRotation", "true", "--RotationInterval", "8761h"}, "InvalidParameter", "RotationInterval"},
		{"rotation interval 7w", []string{"kms", "UpdateSecretRotationPolicy", "--SecretName", "acs/ecs/web1/root", "--EnableAutomaticRotation", "true", "--RotationInterval", "7w"}, "InvalidParameter", "RotationInterval"},
		{"update with nothing to change", []string{"kms", "UpdateSecret", "--SecretName", "s1"}, "MissingParameter", "Description"},
		{"CustomData on a generic secret", []string{"kms", "UpdateSecret", "--SecretName", "s1", "--ExtendedConfig.CustomData", `{"a":1}`}, "InvalidParameter", "ExtendedConfig.CustomData"},
		{"CustomData not an object", []string{"kms", "UpdateSecret", "--SecretName", "acs/ecs/web1/root", "--ExtendedConfig.CustomData", `[1]`}, "InvalidParameter", "ExtendedConfig.CustomData"},
		{"bad region", []string{"--region", "EU West", "kms", "ListSecrets"}, "InvalidParameter", "region"},
		{"instance add without key file", []string{"instance", "add", "--InstanceId", "i-2", "--Host", "127.0.0.1", "--HostKey", "ssh-ed25519 AAAA"}, "MissingParameter", "AdminKeyFile"},
		{"instance add with a bad key", []string{"instance", "add", "--InstanceId", "i-2", "--Host", "127.0.0.1", "--AdminKeyFile", keyFile, "--HostKey", "ssh-ed25519 AAAA"}, "InvalidParameter", "AdminKeyFile"},
		{"instance add bad port", []string{"instance", "add", "--InstanceId", "i-2", "--Host", "127.0.0.1", "--Port", "70000", "--AdminKeyFile", keyFile}, "InvalidParameter", "Port"},
		{"instance add bad id", []string{"instance", "add", "--InstanceId", "-x", "--Host", "127.0.0.1", "--AdminKeyFile", keyFile}, "InvalidParameter", "InstanceId"},
		{"instance add taken id", []string{"instance", "add", "--InstanceId", "i-web1", "--Host", "127.0.0.1", "--AdminKeyFile", keyFile}, "InvalidParameter", "AdminKeyFile"},
		{"instance show unknown", []string{"instance", "show", "i-none"}, "Forbidden.ResourceNotFound", "i-none"},
		{"instance remove in use", []string{"instance", "remove", "i-web1"}, "Rejected.ResourceInUse", "i-web1"},
		{"operator bad role", []string{"operator", "add", "--name", "bob", "--key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMg4vwS1H3bCpV4a6xJvyVxHIHnfPk6ydnVbR4ZIwxKa", "--role", "root"}, "InvalidParameter", "Role"},
		{"operator bad key", []string{"operator", "add", "--name", "bob", "--key", "not-a-key", "--role", "admin"}, "InvalidParameter", "Key"},
		{"operator set-role unknown", []string{"operator", "set-role", "--name", "nobody", "--role", "admin"}, "Forbidden.ResourceNotFound", "nobody"},
		{"operator set-role bad role", []string{"operator", "set-role", "--name", "nobody", "--role", "owner"}, "InvalidParameter", "Role"},
		{"operator set-role without role", []string{"operator", "set-role", "--name", "nobody"}, "MissingParameter", "role"},
		{"audit limit 0", []string{"audit", "--limit", "0"}, "InvalidParameter", "limit"},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	before := dump(t, p)
	statusOf := map[string]int{"InvalidParameter": 400, "MissingParameter": 400, "Rejected.LimitExceeded": 400, "InvalidAction.NotFound": 400,
		"Forbidden.ResourceNotFound": 404, "Rejected.ResourceExist": 409, "Rejected.ResourceInDeleteWindow": 409, "Rejected.ResourceInUse": 409}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, exit := run(t, p, c.args...)
			if exit != 1 {
				t.Fatalf("exit %d, want 1 (stdout %q)", exit, stdout)
			}
			if stdout != "" {
				t.Errorf("stdout not empty on failure: %q", stdout)
			}
			code, msg, status := errorOf(t, stderr)
			if code != c.code {
				t.Errorf("code %s, want %s (%s)", code, c.code, msg)
			}
			if status != statusOf[c.code] {
				t.Errorf("HttpStatus %d, want %d", status, statusOf[c.code])
			}
			if !strings.Contains(msg, c.mention) {
				t.Errorf("message %q does not mention %q", msg, c.mention)
			}
			if after := dump(t, p); after != before {
				t.Fatalf("the store changed")
			}
		})
	}
}
