package sdktest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/tea"
)

// TestSlowHeaderConnections: 200 connections that never finish their
// headers (and 200 that never finish the TLS handshake) are held open while
// each SDK client is served at once; serve drops them after its header
// timeout.
func TestSlowHeaderConnections(t *testing.T) {
	deleteWhenDone(t, "app/slow")
	mustCLI(t, secretValue("slow-header-value"), "kms", "CreateSecret", "--SecretName", "app/slow", "--VersionId", "v1", "--SecretData", "-")
	k := newKey(t, allowAll)
	clients := sdkClients(t, k)
	for _, c := range clients { // connections made, so the slow ones are the news
		c.call(t, "GetSecretValue", params{"SecretName": "app/slow"}).must(t, c.name())
	}
	var slow []net.Conn
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()
	for i := 0; i < 200; i++ {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", kp.host, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n", kp.host)
		slow = append(slow, c)
	}
	for i := 0; i < 200; i++ {
		c, err := net.DialTimeout("tcp", kp.host, 5*time.Second)
		if err != nil {
			t.Fatalf("silent connection %d: %v", i, err)
		}
		c.Write([]byte{0x16, 0x03, 0x01}) // the start of a ClientHello, and nothing more
		slow = append(slow, c)
	}
	held := time.Now()
	for _, c := range append(clients, sdkClients(t, k)...) { // kept-alive and fresh connections
		start := time.Now()
		b := c.call(t, "GetSecretValue", params{"SecretName": "app/slow"}).must(t, c.name()+" beside 400 slow connections")
		if b["SecretData"] != "slow-header-value" {
			t.Errorf("%s: another value came back", c.name())
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: served in %v beside 400 slow connections", c.name(), d)
		}
	}
	t.Logf("6 SDK requests served in %v while 400 slow connections were open", time.Since(held).Round(time.Millisecond))
	// serve closes them once its header timeout passes.
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	for _, c := range slow {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if err != nil && errors.As(err, &ne) && ne.Timeout() {
				mu.Lock()
				open++
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	if open > 0 {
		t.Errorf("%d of 400 slow connections still open 20s later", open)
	}
	t.Logf("serve closed the slow connections %v after they opened", time.Since(held).Round(time.Second))
}

// TestBodyOverTheLimit: a form body over 256 KiB is refused with
// Rejected.RequestTooLarge 413 and a JSON error body, sent with net/http
// and with darabonba-openapi's generic CallApi (ACS3-signed form body); a
// body under the limit is served.
func TestBodyOverTheLimit(t *testing.T) {
	deleteWhenDone(t, "app/body")
	mustCLI(t, secretValue("body-limit-value"), "kms", "CreateSecret", "--SecretName", "app/body", "--VersionId", "v1", "--SecretData", "-")
	k := newKey(t, allowAll)
	huge := strings.Repeat("x", 300<<10)
	v := rpcSigned(k, "PutSecretValue", params{"SecretName": "app/body", "VersionId": "v2", "SecretData": huge}, time.Now(), "")
	wantErr(t, "a 300 KiB form body (net/http)", postForm(t, v.Encode()).asOldSDK(t), 413, "Rejected.RequestTooLarge")

	tc := newTeaClient(t, k, "")
	call := func(data, version string) answer {
		t.Helper()
		params := &openapi.Params{Action: tea.String("PutSecretValue"), Version: tea.String("2016-01-20"), Protocol: tea.String("HTTPS"),
			Pathname: tea.String("/"), Method: tea.String("POST"), AuthType: tea.String("AK"), Style: tea.String("RPC"),
			ReqBodyType: tea.String("formData"), BodyType: tea.String("json")}
		req := &openapi.OpenApiRequest{Body: map[string]any{"SecretName": "app/body", "VersionId": version, "SecretData": data}}
		res, err := tc.c.CallApi(params, req, tc.runtime)
		if err != nil {
			return answer{err: teaErr(t, err)}
		}
		body, _ := res["body"].(map[string]any)
		return answer{body: body}
	}
	wantErr(t, "a 300 KiB form body (CallApi)", call(huge, "v2"), 413, "Rejected.RequestTooLarge")
	// The largest value a secret holds, in the body: served.
	biggest := secretValue(largeValue(30720))
	call(biggest, "v3").must(t, "a 30 KiB SecretData in the form body (CallApi)")
	got := newOldClient(t, k).call(t, "GetSecretValue", params{"SecretName": "app/body", "VersionId": "v3"}).must(t, "GetSecretValue v3")
	if got["SecretData"] != biggest {
		t.Errorf("the 30 KiB value came back as %d bytes", len(str(got["SecretData"])))
	}
}

// largeValue is n bytes of JSON text, the kind of value a secret holds
// (a configuration with a certificate): quotes, spaces, colons and
// newlines, which percent-encoding triples.
func largeValue(n int) string {
	var b strings.Builder
	b.WriteString(`{"host": "db.internal", "user": "app", "certificate": "`)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `line %d: "MIIC ZjCC Ac+g/AwI BAgI" ; `, i)
	}
	return b.String()[:n]
}

// TestLargeSecretDataThroughTheSDKs: SecretData up to 30,720 bytes is
// valid (SPEC §1), and both SDKs send every parameter, SecretData included,
// in the query string (API-NOTES §1; alibaba-cloud-sdk-go
// services/kms/put_secret_value.go tags SecretData position:"Query";
// kms-20160120 PutSecretValueWithOptions puts it in query[]). Percent-
// encoded, the largest value is up to three times as long in the request
// line; every size must be stored and read back, with each client.
func TestLargeSecretDataThroughTheSDKs(t *testing.T) {
	deleteWhenDone(t, "app/large")
	mustCLI(t, "first", "kms", "CreateSecret", "--SecretName", "app/large", "--VersionId", "v1", "--SecretData", "-")
	k := newKey(t, allowAll)
	for _, n := range []int{4096, 10240, 20480, 30720} {
		value := secretValue(largeValue(n))
		for i, c := range sdkClients(t, k) {
			vid := fmt.Sprintf("n%d-c%d", n, i)
			got := c.call(t, "PutSecretValue", params{"SecretName": "app/large", "VersionId": vid, "SecretData": value})
			if got.err != nil {
				t.Errorf("%s: PutSecretValue of a %d-byte value: %s (the SDK says: %s)", c.name(), n, got.err, firstLine(got.err.sdkMessage))
				continue
			}
			back := c.call(t, "GetSecretValue", params{"SecretName": "app/large", "VersionId": vid}).must(t, c.name()+" GetSecretValue")
			if back["SecretData"] != value {
				t.Errorf("%s: a %d-byte value came back as %d bytes", c.name(), n, len(str(back["SecretData"])))
			}
		}
	}
	// The CLI stores the same values (standard input).
	if r := kmscli(t, largeValue(30720), "kms", "PutSecretValue", "--SecretName", "app/large", "--VersionId", "cli", "--SecretData", "-"); r.code != 0 {
		t.Errorf("the CLI refused the 30,720-byte value: %s", r.stderr)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
