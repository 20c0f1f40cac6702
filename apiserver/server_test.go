package apiserver

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kmsconsole/api"
	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// testServer is a real endpoint: TLS on 127.0.0.1 with the self-signed
// certificate, on a real SQLite store.
type testServer struct {
	t      *testing.T
	svc    *service.Service
	url    string
	client *http.Client
	dir    string
	cert   *Certificate
	srv    *Server
}

func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	dir := t.TempDir()
	store, err := db.Open(filepath.Join(dir, "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := service.New(store, service.Options{Actor: service.Actor{Name: "root", Role: model.RoleAdmin}})
	t.Cleanup(svc.Close)
	cert, err := SelfSignedCertificate(dir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Service, cfg.Certificate = svc, cert
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	pool := x509.NewCertPool()
	pool.AddCert(mustParse(t, cert.Certificate.Certificate[0]))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
	return &testServer{t: t, svc: svc, url: "https://" + ln.Addr().String() + "/", client: client, dir: dir, cert: cert, srv: srv}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var nonceSeq atomic.Int64

// signed is an RPC v1 request as the official SDKs sign it.
func signed(id, secret, action string, params map[string]string, at time.Time) url.Values {
	v := url.Values{}
	for k, val := range params {
		v.Set(k, val)
	}
	v.Set("Action", action)
	v.Set("Version", APIVersion)
	v.Set("Format", "JSON")
	v.Set("AccessKeyId", id)
	v.Set("SignatureMethod", "HMAC-SHA1")
	v.Set("SignatureVersion", "1.0")
	v.Set("SignatureNonce", fmt.Sprintf("nonce-%d-%d", time.Now().UnixNano(), nonceSeq.Add(1)))
	v.Set("Timestamp", at.UTC().Format("2006-01-02T15:04:05Z"))
	v.Set("RegionId", "cn-hangzhou")
	h := hmac.New(sha1.New, []byte(secret+"&"))
	h.Write([]byte(api.RPCStringToSign("POST", v)))
	v.Set("Signature", base64.StdEncoding.EncodeToString(h.Sum(nil)))
	return v
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func (ts *testServer) post(form url.Values) answer {
	ts.t.Helper()
	resp, err := ts.client.Post(ts.url, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(b)}
	if err := json.Unmarshal(b, &a.body); err != nil {
		ts.t.Fatalf("answer is not JSON (status %d, %d bytes)", resp.StatusCode, len(b))
	}
	return a
}

func (ts *testServer) call(id, secret, action string, params map[string]string) answer {
	ts.t.Helper()
	return ts.post(signed(id, secret, action, params, time.Now()))
}

func (a answer) code() string { s, _ := a.body["Code"].(string); return s }

func wantError(t *testing.T, what string, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.code() != code {
		t.Fatalf("%s: want %d %s, got %d %s", what, status, code, a.status, a.code())
	}
	for _, f := range []string{"RequestId", "HostId", "Code", "Message", "HttpStatus"} {
		if _, ok := a.body[f]; !ok {
			t.Fatalf("%s: error body lacks %s", what, f)
		}
	}
}

const appOnly = `{"Statement":[{"Effect":"Allow","Action":["kms:GetSecretValue","kms:DescribeSecret"],"Resource":["acs:kms:*:*:secret/app/*"]},
{"Effect":"Deny","Action":"kms:GetSecretValue","Resource":"acs:kms:*:*:secret/app/locked"}]}`

// TestAPIAuthenticationPolicyAndAudit: a key reads what its policy allows,
// with the CLI's JSON; everything else is refused with the cloud's codes;
// every request, refused ones too, is on record under the key's name, and
// no record holds a value or a secret.
func TestAPIAuthenticationPolicyAndAudit(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := context.Background()
	for name, value := range map[string]string{"app/db": "db-value-1", "app/locked": "locked-value", "other/x": "other-value"} {
		if _, err := ts.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: name, SecretData: value, VersionId: "v1"}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := ts.svc.CreateAccessKey(ctx, "billing", appOnly)
	if err != nil {
		t.Fatal(err)
	}
	id, secret := key.AccessKeyId, key.AccessKeySecret

	a := ts.call(id, secret, "GetSecretValue", map[string]string{"SecretName": "app/db"})
	if a.status != 200 || a.body["SecretData"] != "db-value-1" || a.body["VersionId"] != "v1" || a.body["SecretName"] != "app/db" {
		t.Fatalf("allowed read: status %d, fields %v", a.status, keys(a.body))
	}
	a = ts.call(id, secret, "GetSecretValue", map[string]string{"SecretName": "other/x"})
	wantError(t, "outside the policy", a, 403, model.CodeNoPermission)
	refusedId, _ := a.body["RequestId"].(string)
	a = ts.call(id, secret, "GetSecretValue", map[string]string{"SecretName": "app/locked"})
	wantError(t, "denied by a Deny statement", a, 403, model.CodeNoPermission)
	a = ts.call(id, secret, "PutSecretValue", map[string]string{"SecretName": "app/db", "VersionId": "v2", "SecretData": "new"})
	wantError(t, "an action the policy does not name", a, 403, model.CodeNoPermission)
	a = ts.call(id, secret, "DescribeSecret", map[string]string{"SecretName": "app/nope"})
	wantError(t, "an allowed action on a missing secret", a, 404, model.CodeNotFound)
	a = ts.call(id, secret, "GetSecretValue", map[string]string{"SecretName": "app/db", "Bogus": "1"})
	wantError(t, "an unknown parameter", a, 400, model.CodeInvalidParameter)

	// Authentication failures.
	a = ts.call(id, secret+"x", "GetSecretValue", map[string]string{"SecretName": "app/db"})
	wantError(t, "wrong secret", a, 400, api.CodeSignatureDoesNotMatch)
	if msg, _ := a.body["Message"].(string); !strings.Contains(msg, api.StringToSignMarker) {
		t.Fatal("SignatureDoesNotMatch does not carry the server's string to sign")
	}
	a = ts.call("LTAI"+strings.Repeat("x", 20), secret, "GetSecretValue", map[string]string{"SecretName": "app/db"})
	wantError(t, "unknown key", a, 404, api.CodeAccessKeyNotFound)
	replay := signed(id, secret, "GetSecretValue", map[string]string{"SecretName": "app/db"}, time.Now())
	if a := ts.post(replay); a.status != 200 {
		t.Fatalf("first use of a nonce: %d %s", a.status, a.code())
	}
	wantError(t, "replayed nonce", ts.post(replay), 400, api.CodeNonceUsed)
	for _, skew := range []time.Duration{-16 * time.Minute, 16 * time.Minute} {
		a = ts.post(signed(id, secret, "GetSecretValue", map[string]string{"SecretName": "app/db"}, time.Now().Add(skew)))
		wantError(t, fmt.Sprintf("timestamp %v away", skew), a, 400, api.CodeTimestampExpired)
	}
	tampered := signed(id, secret, "GetSecretValue", map[string]string{"SecretName": "app/db"}, time.Now())
	tampered.Set("SecretName", "app/locked")
	wantError(t, "tampered parameter", ts.post(tampered), 400, api.CodeSignatureDoesNotMatch)

	if err := ts.svc.SetAccessKeyStatus(ctx, "billing", false); err != nil {
		t.Fatal(err)
	}
	wantError(t, "disabled key", ts.call(id, secret, "GetSecretValue", map[string]string{"SecretName": "app/db"}), 403, api.CodeAccessKeyDisabled)
	if err := ts.svc.SetAccessKeyStatus(ctx, "billing", true); err != nil {
		t.Fatal(err)
	}
	// A rotated key: both secrets during the grace period.
	rotated, err := ts.svc.RotateAccessKey(ctx, "billing", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{rotated.AccessKeySecret, secret} {
		if a := ts.call(id, s, "GetSecretValue", map[string]string{"SecretName": "app/db"}); a.status != 200 {
			t.Fatalf("secret %d during the grace period: %d %s", i, a.status, a.code())
		}
	}
	if err := ts.svc.RemoveAccessKey(ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	wantError(t, "removed key", ts.call(id, rotated.AccessKeySecret, "GetSecretValue", map[string]string{"SecretName": "app/db"}), 404, api.CodeAccessKeyNotFound)

	events, err := ts.svc.Audit(ctx, 200, "")
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for _, e := range events {
		fmt.Fprintf(&log, "%s|%s|%s|%s|%s|%s\n", e.Operator, e.Action, e.Target, e.Result, e.ErrorCode, e.Error+" "+e.Detail)
	}
	for _, want := range []string{
		"accesskey:billing|GetSecretValue|app/db|Success|",
		"accesskey:billing|GetSecretValue|other/x|Failure|" + model.CodeNoPermission,
		"accesskey:billing|GetSecretValue|app/locked|Failure|" + model.CodeNoPermission,
		"accesskey:billing|DescribeSecret|app/nope|Failure|",
		"accesskey:billing|GetSecretValue||Failure|" + api.CodeSignatureDoesNotMatch,
		"accesskey:billing|GetSecretValue||Failure|" + api.CodeNonceUsed,
		"accesskey:billing|GetSecretValue||Failure|" + api.CodeAccessKeyDisabled,
		"accesskey:billing|GetSecretValue||Failure|" + api.CodeTimestampExpired,
		"|Failure|" + api.CodeAccessKeyNotFound,
	} {
		if !strings.Contains(log.String(), want) {
			t.Fatalf("audit log lacks %q:\n%s", want, log.String())
		}
	}
	found := false
	for _, e := range events {
		found = found || (e.RequestId == refusedId && e.Target == "other/x")
	}
	if refusedId == "" || !found {
		t.Fatalf("the RequestId of a refused request (%q) is not in the audit log", refusedId)
	}
	for i, v := range []string{"db-value-1", "locked-value", "other-value", secret, rotated.AccessKeySecret} {
		if strings.Contains(log.String(), v) {
			t.Fatalf("audit log holds value or secret %d", i)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestAPILimits: an oversized body is refused; a key over its rate gets
// Rejected.Throttling; slow-header connections do not stall a
// well-behaved client; wrong paths and methods get error bodies.
func TestAPILimits(t *testing.T) {
	ts := newTestServer(t, Config{MaxBody: 4 << 10, Rate: 5, Burst: 5})
	ctx := context.Background()
	if _, err := ts.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: "app/db", SecretData: "v", VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}
	key, err := ts.svc.CreateAccessKey(ctx, "app", `{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	big := signed(key.AccessKeyId, key.AccessKeySecret, "PutSecretValue", map[string]string{"SecretName": "app/db", "VersionId": "v2", "SecretData": strings.Repeat("x", 5<<10)}, time.Now())
	wantError(t, "oversized body", ts.post(big), 413, "Rejected.RequestTooLarge")

	// 200 connections that never finish their headers.
	addr := strings.TrimSuffix(strings.TrimPrefix(ts.url, "https://"), "/")
	var slow []net.Conn
	for i := 0; i < 200; i++ {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\n")
		slow = append(slow, c)
	}
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()
	start := time.Now()
	if a := ts.call(key.AccessKeyId, key.AccessKeySecret, "GetSecretValue", map[string]string{"SecretName": "app/db"}); a.status != 200 {
		t.Fatalf("a well-behaved client next to 200 slow ones: %d %s", a.status, a.code())
	}
	t.Logf("served next to 200 slow-header connections in %v", time.Since(start))

	throttled := false
	for i := 0; i < 20 && !throttled; i++ {
		a := ts.call(key.AccessKeyId, key.AccessKeySecret, "GetSecretValue", map[string]string{"SecretName": "app/db"})
		if a.status == 429 {
			wantError(t, "over the rate", a, 429, "Rejected.Throttling")
			throttled = true
		}
	}
	if !throttled {
		t.Fatal("20 requests at once against a rate of 5 were never throttled")
	}

	resp, err := ts.client.Get(strings.TrimSuffix(ts.url, "/") + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("a wrong path: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodDelete, ts.url, nil)
	resp, err = ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
}

// TestSelfSignedCertificateKept: made once, 0600 key, same fingerprint on
// the next start; a key others can read is refused.
func TestSelfSignedCertificateKept(t *testing.T) {
	dir := t.TempDir()
	c1, err := SelfSignedCertificate(dir, []string{"10.1.2.3", "kms.example"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, SelfSignedKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	leaf := mustParse(t, c1.Certificate.Certificate[0])
	if err := leaf.VerifyHostname("10.1.2.3"); err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("kms.example"); err != nil {
		t.Fatal(err)
	}
	c2, err := SelfSignedCertificate(dir, nil, time.Now())
	if err != nil || c2.Fingerprint != c1.Fingerprint {
		t.Fatalf("second start: %v, fingerprint kept: %v", err, c2 != nil && c2.Fingerprint == c1.Fingerprint)
	}
	if fp, err := ReadFingerprint(filepath.Join(dir, SelfSignedCertFile)); err != nil || fp != c1.Fingerprint {
		t.Fatalf("ReadFingerprint: %v", err)
	}
	os.Chmod(filepath.Join(dir, SelfSignedKeyFile), 0o644)
	if _, err := SelfSignedCertificate(dir, nil, time.Now()); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key was accepted: %v", err)
	}
}

func TestInsecureHTTPOnlyOnLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true,
		"0.0.0.0:8080": false, "10.0.0.5:8080": false, ":8080": false} {
		if err := CheckInsecureAddr(addr); (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
	}
}
