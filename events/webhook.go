package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"kmsconsole/db"
)

// Webhook request headers. The signature covers the body exactly as sent:
// a receiver computes HMAC-SHA256 over the raw body under the shared key
// and compares it, in constant time, with the hex after "sha256=".
const (
	HeaderSignature = "X-Kmsconsole-Signature"
	HeaderEventId   = "X-Kmsconsole-Event-Id"
	HeaderEventType = "X-Kmsconsole-Event-Type"
)

// maxWebhookKey bounds the key file: a key, not a document.
const maxWebhookKey = 4096

// Sign is the X-Kmsconsole-Signature value of body under key:
// "sha256=" and the hex HMAC-SHA256.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is a valid signature of body under key,
// for receivers written in Go.
func Verify(key, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	sum, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hmac.Equal(sum, m.Sum(nil))
}

// LoadWebhookKey reads the webhook's HMAC key from path (serve
// --event-webhook-secret-file): the file's bytes without surrounding
// whitespace, so that `openssl rand -hex 32 > file` works. An empty file
// is refused, as is one larger than 4 KiB. Keep it readable by the
// service's user only: whoever reads it can forge events.
func LoadWebhookKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the webhook key: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxWebhookKey+1))
	if err != nil {
		return nil, fmt.Errorf("read the webhook key %s: %w", path, err)
	}
	if len(b) > maxWebhookKey {
		return nil, fmt.Errorf("the webhook key file %s is larger than %d bytes: it should hold one key (e.g. openssl rand -hex 32)", path, maxWebhookKey)
	}
	key := bytes.TrimSpace(b)
	if len(key) == 0 {
		return nil, fmt.Errorf("the webhook key file %s is empty: put a key in it (e.g. openssl rand -hex 32 > %s)", path, path)
	}
	return key, nil
}

// webhook posts events to one URL.
type webhook struct {
	url    string
	name   string // scheme://host, for messages: the path may hold a token
	key    []byte
	client *http.Client
}

// newWebhook checks the URL and prepares the client. parallel is how many
// requests may run at once (the connections kept open).
func newWebhook(raw string, key []byte, tlsConf *tls.Config, timeout time.Duration, parallel int) (*webhook, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("events: the webhook URL is not a URL (https://host/path)")
	}
	name := u.Scheme + "://" + u.Host
	switch u.Scheme {
	case "https":
	case "http":
		// Plain HTTP would show every event to the network; a receiver
		// on this machine (a local relay) is the one exception.
		if !loopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("events: the webhook %s is plain HTTP: use https:// (http:// only to a loopback address)", name)
		}
	default:
		return nil, fmt.Errorf("events: the webhook URL must be https:// (got %s:)", u.Scheme)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("events: the webhook %s needs a signing key (--event-webhook-secret-file)", name)
	}
	var tc *tls.Config
	if tlsConf != nil {
		tc = tlsConf.Clone()
	} else {
		tc = &tls.Config{}
	}
	tc.InsecureSkipVerify = false
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: timeout,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        parallel,
		MaxIdleConnsPerHost: parallel,
		IdleConnTimeout:     90 * time.Second,
	}
	client := &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// A redirect would re-post the event somewhere the operator did
		// not name: it is an answer, not a 2xx, so the delivery failed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &webhook{url: raw, name: name, key: key, client: client}, nil
}

// loopbackHost: localhost, or an address of 127.0.0.0/8 or ::1.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// deliver posts one event; nil when the receiver answered 2xx.
func (h *webhook) deliver(ctx context.Context, ev *db.OutboxEvent) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(ev.Body))
	if err != nil {
		return fmt.Errorf("POST %s: %v", h.name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kmsconsole-events")
	req.Header.Set(HeaderEventId, ev.Id)
	req.Header.Set(HeaderEventType, ev.Type)
	req.Header.Set(HeaderSignature, Sign(h.key, ev.Body))
	resp, err := h.client.Do(req)
	if err != nil {
		// url.Error quotes the whole URL, whose path or query may be a
		// token (many webhook services put one there): name the host only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("POST %s: %v", h.name, err)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	// Read a little more so the connection can be reused, not the rest of
	// a huge answer.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	msg := fmt.Sprintf("POST %s: the receiver answered %s", h.name, resp.Status)
	if t := clip(string(head), 200); t != "" {
		msg += ": " + t
	}
	return errors.New(msg)
}
