package api

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"kmsconsole/model"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	keyId  = "LTAI5tTestKey"
	secret = "testsecret"
)

// fakeCreds: keyId has secrets (newest first); "disabled" is disabled;
// "broken" fails; anything else is unknown.
type fakeCreds struct{ secrets []string }

func (f fakeCreds) Secret(id string) ([][]byte, KeyStatus, error) {
	var out [][]byte
	for _, s := range f.secrets {
		out = append(out, []byte(s))
	}
	switch id {
	case keyId:
		return out, KeyEnabled, nil
	case "disabled":
		return out, KeyDisabled, nil
	case "broken":
		return nil, 0, errors.New("store unreachable")
	case "wrapped-missing":
		return nil, 0, fmt.Errorf("lookup: %w", ErrKeyNotFound)
	}
	return nil, 0, ErrKeyNotFound
}

var creds = fakeCreds{secrets: []string{secret}}

// pct is RFC 3986 percent-encoding written independently of the code under
// test: every byte but A-Z a-z 0-9 - _ . ~ as %XX.
func pct(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// testRPCStringToSign follows Alibaba's documentation of signature v1.
func testRPCStringToSign(method string, p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		pairs = append(pairs, pct(k)+"="+pct(p[k]))
	}
	return method + "&" + pct("/") + "&" + pct(strings.Join(pairs, "&"))
}

func hmacSHA1(key, msg string) string {
	h := hmac.New(sha1.New, []byte(key))
	h.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func rpcParams(nonce string, ts time.Time) map[string]string {
	return map[string]string{
		"Action": "GetSecretValue", "Version": "2016-01-20", "Format": "JSON",
		"AccessKeyId": keyId, "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
		"SignatureType": "", "SignatureNonce": nonce, "Timestamp": ts.UTC().Format("2006-01-02T15:04:05Z"),
		"RegionId": "cn-hangzhou", "SecretName": "app/db pass*~+", "VersionStage": "ACSCurrent",
	}
}

// rpcRequest signs p with sec and sends it in the query (or in a form body).
func rpcRequest(method string, p map[string]string, sec string, inBody bool) (*http.Request, []byte) {
	p["Signature"] = hmacSHA1(sec+"&", testRPCStringToSign(method, p))
	v := url.Values{}
	for k, val := range p {
		v.Set(k, val)
	}
	if inBody {
		body := []byte(v.Encode())
		r := httptest.NewRequest(method, "http://kms.example.test/", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		return r, body
	}
	r := httptest.NewRequest(method, "http://kms.example.test/?"+v.Encode(), nil)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r, nil
}

func wantErr(t *testing.T, err *Error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s %d", code, status)
	}
	if err.Code != code || err.HttpStatus != status {
		t.Fatalf("got %s %d (%s), want %s %d", err.Code, err.HttpStatus, err.Message, code, status)
	}
}

// The example of Alibaba's signature v1 documentation.
func TestRPCDocumentationVector(t *testing.T) {
	p := url.Values{}
	for k, v := range map[string]string{
		"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML",
		"SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
		"SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26",
	} {
		p.Set(k, v)
	}
	sts := RPCStringToSign("GET", p)
	want := "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1" +
		"%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0" +
		"%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
	if sts != want {
		t.Fatalf("string to sign\n%s\nwant\n%s", sts, want)
	}
	if sig := rpcSign([]byte("testsecret"), sts); sig != "OLeaidS1JvxuMvnyHOwuJ+uX5qY=" {
		t.Fatalf("signature %s", sig)
	}
}

// Vectors computed by openapi-util v0.1.0 (the signer of kms-20160120/v3),
// checked through the whole of Authenticate.
func TestSDKVectors(t *testing.T) {
	t.Run("RPC", func(t *testing.T) {
		p := map[string]string{"SecretName": "app/db pass*~", "Action": "GetSecretValue", "Version": "2016-01-20",
			"Format": "JSON", "AccessKeyId": "testid", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
			"SignatureType": "", "SignatureNonce": "3ee8c1b883d344afa94f4e0ad82fd6cf",
			"Timestamp": "2025-01-02T03:04:05Z", "RegionId": "cn-hangzhou",
			"Signature": "z4xspZlPTxR4P5SS0yPL+KQCOfM="}
		v := url.Values{}
		for k, val := range p {
			v.Set(k, val)
		}
		r := httptest.NewRequest("POST", "http://kms.example.test/?"+v.Encode(), nil)
		id, params, err := Authenticate(r, nil, t0, fakeIdCreds("testid"), NewNonceCache(10))
		if err != nil {
			t.Fatal(err)
		}
		if id != "testid" || params.Get("SecretName") != "app/db pass*~" || params.Get("Action") != "GetSecretValue" {
			t.Fatalf("%s %v", id, params)
		}
	})
	t.Run("ACS3", func(t *testing.T) {
		r := httptest.NewRequest("POST", "http://kms.example.test:8443/?FetchExtendedConfig=true&SecretName=app%2Fdb+pass%2A~&VersionStage=ACSCurrent", nil)
		r.Header.Set("x-acs-action", "GetSecretValue")
		r.Header.Set("x-acs-version", "2016-01-20")
		r.Header.Set("x-acs-date", "2025-01-02T03:04:05Z")
		r.Header.Set("x-acs-signature-nonce", "3ee8c1b883d344afa94f4e0ad82fd6cf")
		r.Header.Set("x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
		r.Header.Set("accept", "application/json")
		r.Header.Set("Authorization", "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=ab7e51bb66cef0214df2b3d3e667bba0fd20a8a0b2bab5590064797721b889dc")
		v, err := Verify(r, nil, t0, fakeIdCreds("testid"), NewNonceCache(10))
		if err != nil {
			t.Fatal(err)
		}
		if v.AccessKeyId != "testid" || v.Scheme != SchemeACS3 || v.Params.Get("Action") != "GetSecretValue" ||
			v.Params.Get("Version") != "2016-01-20" || v.Params.Get("SecretName") != "app/db pass*~" {
			t.Fatalf("%+v", v)
		}
	})
}

type fakeIdCreds string

func (f fakeIdCreds) Secret(id string) ([][]byte, KeyStatus, error) {
	if id == string(f) {
		return [][]byte{[]byte("testsecret")}, KeyEnabled, nil
	}
	return nil, 0, ErrKeyNotFound
}

func TestAuthenticateRPC(t *testing.T) {
	n := 0
	nonce := func() string { n++; return fmt.Sprintf("nonce-%d", n) }
	cases := []struct {
		name    string
		method  string
		edit    func(p map[string]string) // before signing
		after   func(p map[string]string) // after signing
		sec     string
		creds   Credentials
		inBody  bool
		code    string
		status  int
		index   int
		message string
	}{
		{name: "POST query"},
		{name: "GET query", method: "GET"},
		{name: "form body", inBody: true},
		{name: "previous secret in its grace period", creds: fakeCreds{secrets: []string{"new", secret}}, index: 1},
		{name: "empty values kept", edit: func(p map[string]string) { p["Description"] = "" }},
		{name: "14 minutes old", edit: func(p map[string]string) { p["Timestamp"] = t0.Add(-14 * time.Minute).Format(time.RFC3339) }},
		{name: "14 minutes ahead", edit: func(p map[string]string) { p["Timestamp"] = t0.Add(14 * time.Minute).Format(time.RFC3339) }},
		{name: "16 minutes old", edit: func(p map[string]string) { p["Timestamp"] = t0.Add(-16 * time.Minute).Format(time.RFC3339) },
			code: CodeTimestampExpired, status: 400},
		{name: "16 minutes ahead", edit: func(p map[string]string) { p["Timestamp"] = t0.Add(16 * time.Minute).Format(time.RFC3339) },
			code: CodeTimestampExpired, status: 400},
		{name: "timestamp garbage", edit: func(p map[string]string) { p["Timestamp"] = "yesterday" },
			code: CodeTimestampFormat, status: 400},
		{name: "wrong secret", sec: "wrong", code: CodeSignatureDoesNotMatch, status: 400},
		{name: "tampered parameter", after: func(p map[string]string) { p["SecretName"] = "other/x" },
			code: CodeSignatureDoesNotMatch, status: 400},
		{name: "tampered signature", after: func(p map[string]string) { p["Signature"] = "AAAA" + p["Signature"][4:] },
			code: CodeSignatureDoesNotMatch, status: 400},
		{name: "parameter added", after: func(p map[string]string) { p["VersionId"] = "x" },
			code: CodeSignatureDoesNotMatch, status: 400},
		{name: "unknown key", edit: func(p map[string]string) { p["AccessKeyId"] = "nobody" },
			code: CodeAccessKeyNotFound, status: 404},
		{name: "unknown key, wrapped error", edit: func(p map[string]string) { p["AccessKeyId"] = "wrapped-missing" },
			code: CodeAccessKeyNotFound, status: 404},
		{name: "disabled key", edit: func(p map[string]string) { p["AccessKeyId"] = "disabled" },
			code: CodeAccessKeyDisabled, status: 403},
		{name: "disabled key, wrong secret", edit: func(p map[string]string) { p["AccessKeyId"] = "disabled" }, sec: "wrong",
			code: CodeSignatureDoesNotMatch, status: 400},
		{name: "credentials fail", edit: func(p map[string]string) { p["AccessKeyId"] = "broken" },
			code: model.CodeInternalFailure, status: 500},
		{name: "HMAC-SHA256", edit: func(p map[string]string) { p["SignatureMethod"] = "HMAC-SHA256" },
			code: model.CodeInvalidParameter, status: 400, message: "SignatureMethod"},
		{name: "version 2.0", edit: func(p map[string]string) { p["SignatureVersion"] = "2.0" },
			code: model.CodeInvalidParameter, status: 400, message: "SignatureVersion"},
		{name: "bearer token", edit: func(p map[string]string) { p["SignatureType"] = "BEARERTOKEN" },
			code: model.CodeInvalidParameter, status: 400},
		{name: "STS token", edit: func(p map[string]string) { p["SecurityToken"] = "tok" },
			code: model.CodeInvalidParameter, status: 400},
	}
	for _, miss := range []string{"AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp", "Action", "Version"} {
		miss := miss
		cases = append(cases, struct {
			name    string
			method  string
			edit    func(p map[string]string)
			after   func(p map[string]string)
			sec     string
			creds   Credentials
			inBody  bool
			code    string
			status  int
			index   int
			message string
		}{name: "missing " + miss, after: func(p map[string]string) { delete(p, miss) },
			code: model.CodeMissingParameter, status: 400, message: `"` + miss + `"`})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "POST"
			}
			p := rpcParams(nonce(), t0)
			if tc.edit != nil {
				tc.edit(p)
			}
			sec := tc.sec
			if sec == "" {
				sec = secret
			}
			p["Signature"] = hmacSHA1(sec+"&", testRPCStringToSign(method, p))
			if tc.after != nil {
				tc.after(p)
			}
			v := url.Values{}
			for k, val := range p {
				v.Set(k, val)
			}
			var r *http.Request
			var body []byte
			if tc.inBody {
				body = []byte(v.Encode())
				r = httptest.NewRequest(method, "http://kms.example.test/", strings.NewReader(string(body)))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				r = httptest.NewRequest(method, "http://kms.example.test/?"+v.Encode(), nil)
			}
			c := tc.creds
			if c == nil {
				c = creds
			}
			got, err := Verify(r, body, t0, c, NewNonceCache(10))
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Scheme != SchemeRPC || got.AccessKeyId != keyId || got.SecretIndex != tc.index {
					t.Fatalf("%+v", got)
				}
				for _, k := range rpcAuthParams {
					if got.Params.Has(k) {
						t.Errorf("params keep %s", k)
					}
				}
				for _, k := range []string{"Action", "Version", "Format", "RegionId", "SecretName", "VersionStage"} {
					if got.Params.Get(k) != p[k] {
						t.Errorf("param %s = %q, want %q", k, got.Params.Get(k), p[k])
					}
				}
				return
			}
			wantErr(t, err, tc.code, tc.status)
			if !strings.Contains(err.Message, tc.message) {
				t.Errorf("message %q lacks %q", err.Message, tc.message)
			}
			if tc.code == CodeSignatureDoesNotMatch {
				// The server's string to sign, exactly as the SDK computes
				// it when it signs the parameters it sent.
				want := StringToSignMarker + testRPCStringToSign(method, p)
				if !strings.HasSuffix(err.Message, want) || strings.Count(err.Message, StringToSignMarker) != 1 {
					t.Errorf("message %q\nwant suffix %q", err.Message, want)
				}
			}
			// The claimed key comes back for the audit, when there is one.
			if tc.name != "missing AccessKeyId" && (got == nil || got.AccessKeyId != p["AccessKeyId"]) {
				t.Errorf("claimed key %+v, want %s", got, p["AccessKeyId"])
			}
		})
	}
}

func TestParameterParsing(t *testing.T) {
	cases := []struct {
		name        string
		query, body string
		contentType string
		code        string
		message     string
	}{
		{name: "repeated in query", query: "A=1&A=2", code: model.CodeInvalidParameter, message: "A"},
		{name: "in query and body", query: "A=1", body: "A=1", contentType: formType, code: model.CodeInvalidParameter, message: "A"},
		{name: "repeated in body", body: "B=1&B=2", contentType: formType, code: model.CodeInvalidParameter, message: "B"},
		{name: "bad escape", query: "A=%zz", code: model.CodeInvalidParameter, message: "query string"},
		{name: "json body", body: `{"A":1}`, contentType: "application/json", code: model.CodeInvalidParameter, message: "Content-Type"},
		{name: "no auth at all", query: "Action=GetSecretValue", code: model.CodeMissingParameter, message: "AccessKeyId"},
		{name: "other Authorization scheme", query: "", code: CodeIncompleteSignature, message: "Bearer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://kms.example.test/?"+tc.query, strings.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			if tc.name == "other Authorization scheme" {
				r.Header.Set("Authorization", "Bearer abc")
			}
			_, _, err := Authenticate(r, []byte(tc.body), t0, creds, NewNonceCache(10))
			wantErr(t, err, tc.code, 400)
			if !strings.Contains(err.Message, tc.message) {
				t.Errorf("message %q lacks %q", err.Message, tc.message)
			}
		})
	}
}

// acs3 builds and signs an ACS3 request the way openapi-util does, written
// independently of the code under test.
type acs3 struct {
	method  string
	query   map[string]string
	body    []byte
	headers map[string]string // lower-case names; host separately
	host    string
	keyId   string
	secret  string
	signed  []string // override of the signed header list
}

func newACS3(nonce string) *acs3 {
	return &acs3{
		method: "POST",
		query:  map[string]string{"SecretName": "app/db pass*~", "VersionStage": "ACSCurrent"},
		headers: map[string]string{
			"x-acs-action":          "GetSecretValue",
			"x-acs-version":         "2016-01-20",
			"x-acs-date":            t0.Format("2006-01-02T15:04:05Z"),
			"x-acs-signature-nonce": nonce,
			"accept":                "application/json",
			"user-agent":            "AlibabaCloud (linux; amd64) Go/go1 Core/1 TeaDSL/1",
		},
		host:   "127.0.0.1:8443",
		keyId:  keyId,
		secret: secret,
	}
}

func (a *acs3) sign() (auth string) {
	sum := sha256.Sum256(a.body)
	payload := hex.EncodeToString(sum[:])
	if _, ok := a.headers["x-acs-content-sha256"]; !ok {
		a.headers["x-acs-content-sha256"] = payload
	}
	all := map[string]string{"host": a.host}
	for k, v := range a.headers {
		if strings.HasPrefix(k, "x-acs-") || k == "content-type" {
			all[k] = v
		}
	}
	names := a.signed
	if names == nil {
		for k := range all {
			names = append(names, k)
		}
		sort.Strings(names)
	}
	keys := make([]string, 0, len(a.query))
	for k := range a.query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var q []string
	for _, k := range keys {
		q = append(q, k+"="+pct(a.query[k]))
	}
	var hdr strings.Builder
	for _, n := range names {
		hdr.WriteString(n + ":" + strings.TrimSpace(all[n]) + "\n")
	}
	canonical := a.method + "\n/\n" + strings.Join(q, "&") + "\n" + hdr.String() + "\n" +
		strings.Join(names, ";") + "\n" + payload
	h := sha256.Sum256([]byte(canonical))
	sts := "ACS3-HMAC-SHA256\n" + hex.EncodeToString(h[:])
	m := hmac.New(sha256.New, []byte(a.secret))
	m.Write([]byte(sts))
	return "ACS3-HMAC-SHA256 Credential=" + a.keyId + ",SignedHeaders=" + strings.Join(names, ";") +
		",Signature=" + hex.EncodeToString(m.Sum(nil))
}

func (a *acs3) request(auth string) *http.Request {
	v := url.Values{}
	for k, val := range a.query {
		v.Set(k, val)
	}
	r := httptest.NewRequest(a.method, "http://"+a.host+"/?"+v.Encode(), strings.NewReader(string(a.body)))
	for k, val := range a.headers {
		r.Header[k] = []string{val} // as tea sets them: lower-case, not canonicalised
	}
	r.Header = cloneCanonical(r.Header)
	r.Header.Set("Authorization", auth)
	return r
}

// cloneCanonical is what net/http's server does to header names.
func cloneCanonical(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		for _, x := range v {
			out.Add(k, x)
		}
	}
	return out
}

func TestAuthenticateACS3(t *testing.T) {
	n := 0
	cases := []struct {
		name   string
		edit   func(a *acs3)         // before signing
		after  func(a *acs3)         // after signing, before the request is built
		wire   func(r *http.Request) // on the request
		creds  Credentials
		code   string
		status int
		msg    string
	}{
		{name: "default"},
		{name: "form body", edit: func(a *acs3) {
			a.query = map[string]string{}
			a.body = []byte("SecretName=app%2Fdb&VersionStage=ACSCurrent")
			a.headers["content-type"] = "application/x-www-form-urlencoded"
		}},
		{name: "no query", edit: func(a *acs3) { a.query = map[string]string{} }},
		{name: "empty value", edit: func(a *acs3) { a.query["VersionId"] = "" }},
		{name: "header values trimmed", edit: func(a *acs3) { a.headers["x-acs-odd"] = "  spaced  " }},
		{name: "previous secret", creds: fakeCreds{secrets: []string{"new", secret}}},
		{name: "wrong secret", edit: func(a *acs3) { a.secret = "wrong" }, code: CodeSignatureDoesNotMatch, status: 400,
			msg: StringToSignMarker + "ACS3-HMAC-SHA256\n"},
		{name: "tampered query", after: func(a *acs3) { a.query["SecretName"] = "other/x" }, code: CodeSignatureDoesNotMatch, status: 400},
		{name: "tampered body", edit: func(a *acs3) {
			a.query = map[string]string{}
			a.body = []byte("SecretName=app")
			a.headers["content-type"] = "application/x-www-form-urlencoded"
		}, after: func(a *acs3) { a.body = []byte("SecretName=bad") }, code: CodeSignatureDoesNotMatch, status: 400},
		{name: "body hash header lies", edit: func(a *acs3) {
			a.headers["x-acs-content-sha256"] = strings.Repeat("0", 64)
		}, code: CodeSignatureDoesNotMatch, status: 400, msg: "x-acs-content-sha256"},
		{name: "other host", wire: func(r *http.Request) { r.Host = "evil.example:8443" }, code: CodeSignatureDoesNotMatch, status: 400},
		{name: "other action header", wire: func(r *http.Request) { r.Header.Set("x-acs-action", "DeleteSecret") },
			code: CodeSignatureDoesNotMatch, status: 400},
		{name: "other method", wire: func(r *http.Request) { r.Method = "GET" }, code: CodeSignatureDoesNotMatch, status: 400},
		{name: "date unsigned", edit: func(a *acs3) {
			a.signed = []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-signature-nonce", "x-acs-version"}
		}, code: CodeIncompleteSignature, status: 400, msg: "x-acs-date"},
		{name: "content-type unsigned with a body", edit: func(a *acs3) {
			a.query = map[string]string{}
			a.body = []byte("SecretName=app")
			a.headers["content-type"] = "application/x-www-form-urlencoded"
			a.signed = []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"}
		}, code: CodeIncompleteSignature, status: 400, msg: "content-type"},
		{name: "missing date", edit: func(a *acs3) { delete(a.headers, "x-acs-date") }, code: model.CodeMissingParameter, status: 400, msg: "x-acs-date"},
		{name: "missing nonce", edit: func(a *acs3) { delete(a.headers, "x-acs-signature-nonce") }, code: model.CodeMissingParameter, status: 400, msg: "x-acs-signature-nonce"},
		{name: "missing action", edit: func(a *acs3) { delete(a.headers, "x-acs-action") }, code: model.CodeMissingParameter, status: 400, msg: "x-acs-action"},
		{name: "16 minutes old", edit: func(a *acs3) { a.headers["x-acs-date"] = t0.Add(-16 * time.Minute).Format(time.RFC3339) },
			code: CodeTimestampExpired, status: 400},
		{name: "16 minutes ahead", edit: func(a *acs3) { a.headers["x-acs-date"] = t0.Add(16 * time.Minute).Format(time.RFC3339) },
			code: CodeTimestampExpired, status: 400},
		{name: "14 minutes ahead", edit: func(a *acs3) { a.headers["x-acs-date"] = t0.Add(14 * time.Minute).Format(time.RFC3339) }},
		{name: "unknown key", edit: func(a *acs3) { a.keyId = "nobody" }, code: CodeAccessKeyNotFound, status: 404},
		{name: "disabled key", edit: func(a *acs3) { a.keyId = "disabled" }, code: CodeAccessKeyDisabled, status: 403},
		{name: "Action parameter disagrees", edit: func(a *acs3) { a.query["Action"] = "DeleteSecret" },
			code: model.CodeInvalidParameter, status: 400, msg: "x-acs-action"},
		{name: "STS token", edit: func(a *acs3) { a.headers["x-acs-security-token"] = "tok" }, code: model.CodeInvalidParameter, status: 400},
		{name: "SM3", wire: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "ACS3-HMAC-SHA256", "ACS3-HMAC-SM3", 1))
		}, code: CodeIncompleteSignature, status: 400, msg: "ACS3-HMAC-SM3"},
		{name: "no Signature field", wire: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ",Signature=")])
		}, code: CodeIncompleteSignature, status: 400, msg: "Signature"},
		{name: "duplicate field", wire: func(r *http.Request) {
			r.Header.Set("Authorization", r.Header.Get("Authorization")+",Credential=x")
		}, code: CodeIncompleteSignature, status: 400, msg: "Credential"},
		{name: "date twice", wire: func(r *http.Request) { r.Header.Add("x-acs-date", t0.Format(time.RFC3339)) },
			code: model.CodeInvalidParameter, status: 400, msg: "x-acs-date"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n++
			a := newACS3(fmt.Sprintf("acs3-nonce-%d", n))
			if tc.edit != nil {
				tc.edit(a)
			}
			auth := a.sign()
			if tc.after != nil {
				tc.after(a)
			}
			r := a.request(auth)
			if tc.wire != nil {
				tc.wire(r)
			}
			c := tc.creds
			if c == nil {
				c = creds
			}
			got, err := Verify(r, a.body, t0, c, NewNonceCache(10))
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Scheme != SchemeACS3 || got.AccessKeyId != keyId || got.Params.Get("Action") != "GetSecretValue" ||
					got.Params.Get("Version") != "2016-01-20" {
					t.Fatalf("%+v", got)
				}
				for k, v := range a.query {
					if got.Params.Get(k) != v {
						t.Errorf("param %s = %q, want %q", k, got.Params.Get(k), v)
					}
				}
				if a.body != nil {
					form, _ := url.ParseQuery(string(a.body))
					for k := range form {
						if got.Params.Get(k) != form.Get(k) {
							t.Errorf("form param %s = %q", k, got.Params.Get(k))
						}
					}
				}
				return
			}
			wantErr(t, err, tc.code, tc.status)
			if !strings.Contains(err.Message, tc.msg) {
				t.Errorf("message %q lacks %q", err.Message, tc.msg)
			}
		})
	}
}

func TestReplay(t *testing.T) {
	nonces := NewNonceCache(10)
	p := rpcParams("same-nonce", t0)
	r, _ := rpcRequest("POST", p, secret, false)
	if _, _, err := Authenticate(r, nil, t0, creds, nonces); err != nil {
		t.Fatal(err)
	}
	// The same request again, a minute later.
	r2, _ := rpcRequest("POST", p, secret, false)
	_, _, err := Authenticate(r2, nil, t0.Add(time.Minute), creds, nonces)
	wantErr(t, err, CodeNonceUsed, 400)

	// An ACS3 request with the same nonce and key is a replay too.
	a := newACS3("same-nonce")
	_, _, err = Authenticate(a.request(a.sign()), nil, t0, creds, nonces)
	wantErr(t, err, CodeNonceUsed, 400)

	// A nonce whose request failed its signature was not consumed.
	p3 := rpcParams("fresh", t0)
	bad, _ := rpcRequest("POST", p3, "wrong", false)
	_, _, err = Authenticate(bad, nil, t0, creds, nonces)
	wantErr(t, err, CodeSignatureDoesNotMatch, 400)
	good, _ := rpcRequest("POST", rpcParams("fresh", t0), secret, false)
	if _, _, err := Authenticate(good, nil, t0, creds, nonces); err != nil {
		t.Fatalf("a nonce burnt by a bad signature: %v", err)
	}

	// The replayed request once 15 minutes have passed: refused by its
	// timestamp, and the nonce is forgotten by then.
	r4, _ := rpcRequest("POST", rpcParams("same-nonce", t0), secret, false)
	_, _, err = Authenticate(r4, nil, t0.Add(15*time.Minute+time.Second), creds, nonces)
	wantErr(t, err, CodeTimestampExpired, 400)
}

func TestNonceCache(t *testing.T) {
	c := NewNonceCache(3)
	use := func(key, nonce string, ts, now time.Time) string {
		if e := c.use(key, nonce, ts, now); e != nil {
			return e.Code
		}
		return ""
	}
	if got := use("k", "a", t0, t0); got != "" {
		t.Fatal(got)
	}
	if got := use("k", "a", t0, t0); got != CodeNonceUsed {
		t.Fatalf("replay: %q", got)
	}
	if got := use("other", "a", t0, t0); got != "" {
		t.Fatalf("nonces are per key: %q", got)
	}
	if got := use("k", "b", t0, t0); got != "" {
		t.Fatal(got)
	}
	if got := use("k", "c", t0, t0); got != model.CodeThrottling {
		t.Fatalf("full cache: %q", got)
	}
	if c.Len() != 3 {
		t.Fatalf("Len %d", c.Len())
	}
	// At the last second of the window the entry still counts.
	if got := use("k", "a", t0.Add(-time.Second), t0.Add(MaxSkew)); got != CodeNonceUsed {
		t.Fatalf("at the edge: %q", got)
	}
	// A minute past the window everything is forgotten, and the cache
	// takes new nonces again.
	later := t0.Add(MaxSkew + time.Minute + time.Second)
	if got := use("k", "d", later, later); got != "" {
		t.Fatalf("after expiry: %q", got)
	}
	if c.Len() != 1 {
		t.Fatalf("Len %d after expiry, want 1", c.Len())
	}
	// A nonce used again after its expiry, with a fresh timestamp, is new.
	if got := use("k", "a", later, later); got != "" {
		t.Fatalf("reuse after expiry: %q", got)
	}
	if got := use("k", "a", later, later); got != CodeNonceUsed {
		t.Fatalf("and then a replay again: %q", got)
	}
}

// The cache keeps working under a steady stream of requests: it prunes as
// time goes by, so 10 requests a second for 40 minutes fit in a cache sized
// for the 15-minute window (9000, plus up to a minute of pruning lag).
func TestNonceCacheBounded(t *testing.T) {
	c := NewNonceCache(9700)
	now := t0
	for i := 0; i < 24000; i++ {
		now = now.Add(100 * time.Millisecond)
		if e := c.use("k", fmt.Sprint(i), now, now); e != nil {
			t.Fatalf("request %d: %v (Len %d)", i, e, c.Len())
		}
	}
	if n := c.Len(); n < 9000 || n > 9700 {
		t.Fatalf("Len %d, want the window's 9000 to 9600", n)
	}
}

// TestNonceCacheMemory measures what an entry costs, for DefaultNonceCapacity's
// comment; run with -v to see it.
func TestNonceCacheMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates")
	}
	const n = 100000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := NewNonceCache(n)
	for i := 0; i < n; i++ {
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		if e := c.use("LTAI5tKmsconsoleKey", fmt.Sprintf("%032x", i), ts, ts); e != nil {
			t.Fatal(e)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes per nonce", per)
	if per > 80 {
		t.Errorf("%.0f bytes per nonce", per)
	}
	runtime.KeepAlive(c)
}
