package model

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"reflect"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

var (
	keyOnce              sync.Once
	pub1, priv1, pub2, _ string
)

// keyPairs makes two RSA key pairs once for the whole package.
func keyPairs(t *testing.T) (pubA, privA, pubB string) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if pub1, priv1, err = NewRSAKeyPair(); err != nil {
			t.Fatal(err)
		}
		if pub2, _, err = NewRSAKeyPair(); err != nil {
			t.Fatal(err)
		}
	})
	if pub1 == "" {
		t.Fatal("key generation failed earlier")
	}
	return pub1, priv1, pub2
}

func TestParseECSConfig(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  ECSConfig
		code  string
		param string
	}{
		{"password", `{"SecretSubType":"Password","InstanceId":"i-web1","RegionId":"cn-hangzhou"}`,
			ECSConfig{SecretSubType: SubTypePassword, InstanceId: "i-web1", RegionId: "cn-hangzhou"}, ok, ""},
		{"ssh key", `{"SecretSubType":"SSHKey","InstanceId":"i-web1","RegionId":"cn-hangzhou"}`,
			ECSConfig{SecretSubType: SubTypeSSHKey, InstanceId: "i-web1", RegionId: "cn-hangzhou"}, ok, ""},
		{"with CustomData", `{"SecretSubType":"Password","InstanceId":"i-1","RegionId":"local","CustomData":{"team":"db"}}`,
			ECSConfig{SecretSubType: SubTypePassword, InstanceId: "i-1", RegionId: "local", CustomData: map[string]any{"team": "db"}}, ok, ""},
		{"whitespace", " {\n \"SecretSubType\": \"Password\", \"InstanceId\": \"i-1\", \"RegionId\": \"local\"\n} ",
			ECSConfig{SecretSubType: SubTypePassword, InstanceId: "i-1", RegionId: "local"}, ok, ""},
		{"empty", "", ECSConfig{}, missing, "ExtendedConfig"},
		{"not json", "Password", ECSConfig{}, invalid, "ExtendedConfig"},
		{"array", `[]`, ECSConfig{}, invalid, "ExtendedConfig"},
		{"null", `null`, ECSConfig{}, invalid, "ExtendedConfig"},
		{"unknown field", `{"SecretSubType":"Password","InstanceId":"i-1","RegionId":"local","Port":22}`, ECSConfig{}, invalid, "ExtendedConfig"},
		{"wrong type", `{"SecretSubType":"Password","InstanceId":7,"RegionId":"local"}`, ECSConfig{}, invalid, "ExtendedConfig"},
		{"lowercase subtype", `{"SecretSubType":"password","InstanceId":"i-1","RegionId":"local"}`, ECSConfig{}, invalid, "SecretSubType"},
		{"no subtype", `{"InstanceId":"i-1","RegionId":"local"}`, ECSConfig{}, invalid, "SecretSubType"},
		{"no instance", `{"SecretSubType":"Password","RegionId":"local"}`, ECSConfig{}, invalid, "InstanceId"},
		{"bad instance", `{"SecretSubType":"Password","InstanceId":"i web","RegionId":"local"}`, ECSConfig{}, invalid, "InstanceId"},
		{"no region", `{"SecretSubType":"Password","InstanceId":"i-1"}`, ECSConfig{}, missing, "RegionId"},
		{"bad region", `{"SecretSubType":"Password","InstanceId":"i-1","RegionId":"CN"}`, ECSConfig{}, invalid, "RegionId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseECSConfig(tc.in)
			check(t, err, tc.code, tc.param)
			if tc.code != ok {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
			// JSON() renders something ParseECSConfig reads back the same.
			back, err := ParseECSConfig(got.JSON())
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Errorf("JSON round trip: %#v, %v", back, err)
			}
		})
	}
}

func TestECSConfigJSON(t *testing.T) {
	c := ECSConfig{SecretSubType: SubTypeSSHKey, InstanceId: "i-web1", RegionId: "cn-hangzhou"}
	if got, want := c.JSON(), `{"SecretSubType":"SSHKey","InstanceId":"i-web1","RegionId":"cn-hangzhou"}`; got != want {
		t.Errorf("JSON() = %s, want %s", got, want)
	}
}

func TestParseECSDataPassword(t *testing.T) {
	const secret = "Hunter2-S3cret!pass"
	tests := []struct {
		name string
		in   string
		want ECSData
		code string
	}{
		{"spec shape", `{"UserName":"root","Password":"` + secret + `"}`, ECSData{UserName: "root", Password: secret}, ok},
		{"other user", `{"UserName":"deploy","Password":"` + secret + `"}`, ECSData{UserName: "deploy", Password: secret}, ok},
		{"punctuation", `{"UserName":"root","Password":"` + secret + `:\"\\'$` + "`" + `"}`, ECSData{UserName: "root", Password: secret + `:"\'$` + "`"}, ok},
		{"256 bytes", `{"UserName":"root","Password":"` + strings.Repeat("x", 256) + `"}`, ECSData{UserName: "root", Password: strings.Repeat("x", 256)}, ok},
		{"257 bytes", `{"UserName":"root","Password":"` + secret + strings.Repeat("x", 257-len(secret)) + `"}`, ECSData{}, invalid},
		{"empty password", `{"UserName":"root","Password":""}`, ECSData{}, invalid},
		{"no password", `{"UserName":"root"}`, ECSData{}, invalid},
		{"newline in password", `{"UserName":"root","Password":"` + secret + `\nroot:x"}`, ECSData{}, invalid},
		{"NUL in password", `{"UserName":"root","Password":"` + secret + `\u0000"}`, ECSData{}, invalid},
		{"DEL in password", `{"UserName":"root","Password":"` + secret + `\u007f"}`, ECSData{}, invalid},
		{"unknown field", `{"UserName":"root","Password":"` + secret + `","Passwd":"` + secret + `"}`, ECSData{}, invalid},
		{"key fields on a password", `{"UserName":"root","Password":"` + secret + `","PublicKey":"ssh-rsa AAAA"}`, ECSData{}, invalid},
		{"truncated json", `{"UserName":"root","Password":"` + secret, ECSData{}, invalid},
		{"bare password", secret, ECSData{}, invalid},
		{"bad user", `{"UserName":"Root User","Password":"` + secret + `"}`, ECSData{}, invalid},
		{"colon in user", `{"UserName":"root:x","Password":"` + secret + `"}`, ECSData{}, invalid},
		{"no user", `{"Password":"` + secret + `"}`, ECSData{}, invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseECSData(tc.in, SubTypePassword)
			check(t, err, tc.code, "SecretData")
			if err != nil {
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "S3cret") {
					t.Errorf("error %q reveals the password", err)
				}
				return
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			// ECSData.JSON is the §1 shape: no key fields on a password.
			if j := got.JSON(); strings.Contains(j, "PublicKey") || strings.Contains(j, "PrivateKey") {
				t.Errorf("JSON() = %s has key fields", j)
			}
			if back, err := ParseECSData(got.JSON(), SubTypePassword); err != nil || back != got {
				t.Errorf("JSON round trip: %+v, %v", back, err)
			}
		})
	}
}

func TestParseECSDataSSHKey(t *testing.T) {
	pub, priv, otherPub := keyPairs(t)
	mk := func(d ECSData) string { return d.JSON() }
	privBody := strings.Split(strings.TrimSpace(priv), "\n")[1] // a line of key material
	tests := []struct {
		name string
		in   string
		code string
	}{
		{"spec shape", mk(ECSData{UserName: "root", PublicKey: pub, PrivateKey: priv}), ok},
		{"public key with comment", mk(ECSData{UserName: "root", PublicKey: pub + " kmsconsole", PrivateKey: priv}), ok},
		{"mismatched public key", mk(ECSData{UserName: "root", PublicKey: otherPub, PrivateKey: priv}), invalid},
		{"no public key", mk(ECSData{UserName: "root", PrivateKey: priv}), invalid},
		{"no private key", mk(ECSData{UserName: "root", PublicKey: pub}), invalid},
		{"garbage public key", mk(ECSData{UserName: "root", PublicKey: "ssh-rsa notbase64!", PrivateKey: priv}), invalid},
		{"garbage private key", mk(ECSData{UserName: "root", PublicKey: pub, PrivateKey: strings.Replace(priv, privBody, strings.Repeat("A", len(privBody)), 1)}), invalid},
		{"public key as private key", mk(ECSData{UserName: "root", PublicKey: pub, PrivateKey: pub}), invalid},
		{"password on a key pair", mk(ECSData{UserName: "root", PublicKey: pub, PrivateKey: priv, Password: "x"}), invalid},
		{"unknown field", `{"UserName":"root","PublicKey":` + jsonString(pub) + `,"PrivateKey":` + jsonString(priv) + `,"Comment":"x"}`, invalid},
		{"truncated json", `{"UserName":"root","PrivateKey":` + jsonString(priv), invalid},
		{"bad user", mk(ECSData{UserName: "-root", PublicKey: pub, PrivateKey: priv}), invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseECSData(tc.in, SubTypeSSHKey)
			check(t, err, tc.code, "SecretData")
			if err != nil {
				msg := err.Error()
				if strings.Contains(msg, privBody) || strings.Contains(msg, "PRIVATE KEY-----") || strings.Contains(msg, priv[:60]) {
					t.Errorf("error %q reveals the private key", msg)
				}
				return
			}
			if got.UserName != "root" || got.PrivateKey != priv || !strings.HasPrefix(got.PublicKey, pub) || got.Password != "" {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestValidateKeyPair(t *testing.T) {
	pub, priv, otherPub := keyPairs(t)
	check(t, ValidateKeyPair(pub, priv), ok, "")
	check(t, ValidateKeyPair(otherPub, priv), invalid, "SecretData")
	check(t, ValidateKeyPair("", priv), invalid, "SecretData")
	check(t, ValidateKeyPair(pub, ""), invalid, "SecretData")
	// An encrypted or otherwise unparsable private key is refused without
	// echoing it.
	bogus := "-----BEGIN RSA PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END RSA PRIVATE KEY-----\n"
	err := ValidateKeyPair(pub, bogus)
	check(t, err, invalid, "SecretData")
	if err != nil && strings.Contains(err.Error(), "TOPSECRETMATERIAL") {
		t.Errorf("error %q reveals the private key", err)
	}
}

func TestNewRSAKeyPair(t *testing.T) {
	pub, priv, otherPub := keyPairs(t)
	if pub == otherPub {
		t.Fatal("two key pairs are equal")
	}
	if strings.ContainsAny(pub, "\n") || !strings.HasPrefix(pub, "ssh-rsa ") {
		t.Errorf("public key %q is not one authorized_keys line", pub)
	}
	pk, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		t.Fatalf("ParseAuthorizedKey: %v", err)
	}
	if len(rest) != 0 || pk.Type() != ssh.KeyAlgoRSA {
		t.Errorf("type %s, rest %q", pk.Type(), rest)
	}
	rsaPub, okRSA := pk.(ssh.CryptoPublicKey).CryptoPublicKey().(*rsa.PublicKey)
	if !okRSA || rsaPub.N.BitLen() != 2048 {
		t.Fatalf("public key is not RSA-2048")
	}
	block, rest2 := pem.Decode([]byte(priv))
	if block == nil || block.Type != "RSA PRIVATE KEY" || len(strings.TrimSpace(string(rest2))) != 0 {
		t.Fatalf("private key is not a single PKCS#1 PEM block")
	}
	k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if k.N.BitLen() != 2048 || k.N.Cmp(rsaPub.N) != 0 || k.Validate() != nil {
		t.Error("private key is not the 2048-bit counterpart of the public key")
	}
	derived, err := PublicKeyOf(priv)
	if err != nil || derived != pub {
		t.Errorf("PublicKeyOf(private) = %q, %v; want %q", derived, err, pub)
	}
	if _, err := ssh.ParsePrivateKey([]byte(priv)); err != nil {
		t.Errorf("ssh cannot use the private key: %v", err)
	}
}

func TestPublicKeyOfRefusesGarbage(t *testing.T) {
	_, err := PublicKeyOf("-----BEGIN OPENSSH PRIVATE KEY-----\nSECRETBITS\n-----END OPENSSH PRIVATE KEY-----")
	check(t, err, invalid, "PrivateKey")
	if err != nil && strings.Contains(err.Error(), "SECRETBITS") {
		t.Errorf("error %q reveals the key", err)
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		in, code string
	}{
		{"x", ok},
		{"pässwörd ✓", ok},
		{strings.Repeat("a", 256), ok},
		{strings.Repeat("a", 257), invalid},
		{"", invalid},
		{"a\tb", invalid},
		{"a\rb", invalid},
		{"a\nb", invalid},
		{"a\x7fb", invalid},
		{"a\x1bb", invalid},
	}
	for _, tc := range tests {
		err := ValidatePassword(tc.in)
		check(t, err, tc.code, "SecretData")
		if err != nil && len(tc.in) > 2 && strings.Contains(err.Error(), tc.in) {
			t.Errorf("error %q quotes the password", err)
		}
	}
}

func TestValidateUserName(t *testing.T) {
	tests := []struct {
		in, code string
	}{
		{"root", ok},
		{"_svc", ok},
		{"deploy-user", ok},
		{"a.b", ok},
		{"user1", ok},
		{"a", ok},
		{strings.Repeat("u", 32), ok},
		{strings.Repeat("u", 33), invalid},
		{"", invalid},
		{"Root", invalid},
		{"1user", invalid},
		{"-user", invalid},
		{".user", invalid},
		{"us er", invalid},
		{"root:x", invalid},
		{"root\n", invalid},
		{"root\nadmin", invalid},
		{"../etc", invalid},
		{"ro/ot", invalid},
		{"rööt", invalid},
	}
	for _, tc := range tests {
		t.Run(trunc(tc.in), func(t *testing.T) {
			check(t, ValidateUserName(tc.in), tc.code, "UserName")
		})
	}
}
