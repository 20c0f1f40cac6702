package model

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
)

// ECS secret subtypes.
const (
	SubTypePassword = "Password"
	SubTypeSSHKey   = "SSHKey"
)

// ECSConfig is the ExtendedConfig of an ECS secret.
type ECSConfig struct {
	SecretSubType string `json:"SecretSubType"`
	InstanceId    string `json:"InstanceId"`
	RegionId      string `json:"RegionId"`
	CustomData    any    `json:"CustomData,omitempty"`
}

// ParseECSConfig validates the ExtendedConfig of an ECS secret.
func ParseECSConfig(s string) (ECSConfig, error) {
	const param = "ExtendedConfig"
	var c ECSConfig
	if s == "" {
		return c, MissingParam(param)
	}
	if err := strictDecode(s, &c, "SecretSubType", "InstanceId", "RegionId", "CustomData"); err != nil {
		return c, InvalidParam(param, "must be one JSON object with SecretSubType, InstanceId and RegionId")
	}
	if c.SecretSubType != SubTypePassword && c.SecretSubType != SubTypeSSHKey {
		return c, InvalidParam(param, "SecretSubType must be Password or SSHKey, got %q", c.SecretSubType)
	}
	if err := ValidateInstanceId(c.InstanceId); err != nil {
		return c, InvalidParam(param, "InstanceId: %s", err.(*APIError).Message)
	}
	if err := ValidateRegionId("ExtendedConfig.RegionId", c.RegionId); err != nil {
		return c, err
	}
	return c, nil
}

// strictDecode decodes one JSON object into out, refusing what encoding/json
// lets through: keys outside allowed (matched case-sensitively, so
// "password" cannot shadow "Password"), duplicate keys, and anything after
// the object. A value must mean one thing to every reader.
func strictDecode(s string, out any, allowed ...string) error {
	dec := json.NewDecoder(strings.NewReader(s))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	seen := map[string]bool{}
	keys := json.NewDecoder(strings.NewReader(s))
	keys.Token() // {
	for depth := 1; depth > 0; {
		tok, err := keys.Token()
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 1 {
				if seen[v] {
					return fmt.Errorf("duplicate key %q", v)
				}
				seen[v] = true
				if !slices.Contains(allowed, v) {
					return fmt.Errorf("unknown key %q", v)
				}
				// Skip the value of this key.
				var skip json.RawMessage
				if err := keys.Decode(&skip); err != nil {
					return err
				}
			}
		}
	}
	return json.Unmarshal([]byte(s), out)
}

// JSON renders the config as stored and returned.
func (c ECSConfig) JSON() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// ECSData is the SecretData of an ECS secret: a password or a key pair for
// one OS user.
type ECSData struct {
	UserName   string `json:"UserName"`
	Password   string `json:"Password,omitempty"`
	PublicKey  string `json:"PublicKey,omitempty"`
	PrivateKey string `json:"PrivateKey,omitempty"`
}

// ValidateUserName accepts POSIX-portable login names.
func ValidateUserName(u string) error {
	if !IsLinuxUserName(u) {
		return InvalidParam("SecretData", "UserName %q is not a valid Linux user name", u)
	}
	return nil
}

// ParseECSData validates ECS SecretData for the subtype. Error messages never
// quote the value.
func ParseECSData(s, subType string) (ECSData, error) {
	var d ECSData
	if err := strictDecode(s, &d, "UserName", "Password", "PublicKey", "PrivateKey"); err != nil {
		return d, InvalidParam("SecretData", "must be JSON with UserName and %s", map[string]string{SubTypePassword: "Password", SubTypeSSHKey: "PublicKey and PrivateKey"}[subType])
	}
	if err := ValidateUserName(d.UserName); err != nil {
		return d, err
	}
	switch subType {
	case SubTypePassword:
		if d.PublicKey != "" || d.PrivateKey != "" {
			return d, InvalidParam("SecretData", "a Password secret takes UserName and Password only")
		}
		if err := ValidatePassword(d.Password); err != nil {
			return d, err
		}
	case SubTypeSSHKey:
		if d.Password != "" {
			return d, InvalidParam("SecretData", "an SSHKey secret takes UserName, PublicKey and PrivateKey only")
		}
		if err := ValidateKeyPair(d.PublicKey, d.PrivateKey); err != nil {
			return d, err
		}
	}
	return d, nil
}

// ValidatePassword refuses passwords chpasswd cannot take. It applies to a
// password already in use on a host (a secret's initial value); a password
// kmsconsole is to set must also pass ValidateNewPassword.
func ValidatePassword(p string) error {
	if p == "" {
		return InvalidParam("SecretData", "Password is empty")
	}
	if len(p) > 256 {
		return InvalidParam("SecretData", "Password is longer than 256 bytes")
	}
	if !utf8.ValidString(p) {
		return InvalidParam("SecretData", "Password is not valid UTF-8")
	}
	for _, r := range p {
		if isControl(r) {
			return InvalidParam("SecretData", "Password contains a control character")
		}
	}
	return nil
}

// Length limits of a password kmsconsole sets (as GetRandomPassword's).
const (
	MinNewPassword = 8
	MaxNewPassword = 128
)

// ValidateNewPassword checks a custom password a rotation is to set:
// 8–128 characters, none of them a control character.
func ValidateNewPassword(p string) error {
	if err := ValidatePassword(p); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(p); n < MinNewPassword || n > MaxNewPassword {
		return InvalidParam("SecretData", "a custom password has %d–%d characters, this one has %d", MinNewPassword, MaxNewPassword, n)
	}
	return nil
}

// isControl reports C0 and C1 control characters and DEL.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) }

// LooksLikeECSData reports whether a custom value is meant as the ECS JSON:
// a JSON object with at least one of the ECS fields. Anything else — a
// password that happens to start with "{" included — is a bare value.
func LooksLikeECSData(s string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &m) != nil {
		return false
	}
	for _, k := range []string{"UserName", "Password", "PublicKey", "PrivateKey"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// ValidateKeyPair checks that the private key parses and matches the public key.
func ValidateKeyPair(publicKey, privateKey string) error {
	// SecretData is given; a part of it missing makes it invalid.
	if strings.TrimSpace(publicKey) == "" {
		return InvalidParam("SecretData", "PublicKey is empty")
	}
	if strings.TrimSpace(privateKey) == "" {
		return InvalidParam("SecretData", "PrivateKey is empty")
	}
	pub, options, err := ParseUserPublicKey("SecretData.PublicKey", publicKey)
	if err != nil {
		return err
	}
	if len(options) > 0 {
		return InvalidParam("SecretData.PublicKey", "give the key without authorized_keys options")
	}
	signer, err := ParsePrivateKey("SecretData.PrivateKey", []byte(privateKey))
	if err != nil {
		return err
	}
	if string(signer.PublicKey().Marshal()) != string(pub.Marshal()) {
		return InvalidParam("SecretData", "PublicKey does not belong to PrivateKey")
	}
	return nil
}

// PublicKeyOf derives the authorized_keys line of a private key.
func PublicKeyOf(privateKey string) (string, error) {
	signer, err := ParsePrivateKey("PrivateKey", []byte(privateKey))
	if err != nil {
		return "", err
	}
	return KeyLine(signer.PublicKey()), nil
}

// NewRSAKeyPair makes an RSA-2048 key pair: the public key in authorized_keys
// form and the private key as PKCS#1 PEM.
func NewRSAKeyPair() (publicKey, privateKey string, err error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		return "", "", err
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), string(privPEM), nil
}

// JSON renders the data as stored.
func (d ECSData) JSON() string {
	b, _ := json.Marshal(d)
	return string(b)
}
