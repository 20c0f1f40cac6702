package sdktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	kmsv3 "github.com/alibabacloud-go/kms-20160120/v3/client"
	util "github.com/alibabacloud-go/tea-utils/v2/service"
	"github.com/alibabacloud-go/tea/tea"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/kms"
)

// params are an action's parameters as the CLI and the SDKs name them; list
// values are JSON strings, booleans "true"/"false".
type params map[string]string

// answer is what one transport returned for one action: the answer's JSON
// fields, or the error as the client surfaces it.
type answer struct {
	// body is the answer as a JSON object: the wire body for the old SDK
	// (GetHttpContentString) and the CLI (stdout), the decoded typed body
	// for kms-20160120 (only the fields its struct declares).
	body map[string]any
	// typed is the old SDK's typed response struct as JSON (every field it
	// declares, empty ones included); nil for the others.
	typed map[string]any
	err   *apiError
}

// apiError is an error answer as a client surfaces it.
type apiError struct {
	Code       string
	HttpStatus int
	Message    string
	RequestId  string
	HostId     string
	Recommend  string // old SDK: after its SignatureDoesNotMatch wrapper
	sdkMessage string // the error's text as the application sees it
}

func (e *apiError) String() string {
	if e == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%d %s: %s", e.HttpStatus, e.Code, e.Message)
}

// client is one way to call the API: the CLI, or an official SDK client.
type client interface {
	name() string
	call(t testing.TB, action string, p params) answer
}

// ---- the CLI ----

type cliClient struct{}

func (cliClient) name() string { return "cli" }

// call runs `kmsconsole kms <action> --K V ...`, SecretData on stdin.
func (cliClient) call(t testing.TB, action string, p params) answer {
	t.Helper()
	args := []string{"kms", action}
	stdin := ""
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "SecretData" {
			stdin = p[k]
			args = append(args, "--SecretData", "-")
			continue
		}
		args = append(args, "--"+k, p[k])
	}
	r := kmscli(t, stdin, args...)
	if r.code == 0 {
		var m map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
			t.Fatalf("cli %s: answer is not JSON: %v", action, err)
		}
		return answer{body: m}
	}
	var e struct {
		RequestId, Code, Message string
		HttpStatus               int
	}
	if err := json.Unmarshal([]byte(r.stderr), &e); err != nil || e.Code == "" {
		t.Fatalf("cli %s: exit %d without a JSON error: %s", action, r.code, r.stderr)
	}
	return answer{err: &apiError{Code: e.Code, HttpStatus: e.HttpStatus, Message: e.Message, RequestId: e.RequestId}}
}

// ---- alibaba-cloud-sdk-go/services/kms (RPC v1, HMAC-SHA1) ----

type oldClient struct {
	c      *kms.Client
	key    accessKey
	scheme string // https unless a test says otherwise
}

// newOldClient is the old SDK as an application points it at kmsconsole:
// the endpoint as Domain (host:port), HTTPS, the self-signed certificate
// accepted.
func newOldClient(t testing.TB, k accessKey) *oldClient {
	t.Helper()
	return newOldClientAt(t, k, kp.host)
}

func newOldClientAt(t testing.TB, k accessKey, host string) *oldClient {
	t.Helper()
	c, err := kms.NewClientWithAccessKey("cn-hangzhou", k.ID, k.Secret)
	if err != nil {
		t.Fatal(err)
	}
	c.Domain = host
	c.SetHTTPSInsecure(true)
	t.Cleanup(c.Shutdown)
	return &oldClient{c: c, key: k, scheme: "https"}
}

func (*oldClient) name() string { return "alibaba-cloud-sdk-go" }

// oldRequests make the old SDK's request of each action, as its
// Create<Action>Request functions do.
var oldRequests = map[string]func() requests.AcsRequest{
	"CreateSecret":               func() requests.AcsRequest { return kms.CreateCreateSecretRequest() },
	"GetSecretValue":             func() requests.AcsRequest { return kms.CreateGetSecretValueRequest() },
	"PutSecretValue":             func() requests.AcsRequest { return kms.CreatePutSecretValueRequest() },
	"UpdateSecretVersionStage":   func() requests.AcsRequest { return kms.CreateUpdateSecretVersionStageRequest() },
	"GetRandomPassword":          func() requests.AcsRequest { return kms.CreateGetRandomPasswordRequest() },
	"ListSecrets":                func() requests.AcsRequest { return kms.CreateListSecretsRequest() },
	"DescribeSecret":             func() requests.AcsRequest { return kms.CreateDescribeSecretRequest() },
	"ListSecretVersionIds":       func() requests.AcsRequest { return kms.CreateListSecretVersionIdsRequest() },
	"UpdateSecret":               func() requests.AcsRequest { return kms.CreateUpdateSecretRequest() },
	"UpdateSecretRotationPolicy": func() requests.AcsRequest { return kms.CreateUpdateSecretRotationPolicyRequest() },
	"RotateSecret":               func() requests.AcsRequest { return kms.CreateRotateSecretRequest() },
	"DeleteSecret":               func() requests.AcsRequest { return kms.CreateDeleteSecretRequest() },
	"RestoreSecret":              func() requests.AcsRequest { return kms.CreateRestoreSecretRequest() },
}

// call fills the action's typed request (its fields tagged name:"Param")
// and calls the client's typed method, client.<Action>(request).
func (o *oldClient) call(t testing.TB, action string, p params) answer {
	t.Helper()
	mk := oldRequests[action]
	if mk == nil {
		t.Fatalf("old SDK: no request for %s", action)
	}
	req := mk()
	req.SetScheme(o.scheme)
	req.SetReadTimeout(2 * time.Minute) // an ECS rotation logs in to the host twice
	rv := reflect.ValueOf(req).Elem()
	for k, v := range p {
		f, ok := fieldByTag(rv, "name", k)
		if !ok {
			t.Fatalf("old SDK: %sRequest has no parameter %s", action, k)
		}
		f.SetString(v)
	}
	out := reflect.ValueOf(o.c).MethodByName(action).Call([]reflect.Value{reflect.ValueOf(req)})
	resp, errv := out[0], out[1]
	if !errv.IsNil() {
		return answer{err: oldError(t, errv.Interface().(error))}
	}
	raw := resp.MethodByName("GetHttpContentString").Call(nil)[0].String()
	var a answer
	if err := json.Unmarshal([]byte(raw), &a.body); err != nil {
		t.Fatalf("old SDK %s: body is not JSON: %v", action, err)
	}
	a.typed = asJSONMap(t, resp.Interface())
	return a
}

// oldError is the old SDK's error as the application sees it.
func oldError(t testing.TB, err error) *apiError {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		// A client-side failure: no Code, no status.
		return &apiError{Message: err.Error(), sdkMessage: err.Error()}
	}
	return &apiError{Code: se.ErrorCode(), HttpStatus: se.HttpStatus(), Message: se.Message(), RequestId: se.RequestId(),
		HostId: se.HostId(), Recommend: se.Recommend(), sdkMessage: se.Error()}
}

func fieldByTag(v reflect.Value, tag, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if tv, _, _ := strings.Cut(t.Field(i).Tag.Get(tag), ","); tv == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// ---- kms-20160120/v3 over darabonba-openapi (ACS3-HMAC-SHA256, or v2) ----

type teaClient struct {
	c         *kmsv3.Client
	algorithm string
	runtime   *util.RuntimeOptions
}

// newTeaClient is kms-20160120 as an application points it at kmsconsole:
// Endpoint host:port (HTTPS is the action's protocol), IgnoreSSL for the
// self-signed certificate. algorithm "" is the default ACS3-HMAC-SHA256,
// "v2" the RPC HMAC-SHA1 signature.
func newTeaClient(t testing.TB, k accessKey, algorithm string) *teaClient {
	t.Helper()
	return newTeaClientAt(t, k, algorithm, kp.host)
}

func newTeaClientAt(t testing.TB, k accessKey, algorithm, host string) *teaClient {
	t.Helper()
	cfg := &openapi.Config{
		AccessKeyId:     tea.String(k.ID),
		AccessKeySecret: tea.String(k.Secret),
		Endpoint:        tea.String(host),
	}
	if algorithm != "" {
		cfg.SignatureAlgorithm = tea.String(algorithm)
	}
	c, err := kmsv3.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &teaClient{c: c, algorithm: algorithm, runtime: &util.RuntimeOptions{IgnoreSSL: tea.Bool(true), ReadTimeout: tea.Int(120000)}}
}

func (c *teaClient) name() string {
	if c.algorithm == "" {
		return "kms-20160120/ACS3-HMAC-SHA256"
	}
	return "kms-20160120/SignatureAlgorithm=" + c.algorithm
}

// call fills the action's typed request struct (fields by their json
// names) and calls client.<Action>WithOptions(request, runtime).
func (c *teaClient) call(t testing.TB, action string, p params) answer {
	t.Helper()
	return c.callWith(t, action, p, c.runtime)
}

func (c *teaClient) callWith(t testing.TB, action string, p params, runtime *util.RuntimeOptions) answer {
	t.Helper()
	m := reflect.ValueOf(c.c).MethodByName(action + "WithOptions")
	if !m.IsValid() {
		t.Fatalf("kms-20160120: no %sWithOptions", action)
	}
	req := reflect.New(m.Type().In(0).Elem())
	for k, v := range p {
		f, ok := fieldByTag(req.Elem(), "json", k)
		if !ok {
			t.Fatalf("kms-20160120: %s request has no parameter %s", action, k)
		}
		setTea(t, f, k, v)
	}
	out := m.Call([]reflect.Value{req, reflect.ValueOf(runtime)})
	if !out[1].IsNil() {
		return answer{err: teaErr(t, out[1].Interface().(error))}
	}
	resp := out[0].Elem()
	if code := tea.Int32Value(resp.FieldByName("StatusCode").Interface().(*int32)); code != 200 {
		t.Errorf("kms-20160120 %s: StatusCode %d", action, code)
	}
	return answer{body: asJSONMap(t, resp.FieldByName("Body").Interface())}
}

// setTea sets a kms-20160120 request field from its wire string.
func setTea(t testing.TB, f reflect.Value, name, v string) {
	t.Helper()
	switch f.Interface().(type) {
	case *string:
		f.Set(reflect.ValueOf(tea.String(v)))
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, v, err)
		}
		f.Set(reflect.ValueOf(tea.Bool(b)))
	case *int32:
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, v, err)
		}
		f.Set(reflect.ValueOf(tea.Int32(int32(n))))
	case map[string]interface{}:
		var m map[string]interface{}
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			t.Fatalf("%s=%q: %v", name, v, err)
		}
		f.Set(reflect.ValueOf(m))
	default:
		t.Fatalf("kms-20160120: field %s of type %s", name, f.Type())
	}
}

// teaErr is kms-20160120's error as the application sees it.
func teaErr(t testing.TB, err error) *apiError {
	t.Helper()
	var se *tea.SDKError
	if !errors.As(err, &se) {
		// The SDK could not make sense of the answer (or never got one).
		return &apiError{Message: fmt.Sprintf("%T: %v", err, err), sdkMessage: err.Error()}
	}
	e := &apiError{Code: tea.StringValue(se.Code), HttpStatus: tea.IntValue(se.StatusCode), Message: tea.StringValue(se.Message),
		sdkMessage: se.Error()}
	// Data is the error body as JSON (plus the SDK's statusCode).
	var body struct{ RequestId, HostId, Recommend string }
	if err := json.Unmarshal([]byte(tea.StringValue(se.Data)), &body); err == nil {
		e.RequestId, e.HostId, e.Recommend = body.RequestId, body.HostId, body.Recommend
	}
	return e
}

// sdkClients are the three ways an application signs with the official SDKs.
func sdkClients(t testing.TB, k accessKey) []client {
	return []client{newOldClient(t, k), newTeaClient(t, k, ""), newTeaClient(t, k, "v2")}
}

// ---- answers ----

func asJSONMap(t testing.TB, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// must is the answer's body; a failure is fatal.
func (a answer) must(t testing.TB, what string) map[string]any {
	t.Helper()
	if a.err != nil {
		t.Fatalf("%s: %s", what, a.err)
	}
	return a.body
}

var isoTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

// volatile fields differ between two calls that did the same thing.
type volatile struct {
	// times: fields ending in Time or Date are compared by format only.
	times bool
	// fields compared by presence only (e.g. RandomPassword, SecretData).
	fields []string
}

// normalize prepares a body for comparison: RequestId by presence, times by
// format when v.times, v.fields by presence.
func normalize(t testing.TB, what string, m map[string]any, v volatile) map[string]any {
	t.Helper()
	var walk func(path string, x any) any
	walk = func(path string, x any) any {
		switch x := x.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, val := range x {
				p := path + "." + k
				switch {
				case k == "RequestId":
					if str(val) == "" {
						t.Errorf("%s: %s is empty", what, p)
					}
					out[k] = "<RequestId>"
				case v.times && (strings.HasSuffix(k, "Time") || strings.HasSuffix(k, "Date")) && str(val) != "":
					if !isoTime.MatchString(str(val)) {
						t.Errorf("%s: %s = %q is not YYYY-MM-DDThh:mm:ssZ", what, p, str(val))
					}
					out[k] = "<time>"
				case contains(v.fields, k):
					out[k] = "<present>"
				default:
					out[k] = walk(p, val)
				}
			}
			return out
		case []any:
			out := make([]any, len(x))
			for i := range x {
				out[i] = walk(fmt.Sprintf("%s[%d]", path, i), x[i])
			}
			return out
		}
		return x
	}
	return walk("", m).(map[string]any)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sameBody checks an SDK's answer field by field against the CLI's for the
// same action. The old SDK's wire body must equal the CLI's exactly; its
// typed struct must hold every CLI field with the same value; the
// kms-20160120 typed body must hold the same value for every field its
// struct declares and the CLI sends.
func sameBody(t testing.TB, what string, got answer, want map[string]any, v volatile) {
	t.Helper()
	if got.err != nil {
		t.Errorf("%s: %s", what, got.err)
		return
	}
	w := normalize(t, what+" (cli)", want, v)
	g := normalize(t, what, got.body, v)
	if got.typed == nil {
		// kms-20160120: the struct declares a subset of the fields.
		for k, wv := range w {
			if gv, ok := g[k]; ok && !reflect.DeepEqual(gv, wv) {
				t.Errorf("%s: field %s = %s, the CLI answers %s", what, k, js(gv), js(wv))
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				t.Errorf("%s: field %s (%s) is not in the CLI's answer", what, k, js(g[k]))
			}
		}
		return
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: the wire body differs from the CLI's answer\n  api: %s\n  cli: %s", what, js(g), js(w))
	}
	typed := normalize(t, what+" (typed)", got.typed, v)
	if why := covers("", typed, w); why != "" {
		t.Errorf("%s: the SDK's typed response: %s", what, why)
	}
}

// covers says why typed (an SDK's decoded struct, which has every field it
// declares, empty or not) does not hold every field of want with its value,
// or "". Numbers and their decimal strings are the same, as in the SDKs'
// fuzzy decoders.
func covers(path string, typed, want any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := typed.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s is %s, want an object", path, js(typed))
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("no field %s%s", path, "."+k)
			}
			if why := covers(path+"."+k, gv, wv); why != "" {
				return why
			}
		}
		return ""
	case []any:
		g, ok := typed.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s is %s, want %s", path, js(typed), js(want))
		}
		for i := range w {
			if why := covers(fmt.Sprintf("%s[%d]", path, i), g[i], w[i]); why != "" {
				return why
			}
		}
		return ""
	}
	if reflect.DeepEqual(typed, want) || fmt.Sprint(typed) == fmt.Sprint(want) {
		return ""
	}
	return fmt.Sprintf("%s decoded as %s, the CLI answers %s", path, js(typed), js(want))
}

// sameError checks an SDK's error against the CLI's for the same action.
func sameError(t testing.TB, what string, got answer, want *apiError) {
	t.Helper()
	if got.err == nil {
		t.Errorf("%s: succeeded (%s), the CLI answers %s", what, js(got.body), want)
		return
	}
	if got.err.Code != want.Code || got.err.HttpStatus != want.HttpStatus {
		t.Errorf("%s: %s, the CLI answers %s", what, got.err, want)
	}
	if !strings.Contains(got.err.Message, want.Message) {
		t.Errorf("%s: message %q, the CLI's is %q", what, got.err.Message, want.Message)
	}
}

// wantErr checks the Code and HTTP status an SDK surfaces.
func wantErr(t testing.TB, what string, got answer, status int, code string) *apiError {
	t.Helper()
	if got.err == nil {
		t.Errorf("%s: succeeded, want %d %s", what, status, code)
		return &apiError{}
	}
	if got.err.Code != code || got.err.HttpStatus != status {
		t.Errorf("%s: got %s, want %d %s", what, got.err, status, code)
	}
	if got.err.RequestId == "" {
		t.Errorf("%s: the error carries no RequestId", what)
	}
	return got.err
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
