package ui

import (
	"context"
	"path/filepath"
	"testing"

	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// TestE2EEditAndRemoveInstance: in the real binary, e on a secret's details
// edits its description; x on the Instances screen removes an unused
// instance after y.
func TestE2EEditAndRemoveInstance(t *testing.T) {
	requireTmux(t)
	dbPath := filepath.Join(t.TempDir(), "kms.db")
	ctx := context.Background()
	svc := openService(t, dbPath)
	if _, err := svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: "e2e/app/token", SecretData: "t0ken", VersionId: "v1", Description: "old"}); err != nil {
		t.Fatal(err)
	}
	_, adminKey := fixedPrivateKey(t, 2)
	if err := openStore(t, dbPath).Write(ctx, func(tx *db.Tx) error {
		return tx.InsertInstance(&db.InstanceRow{Instance: model.Instance{InstanceId: "i-spare", InstanceName: "spare",
			RegionId: "cn-hangzhou", Host: "127.0.0.1", Port: 1, AdminUser: "root", HostKey: fixedHostKey(1), CreateTime: fixedNow}, AdminKey: adminKey})
	}); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	tm := startTmux(t, 120, 40, consoleCommand(bin, dbPath))
	tm.waitFor("Secrets [1]", "e2e/app/token")

	tm.key("Enter")
	tm.waitFor("Secret e2e/app/token", "e edit")
	tm.key("e")
	tm.waitFor("Edit Secret", "enter save")
	tm.key("BSpace", "BSpace", "BSpace")
	tm.text("rotated by hand")
	tm.key("Enter")
	tm.waitFor("Updated e2e/app/token: description", "Description    rotated by hand")

	tm.key("i")
	tm.waitFor("Instances [1]", "i-spare", "x remove")
	tm.key("x")
	tm.waitFor("Remove instance i-spare from the store?", "spare", "127.0.0.1:1")
	tm.key("y")
	tm.waitFor("Removed instance i-spare · spare", "Instances [0]")
	tm.key("q")
	tm.waitGone("Instances [0]")

	if d, err := svc.DescribeSecret(ctx, service.SecretNameRequest{SecretName: "e2e/app/token"}); err != nil || d.Description != "rotated by hand" {
		t.Fatalf("after the edit: %v %+v", err, d)
	}
	if _, err := svc.Instance(ctx, "i-spare"); !model.IsCode(err, model.CodeNotFound) {
		t.Fatalf("i-spare after the removal: %v", err)
	}
}
