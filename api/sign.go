package api

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"kmsconsole/model"
)

// The two signature schemes, as Verified.Scheme names them.
const (
	// SchemeRPC is RPC v1: SignatureMethod HMAC-SHA1, SignatureVersion 1.0,
	// the signature in the Signature parameter. alibaba-cloud-sdk-go,
	// the Python core SDK, and kms-20160120/v3 with SignatureAlgorithm "v2".
	SchemeRPC = "HMAC-SHA1"
	// SchemeACS3 is ACS3-HMAC-SHA256 (signature V3) in the Authorization
	// header: kms-20160120/v3 by default.
	SchemeACS3 = "ACS3-HMAC-SHA256"
)

// KeyStatus is whether an access key may be used. The zero value is
// KeyDisabled, so a Credentials that forgets to say refuses.
type KeyStatus int

const (
	KeyDisabled KeyStatus = iota
	KeyEnabled
)

// ErrKeyNotFound is what Credentials.Secret returns (possibly wrapped) for an
// access key that does not exist; the request is then refused with
// InvalidAccessKeyId.NotFound 404. Any other error is an InternalFailure 500.
var ErrKeyNotFound = errors.New("access key not found")

// Credentials looks access keys up. Secret returns every AccessKeySecret the
// key currently accepts (two during a rotation's grace period, the newest
// first), and whether the key is enabled.
type Credentials interface {
	Secret(accessKeyId string) (secrets [][]byte, status KeyStatus, err error)
}

// Verified is an authenticated request.
type Verified struct {
	AccessKeyId string
	// Params are the request's parameters: the query string and a form
	// body merged (a name given twice is refused), without the signature's
	// own parameters (Signature*, AccessKeyId, Timestamp), but always with
	// Action and Version (for ACS3 taken from x-acs-action / x-acs-version).
	// List parameters stay JSON strings, as the SDKs send them.
	Params url.Values
	// Scheme is SchemeRPC or SchemeACS3.
	Scheme string
	// SecretIndex is which of the key's secrets matched (0 is the first
	// Credentials returned; 1 an older one still in its grace period).
	SecretIndex int
	Nonce       string
	Timestamp   time.Time
}

// Authenticate checks a request signed by an official SDK: parameters,
// timestamp (at most MaxSkew away from now either way), access key, signature
// (in constant time), key status, and finally the nonce (single use; recorded
// only once the signature is good, so nobody can burn another client's
// nonces). body is the request body, already read (and size-limited) by the
// caller. It returns the access key and the request's parameters (see
// Verified.Params), or an error with the cloud's code and HTTP status.
//
// On error, accessKeyId is the key the request claimed, if it named one —
// unauthenticated, but what the audit trail should record the refusal under.
// nonces must not be nil.
func Authenticate(r *http.Request, body []byte, now time.Time, creds Credentials, nonces *NonceCache) (accessKeyId string, params url.Values, err *Error) {
	v, err := Verify(r, body, now, creds, nonces)
	if v != nil {
		accessKeyId = v.AccessKeyId
	}
	if err != nil {
		return accessKeyId, nil, err
	}
	return accessKeyId, v.Params, nil
}

// Verify is Authenticate with everything it learnt. On error the result is
// nil, or carries only the AccessKeyId the request claimed.
func Verify(r *http.Request, body []byte, now time.Time, creds Credentials, nonces *NonceCache) (*Verified, *Error) {
	query, params, e := requestParams(r, body)
	if e != nil {
		return nil, e
	}
	auth := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(auth, "ACS3-"):
		return verifyACS3(r, auth, body, query, params, now, creds, nonces)
	case params.Has("Signature") || auth == "":
		return verifyRPC(r, params, now, creds, nonces)
	default:
		scheme, _, _ := strings.Cut(auth, " ")
		return nil, incomplete("the Authorization scheme " + quote(scheme) +
			" is not supported; sign with ACS3-HMAC-SHA256 or the RPC HMAC-SHA1 Signature parameter")
	}
}

const formType = "application/x-www-form-urlencoded"

// requestParams parses the query string and a form body. A parameter given
// more than once (twice in the query, or in both) is refused: the signature
// would cover one value and the action might read the other.
func requestParams(r *http.Request, body []byte) (query, all url.Values, err *Error) {
	query, perr := url.ParseQuery(r.URL.RawQuery)
	if perr != nil {
		return nil, nil, newError(model.CodeInvalidParameter, 400, "The query string is malformed: "+perr.Error())
	}
	for k, v := range query {
		if len(v) > 1 {
			return nil, nil, invalid(k, "given more than once")
		}
	}
	all = make(url.Values, len(query))
	for k, v := range query {
		all[k] = v
	}
	if len(body) == 0 {
		return query, all, nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != formType {
		return nil, nil, invalid("Content-Type", "a request body must be "+formType+", got "+quote(r.Header.Get("Content-Type")))
	}
	form, perr := url.ParseQuery(string(body))
	if perr != nil {
		return nil, nil, newError(model.CodeInvalidParameter, 400, "The form body is malformed: "+perr.Error())
	}
	for k, v := range form {
		if len(v) > 1 || all.Has(k) {
			return nil, nil, invalid(k, "given more than once")
		}
		all[k] = v
	}
	return query, all, nil
}

// rpcAuthParams are the RPC v1 signature's own parameters, removed from
// Verified.Params.
var rpcAuthParams = []string{"AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion",
	"SignatureNonce", "SignatureType", "Timestamp"}

func verifyRPC(r *http.Request, params url.Values, now time.Time, creds Credentials, nonces *NonceCache) (*Verified, *Error) {
	ak := params.Get("AccessKeyId")
	if ak == "" {
		return nil, missing("AccessKeyId")
	}
	claimed := &Verified{AccessKeyId: ak}
	for _, k := range []string{"Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp", "Action", "Version"} {
		if params.Get(k) == "" {
			return claimed, missing(k)
		}
	}
	if m := params.Get("SignatureMethod"); m != "HMAC-SHA1" {
		return claimed, invalid("SignatureMethod", "only HMAC-SHA1 is supported, got "+quote(m))
	}
	if v := params.Get("SignatureVersion"); v != "1.0" {
		return claimed, invalid("SignatureVersion", "only 1.0 is supported, got "+quote(v))
	}
	if t := params.Get("SignatureType"); t != "" {
		return claimed, invalid("SignatureType", "bearer tokens are not supported, got "+quote(t))
	}
	if e := refuseTokens(params.Has("SecurityToken") || params.Has("BearerToken")); e != nil {
		return claimed, e
	}
	ts, e := checkTime(params.Get("Timestamp"), "Timestamp", now)
	if e != nil {
		return claimed, e
	}
	secrets, status, e := lookup(creds, ak)
	if e != nil {
		return claimed, e
	}
	sts := RPCStringToSign(r.Method, params)
	given := []byte(params.Get("Signature"))
	index := -1
	for i, s := range secrets {
		want := []byte(rpcSign(s, sts))
		if subtle.ConstantTimeCompare(want, given) == 1 {
			index = i
			break
		}
	}
	if index < 0 {
		return claimed, mismatch(sts)
	}
	if status != KeyEnabled {
		return claimed, disabled()
	}
	nonce := params.Get("SignatureNonce")
	if e := nonces.use(ak, nonce, ts, now); e != nil {
		return claimed, e
	}
	out := make(url.Values, len(params))
	for k, v := range params {
		out[k] = v
	}
	for _, k := range rpcAuthParams {
		delete(out, k)
	}
	return &Verified{AccessKeyId: ak, Params: out, Scheme: SchemeRPC, SecretIndex: index, Nonce: nonce, Timestamp: ts}, nil
}

// RPCStringToSign is the RPC v1 string to sign of a request with these
// (decoded) parameters, exactly as alibaba-cloud-sdk-go
// (sdk/auth/rpc_signature_composer.go buildRpcStringToSign) and
// openapi-util (buildRpcStringToSign) build it: every parameter but
// Signature, empty values included (the old SDK sends "SignatureType="),
// sorted by name and encoded by url.Values.Encode, then '+' → %20,
// '*' → %2A, %7E → '~' (RFC 3986), and that whole string query-escaped once
// more after METHOD&%2F&.
func RPCStringToSign(method string, params url.Values) string {
	v := make(url.Values, len(params))
	for k, vals := range params {
		if k != "Signature" {
			v[k] = vals
		}
	}
	return method + "&%2F&" + url.QueryEscape(rfc3986(v.Encode()))
}

// rpcSign is base64(HMAC-SHA1(AccessKeySecret + "&", stringToSign)).
func rpcSign(secret []byte, sts string) string {
	key := make([]byte, 0, len(secret)+1)
	key = append(append(key, secret...), '&')
	h := hmac.New(sha1.New, key)
	h.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func rfc3986(s string) string {
	s = strings.ReplaceAll(s, "+", "%20")
	s = strings.ReplaceAll(s, "*", "%2A")
	return strings.ReplaceAll(s, "%7E", "~")
}

// acs3Required are the headers an ACS3 request must sign: everything the
// server reads from headers (action, version, freshness, replay, body hash)
// and the host. The SDK signs host, content-type and every x-acs-* header.
var acs3Required = []string{"host", "x-acs-action", "x-acs-version", "x-acs-date",
	"x-acs-signature-nonce", "x-acs-content-sha256"}

func verifyACS3(r *http.Request, auth string, body []byte, query, params url.Values, now time.Time, creds Credentials, nonces *NonceCache) (*Verified, *Error) {
	algo, rest, _ := strings.Cut(auth, " ")
	if algo != SchemeACS3 {
		return nil, incomplete("the signature algorithm " + quote(algo) + " is not supported; use ACS3-HMAC-SHA256")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, incomplete("the Authorization header is malformed near " + quote(part))
		}
		if _, dup := fields[k]; dup {
			return nil, incomplete("the Authorization header gives " + k + " twice")
		}
		fields[k] = v
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return nil, incomplete("the Authorization header has no " + k)
		}
	}
	ak := fields["Credential"]
	claimed := &Verified{AccessKeyId: ak}
	signedList := fields["SignedHeaders"]
	signed := map[string]bool{}
	var names []string
	for _, h := range strings.Split(signedList, ";") {
		if h == "" {
			return claimed, incomplete("SignedHeaders has an empty name")
		}
		signed[strings.ToLower(h)] = true
		names = append(names, h)
	}
	for _, h := range acs3Required[1:] {
		switch vals := r.Header.Values(h); {
		case len(vals) == 0 || strings.TrimSpace(vals[0]) == "":
			return claimed, missing(h)
		case len(vals) > 1:
			return claimed, invalid(h, "the header is given more than once")
		}
	}
	required := acs3Required
	if len(body) > 0 {
		required = append(required[:len(required):len(required)], "content-type")
	}
	for _, h := range required {
		if !signed[h] {
			return claimed, incomplete("the header " + h + " must be signed (SignedHeaders)")
		}
	}
	if e := refuseTokens(r.Header.Get("x-acs-security-token") != "" || r.Header.Get("x-acs-bearer-token") != ""); e != nil {
		return claimed, e
	}
	action := strings.TrimSpace(r.Header.Get("x-acs-action"))
	version := strings.TrimSpace(r.Header.Get("x-acs-version"))
	if a := params.Get("Action"); params.Has("Action") && a != action {
		return claimed, invalid("Action", "the parameter "+quote(a)+" and the header x-acs-action "+quote(action)+" differ")
	}
	if v := params.Get("Version"); params.Has("Version") && v != version {
		return claimed, invalid("Version", "the parameter "+quote(v)+" and the header x-acs-version "+quote(version)+" differ")
	}
	ts, e := checkTime(strings.TrimSpace(r.Header.Get("x-acs-date")), "x-acs-date", now)
	if e != nil {
		return claimed, e
	}
	secrets, status, e := lookup(creds, ak)
	if e != nil {
		return claimed, e
	}

	sum := sha256.Sum256(body)
	canonical := ACS3CanonicalRequest(r.Method, r.URL.Path, query, func(name string) []string {
		if strings.EqualFold(name, "host") {
			return []string{r.Host}
		}
		return r.Header.Values(name)
	}, names, hex.EncodeToString(sum[:]))
	sts := ACS3StringToSign(canonical)
	if !strings.EqualFold(strings.TrimSpace(r.Header.Get("x-acs-content-sha256")), hex.EncodeToString(sum[:])) {
		e := mismatch(sts)
		e.Message = "The x-acs-content-sha256 header is not the SHA-256 of the request body. " + e.Message
		return claimed, e
	}
	given := []byte(strings.ToLower(fields["Signature"]))
	index := -1
	for i, s := range secrets {
		if subtle.ConstantTimeCompare([]byte(acs3Sign(s, sts)), given) == 1 {
			index = i
			break
		}
	}
	if index < 0 {
		return claimed, mismatch(sts)
	}
	if status != KeyEnabled {
		return claimed, disabled()
	}
	nonce := strings.TrimSpace(r.Header.Get("x-acs-signature-nonce"))
	if e := nonces.use(ak, nonce, ts, now); e != nil {
		return claimed, e
	}
	out := make(url.Values, len(params)+2)
	for k, v := range params {
		out[k] = v
	}
	out.Set("Action", action)
	out.Set("Version", version)
	return &Verified{AccessKeyId: ak, Params: out, Scheme: SchemeACS3, SecretIndex: index, Nonce: nonce, Timestamp: ts}, nil
}

// ACS3CanonicalRequest is the canonical request of signature V3 as
// openapi-util (service/service.go GetAuthorization, getCanonicalQueryString,
// getCanonicalHeaders) builds it:
//
//	METHOD \n URI \n QUERY \n HEADERS \n SIGNEDHEADERS \n HASHEDPAYLOAD
//
// URI is the path with '+' → %20, '*' → %2A, %7E → '~' ("/" when empty).
// QUERY: names sorted, each "name=" + QueryEscape(value) ("name=" for an
// empty value) joined by '&', the names themselves NOT escaped, and then the
// same three replacements over the whole string. HEADERS: for each signed
// name, in the order given, "name:" + its values trimmed, sorted and joined
// by ',' + "\n" (so the block ends in a blank line). SIGNEDHEADERS: the names
// joined by ';'. HASHEDPAYLOAD: lower-case hex SHA-256 of the body. header
// returns a header's values (the host for "host").
func ACS3CanonicalRequest(method, path string, query url.Values, header func(name string) []string, signedHeaders []string, hashedPayload string) string {
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(rfc3986(path))
	b.WriteByte('\n')
	b.WriteString(acs3Query(query))
	b.WriteByte('\n')
	for _, name := range signedHeaders {
		vals := header(name)
		trimmed := make([]string, len(vals))
		for i, v := range vals {
			trimmed[i] = strings.TrimSpace(v)
		}
		sort.Strings(trimmed)
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strings.Join(trimmed, ","))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(hashedPayload)
	return b.String()
}

func acs3Query(query url.Values) string {
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		// requestParams refuses repeated names; the SDK sends one value.
		v := query.Get(k)
		b.WriteByte('&')
		b.WriteString(k)
		b.WriteByte('=')
		if v != "" {
			b.WriteString(url.QueryEscape(v))
		}
	}
	return strings.TrimLeft(rfc3986(b.String()), "&")
}

// ACS3StringToSign is "ACS3-HMAC-SHA256\n" + hex(SHA-256(canonical request)).
func ACS3StringToSign(canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return SchemeACS3 + "\n" + hex.EncodeToString(sum[:])
}

// acs3Sign is hex(HMAC-SHA256(AccessKeySecret, stringToSign)): no "&" here.
func acs3Sign(secret []byte, sts string) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(sts))
	return hex.EncodeToString(h.Sum(nil))
}

func checkTime(value, name string, now time.Time) (time.Time, *Error) {
	ts, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return time.Time{}, newError(CodeTimestampFormat, 400,
			"Specified time stamp or date value is not well formatted: "+name+" must look like 2006-01-02T15:04:05Z, got "+quote(value))
	}
	if d := now.Sub(ts); d > MaxSkew || d < -MaxSkew {
		e := newError(CodeTimestampExpired, 400, "Specified time stamp or date value is expired.")
		e.Recommend = "The server's time is " + now.UTC().Format(time.RFC3339) +
			"; a request's " + name + " must be within 15 minutes of it."
		return time.Time{}, e
	}
	return ts, nil
}

func lookup(creds Credentials, ak string) ([][]byte, KeyStatus, *Error) {
	secrets, status, err := creds.Secret(ak)
	if errors.Is(err, ErrKeyNotFound) {
		return nil, 0, newError(CodeAccessKeyNotFound, 404, "Specified access key is not found.")
	}
	if err != nil {
		return nil, 0, AsError(err)
	}
	return secrets, status, nil
}

func mismatch(sts string) *Error {
	return newError(CodeSignatureDoesNotMatch, 400,
		"Specified signature is not matched with our calculation. "+StringToSignMarker+sts)
}

func disabled() *Error {
	return newError(CodeAccessKeyDisabled, 403, "The specified AccessKey is disabled.")
}

func refuseTokens(present bool) *Error {
	if !present {
		return nil
	}
	return invalid("SecurityToken", "STS tokens and bearer tokens are not supported: sign with an access key from `kmsconsole accesskey create`")
}

// quote quotes s for a message (Go syntax: control characters escaped), cut
// to 64 characters: messages echo what the client sent, never unbounded.
func quote(s string) string {
	if utf8.RuneCountInString(s) > 64 {
		s = string([]rune(s)[:64]) + "…"
	}
	return strconv.Quote(s)
}
