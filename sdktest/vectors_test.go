package sdktest

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand"
	"net/url"
	"strings"
	"testing"

	openapiutil "github.com/alibabacloud-go/openapi-util/service"
	"github.com/alibabacloud-go/tea/tea"

	"kmsconsole/api"
)

// Characters that the encodings treat differently: RFC 3986 unreserved ones
// (~ - _ .), the ones Go's QueryEscape and RFC 3986 disagree on (space, *, ~),
// the separators (& = + % / : ?), quotes, and multi-byte UTF-8.
const tricky = "aZ09 ~-_.*&=+%/:?#[]@!$'()\",;<>\\^`{|}é中😀\t"

func randomString(rng *rand.Rand, max int) string {
	r := []rune(tricky)
	n := rng.Intn(max + 1)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteRune(r[rng.Intn(len(r))])
	}
	return b.String()
}

// randomParams has a few parameters with awkward values, empty ones
// included; names are plain (the SDKs send API parameter names) except for
// TEA's ExtendedConfig.CustomData.<key> flattening, whose keys are free text.
func randomParams(rng *rand.Rand) map[string]string {
	p := map[string]string{}
	names := []string{"SecretName", "SecretData", "VersionId", "VersionStages", "Filters", "SignatureType", "Description"}
	for _, n := range names {
		if rng.Intn(3) > 0 {
			p[n] = randomString(rng, 12)
		}
	}
	if rng.Intn(2) == 0 {
		p["ExtendedConfig.CustomData."+randomString(rng, 6)] = randomString(rng, 6)
	}
	return p
}

// The RPC v1 signature of api equals openapi-util's GetRPCSignature (which
// kms-20160120 uses with SignatureAlgorithm "v2") on random awkward params.
func TestRPCSignatureMatchesOpenapiUtil(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 500; i++ {
		p := randomParams(rng)
		signed := map[string]*string{}
		v := url.Values{}
		for k, val := range p {
			signed[k] = tea.String(val)
			v.Set(k, val)
		}
		method := []string{"POST", "GET"}[i%2]
		secret := randomString(rng, 10)
		want := tea.StringValue(openapiutil.GetRPCSignature(signed, tea.String(method), tea.String(secret)))
		sts := api.RPCStringToSign(method, v)
		got := rpcSignForTest(secret, sts)
		if got != want {
			t.Fatalf("params %q: api signs %q (string to sign %q), openapi-util %q", p, got, sts, want)
		}
	}
}

// The ACS3 authorization of api equals openapi-util's GetAuthorization.
func TestACS3SignatureMatchesOpenapiUtil(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 500; i++ {
		p := randomParams(rng)
		query := map[string]*string{}
		v := url.Values{}
		for k, val := range p {
			query[k] = tea.String(val)
			v.Set(k, val)
		}
		body := []byte(randomString(rng, 20))
		sum := sha256.Sum256(body)
		payload := hex.EncodeToString(sum[:])
		headers := map[string]*string{
			"host":                  tea.String("127.0.0.1:8443"),
			"x-acs-action":          tea.String("GetSecretValue"),
			"x-acs-version":         tea.String("2016-01-20"),
			"x-acs-date":            tea.String("2025-01-02T03:04:05Z"),
			"x-acs-signature-nonce": tea.String(randomString(rng, 8)),
			"x-acs-content-sha256":  tea.String(payload),
			"x-acs-odd":             tea.String("  " + randomString(rng, 8) + "  "),
			"user-agent":            tea.String("not signed"),
			"accept":                tea.String("application/json"),
		}
		if i%2 == 0 {
			headers["content-type"] = tea.String("application/x-www-form-urlencoded")
		}
		req := tea.NewRequest()
		req.Method = tea.String("POST")
		req.Pathname = tea.String("/")
		req.Query = query
		req.Headers = headers
		secret := randomString(rng, 10)
		want := tea.StringValue(openapiutil.GetAuthorization(req, tea.String("ACS3-HMAC-SHA256"), tea.String(payload),
			tea.String("AK"), tea.String(secret)))
		// SignedHeaders as the SDK lists them.
		_, rest, _ := strings.Cut(want, "SignedHeaders=")
		signedList, _, _ := strings.Cut(rest, ",")
		names := strings.Split(signedList, ";")
		canonical := api.ACS3CanonicalRequest("POST", "/", v, func(name string) []string {
			return []string{tea.StringValue(headers[name])}
		}, names, payload)
		got := "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=" + signedList + ",Signature=" +
			acs3SignForTest(secret, api.ACS3StringToSign(canonical))
		if got != want {
			t.Fatalf("params %q: api %q, openapi-util %q\ncanonical request:\n%s", p, got, want, canonical)
		}
	}
}
