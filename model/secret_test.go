package model

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestValidateSecretName(t *testing.T) {
	ecs184 := ECSNamePrefix + strings.Repeat("x", 184) // 192 in all
	tests := []struct {
		name string
		typ  SecretType
		code string
	}{
		{"a", Generic, ok},
		{"mydbconninfo", Generic, ok},
		{"aZ09_/+=.@-", Generic, ok},
		{strings.Repeat("a", 192), Generic, ok},
		{strings.Repeat("a", 193), Generic, invalid},
		{"acsfoo", Generic, ok}, // only "acs/" is reserved
		{"my/acs/x", Generic, ok},
		{"acs/foo", Generic, invalid},
		{"acs/ecs/web1", Generic, invalid},
		{"acs/ecs/web1", ECS, ok},
		{"acs/ecs/i-web1/root", ECS, ok},
		{ecs184, ECS, ok},
		{ecs184 + "x", ECS, invalid},
		{"web1-root", ECS, invalid},
		{"acs/rds/x", ECS, invalid},
		{"ACS/ECS/x", ECS, invalid},
		{"acs/ecsx", ECS, invalid},
		{"", Generic, missing},
		{"", ECS, missing},
		{"my secret", Generic, invalid},
		{" lead", Generic, invalid},
		{"a#b", Generic, invalid},
		{"a*b", Generic, invalid},
		{"a:b", Generic, invalid},
		{"a\\b", Generic, invalid},
		{"a\nb", Generic, invalid},
		{"a\tb", Generic, invalid},
		{"a\x00b", Generic, invalid},
		{"café", Generic, invalid},
		{"密钥", Generic, invalid},
		{"acs/ecs/café", ECS, invalid},
		{"ｆｕｌｌ", Generic, invalid}, // full-width letters
		{"\xff", Generic, invalid},
	}
	for _, tc := range tests {
		t.Run(string(tc.typ)+"/"+trunc(tc.name), func(t *testing.T) {
			param := "SecretName"
			check(t, ValidateSecretName(tc.name, tc.typ), tc.code, param)
		})
	}
}

func trunc(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

func TestValidateSecretNameRef(t *testing.T) {
	check(t, ValidateSecretNameRef(""), missing, "SecretName")
	check(t, ValidateSecretNameRef("acs/ecs/web1"), ok, "")
	check(t, ValidateSecretNameRef("plain"), ok, "")
	check(t, ValidateSecretNameRef(strings.Repeat("a", 193)), invalid, "SecretName")
	check(t, ValidateSecretNameRef("a b"), invalid, "SecretName")
}

func TestParseSecretType(t *testing.T) {
	tests := []struct {
		in   string
		want SecretType
		code string
	}{
		{"", Generic, ok},
		{"Generic", Generic, ok},
		{"generic", Generic, ok},
		{"ECS", ECS, ok},
		{"ecs", ECS, ok},
		{"RDS", "", invalid},
		{"ECS ", "", invalid},
	}
	for _, tc := range tests {
		got, err := ParseSecretType(tc.in)
		check(t, err, tc.code, "SecretType")
		if got != tc.want {
			t.Errorf("ParseSecretType(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if Generic.Label() != "Generic secret" || ECS.Label() != "Managed ECS secret" {
		t.Errorf("labels: %q, %q", Generic.Label(), ECS.Label())
	}
}

func TestValidateVersionId(t *testing.T) {
	tests := []struct {
		id   string
		code string
	}{
		{"v1", ok},
		{"00000000-0000-0000-0000-000000000001", ok},
		{"a", ok},
		{strings.Repeat("v", 64), ok},
		{strings.Repeat("v", 65), invalid},
		{"", missing},
		{"v 1", invalid},
		{"v#1", invalid},
		{"vé", invalid},
		{"v1\n", invalid},
	}
	for _, tc := range tests {
		t.Run(trunc(tc.id), func(t *testing.T) {
			check(t, ValidateVersionId(tc.id), tc.code, "VersionId")
		})
	}
}

func TestValidateStageName(t *testing.T) {
	tests := []struct {
		stage string
		code  string
	}{
		{"MyPendingLabel", ok},
		{"ACSCurrent", ok},
		{"ACSPrevious", ok},
		{"v2-label", ok},
		{strings.Repeat("L", 64), ok},
		{strings.Repeat("L", 65), invalid},
		{"ACSPending", invalid},
		{"ACSFoo", invalid},
		{"ACS", invalid},
		{"ACSCurrentX", invalid},
		{"", missing},
		{"my label", invalid},
		{"label#1", invalid},
		{"étiquette", invalid},
	}
	for _, tc := range tests {
		t.Run(trunc(tc.stage), func(t *testing.T) {
			// The param name passed in is the one the error must name.
			check(t, ValidateStageName("VersionStage", tc.stage), tc.code, "VersionStage")
		})
	}
}

func TestValidateSecretData(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		name     string
		data     string
		dataType string
		code     string
	}{
		{"text", "hello", DataText, ok},
		{"default type is text", "hello", "", ok},
		{"text 30720 bytes", strings.Repeat("a", 30720), DataText, ok},
		{"text 30721 bytes", strings.Repeat("a", 30721), DataText, invalid},
		{"multibyte 30720 bytes", strings.Repeat("é", 15360), DataText, ok},
		{"multibyte counted in bytes", strings.Repeat("é", 15360) + "a", DataText, invalid},
		{"utf8 text", "pässwörd ✓ 密钥", DataText, ok},
		{"json text", `{"UserName":"root","Password":"x"}`, DataText, ok},
		{"invalid utf8", "ab\xff\xfe", DataText, invalid},
		{"lone continuation byte", "\x80", DataText, invalid},
		{"empty text", "", DataText, missing},
		{"empty binary", "", DataBinary, missing},
		{"binary", "aGVsbG8=", DataBinary, ok},
		{"binary bytes", base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff}), DataBinary, ok},
		{"binary 30720 encoded bytes", b64(23040), DataBinary, ok},
		{"binary too long", b64(23043), DataBinary, invalid},
		{"binary not base64", "not base64!", DataBinary, invalid},
		{"binary missing padding", "aGVsbG8", DataBinary, invalid},
		{"binary url alphabet", "-_-_", DataBinary, invalid},
		{"binary given raw bytes", "\x00\x01\x02\xff", DataBinary, invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, ValidateSecretData(tc.data, tc.dataType), tc.code, "SecretData")
		})
	}
}

func TestValidateSecretDataErrorNeverQuotesValue(t *testing.T) {
	const value = "hunter2-top-secret"
	for _, tc := range []struct{ data, typ string }{
		{value + "\xff", DataText},
		{value + "!", DataBinary},
		{value + strings.Repeat("a", 30720), DataText},
	} {
		err := ValidateSecretData(tc.data, tc.typ)
		if err == nil {
			t.Fatalf("expected an error for %s data", tc.typ)
		}
		if strings.Contains(err.Error(), value) {
			t.Errorf("error %q quotes the value", err)
		}
	}
}

func TestValidateDataType(t *testing.T) {
	tests := []struct {
		in, want, code string
	}{
		{"", DataText, ok},
		{"text", DataText, ok},
		{"binary", DataBinary, ok},
		{"json", "", invalid},
		{"bin", "", invalid},
		{"text ", "", invalid},
	}
	for _, tc := range tests {
		got, err := ValidateDataType(tc.in)
		check(t, err, tc.code, "SecretDataType")
		if got != tc.want {
			t.Errorf("ValidateDataType(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestValidateDescription(t *testing.T) {
	check(t, ValidateDescription(""), ok, "")
	check(t, ValidateDescription(strings.Repeat("é", 1024)), ok, "") // runes, not bytes
	check(t, ValidateDescription(strings.Repeat("a", 1025)), invalid, "Description")
}

func TestParseBool(t *testing.T) {
	tests := []struct {
		in   string
		want bool
		code string
	}{
		{"true", true, ok},
		{"True", true, ok},
		{"TRUE", true, ok},
		{"false", false, ok},
		{"False", false, ok},
		{"FALSE", false, ok},
		{"", false, ok},
		{"yes", false, invalid},
		{"1", false, invalid},
		{"0", false, invalid},
		{"t", false, invalid},
		{"tRuE", false, invalid},
		{" true", false, invalid},
	}
	for _, tc := range tests {
		got, err := ParseBool("EnableAutomaticRotation", tc.in)
		check(t, err, tc.code, "EnableAutomaticRotation")
		if got != tc.want {
			t.Errorf("ParseBool(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestValidateRegionId(t *testing.T) {
	tests := []struct {
		in, code string
	}{
		{"cn-hangzhou", ok},
		{"us-east-1", ok},
		{"local", ok},
		{strings.Repeat("a", 64), ok},
		{strings.Repeat("a", 65), invalid},
		{"", missing},
		{"CN-Hangzhou", invalid},
		{"cn_hangzhou", invalid},
		{"cn hangzhou", invalid},
		{"cn/hangzhou", invalid},
		{"cn.hangzhou", invalid},
		{"région", invalid},
	}
	for _, tc := range tests {
		t.Run(trunc(tc.in), func(t *testing.T) {
			check(t, ValidateRegionId("RegionId", tc.in), tc.code, "RegionId")
		})
	}
}

func TestFormatParseTime(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 22, 17, 42, 53, 0, time.UTC), "2026-11-22T17:42:53Z"},
		{time.Date(2026, 11, 23, 1, 42, 53, 0, cst), "2026-11-22T17:42:53Z"}, // rendered in UTC
		{time.Date(2026, 11, 22, 17, 42, 53, 999_999_999, time.UTC), "2026-11-22T17:42:53Z"},
		{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), "2000-01-01T00:00:00Z"},
		{time.Time{}, ""},
	}
	for _, tc := range tests {
		got := FormatTime(tc.in)
		if got != tc.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tc.in, got, tc.want)
		}
		back, err := ParseTime(got)
		if err != nil {
			t.Fatalf("ParseTime(%q): %v", got, err)
		}
		if want := tc.in.Truncate(time.Second); !back.Equal(want) {
			t.Errorf("round trip of %v gave %v", tc.in, back)
		}
		if !back.IsZero() && back.Location() != time.UTC {
			t.Errorf("ParseTime(%q) location = %v, want UTC", got, back.Location())
		}
	}
	for _, bad := range []string{"2026-11-22 17:42:53", "2026-11-22T17:42:53+08:00", "2026-11-22", "yesterday", "2026-13-01T00:00:00Z"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

var fixedNow = time.Date(2026, 11, 22, 17, 42, 53, 0, time.UTC)

func TestSecretStatus(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name string
		sec  Secret
		want string
	}{
		{"enabled", Secret{AutomaticRotation: RotationEnabled}, "Enabled"},
		{"rotation off", Secret{AutomaticRotation: RotationDisabled}, "Enabled"},
		{"generic, no rotation", Secret{}, "Enabled"},
		{"rotation failed", Secret{AutomaticRotation: RotationInvalid, RotationError: "host refused"}, "Rotation failed"},
		{"pending 7 days", Secret{PlannedDeleteTime: fixedNow.Add(7 * day)}, "Pending deletion (in 7 days)"},
		{"pending 30 days", Secret{PlannedDeleteTime: fixedNow.Add(30 * day)}, "Pending deletion (in 30 days)"},
		{"pending rounds up", Secret{PlannedDeleteTime: fixedNow.Add(7*day - time.Second)}, "Pending deletion (in 7 days)"},
		{"pending 6d23h", Secret{PlannedDeleteTime: fixedNow.Add(6*day + 23*time.Hour)}, "Pending deletion (in 7 days)"},
		{"pending 6d1h", Secret{PlannedDeleteTime: fixedNow.Add(6*day + time.Hour)}, "Pending deletion (in 7 days)"},
		{"pending 1h", Secret{PlannedDeleteTime: fixedNow.Add(time.Hour)}, "Pending deletion (in 1 day)"},
		{"pending overdue", Secret{PlannedDeleteTime: fixedNow.Add(-3 * day)}, "Pending deletion (today)"},
		{"pending beats failed rotation", Secret{AutomaticRotation: RotationInvalid, PlannedDeleteTime: fixedNow.Add(7 * day)}, "Pending deletion (in 7 days)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sec.Status(fixedNow); got != tc.want {
				t.Errorf("Status = %q, want %q", got, tc.want)
			}
			if got, want := tc.sec.PendingDeletion(), !tc.sec.PlannedDeleteTime.IsZero(); got != want {
				t.Errorf("PendingDeletion = %v, want %v", got, want)
			}
		})
	}
}

func TestSecretNextRotation(t *testing.T) {
	created := fixedNow.Add(-30 * 24 * time.Hour)
	last := fixedNow.Add(-2 * 24 * time.Hour)
	week := int64(604800)
	tests := []struct {
		name string
		sec  Secret
		want time.Time
	}{
		{"from creation", Secret{AutomaticRotation: RotationEnabled, RotationInterval: week, CreateTime: created}, created.Add(7 * 24 * time.Hour)},
		{"from last rotation", Secret{AutomaticRotation: RotationEnabled, RotationInterval: week, CreateTime: created, LastRotationDate: last}, last.Add(7 * 24 * time.Hour)},
		{"6h interval", Secret{AutomaticRotation: RotationEnabled, RotationInterval: 21600, CreateTime: created, LastRotationDate: last}, last.Add(6 * time.Hour)},
		{"disabled", Secret{AutomaticRotation: RotationDisabled, RotationInterval: week, CreateTime: created, LastRotationDate: last}, time.Time{}},
		{"no interval", Secret{AutomaticRotation: RotationEnabled, CreateTime: created}, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sec.NextRotation(); !got.Equal(tc.want) {
				t.Errorf("NextRotation = %v, want %v", got, tc.want)
			}
		})
	}
}
