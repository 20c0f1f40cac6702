// Package sdktest checks kmsconsole's application API against Alibaba Cloud's
// official, unchanged SDKs. It is a module of its own so that the product
// binary never links them.
package sdktest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	kmsv3 "github.com/alibabacloud-go/kms-20160120/v3/client"
	util "github.com/alibabacloud-go/tea-utils/v2/service"
	"github.com/alibabacloud-go/tea/tea"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/kms"

	"kmsconsole/api"
)

const (
	testKeyId     = "LTAI5tKmsconsoleTestKey"
	testSecret    = "kmsconsole-test-secret-Zx9+/="
	oldSecret     = "kmsconsole-previous-secret"
	disabledKeyId = "LTAI5tKmsconsoleDisabled"
	secretName    = "app/db+pass=w@rd.x_y-1"
	// versionId is sent with every request to exercise the encodings: the
	// server only echoes it (a real action would refuse it).
	versionId   = "v 1*~é+&=%/:\"x"
	secretValue = "s3cr3t value with spaces & symbols *~+"
)

// creds knows the test key (with a second, older secret in its grace
// period) and a disabled key.
type creds struct{}

func (creds) Secret(id string) ([][]byte, api.KeyStatus, error) {
	switch id {
	case testKeyId:
		return [][]byte{[]byte(testSecret), []byte(oldSecret)}, api.KeyEnabled, nil
	case disabledKeyId:
		return [][]byte{[]byte(testSecret)}, api.KeyDisabled, nil
	}
	return nil, 0, api.ErrKeyNotFound
}

// server is an httptest.Server whose handler authenticates with
// api.Verify and answers a fixed GetSecretValue.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	last *api.Verified
	now  time.Time // zero: time.Now()
}

func newServer(t *testing.T) *server { return startServer(t, false) }

func startServer(t *testing.T, useTLS bool) *server {
	t.Helper()
	s := &server{}
	nonces := api.NewNonceCache(0)
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		now := time.Now()
		s.mu.Lock()
		if !s.now.IsZero() {
			now = s.now
		}
		s.mu.Unlock()
		v, aerr := api.Verify(r, body, now, creds{}, nonces)
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		if aerr != nil {
			w.WriteHeader(aerr.HttpStatus)
			w.Write(aerr.Body("6A3F2C1E-0000-4000-8000-000000000001", r.Host))
			return
		}
		s.mu.Lock()
		s.last = v
		s.mu.Unlock()
		if v.Params.Get("Action") != "GetSecretValue" {
			e := &api.Error{Code: "InvalidAction.NotFound", Message: "unexpected action", HttpStatus: 400}
			w.WriteHeader(400)
			w.Write(e.Body("6A3F2C1E-0000-4000-8000-000000000002", r.Host))
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"RequestId":      "6A3F2C1E-0000-4000-8000-000000000003",
			"SecretName":     v.Params.Get("SecretName"),
			"SecretType":     "Generic",
			"SecretData":     secretValue,
			"SecretDataType": "text",
			"VersionId":      "v1",
			"CreateTime":     "2025-01-02T03:04:05Z",
			"VersionStages":  map[string]any{"VersionStage": []string{"ACSCurrent"}},
		})
	}))
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

func (s *server) host() string {
	u, _ := url.Parse(s.URL)
	return u.Host
}

func (s *server) lastVerified() *api.Verified {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// oldClient is alibaba-cloud-sdk-go/services/kms as an application writes it.
func oldClient(t *testing.T, s *server, keyId, secret string) *kms.Client {
	t.Helper()
	c, err := kms.NewClientWithAccessKey("cn-hangzhou", keyId, secret)
	if err != nil {
		t.Fatal(err)
	}
	c.Domain = s.host()
	return c
}

func oldGet(c *kms.Client) (*kms.GetSecretValueResponse, error) {
	req := kms.CreateGetSecretValueRequest()
	req.Scheme = "http"
	req.SecretName = secretName
	req.VersionStage = "ACSCurrent"
	req.VersionId = versionId
	req.FetchExtendedConfig = "true"
	return c.GetSecretValue(req)
}

// teaClient is kms-20160120/v3 as an application writes it; algorithm "" is
// the default (ACS3-HMAC-SHA256), "v2" the RPC HMAC-SHA1 signature.
func teaClient(t *testing.T, s *server, keyId, secret, algorithm string) *kmsv3.Client {
	t.Helper()
	cfg := &openapi.Config{
		AccessKeyId:     tea.String(keyId),
		AccessKeySecret: tea.String(secret),
		Endpoint:        tea.String(s.host()),
		Protocol:        tea.String("http"),
	}
	if algorithm != "" {
		cfg.SignatureAlgorithm = tea.String(algorithm)
	}
	c, err := kmsv3.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func teaGet(c *kmsv3.Client, runtime *util.RuntimeOptions) (*kmsv3.GetSecretValueResponse, error) {
	req := &kmsv3.GetSecretValueRequest{
		SecretName:          tea.String(secretName),
		VersionStage:        tea.String("ACSCurrent"),
		VersionId:           tea.String(versionId),
		FetchExtendedConfig: tea.Bool(true),
	}
	if runtime == nil {
		return c.GetSecretValue(req)
	}
	return c.GetSecretValueWithOptions(req, runtime)
}

func checkVerified(t *testing.T, s *server, scheme string) {
	t.Helper()
	v := s.lastVerified()
	if v == nil {
		t.Fatal("the server authenticated nothing")
	}
	if v.AccessKeyId != testKeyId || v.Scheme != scheme || v.SecretIndex != 0 {
		t.Errorf("verified %+v, want key %s scheme %s index 0", v, testKeyId, scheme)
	}
	p := v.Params
	if p.Get("Action") != "GetSecretValue" || p.Get("Version") != "2016-01-20" ||
		p.Get("SecretName") != secretName || p.Get("VersionStage") != "ACSCurrent" || p.Get("FetchExtendedConfig") != "true" ||
		p.Get("VersionId") != versionId {
		t.Errorf("params %v", p)
	}
	for _, k := range []string{"Signature", "SignatureNonce", "AccessKeyId", "Timestamp"} {
		if p.Has(k) {
			t.Errorf("params still carry %s: %v", k, p)
		}
	}
}

func TestOldSDKGetSecretValue(t *testing.T) {
	s := newServer(t)
	resp, err := oldGet(oldClient(t, s, testKeyId, testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if resp.SecretData != secretValue || resp.SecretName != secretName || resp.VersionStages.VersionStage[0] != "ACSCurrent" {
		t.Errorf("response %+v", resp)
	}
	checkVerified(t, s, api.SchemeRPC)
}

// The key's older secret works during its grace period.
func TestOldSDKPreviousSecret(t *testing.T) {
	s := newServer(t)
	if _, err := oldGet(oldClient(t, s, testKeyId, oldSecret)); err != nil {
		t.Fatal(err)
	}
	if v := s.lastVerified(); v.SecretIndex != 1 {
		t.Errorf("SecretIndex %d, want 1", v.SecretIndex)
	}
}

func oldServerError(t *testing.T, err error) *sdkerrors.ServerError {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("want a ServerError, got %T %v", err, err)
	}
	return se
}

func TestOldSDKWrongSecret(t *testing.T) {
	s := newServer(t)
	_, err := oldGet(oldClient(t, s, testKeyId, "not-the-secret"))
	se := oldServerError(t, err)
	if se.ErrorCode() != api.CodeSignatureDoesNotMatch || se.HttpStatus() != 400 {
		t.Errorf("code %s status %d", se.ErrorCode(), se.HttpStatus())
	}
	// The SDK compares the server's string to sign with its own and, when
	// they are equal, blames the secret: proof that ours is byte for byte
	// the SDK's.
	if want := "InvalidAccessKeySecret: Please check you AccessKeySecret"; se.Recommend() != want {
		t.Errorf("Recommend %q, want %q (message %q)", se.Recommend(), want, se.Message())
	}
	if se.RequestId() == "" || se.HostId() != s.host() {
		t.Errorf("RequestId %q HostId %q", se.RequestId(), se.HostId())
	}
}

func TestOldSDKUnknownAndDisabledKeys(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		key, code string
		status    int
	}{
		{"LTAI5tNoSuchKey", api.CodeAccessKeyNotFound, 404},
		{disabledKeyId, api.CodeAccessKeyDisabled, 403},
	} {
		_, err := oldGet(oldClient(t, s, tc.key, testSecret))
		se := oldServerError(t, err)
		if se.ErrorCode() != tc.code || se.HttpStatus() != tc.status {
			t.Errorf("%s: code %s status %d, want %s %d", tc.key, se.ErrorCode(), se.HttpStatus(), tc.code, tc.status)
		}
	}
}

func TestTeaSDKGetSecretValue(t *testing.T) {
	for _, tc := range []struct{ algorithm, scheme string }{
		{"", api.SchemeACS3},
		{"v2", api.SchemeRPC},
	} {
		t.Run("SignatureAlgorithm="+tc.algorithm, func(t *testing.T) {
			s := newServer(t)
			resp, err := teaGet(teaClient(t, s, testKeyId, testSecret, tc.algorithm), nil)
			if err != nil {
				t.Fatal(err)
			}
			b := resp.Body
			if tea.StringValue(b.SecretData) != secretValue || tea.StringValue(b.SecretName) != secretName ||
				tea.StringValue(b.VersionStages.VersionStage[0]) != "ACSCurrent" || tea.Int32Value(resp.StatusCode) != 200 {
				t.Errorf("response %v", resp)
			}
			checkVerified(t, s, tc.scheme)
		})
	}
}

func teaError(t *testing.T, err error) *tea.SDKError {
	t.Helper()
	var se *tea.SDKError
	if !errors.As(err, &se) {
		t.Fatalf("want a tea.SDKError, got %T %v", err, err)
	}
	return se
}

func TestTeaSDKWrongSecret(t *testing.T) {
	for _, tc := range []struct{ algorithm, stsPrefix string }{
		{"", "ACS3-HMAC-SHA256\n"},
		{"v2", "POST&%2F&AccessKeyId%3D" + testKeyId + "%26Action%3DGetSecretValue%26"},
	} {
		t.Run("SignatureAlgorithm="+tc.algorithm, func(t *testing.T) {
			s := newServer(t)
			_, err := teaGet(teaClient(t, s, testKeyId, "not-the-secret", tc.algorithm), nil)
			se := teaError(t, err)
			if tea.StringValue(se.Code) != api.CodeSignatureDoesNotMatch || tea.IntValue(se.StatusCode) != 400 {
				t.Errorf("code %s status %d", tea.StringValue(se.Code), tea.IntValue(se.StatusCode))
			}
			// The SDK passes the server's Message through; the string to
			// sign follows the marker.
			msg := tea.StringValue(se.Message)
			_, sts, ok := strings.Cut(msg, api.StringToSignMarker)
			if !ok || !strings.HasPrefix(sts, tc.stsPrefix) {
				t.Errorf("message %q lacks %q%q...", msg, api.StringToSignMarker, tc.stsPrefix)
			}
			if !strings.HasPrefix(msg, "code: 400, ") {
				t.Errorf("message %q: the SDK's own prefix changed", msg)
			}
		})
	}
}

// The replay and clock checks, through the real SDK: RuntimeOptions'
// ExtendsParameters are merged before signing, so the request is correctly
// signed with a chosen nonce or timestamp.
func TestTeaSDKReplayAndClock(t *testing.T) {
	type override struct{ header, query string }
	for _, tc := range []struct {
		algorithm string
		nonce     override
		date      override
	}{
		{"", override{header: "x-acs-signature-nonce"}, override{header: "x-acs-date"}},
		{"v2", override{query: "SignatureNonce"}, override{query: "Timestamp"}},
	} {
		t.Run("SignatureAlgorithm="+tc.algorithm, func(t *testing.T) {
			s := newServer(t)
			c := teaClient(t, s, testKeyId, testSecret, tc.algorithm)
			with := func(o override, v string) *util.RuntimeOptions {
				ep := &util.ExtendsParameters{}
				if o.header != "" {
					ep.Headers = map[string]*string{o.header: tea.String(v)}
				} else {
					ep.Queries = map[string]*string{o.query: tea.String(v)}
				}
				return &util.RuntimeOptions{ExtendsParameters: ep}
			}
			nonce := "kmsconsole-replay-" + tc.algorithm + time.Now().Format("150405.000000000")
			if _, err := teaGet(c, with(tc.nonce, nonce)); err != nil {
				t.Fatalf("first use of a nonce: %v", err)
			}
			_, err := teaGet(c, with(tc.nonce, nonce))
			if se := teaError(t, err); tea.StringValue(se.Code) != api.CodeNonceUsed || tea.IntValue(se.StatusCode) != 400 {
				t.Errorf("replay: code %s status %d", tea.StringValue(se.Code), tea.IntValue(se.StatusCode))
			}
			for _, skew := range []time.Duration{-16 * time.Minute, 16 * time.Minute} {
				ts := time.Now().Add(skew).UTC().Format("2006-01-02T15:04:05Z")
				_, err := teaGet(c, with(tc.date, ts))
				if se := teaError(t, err); tea.StringValue(se.Code) != api.CodeTimestampExpired || tea.IntValue(se.StatusCode) != 400 {
					t.Errorf("skew %v: code %s status %d", skew, tea.StringValue(se.Code), tea.IntValue(se.StatusCode))
				}
			}
			ts := time.Now().Add(-14 * time.Minute).UTC().Format("2006-01-02T15:04:05Z")
			if _, err := teaGet(c, with(tc.date, ts)); err != nil {
				t.Errorf("a 14-minute-old timestamp: %v", err)
			}
		})
	}
}

// A request signed by the SDK and then changed on the wire is refused.
func TestTamperedRequest(t *testing.T) {
	s := newServer(t)
	// A proxy in front of the server that rewrites SecretName.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Set("SecretName", "other/x")
		u, _ := url.Parse(s.URL)
		u.RawQuery = q.Encode()
		req, _ := http.NewRequest(r.Method, u.String(), r.Body)
		req.Header = r.Header.Clone()
		req.Host = r.Host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	ps := &server{Server: proxy}
	_, err := oldGet(oldClient(t, ps, testKeyId, testSecret))
	if se := oldServerError(t, err); se.ErrorCode() != api.CodeSignatureDoesNotMatch {
		t.Errorf("old SDK: code %s", se.ErrorCode())
	}
	for _, alg := range []string{"", "v2"} {
		_, err := teaGet(teaClient(t, ps, testKeyId, testSecret, alg), nil)
		if se := teaError(t, err); tea.StringValue(se.Code) != api.CodeSignatureDoesNotMatch {
			t.Errorf("tea %q: code %s", alg, tea.StringValue(se.Code))
		}
	}
	if s.lastVerified() != nil {
		t.Error("a tampered request was authenticated")
	}
}

// Over HTTPS with a self-signed certificate, configured as an application
// talking to kmsconsole's self-signed endpoint would: the old SDK with
// SetHTTPSInsecure, kms-20160120 with RuntimeOptions.IgnoreSSL.
func TestHTTPS(t *testing.T) {
	s := startServer(t, true)
	c := oldClient(t, s, testKeyId, testSecret)
	c.SetHTTPSInsecure(true)
	req := kms.CreateGetSecretValueRequest()
	req.Scheme = "https"
	req.SecretName = secretName
	resp, err := c.GetSecretValue(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.SecretData != secretValue {
		t.Errorf("old SDK: %+v", resp)
	}
	for _, alg := range []string{"", "v2"} {
		cfg := &openapi.Config{
			AccessKeyId:     tea.String(testKeyId),
			AccessKeySecret: tea.String(testSecret),
			Endpoint:        tea.String(s.host()),
		}
		if alg != "" {
			cfg.SignatureAlgorithm = tea.String(alg)
		}
		tc, err := kmsv3.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r, err := tc.GetSecretValueWithOptions(&kmsv3.GetSecretValueRequest{SecretName: tea.String(secretName)},
			&util.RuntimeOptions{IgnoreSSL: tea.Bool(true)})
		if err != nil {
			t.Fatalf("tea %q: %v", alg, err)
		}
		if tea.StringValue(r.Body.SecretData) != secretValue {
			t.Errorf("tea %q: %v", alg, r)
		}
	}
}
