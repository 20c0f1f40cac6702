package model

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// The SSH key rules, in one place: which keys kmsconsole accepts as a
// pinned host key, an admin or managed private key, a managed public key or
// an operator's key, how they are parsed and how they are fingerprinted.
// The ui, service, ecs and serve packages all use these.

// MinRSABits is the smallest RSA key accepted.
const MinRSABits = 2048

// allowedKeyTypes are the plain key types accepted anywhere.
var allowedKeyTypes = map[string]bool{
	ssh.KeyAlgoED25519:  true,
	ssh.KeyAlgoECDSA256: true,
	ssh.KeyAlgoECDSA384: true,
	ssh.KeyAlgoECDSA521: true,
	ssh.KeyAlgoRSA:      true,
}

// securityKeyTypes are FIDO keys: fine for a person logging in (an
// operator, a managed user), not for a host or a key kmsconsole itself
// signs with.
var securityKeyTypes = map[string]bool{
	ssh.KeyAlgoSKED25519:  true,
	ssh.KeyAlgoSKECDSA256: true,
}

// KeyLine formats a public key as "<type> <base64>".
func KeyLine(pk ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
}

// KeyFingerprint is the SHA256 fingerprint ("SHA256:…") of a public key.
func KeyFingerprint(pk ssh.PublicKey) string { return ssh.FingerprintSHA256(pk) }

// checkKeyType refuses certificates, unknown types and short RSA keys.
func checkKeyType(param string, pk ssh.PublicKey, allowSecurityKeys bool) error {
	if _, isCert := pk.(*ssh.Certificate); isCert {
		return InvalidParam(param, "an SSH certificate is not accepted here; give the plain key (%s)", pk.Type())
	}
	t := pk.Type()
	if !allowedKeyTypes[t] && !(allowSecurityKeys && securityKeyTypes[t]) {
		return InvalidParam(param, "key type %s is not accepted (use ed25519, ECDSA or RSA of at least %d bits)", t, MinRSABits)
	}
	if t == ssh.KeyAlgoRSA {
		if ck, ok := pk.(ssh.CryptoPublicKey); ok {
			if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < MinRSABits {
				return InvalidParam(param, "an RSA key of %d bits is too short (at least %d)", rk.N.BitLen(), MinRSABits)
			}
		}
	}
	return nil
}

// parseOneKeyLine parses one authorized_keys-style line: options (returned
// raw), type, base64 and an optional comment.
func parseOneKeyLine(param, line string) (ssh.PublicKey, []string, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return nil, nil, MissingParam(param)
	}
	if strings.ContainsAny(line, "\n\r\x00") {
		return nil, nil, InvalidParam(param, "one key line only")
	}
	pk, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, nil, InvalidParam(param, "not an OpenSSH public key line ('<type> <base64> [comment]')")
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, nil, InvalidParam(param, "one key line only")
	}
	return pk, options, nil
}

// ParseHostKey parses a host key to pin ("<type> <base64>", as in
// known_hosts, a comment allowed): a plain key of an accepted type, not a
// certificate. It returns the key in "<type> <base64>" form.
func ParseHostKey(param, line string) (ssh.PublicKey, string, error) {
	pk, options, err := parseOneKeyLine(param, line)
	if err != nil {
		return nil, "", err
	}
	if len(options) > 0 {
		return nil, "", InvalidParam(param, "a host key has no options; give '<type> <base64>'")
	}
	if err := checkKeyType(param, pk, false); err != nil {
		return nil, "", err
	}
	return pk, KeyLine(pk), nil
}

// ParseUserPublicKey parses the public key of a person or an account (a
// managed user's key pair, an operator): accepted types, FIDO keys
// included, no certificate. Options are returned for the caller to judge
// (serve honours from=); a managed key must have none.
func ParseUserPublicKey(param, line string) (ssh.PublicKey, []string, error) {
	pk, options, err := parseOneKeyLine(param, line)
	if err != nil {
		return nil, nil, err
	}
	if err := checkKeyType(param, pk, true); err != nil {
		return nil, nil, err
	}
	return pk, options, nil
}

// ParsePrivateKey parses a private key kmsconsole signs with (an
// instance's admin key, a managed key pair's private half): unencrypted
// PEM or OpenSSH format, of an accepted type. The key's content never
// appears in an error.
func ParsePrivateKey(param string, pemBytes []byte) (ssh.Signer, error) {
	if len(strings.TrimSpace(string(pemBytes))) == 0 {
		return nil, MissingParam(param)
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, InvalidParam(param, "the private key is protected by a passphrase; kmsconsole needs it unencrypted (it is stored encrypted under the master key)")
		}
		return nil, InvalidParam(param, "not an unencrypted PEM/OpenSSH private key")
	}
	if err := checkKeyType(param, signer.PublicKey(), false); err != nil {
		return nil, err
	}
	return signer, nil
}

// DescribeKey is "<type> <SHA256 fingerprint>" of a key line, for screens.
func DescribeKey(line string) (string, error) {
	pk, _, err := parseOneKeyLine("key", line)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s", pk.Type(), KeyFingerprint(pk)), nil
}

// NewEd25519Key makes an ed25519 key pair kmsconsole signs with (an
// instance's admin key): the public key as "<type> <base64>" and the
// private key in OpenSSH PEM form.
func NewEd25519Key() (publicKey string, privateKey []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", nil, err
	}
	spub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", nil, err
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return "", nil, err
	}
	return KeyLine(spub), pem.EncodeToMemory(blk), nil
}
