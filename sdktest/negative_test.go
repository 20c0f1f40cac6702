package sdktest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openapiutil "github.com/alibabacloud-go/openapi-util/service"
	util "github.com/alibabacloud-go/tea-utils/v2/service"
	"github.com/alibabacloud-go/tea/tea"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
)

// Refusals, each checked as the SDKs surface them: the Code and the HTTP
// status of alibaba-cloud-sdk-go's ServerError and of kms-20160120's
// tea.SDKError. Requests the SDKs cannot make (a replay, a stale timestamp
// in the old SDK's format) are sent with net/http, signed with openapi-util
// (the SDKs' own signing code), and their answers parsed with the old SDK's
// own error parser (errors.NewServerError).

// insecureHTTP is a keep-alive client that accepts the self-signed
// certificate.
var insecureHTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 64}}

var nonceSeq atomic.Int64

// rpcSigned is a request as alibaba-cloud-sdk-go signs it (RPC v1: its
// common parameters, SignatureType present and empty), signed with
// openapi-util's GetRPCSignature.
func rpcSigned(k accessKey, action string, p params, at time.Time, nonce string) url.Values {
	v := url.Values{}
	for key, val := range p {
		v.Set(key, val)
	}
	if nonce == "" {
		nonce = fmt.Sprintf("sdktest-%d-%d", time.Now().UnixNano(), nonceSeq.Add(1))
	}
	for key, val := range map[string]string{
		"Action": action, "Version": "2016-01-20", "Format": "JSON", "AccessKeyId": k.ID,
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureType": "", "SignatureNonce": nonce,
		"Timestamp": at.UTC().Format("2006-01-02T15:04:05Z"), "RegionId": "cn-hangzhou",
	} {
		v.Set(key, val)
	}
	signed := map[string]*string{}
	for key := range v {
		signed[key] = tea.String(v.Get(key))
	}
	v.Set("Signature", tea.StringValue(openapiutil.GetRPCSignature(signed, tea.String("POST"), tea.String(k.Secret))))
	return v
}

// rawAnswer is an answer to a request sent with net/http.
type rawAnswer struct {
	status int
	body   string
}

// postQuery sends the parameters in the query string with an empty body,
// as the SDKs do.
func postQuery(t testing.TB, v url.Values) rawAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, kp.endpoint+"/?"+v.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

// postForm sends the parameters as a form body.
func postForm(t testing.TB, body string) rawAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, kp.endpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

func do(t testing.TB, req *http.Request) rawAnswer {
	t.Helper()
	resp, err := insecureHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawAnswer{status: resp.StatusCode, body: string(b)}
}

// asOldSDK is the answer as alibaba-cloud-sdk-go surfaces a non-2xx one
// (sdk/responses/response.go Unmarshal → errors.NewServerError).
func (r rawAnswer) asOldSDK(t testing.TB) answer {
	t.Helper()
	if r.status >= 200 && r.status < 300 {
		return answer{body: map[string]any{"raw": r.body}}
	}
	return answer{err: oldError(t, sdkerrors.NewServerError(r.status, r.body, ""))}
}

// proxy is a TLS endpoint in front of serve that may change requests on
// the way, and records the last one as it arrived.
type proxy struct {
	*httptest.Server
	mu     sync.Mutex
	change func(r *http.Request)
	last   *http.Request
	body   []byte
}

func newProxy(t testing.TB, change func(r *http.Request)) *proxy {
	t.Helper()
	p := &proxy{change: change}
	p.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.last, p.body = r.Clone(r.Context()), body
		p.mu.Unlock()
		out, _ := http.NewRequest(r.Method, kp.endpoint+r.URL.RequestURI(), bytes.NewReader(body))
		out.Header = r.Header.Clone()
		out.Host = r.Host // what kms-20160120 signed
		if p.change != nil {
			p.change(out)
		}
		resp, err := insecureHTTP.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) host() string { return strings.TrimPrefix(p.URL, "https://") }

// replayLast sends the last request the proxy saw, byte for byte, to serve.
func (p *proxy) replayLast(t testing.TB) rawAnswer {
	t.Helper()
	p.mu.Lock()
	last, body := p.last, p.body
	p.mu.Unlock()
	req, _ := http.NewRequest(last.Method, kp.endpoint+last.URL.RequestURI(), bytes.NewReader(body))
	req.Header = last.Header.Clone()
	req.Host = last.Host
	return do(t, req)
}

// clientsVia are the SDK clients pointed at another endpoint (a proxy).
func clientsVia(t testing.TB, k accessKey, host string) []client {
	return []client{newOldClientAt(t, k, host), newTeaClientAt(t, k, "", host), newTeaClientAt(t, k, "v2", host)}
}

func TestTamperedSignature(t *testing.T) {
	deleteWhenDone(t, "app/tamper-a", "app/tamper-b")
	mustCLI(t, secretValue("tamper-value-a"), "kms", "CreateSecret", "--SecretName", "app/tamper-a", "--VersionId", "v1", "--SecretData", "-")
	mustCLI(t, secretValue("tamper-value-b"), "kms", "CreateSecret", "--SecretName", "app/tamper-b", "--VersionId", "v1", "--SecretData", "-")
	k := newKey(t, allowAll)
	// The signature itself changed: the server's string to sign is the
	// SDK's, so the old SDK blames the secret.
	flipSignature := func(r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			r.Header.Set("Authorization", a[:len(a)-1]+flip(a[len(a)-1:]))
			return
		}
		q := r.URL.Query()
		s := q.Get("Signature")
		q.Set("Signature", flip(s[:1])+s[1:])
		r.URL.RawQuery = q.Encode()
	}
	// A signed parameter changed on the way: the strings to sign differ,
	// and the old SDK says so.
	changeSecret := func(r *http.Request) {
		q := r.URL.Query()
		q.Set("SecretName", "app/tamper-b")
		r.URL.RawQuery = q.Encode()
	}
	for _, tc := range []struct {
		what      string
		change    func(*http.Request)
		recommend string
	}{
		{"signature flipped", flipSignature, "InvalidAccessKeySecret: Please check you AccessKeySecret"},
		{"SecretName changed", changeSecret, "This may be a bug with the SDK"},
	} {
		p := newProxy(t, tc.change)
		for _, c := range clientsVia(t, k, p.host()) {
			what := c.name() + ", " + tc.what
			e := wantErr(t, what, c.call(t, "GetSecretValue", params{"SecretName": "app/tamper-a"}), 400, "SignatureDoesNotMatch")
			if _, old := c.(*oldClient); old && !strings.HasPrefix(e.Recommend, tc.recommend) {
				t.Errorf("%s: the SDK's Recommend is %q, want %q...", what, e.Recommend, tc.recommend)
			}
		}
	}
	// Untouched, the same proxy path works.
	p := newProxy(t, nil)
	for _, c := range clientsVia(t, k, p.host()) {
		if b := c.call(t, "GetSecretValue", params{"SecretName": "app/tamper-a"}).must(t, c.name()+" through the proxy"); b["SecretData"] != "tamper-value-a" {
			t.Errorf("%s: the wrong value came back", c.name())
		}
	}
}

func flip(s string) string {
	if s == "A" || s == "a" || s == "0" {
		return "B"
	}
	return "A"
}

// TestWrongAccessKeySecret: SignatureDoesNotMatch 400 with the server's
// string to sign, which the old SDK's SignatureDostNotMatchWrapper compares
// with its own: equal, so it tells the application its secret is wrong.
func TestWrongAccessKeySecret(t *testing.T) {
	deleteWhenDone(t, "app/wrong-secret")
	mustCLI(t, secretValue("wrong-secret-value"), "kms", "CreateSecret", "--SecretName", "app/wrong-secret", "--VersionId", "v1", "--SecretData", "-")
	k := newKey(t, allowAll)
	bad := k
	bad.Secret = "not" + k.Secret[3:]
	for _, c := range sdkClients(t, bad) {
		got := c.call(t, "GetSecretValue", params{"SecretName": "app/wrong-secret"})
		e := wantErr(t, c.name(), got, 400, "SignatureDoesNotMatch")
		switch c.(type) {
		case *oldClient:
			if want := "InvalidAccessKeySecret: Please check you AccessKeySecret"; e.Recommend != want {
				t.Errorf("%s: Recommend %q, want the SDK's wrapper message %q", c.name(), e.Recommend, want)
			}
			if !strings.Contains(e.sdkMessage, "Recommend: InvalidAccessKeySecret: Please check you AccessKeySecret") {
				t.Errorf("%s: the error the application sees: %q", c.name(), e.sdkMessage)
			}
		case *teaClient:
			// "code: 400, <Message> request id: <RequestId>"
			if !strings.HasPrefix(e.Message, "code: 400, ") || !strings.Contains(e.Message, "server string to sign is:") {
				t.Errorf("%s: message %q", c.name(), e.Message)
			}
		}
		if strings.Contains(e.sdkMessage, k.Secret) {
			t.Errorf("%s: the error holds the real secret", c.name())
		}
	}
}

// TestReplayedNonce: a request replayed verbatim is refused.
func TestReplayedNonce(t *testing.T) {
	deleteWhenDone(t, "app/replay")
	mustCLI(t, secretValue("replay-value-1"), "kms", "CreateSecret", "--SecretName", "app/replay", "--VersionId", "v1", "--SecretData", "-")
	k := newKey(t, allowAll)
	// The same signed request, sent twice with net/http.
	v := rpcSigned(k, "GetSecretValue", params{"SecretName": "app/replay"}, time.Now(), "")
	if r := postQuery(t, v); r.status != 200 {
		t.Fatalf("first use of a nonce: %d %s", r.status, r.body)
	}
	wantErr(t, "the same request again", postQuery(t, v).asOldSDK(t), 400, "SignatureNonceUsed")
	// Each SDK's own request, recorded on the way and replayed byte for byte.
	p := newProxy(t, nil)
	for _, c := range clientsVia(t, k, p.host()) {
		c.call(t, "GetSecretValue", params{"SecretName": "app/replay"}).must(t, c.name())
		wantErr(t, c.name()+" request replayed", p.replayLast(t).asOldSDK(t), 400, "SignatureNonceUsed")
	}
	// kms-20160120 with a nonce of our choosing (ExtendsParameters are
	// merged before signing).
	for _, tc := range []struct{ algorithm, header, query string }{{"", "x-acs-signature-nonce", ""}, {"v2", "", "SignatureNonce"}} {
		c := newTeaClient(t, k, tc.algorithm)
		nonce := fmt.Sprintf("sdktest-replay-%s-%d", tc.algorithm, time.Now().UnixNano())
		rt := withExtends(c.runtime, tc.header, tc.query, nonce)
		c.callWith(t, "GetSecretValue", params{"SecretName": "app/replay"}, rt).must(t, c.name()+" first use of the nonce")
		wantErr(t, c.name()+" nonce used again", c.callWith(t, "GetSecretValue", params{"SecretName": "app/replay"}, rt), 400, "SignatureNonceUsed")
	}
}

// withExtends is runtime with one header or query parameter set through
// RuntimeOptions.ExtendsParameters (signed by the SDK).
func withExtends(runtime *util.RuntimeOptions, header, query, value string) *util.RuntimeOptions {
	rt := *runtime
	ep := &util.ExtendsParameters{}
	if header != "" {
		ep.Headers = map[string]*string{header: tea.String(value)}
	} else {
		ep.Queries = map[string]*string{query: tea.String(value)}
	}
	rt.ExtendsParameters = ep
	return &rt
}

// TestTimestampSkew: 16 minutes old or ahead is refused, 14 is accepted.
func TestTimestampSkew(t *testing.T) {
	deleteWhenDone(t, "app/skew")
	mustCLI(t, secretValue("skew-value-1"), "kms", "CreateSecret", "--SecretName", "app/skew", "--VersionId", "v1", "--SecretData", "-")
	k := newKey(t, allowAll)
	p := params{"SecretName": "app/skew"}
	for _, skew := range []time.Duration{-16 * time.Minute, 16 * time.Minute, -14 * time.Minute, 14 * time.Minute} {
		ok := skew.Abs() < 15*time.Minute
		at := time.Now().Add(skew)
		check := func(what string, a answer) {
			t.Helper()
			what = fmt.Sprintf("%s, timestamp %v away", what, skew)
			if ok {
				a.must(t, what)
			} else {
				wantErr(t, what, a, 400, "InvalidTimeStamp.Expired")
			}
		}
		check("RPC v1 as alibaba-cloud-sdk-go signs it", postQuery(t, rpcSigned(k, "GetSecretValue", p, at, "")).asOldSDK(t))
		ts := at.UTC().Format("2006-01-02T15:04:05Z")
		acs3 := newTeaClient(t, k, "")
		check(acs3.name(), acs3.callWith(t, "GetSecretValue", p, withExtends(acs3.runtime, "x-acs-date", "", ts)))
		v2 := newTeaClient(t, k, "v2")
		check(v2.name(), v2.callWith(t, "GetSecretValue", p, withExtends(v2.runtime, "", "Timestamp", ts)))
	}
}

// TestAccessKeyLifecycle: disabled, enabled, rotated (both secrets during
// the grace period, only the new one after `--grace 0s`), removed and
// unknown keys, with each SDK client.
func TestAccessKeyLifecycle(t *testing.T) {
	deleteWhenDone(t, "app/lifecycle")
	mustCLI(t, secretValue("lifecycle-value"), "kms", "CreateSecret", "--SecretName", "app/lifecycle", "--VersionId", "v1", "--SecretData", "-")
	k := newKey(t, allowAll)
	p := params{"SecretName": "app/lifecycle"}
	all := func(what string, k accessKey, status int, code string) {
		t.Helper()
		for _, c := range sdkClients(t, k) {
			got := c.call(t, "GetSecretValue", p)
			if status == 200 {
				if b := got.must(t, c.name()+", "+what); b["SecretData"] != "lifecycle-value" {
					t.Errorf("%s, %s: another value came back", c.name(), what)
				}
				continue
			}
			wantErr(t, c.name()+", "+what, got, status, code)
		}
	}
	// A change made by the CLI (another process) reaches the running
	// serve within its access-key cache's second: wait for it with one
	// client, then check every client.
	settle := func(_ string, k accessKey, status int) {
		t.Helper()
		c := sdkClients(t, k)[0]
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := c.call(t, "GetSecretValue", p)
			st := 200
			if got.err != nil {
				st = got.err.HttpStatus
			}
			if st == status || time.Now().After(deadline) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	all("enabled key", k, 200, "")
	mustCLI(t, "", "accesskey", "disable", "--name", k.Name)
	settle("disabled key", k, 403)
	all("disabled key", k, 403, "Forbidden.AccessKeyDisabled")
	mustCLI(t, "", "accesskey", "enable", "--name", k.ID)
	settle("enabled again", k, 200)
	all("enabled again", k, 200, "")

	m := mustCLI(t, "", "accesskey", "rotate", "--name", k.Name, "--grace", "1h")
	rotated := accessKey{Name: k.Name, ID: str(m["AccessKeyId"]), Secret: secretValue(str(m["AccessKeySecret"]))}
	if rotated.ID != k.ID || rotated.Secret == "" || rotated.Secret == k.Secret {
		t.Fatalf("accesskey rotate answered fields %v", keysOf(m))
	}
	settle("the new secret", rotated, 200)
	all("the new secret", rotated, 200, "")
	all("the old secret in its grace period", k, 200, "")
	m = mustCLI(t, "", "accesskey", "rotate", "--name", k.Name, "--grace", "0s")
	newest := accessKey{Name: k.Name, ID: k.ID, Secret: secretValue(str(m["AccessKeySecret"]))}
	settle("the newest secret", newest, 200)
	all("the newest secret", newest, 200, "")
	all("a secret whose grace ended", rotated, 400, "SignatureDoesNotMatch")

	mustCLI(t, "", "accesskey", "remove", "--name", k.Name)
	settle("removed key", newest, 404)
	all("removed key", newest, 404, "InvalidAccessKeyId.NotFound")
	all("unknown key", accessKey{ID: "LTAI" + strings.Repeat("Q", 20), Secret: newest.Secret}, 404, "InvalidAccessKeyId.NotFound")
}

// TestPolicies: a key allowed only app/* is refused other/x; a Deny
// overrides an Allow; every refusal is in the audit log under the key's
// name.
func TestPolicies(t *testing.T) {
	for _, n := range []string{"app/pol", "app/locked", "other/x"} {
		deleteWhenDone(t, n)
		mustCLI(t, secretValue("policy-value-"+n), "kms", "CreateSecret", "--SecretName", n, "--VersionId", "v1", "--SecretData", "-")
	}
	appOnly := newKey(t, `{"Version":"1","Statement":[{"Effect":"Allow","Action":["kms:GetSecretValue","kms:DescribeSecret"],
		"Resource":["acs:kms:*:*:secret/app/*"]}]}`)
	denyLocked := newKey(t, `{"Version":"1","Statement":[
		{"Effect":"Allow","Action":"kms:*","Resource":"*"},
		{"Effect":"Deny","Action":"kms:GetSecretValue","Resource":"acs:kms:cn-hangzhou:*:secret/app/locked"}]}`)
	for _, tc := range []struct {
		what   string
		k      accessKey
		action string
		secret string
		allow  bool
	}{
		{"app/* allows app/pol", appOnly, "GetSecretValue", "app/pol", true},
		{"app/* on other/x", appOnly, "GetSecretValue", "other/x", false},
		{"app/* on other/x, DescribeSecret", appOnly, "DescribeSecret", "other/x", false},
		{"an action the policy does not name", appOnly, "ListSecretVersionIds", "app/pol", false},
		{"Allow kms:* on *", denyLocked, "GetSecretValue", "app/pol", true},
		{"a Deny overrides the Allow", denyLocked, "GetSecretValue", "app/locked", false},
		{"the Deny names GetSecretValue only", denyLocked, "DescribeSecret", "app/locked", true},
	} {
		for _, c := range sdkClients(t, tc.k) {
			got := c.call(t, tc.action, params{"SecretName": tc.secret})
			what := c.name() + ": " + tc.what
			if tc.allow {
				got.must(t, what)
				continue
			}
			e := wantErr(t, what, got, 403, "Forbidden.NoPermission")
			if !strings.Contains(e.Message, tc.secret) {
				t.Errorf("%s: the message does not name the secret: %q", what, e.Message)
			}
		}
	}
	audit := kmscli(t, "", "audit", "--limit", "500", "--filter", "accesskey:"+appOnly.Name).stdout
	if !strings.Contains(audit, `"Target":"other/x"`) || !strings.Contains(audit, "Forbidden.NoPermission") {
		t.Errorf("the refusals are not in the audit log under the key's name:\n%s", audit)
	}
	if leaked := leakedInto(audit); leaked != "" {
		t.Errorf("the audit log holds %s", leaked)
	}
}

// TestErrorRequestIdIsAudited: the RequestId an application gets with an
// error (the old SDK's ServerError.RequestId(), kms-20160120's "request
// id: ..." in the message) must be findable in the audit log, as the
// RequestId of a successful answer is: it is what an application reports.
func TestErrorRequestIdIsAudited(t *testing.T) {
	deleteWhenDone(t, "app/reqid")
	mustCLI(t, secretValue("reqid-value-1"), "kms", "CreateSecret", "--SecretName", "app/reqid", "--VersionId", "v1", "--SecretData", "-")
	k := newKey(t, `{"Statement":[{"Effect":"Allow","Action":"kms:GetSecretValue","Resource":"acs:kms:*:*:secret/app/*"}]}`)
	bad := k
	bad.Secret = "wrong" + k.Secret[5:]
	c := newOldClient(t, k)
	ok := c.call(t, "GetSecretValue", params{"SecretName": "app/reqid"}).must(t, "GetSecretValue")
	cases := []struct {
		what string
		a    answer
	}{
		{"a secret that does not exist", c.call(t, "GetSecretValue", params{"SecretName": "app/reqid-missing"})},
		{"a secret outside the policy", c.call(t, "GetSecretValue", params{"SecretName": "other/reqid"})},
		{"a wrong signature", newOldClient(t, bad).call(t, "GetSecretValue", params{"SecretName": "app/reqid"})},
	}
	audit := kmscli(t, "", "audit", "--limit", "200").stdout
	if !strings.Contains(audit, `"RequestId":"`+str(ok["RequestId"])+`"`) {
		t.Fatalf("the RequestId of a successful read (%s) is not in the audit log", str(ok["RequestId"]))
	}
	for _, tc := range cases {
		if tc.a.err == nil {
			t.Fatalf("%s: succeeded", tc.what)
		}
		if !strings.Contains(strings.ToLower(audit), strings.ToLower(tc.a.err.RequestId)) {
			t.Errorf("%s: the error's RequestId %s (%s) is in no audit record", tc.what, tc.a.err.RequestId, tc.a.err.Code)
		}
	}
}

// TestRefusalsAuditedUnderKeyName: SPEC §7, "every request is audited
// under the key's name", refused ones included, whatever the refusal.
func TestRefusalsAuditedUnderKeyName(t *testing.T) {
	k := newKey(t, allowAll)
	p := params{"SecretName": "app/audited-name"}
	replayed := rpcSigned(k, "GetSecretValue", p, time.Now(), "")
	postQuery(t, replayed)
	postQuery(t, replayed)
	postQuery(t, rpcSigned(k, "GetSecretValue", p, time.Now().Add(-16*time.Minute), ""))
	audit := kmscli(t, "", "audit", "--limit", "50", "--filter", k.ID[4:]).stdout +
		kmscli(t, "", "audit", "--limit", "50", "--filter", k.Name).stdout
	for _, code := range []string{"SignatureNonceUsed", "InvalidTimeStamp.Expired"} {
		found := false
		for _, line := range strings.Split(audit, "\n") {
			if strings.Contains(line, `"ErrorCode":"`+code+`"`) {
				found = true
				if !strings.Contains(line, `"Operator":"accesskey:`+k.Name+`"`) {
					t.Errorf("a %s refusal of key %s is audited as %s", code, k.Name, operatorOf(line))
				}
			}
		}
		if !found {
			t.Errorf("no audit record of the %s refusal", code)
		}
	}
}

func operatorOf(line string) string {
	_, rest, _ := strings.Cut(line, `"Operator":`)
	op, _, _ := strings.Cut(rest, ",")
	return op
}
