package api

import (
	"encoding/json"
	"strings"
	"testing"

	"kmsconsole/model"
)

const region = "cn-hangzhou"

func arn(name string) string { return SecretARN(region, name) }

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatalf("ParsePolicy(%s): %v", doc, err)
	}
	return p
}

func TestARNsMatchTheService(t *testing.T) {
	// service.arn: "acs:kms:" + region + ":local:secret/" + name
	if got := SecretARN("cn-hangzhou", "app/db"); got != "acs:kms:cn-hangzhou:local:secret/app/db" {
		t.Fatal(got)
	}
	if got := RequestResource("ListSecrets", region, ""); got != "acs:kms:cn-hangzhou:local:secret" {
		t.Fatal(got)
	}
	if got := RequestResource("GetRandomPassword", region, ""); got != "*" {
		t.Fatal(got)
	}
	if got := RequestResource("GetSecretValue", region, "app/x"); got != arn("app/x") {
		t.Fatal(got)
	}
}

func TestAllowed(t *testing.T) {
	type check struct {
		action, resource string
		want             bool
	}
	cases := []struct {
		name   string
		doc    string
		checks []check
	}{
		{
			name: "app/* only",
			doc: `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:GetSecretValue",
				"Resource":"acs:kms:*:*:secret/app/*"}]}`,
			checks: []check{
				{"GetSecretValue", arn("app/db"), true},
				{"GetSecretValue", arn("app/a/b/c"), true}, // * crosses '/'
				{"GetSecretValue", arn("other/x"), false},
				{"GetSecretValue", arn("app"), false},
				{"GetSecretValue", arn("App/db"), false}, // resources are case-sensitive
				{"PutSecretValue", arn("app/db"), false}, // nothing else
				{"ListSecrets", RequestResource("ListSecrets", region, ""), false},
			},
		},
		{
			name: "Deny overrides Allow, in any order",
			doc: `{"Statement":[
				{"Effect":"Deny","Action":"kms:GetSecretValue","Resource":"acs:kms:*:*:secret/app/prod-*"},
				{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`,
			checks: []check{
				{"GetSecretValue", arn("app/prod-db"), false},
				{"GetSecretValue", arn("app/dev-db"), true},
				{"DescribeSecret", arn("app/prod-db"), true}, // the Deny names one action
				{"ListSecrets", RequestResource("ListSecrets", region, ""), true},
				{"GetRandomPassword", "*", true},
			},
		},
		{
			name: "Deny of everything wins over a specific Allow",
			doc: `{"Statement":[{"Effect":"Allow","Action":["kms:GetSecretValue"],"Resource":["acs:kms:cn-hangzhou:local:secret/app/db"]},
				{"Effect":"Deny","Action":"*","Resource":"*"}]}`,
			checks: []check{{"GetSecretValue", arn("app/db"), false}},
		},
		{
			name: "wildcard actions",
			doc:  `{"Statement":[{"Effect":"Allow","Action":["kms:List*","kms:Describe*","kms:Get?ecretValue"],"Resource":"*"}]}`,
			checks: []check{
				{"ListSecrets", RequestResource("ListSecrets", region, ""), true},
				{"ListSecretVersionIds", arn("x"), true},
				{"DescribeSecret", arn("x"), true},
				{"GetSecretValue", arn("x"), true},
				{"GetRandomPassword", "*", false},
				{"DeleteSecret", arn("x"), false},
			},
		},
		{
			name: "actions are case-insensitive",
			doc:  `{"Statement":[{"Effect":"Allow","Action":["KMS:getsecretvalue","kms:list*"],"Resource":"*"}]}`,
			checks: []check{
				{"GetSecretValue", arn("x"), true},
				{"kms:GetSecretValue", arn("x"), true},
				{"GETSECRETVALUE", arn("x"), true},
				{"ListSecrets", "*", true},
				{"PutSecretValue", arn("x"), false},
			},
		},
		{
			name: "a lower-case Deny still denies",
			doc: `{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},
				{"Effect":"Deny","Action":"kms:deletesecret","Resource":"*"}]}`,
			checks: []check{{"DeleteSecret", arn("x"), false}, {"RestoreSecret", arn("x"), true}},
		},
		{
			name: "? is one character",
			doc:  `{"Statement":[{"Effect":"Allow","Action":"kms:GetSecretValue","Resource":"acs:kms:*:local:secret/db-?"}]}`,
			checks: []check{
				{"GetSecretValue", arn("db-1"), true},
				{"GetSecretValue", arn("db-12"), false},
				{"GetSecretValue", arn("db-"), false},
			},
		},
		{
			name: "region is part of the ARN",
			doc:  `{"Statement":[{"Effect":"Allow","Action":"kms:GetSecretValue","Resource":"acs:kms:cn-shanghai:local:secret/*"}]}`,
			checks: []check{
				{"GetSecretValue", arn("x"), false},
				{"GetSecretValue", SecretARN("cn-shanghai", "x"), true},
			},
		},
		{
			name: "listing needs the container or *",
			doc: `{"Statement":[{"Effect":"Allow","Action":"kms:ListSecrets","Resource":"acs:kms:*:*:secret"},
				{"Effect":"Allow","Action":"kms:GetRandomPassword","Resource":"acs:kms:*:*:*"}]}`,
			checks: []check{
				{"ListSecrets", RequestResource("ListSecrets", region, ""), true},
				// acs:kms:*:*:* does not match the literal resource "*".
				{"GetRandomPassword", RequestResource("GetRandomPassword", region, ""), false},
			},
		},
		{
			name:   "Allow * allows everything",
			doc:    `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
			checks: []check{{"DeleteSecret", arn("x"), true}, {"GetRandomPassword", "*", true}},
		},
		{
			name:   "only Deny: nothing allowed",
			doc:    `{"Statement":[{"Effect":"Deny","Action":"kms:DeleteSecret","Resource":"*"}]}`,
			checks: []check{{"GetSecretValue", arn("x"), false}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.doc)
			for _, c := range tc.checks {
				if got := p.Allowed(c.action, c.resource); got != c.want {
					t.Errorf("Allowed(%s, %s) = %v, want %v", c.action, c.resource, got, c.want)
				}
			}
		})
	}
	var nilPolicy *Policy
	if nilPolicy.Allowed("GetSecretValue", "*") {
		t.Error("a nil policy allows")
	}
}

func TestParsePolicyErrors(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"empty", ``, "empty"},
		{"not JSON", `{"Statement":`, "not JSON"},
		{"trailing data", `{"Statement":[]} {}`, "not JSON"},
		{"not an object", `[]`, "JSON object"},
		{"no statement", `{"Version":"1"}`, "Statement is missing"},
		{"empty statements", `{"Statement":[]}`, "Statement is empty"},
		{"statement not a list", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, "list of statements"},
		{"version 2", `{"Version":"2","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, "Version"},
		{"version number", `{"Version":1,"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, "Version"},
		{"unknown top field", `{"Statment":[]}`, `unknown field "Statment"`},
		{"case of a field", `{"statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, `unknown field "statement"`},
		{"field twice", `{"Statement":[{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}]}`, `"Effect" twice`},
		{"lower-case effect", `{"Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}`, `Statement[0].Effect must be "Allow" or "Deny"`},
		{"no effect", `{"Statement":[{"Action":"*","Resource":"*"}]}`, "Statement[0] has no Effect"},
		{"no action", `{"Statement":[{"Effect":"Allow","Resource":"*"}]}`, "has no Action"},
		{"no resource", `{"Statement":[{"Effect":"Allow","Action":"*"}]}`, "has no Resource"},
		{"unknown statement field", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Sid":"x"}]}`, `unknown field "Sid" in Statement[0]`},
		{"condition", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}]}`, "does not support Condition"},
		{"NotAction", `{"Statement":[{"Effect":"Allow","NotAction":"*","Resource":"*"}]}`, "does not support NotAction"},
		{"empty action list", `{"Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}`, "Statement[0].Action is an empty list"},
		{"action not a string", `{"Statement":[{"Effect":"Allow","Action":[1],"Resource":"*"}]}`, "Statement[0].Action[0] must be a string"},
		{"action object", `{"Statement":[{"Effect":"Allow","Action":{},"Resource":"*"}]}`, "string or a list"},
		{"empty action", `{"Statement":[{"Effect":"Allow","Action":"","Resource":"*"}]}`, "is empty"},
		{"action without service", `{"Statement":[{"Effect":"Allow","Action":"GetSecretValue","Resource":"*"}]}`, "kms:<Action>"},
		{"other service", `{"Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*"}]}`, "not a KMS action"},
		{"typo in an action", `{"Statement":[{"Effect":"Allow","Action":["kms:GetSecretValue","kms:GetSecretVal"],"Resource":"*"}]}`,
			`Statement[0].Action[1] "kms:GetSecretVal" is not an action kmsconsole serves`},
		{"odd characters", `{"Statement":[{"Effect":"Allow","Action":"kms:Get-Secret","Resource":"*"}]}`, "action name has letters"},
		{"resource not an ARN", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"app/*"}]}`, "is not an ARN"},
		{"resource of another service", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"acs:ecs:*:*:instance/*"}]}`, "not a KMS resource"},
		{"cloud account id", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"acs:kms:cn-hangzhou:1234567890:secret/x"}]}`, "account"},
		{"a key, not a secret", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"acs:kms:*:*:key/abc"}]}`, "not a secret"},
		{"spaces", `{"Statement":[{"Effect":"Allow","Action":" kms:GetSecretValue","Resource":"*"}]}`, "spaces"},
		{"too long", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"` + strings.Repeat("x", MaxPolicyLen) + `"}]}`, "characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tc.doc))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if !model.IsCode(err, model.CodeInvalidParameter) || !strings.Contains(err.Error(), "Policy") {
				t.Errorf("error %v is not InvalidParameter naming Policy", err)
			}
		})
	}
}

func TestParsePolicyAccepts(t *testing.T) {
	for _, doc := range []string{
		`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
		` {"Version":"1","Statement":[{"Resource":["acs:kms:*:*:secret/app/*","acs:kms:cn-hangzhou:local:secret/x"],"Action":["kms:GetSecretValue","kms:DescribeSecret"],"Effect":"Deny"}]} `,
		`{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"acs:kms:*:*:*"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":"kms:Encrypt*","Resource":"acs:*:*:*:secret*"}]}`,
	} {
		mustParse(t, doc)
	}
}

func TestPolicyMarshal(t *testing.T) {
	p := mustParse(t, `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:GetSecretValue","Resource":"*"}]}`)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Version":"1","Statement":[{"Effect":"Allow","Action":["kms:GetSecretValue"],"Resource":["*"]}]}`
	if string(b) != want {
		t.Fatalf("%s\nwant %s", b, want)
	}
	// And it parses back to the same decisions.
	q := mustParse(t, string(b))
	if !q.Allowed("GetSecretValue", arn("x")) || q.Allowed("PutSecretValue", arn("x")) {
		t.Fatal("round trip changed the policy")
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"", "", true},
		{"*", "", true},
		{"*", "anything/at:all", true},
		{"a*", "a", true},
		{"a*b", "axxb", true},
		{"a*b", "axxbc", false},
		{"a*b*c", "abbbc", true},
		{"a*b*c", "acb", false},
		{"?", "é", true}, // one character, two bytes
		{"??", "é", false},
		{"*x*x*x*x*x*", strings.Repeat("x", 4) + strings.Repeat("y", 100), false},
		{"abc", "ABC", false},
	}
	for _, tc := range cases {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

func TestErrorBody(t *testing.T) {
	e := mismatch("POST&%2F&A%3D1")
	body := string(e.Body("req-1", "127.0.0.1:8443"))
	want := `{"RequestId":"req-1","HostId":"127.0.0.1:8443","Code":"SignatureDoesNotMatch",` +
		`"Message":"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&A%3D1",` +
		`"Recommend":"","HttpStatus":400}`
	if body != want {
		t.Fatalf("%s\nwant %s", body, want)
	}
	// Python's core SDK does message.split(':')[1] and compares it with its
	// string to sign.
	if parts := strings.Split(e.Message, ":"); len(parts) != 2 || parts[1] != "POST&%2F&A%3D1" {
		t.Fatalf("split on ':' gives %q", parts)
	}
	if got := e.AuditText(); strings.Contains(got, "POST") || !strings.Contains(got, "withheld") {
		t.Fatalf("AuditText %q", got)
	}
	if got := (&Error{Message: "plain"}).AuditText(); got != "plain" {
		t.Fatal(got)
	}
}

func TestAsError(t *testing.T) {
	if AsError(nil) != nil {
		t.Fatal("nil")
	}
	e := AsError(model.NotFound("The secret %s does not exist", "x"))
	if e.Code != model.CodeNotFound || e.HttpStatus != 404 {
		t.Fatalf("%+v", e)
	}
	own := &Error{Code: CodeNonceUsed, HttpStatus: 400}
	if AsError(own) != own {
		t.Fatal("an *Error is kept")
	}
	if e := AsError(errTest("boom")); e.Code != model.CodeInternalFailure || e.HttpStatus != 500 {
		t.Fatalf("%+v", e)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
