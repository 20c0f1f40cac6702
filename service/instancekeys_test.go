package service

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

func plainService(t *testing.T) *Service {
	t.Helper()
	store, err := db.Open(dbtest.Locator(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := New(store, Options{Actor: Actor{Name: "tester", Role: model.RoleAdmin}})
	t.Cleanup(svc.Close)
	return svc
}

// A certificate given as the pinned host key is refused at registration,
// naming HostKey; it used to pass and fail later, blamed on AdminKeyFile.
func TestAddInstanceRefusesACertificateHostKey(t *testing.T) {
	svc := plainService(t)
	_, caPriv, _ := ed25519.GenerateKey(rand.Reader)
	ca, _ := ssh.NewSignerFromKey(caPriv)
	hostPub, _, _ := ed25519.GenerateKey(rand.Reader)
	spub, _ := ssh.NewPublicKey(hostPub)
	cert := &ssh.Certificate{Key: spub, CertType: ssh.HostCert, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	_, adminPriv, _ := ed25519.GenerateKey(rand.Reader)
	blk, _ := ssh.MarshalPrivateKey(adminPriv, "")
	_, err := svc.AddInstance(context.Background(), AddInstanceRequest{InstanceId: "i-cert", Host: "127.0.0.1", Port: 1,
		AdminUser: "root", AdminKey: pem.EncodeToMemory(blk), HostKey: model.KeyLine(cert)})
	ae := model.AsAPIError(err)
	if err == nil || ae.Code != model.CodeInvalidParameter || !strings.Contains(ae.Message, "HostKey") || strings.Contains(ae.Message, "AdminKeyFile") {
		t.Fatalf("got %v, want InvalidParameter about HostKey", err)
	}
	if _, err := svc.Instance(context.Background(), "i-cert"); !model.IsCode(err, model.CodeNotFound) {
		t.Fatalf("the instance was registered anyway: %v", err)
	}
}

// An operator's key keeps its from= restriction (serve enforces it); any
// other option is refused at registration, since nothing would enforce it.
func TestAddOperatorKeepsFromAndRefusesOtherOptions(t *testing.T) {
	svc := plainService(t)
	ctx := context.Background()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	spub, _ := ssh.NewPublicKey(pub)
	line := model.KeyLine(spub)
	if err := svc.AddOperator(ctx, "ops", `from="10.0.0.0/8,!10.9.9.9" `+line+" ops@laptop", model.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	ops, _ := svc.Operators(ctx)
	if len(ops) != 1 || ops[0].PublicKey != `from="10.0.0.0/8,!10.9.9.9" `+line {
		t.Fatalf("stored %+v", ops)
	}
	if op, err := svc.OperatorByKey(ctx, spub); err != nil || op == nil || op.Name != "ops" {
		t.Fatalf("OperatorByKey = %+v, %v", op, err)
	}
	// The same key without options is still the same key.
	if err := svc.AddOperator(ctx, "ops2", line, model.RoleReadonly); !model.IsCode(err, model.CodeResourceExist) {
		t.Fatalf("the same key twice: %v", err)
	}
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	spub2, _ := ssh.NewPublicKey(pub2)
	for _, opt := range []string{`command="/bin/true"`, "no-pty", "restrict"} {
		err := svc.AddOperator(ctx, "other", opt+" "+model.KeyLine(spub2), model.RoleAdmin)
		if !model.IsCode(err, model.CodeInvalidParameter) || !strings.Contains(err.Error(), strings.SplitN(opt, "=", 2)[0]) {
			t.Fatalf("option %s: got %v, want InvalidParameter naming it", opt, err)
		}
	}
}

// An instance row edited behind kmsconsole's back is never used, but it
// can be removed, so the operator can add the instance again.
func TestTamperedInstanceCanBeRemoved(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	ctx := context.Background()
	if _, err := f.svc.DeleteSecret(ctx, DeleteSecretRequest{SecretName: f.secret, ForceDeleteWithoutRecovery: true}); err != nil {
		t.Fatal(err)
	}
	raw := dbtest.Raw(t, f.dbPath)
	if _, err := raw.Exec(`UPDATE instances SET host = '203.0.113.9' WHERE instance_id = 'i-web1'`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := f.svc.Instance(ctx, "i-web1"); err == nil || !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("a tampered instance row was used: %v", err)
	}
	_, err := f.svc.AddInstance(ctx, AddInstanceRequest{InstanceId: "i-web1", Host: f.srv.Host, Port: f.srv.Port,
		AdminUser: f.admin, AdminKey: f.adminKey, HostKey: f.srv.HostKey})
	if !model.IsCode(err, model.CodeResourceExist) || !strings.Contains(err.Error(), "instance remove") {
		t.Fatalf("re-adding over a tampered row: %v", err)
	}
	if err := f.svc.RemoveInstance(ctx, "i-web1"); err != nil {
		t.Fatalf("removing a tampered row: %v", err)
	}
	if _, err := f.svc.AddInstance(ctx, AddInstanceRequest{InstanceId: "i-web1", Host: f.srv.Host, Port: f.srv.Port,
		AdminUser: f.admin, AdminKey: f.adminKey, HostKey: f.srv.HostKey}); err != nil {
		t.Fatalf("adding it again: %v", err)
	}
}
