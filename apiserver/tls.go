// Package apiserver serves the KMS OpenAPI over HTTPS (SPEC §7): the
// official Alibaba SDKs, pointed at kmsconsole, sign requests with an
// access key; the server authenticates them (package api), checks the
// key's policy and runs the action on the service's request path, the
// same one the CLI and serve use.
package apiserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files of the self-signed certificate, in the data directory.
const (
	SelfSignedCertFile = "api_cert.pem"
	SelfSignedKeyFile  = "api_key.pem"
)

// Certificate is the TLS certificate the endpoint offers.
type Certificate struct {
	tls.Certificate
	// Fingerprint is the SHA-256 of the leaf certificate (DER), in
	// colon-separated hex, as browsers and openssl print it.
	Fingerprint string
	// SelfSigned: made by kmsconsole (in the data directory).
	SelfSigned bool
	// Path of the certificate file.
	Path string
}

// LoadCertificate loads --tls-cert/--tls-key.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load the API certificate %s / %s: %w", certFile, keyFile, err)
	}
	return withFingerprint(c, certFile, false), nil
}

// SelfSignedCertificate loads the self-signed certificate kept in dataDir,
// making it on first use (ECDSA P-256, for localhost, the loopback
// addresses, this host's name and extraHosts). Its private key is written
// 0600, atomically.
func SelfSignedCertificate(dataDir string, extraHosts []string, now time.Time) (*Certificate, error) {
	certPath, keyPath := filepath.Join(dataDir, SelfSignedCertFile), filepath.Join(dataDir, SelfSignedKeyFile)
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil {
		if err := checkPrivate(keyPath); err != nil {
			return nil, err
		}
		return withFingerprint(c, certPath, true), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load the API certificate %s: %w (remove both %s and %s to make a new one)", certPath, err, SelfSignedCertFile, SelfSignedKeyFile)
	}
	certPEM, keyPEM, err := makeSelfSigned(extraHosts, now)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	c, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return withFingerprint(c, certPath, true), nil
}

// ReadFingerprint returns the fingerprint of the certificate at path.
func ReadFingerprint(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("%s holds no PEM certificate", path)
	}
	return Fingerprint(block.Bytes), nil
}

// Fingerprint is the SHA-256 of a DER certificate as AA:BB:….
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	parts := make([]string, 0, len(sum))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

func withFingerprint(c tls.Certificate, path string, self bool) *Certificate {
	out := &Certificate{Certificate: c, SelfSigned: self, Path: path}
	if len(c.Certificate) > 0 {
		out.Fingerprint = Fingerprint(c.Certificate[0])
	}
	return out
}

func makeSelfSigned(extraHosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "kmsconsole API", Organization: []string{"kmsconsole"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	hosts := extraHosts
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if h != "localhost" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("make the API certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// checkPrivate refuses a private key file that others can read or write:
// whoever reads it can impersonate the endpoint.
func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("the API's private key %s is readable or writable by others (mode %04o); run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	return nil
}

// writeAtomic writes b to path through a synced temporary file and a
// rename, so a crash or a full disk never leaves a truncated file.
func writeAtomic(path string, b []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
