package sdktest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	smc "github.com/aliyun/aliyun-secretsmanager-client-go/sdk"
	smclogger "github.com/aliyun/aliyun-secretsmanager-client-go/sdk/logger"
	smcservice "github.com/aliyun/aliyun-secretsmanager-client-go/sdk/service"
	smcutils "github.com/aliyun/aliyun-secretsmanager-client-go/sdk/utils"
)

// smcLog collects what the Secrets Manager client logs (it logs to stdout
// by default); a failing test prints it.
type smcLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *smcLog) add(level, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, "%s [%s] %s\n", time.Now().Format("15:04:05.000"), level, fmt.Sprintf(format, v...))
}
func (l *smcLog) String() string                 { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
func (l *smcLog) Flush()                         {}
func (l *smcLog) Tracef(format string, v ...any) { l.add("trace", format, v...) }
func (l *smcLog) Infof(format string, v ...any)  { l.add("info", format, v...) }
func (l *smcLog) Debugf(format string, v ...any) { l.add("debug", format, v...) }
func (l *smcLog) Warnf(format string, v ...any)  { l.add("warn", format, v...) }
func (l *smcLog) Errorf(format string, v ...any) { l.add("error", format, v...) }
func (l *smcLog) dump(t *testing.T)              { t.Helper(); t.Logf("Secrets Manager client log:\n%s", l) }
func (l *smcLog) reset()                         { l.mu.Lock(); l.b.Reset(); l.mu.Unlock() }
func (l *smcLog) contains(s string) bool         { return strings.Contains(l.String(), s) }
func (l *smcLog) register() *smcLog {
	smclogger.RegisterLogger(smcutils.ModeName, l)
	return l
}
func (l *smcLog) checkNoValue(t *testing.T, v string) {
	t.Helper()
	if l.contains(v) {
		t.Errorf("the Secrets Manager client logged a secret value (%d bytes)", len(v))
	}
}

var theSMCLog = &smcLog{}

// smcEnv configures aliyun-secretsmanager-client-go through its environment
// variables, as its README has applications do: an AK pair and the region
// with kmsconsole's endpoint (host:port; the client always uses HTTPS and
// accepts any certificate).
func smcEnv(t *testing.T, k accessKey) {
	t.Setenv("credentials_type", "ak")
	t.Setenv("credentials_access_key_id", k.ID)
	t.Setenv("credentials_access_secret", k.Secret)
	t.Setenv("cache_client_region_id", `[{"regionId":"cn-hangzhou","endpoint":"`+kp.host+`"}]`)
}

// TestSecretsManagerClient: the cache client reads secrets made with the
// CLI, with the fields GetSecretValue answers, and after a rotation done
// with the CLI (PutSecretValue) shows the new value once its TTL passes,
// not before. Its TTL comes from the value's "ttl" property (client made
// by sdk.NewClient, nothing but the environment) or from WithSecretTTL.
func TestSecretsManagerClient(t *testing.T) {
	log := theSMCLog.register()
	log.reset()
	defer func() {
		if t.Failed() {
			log.dump(t)
		}
	}()
	const ttl = 3000 // ms
	jsonV1 := secretValue(fmt.Sprintf(`{"user":"app","password":"smc-json-password-1","ttl":%d}`, ttl))
	jsonV2 := secretValue(fmt.Sprintf(`{"user":"app","password":"smc-json-password-2","ttl":%d}`, ttl))
	textV1, textV2 := secretValue("smc-text-value-1"), secretValue("smc-text-value-2")
	deleteWhenDone(t, "smc/app-json", "smc/app-text")
	mustCLI(t, jsonV1, "kms", "CreateSecret", "--SecretName", "smc/app-json", "--VersionId", "v1", "--SecretData", "-")
	mustCLI(t, textV1, "kms", "CreateSecret", "--SecretName", "smc/app-text", "--VersionId", "v1", "--SecretData", "-")
	// What an application's key typically may do: read its own secrets.
	k := newKey(t, `{"Version":"1","Statement":[{"Effect":"Allow","Action":["kms:GetSecretValue"],"Resource":["acs:kms:cn-hangzhou:*:secret/smc/*"]}]}`)
	smcEnv(t, k)

	for _, tc := range []struct {
		what   string
		build  func() (*smc.SecretManagerCacheClient, error)
		name   string
		v1, v2 string
	}{
		{"sdk.NewClient, ttl in the value", smc.NewClient, "smc/app-json", jsonV1, jsonV2},
		{"WithSecretTTL", func() (*smc.SecretManagerCacheClient, error) {
			return smc.NewSecretCacheClientBuilder(smcservice.NewDefaultSecretManagerClientBuilder().Standard().Build()).
				WithSecretTTL("smc/app-text", ttl).Build()
		}, "smc/app-text", textV1, textV2},
	} {
		t.Run(tc.what, func(t *testing.T) {
			// The value cached is fetched after start (WithSecretTTL
			// prefetches in Build).
			start := time.Now()
			c, err := tc.build()
			if err != nil {
				t.Fatalf("building the client from the environment: %v", err)
			}
			defer c.Close()
			info, err := c.GetSecretInfo(tc.name)
			if err != nil {
				t.Fatalf("GetSecretInfo: %v", err)
			}
			// The client keeps what GetSecretValue answers (with
			// FetchExtendedConfig, as it asks).
			want := mustCLI(t, "", "kms", "GetSecretValue", "--SecretName", tc.name, "--FetchExtendedConfig", "true")
			for field, got := range map[string]string{
				"SecretName": info.SecretName, "VersionId": info.VersionId, "SecretData": info.SecretValue,
				"SecretDataType": info.SecretDataType, "CreateTime": info.CreateTime, "SecretType": info.SecretType,
				"AutomaticRotation": info.AutomaticRotation, "ExtendedConfig": info.ExtendedConfig,
				"RotationInterval": info.RotationInterval, "NextRotationDate": info.NextRotationDate,
			} {
				if got != str(want[field]) {
					t.Errorf("%s: the client has %q, GetSecretValue answers %q", field, got, str(want[field]))
				}
			}
			if v, err := c.GetStringValue(tc.name); err != nil || v != tc.v1 {
				t.Fatalf("GetStringValue: %v (value is the first: %v)", err, v == tc.v1)
			}
			// The producer rotates with the CLI.
			mustCLI(t, tc.v2, "kms", "PutSecretValue", "--SecretName", tc.name, "--VersionId", "v2", "--SecretData", "-")
			rotated := time.Now()
			var seen time.Time
			for deadline := rotated.Add(ttl*time.Millisecond + 5*time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				v, err := c.GetStringValue(tc.name)
				if err != nil {
					t.Fatalf("GetStringValue after the rotation: %v", err)
				}
				if v == tc.v2 {
					seen = time.Now()
					break
				}
				if v != tc.v1 {
					t.Fatalf("GetStringValue returned neither value (%d bytes)", len(v))
				}
			}
			if seen.IsZero() {
				t.Fatalf("the new value never showed, %dms TTL + 5s after the rotation", ttl)
			}
			if d := seen.Sub(start); d < ttl*time.Millisecond-100*time.Millisecond {
				t.Errorf("the new value showed %v after the client fetched the first, before its TTL of %dms", d, ttl)
			}
			t.Logf("new value seen %v after the rotation, %v after the client was built (TTL %dms)", seen.Sub(rotated).Round(time.Millisecond),
				seen.Sub(start).Round(time.Millisecond), ttl)
			info, err = c.GetSecretInfo(tc.name)
			if err != nil || info.VersionId != "v2" {
				t.Fatalf("after the rotation: VersionId %q, %v", info.VersionId, err)
			}
		})
	}
	for _, v := range []string{jsonV1, jsonV2, textV1, textV2, k.Secret} {
		log.checkNoValue(t, v)
	}
}

// TestSecretsManagerClientErrors: a secret outside the key's policy and a
// missing one fail at once with the server's code (the client retries only
// throttling, unavailability and internal failures, for up to 10 minutes).
func TestSecretsManagerClientErrors(t *testing.T) {
	log := theSMCLog.register()
	log.reset()
	deleteWhenDone(t, "other/smc")
	mustCLI(t, secretValue("not-for-this-app"), "kms", "CreateSecret", "--SecretName", "other/smc", "--VersionId", "v1", "--SecretData", "-")
	k := newKey(t, `{"Statement":[{"Effect":"Allow","Action":"kms:GetSecretValue","Resource":"acs:kms:*:*:secret/smc/*"}]}`)
	smcEnv(t, k)
	c, err := smc.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name, code string
		status     int
	}{
		{"other/smc", "Forbidden.NoPermission", 403},
		{"smc/missing", "Forbidden.ResourceNotFound", 404},
	} {
		start := time.Now()
		_, err := c.GetStringValue(tc.name)
		var se *sdkerrors.ServerError
		if !errors.As(err, &se) {
			t.Errorf("%s: want the server's error, got %T %v", tc.name, err, err)
			continue
		}
		if se.ErrorCode() != tc.code || se.HttpStatus() != tc.status {
			t.Errorf("%s: %d %s, want %d %s", tc.name, se.HttpStatus(), se.ErrorCode(), tc.status, tc.code)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: the error took %v (retried?)", tc.name, d)
		}
	}
	if t.Failed() {
		log.dump(t)
	}
}
