package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"kmsconsole/api"
	"kmsconsole/cli"
	"kmsconsole/model"
	"kmsconsole/service"
)

// Limits of the endpoint. A slow or hostile client holds at most its own
// connection: headers must arrive within ReadHeaderTimeout, the body within
// ReadTimeout, and neither may exceed its size limit.
const (
	DefaultMaxBody = 256 << 10 // above the largest SecretData, URL-encoded
	// DefaultMaxHeaderBytes leaves room for the largest SecretData (30,720
	// bytes) sent in the query string, as the SDKs do, percent-encoded.
	DefaultMaxHeaderBytes    = 128 << 10
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	// DefaultWriteTimeout leaves an ECS RotateSecret (a login, a change
	// and a verification login on the host) time to finish.
	DefaultWriteTimeout = 2 * time.Minute
	DefaultIdleTimeout  = 90 * time.Second
	// DefaultRate is each access key's sustained requests per second, and
	// DefaultBurst the bucket above it.
	DefaultRate  = 500
	DefaultBurst = 1000
)

// APIVersion is the KMS OpenAPI version served.
const APIVersion = "2016-01-20"

// Dispatch runs one API action with its parameters on svc (acting as the
// access key) and returns the answer to encode as JSON. It is the same
// dispatch the CLI's `kms` command uses: one code path, three transports.
type Dispatch func(ctx context.Context, svc *service.Service, action string, params map[string]string) (any, error)

// Config configures the endpoint.
type Config struct {
	// Service is the store's service; each request runs on a copy acting
	// as its access key.
	Service *service.Service
	// Dispatch runs actions; cli.Dispatch, the CLI's own, by default.
	Dispatch Dispatch
	// Certificate is offered on TLS connections; nil only with
	// InsecureHTTP.
	Certificate  *Certificate
	InsecureHTTP bool
	Now          func() time.Time
	Logf         func(format string, args ...any)
	MaxBody      int64
	Rate, Burst  float64
	// Nonces remembers nonces for the 15 minutes a timestamp is valid.
	Nonces *api.NonceCache
}

// Server is the API endpoint.
type Server struct {
	cfg     Config
	http    *http.Server
	limiter *keyLimiter
}

// New makes the endpoint; Serve starts it on a listener.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil {
		return nil, errors.New("apiserver: a Service is required")
	}
	if cfg.Dispatch == nil {
		cfg.Dispatch = cli.Dispatch
	}
	if cfg.Certificate == nil && !cfg.InsecureHTTP {
		return nil, errors.New("apiserver: a TLS certificate is required (or --api-insecure-http on a loopback address)")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Rate == 0 {
		cfg.Rate, cfg.Burst = DefaultRate, DefaultBurst
	}
	if cfg.Nonces == nil {
		cfg.Nonces = api.NewNonceCache(0)
	}
	s := &Server{cfg: cfg, limiter: newKeyLimiter(cfg.Rate, cfg.Burst)}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          log.New(logWriter{cfg.Logf}, "", 0),
	}
	if cfg.Certificate != nil {
		s.http.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{cfg.Certificate.Certificate},
			MinVersion:   tls.VersionTLS12,
		}
	}
	return s, nil
}

// CheckInsecureAddr refuses plain HTTP anywhere but on a loopback address:
// signatures do not hide SecretData, and anyone on the path could read it.
func CheckInsecureAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--api-listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--api-insecure-http serves plain HTTP, which only a loopback address may do (got %q); use 127.0.0.1:PORT, or drop --api-insecure-http for TLS", addr)
}

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	var err error
	if s.cfg.Certificate != nil {
		err = s.http.Serve(tls.NewListener(ln, s.http.TLSConfig))
	} else {
		err = s.http.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting requests and waits for those in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

type logWriter struct{ logf func(string, ...any) }

func (w logWriter) Write(p []byte) (int, error) {
	w.logf("api: %s", model.SafeText(strings.TrimSpace(string(p))))
	return len(p), nil
}

// ServeHTTP answers one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestId := strings.ToUpper(uuid.NewString())
	host := r.Host
	fail := func(e *api.Error) {
		writeBody(w, e.HttpStatus, e.Body(requestId, host))
	}
	if r.URL.Path != "/" {
		fail(&api.Error{Code: "InvalidAction.NotFound", HttpStatus: 404, Message: "The API is served at /; " + r.URL.Path + " is not it."})
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		fail(&api.Error{Code: "UnsupportedHTTPMethod", HttpStatus: 405, Message: "Use POST (or GET), not " + r.Method + "."})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(&api.Error{Code: "Rejected.RequestTooLarge", HttpStatus: 413, Message: fmt.Sprintf("The request body is over %d bytes.", s.cfg.MaxBody)})
			return
		}
		fail(&api.Error{Code: model.CodeInvalidParameter, HttpStatus: 400, Message: "The request body could not be read."})
		return
	}
	ctx := service.WithRequestId(r.Context(), requestId)
	creds := &credentials{ctx: ctx, svc: s.cfg.Service}
	v, aerr := api.Verify(r, body, s.cfg.Now(), creds, s.cfg.Nonces)
	if aerr != nil {
		claimed := ""
		if v != nil {
			claimed = v.AccessKeyId
		}
		action := actionOf(r, body)
		// The refusal is recorded without the string to sign: an RPC v1
		// string to sign holds every parameter, SecretData included.
		s.cfg.Service.RecordAPIRefusal(ctx, claimedName(creds, claimed), action, aerr.Code, aerr.AuditText())
		fail(aerr)
		return
	}
	key := creds.found
	if !s.limiter.allow(v.AccessKeyId, s.cfg.Now()) {
		s.cfg.Service.RecordAPIRefusal(ctx, key.Name, v.Params.Get("Action"), "Rejected.Throttling", "request rate over the access key's limit")
		fail(&api.Error{Code: "Rejected.Throttling", HttpStatus: 429, Message: "Request was denied due to request throttling."})
		return
	}
	params := flatten(v.Params)
	action := params["Action"]
	if ver := params["Version"]; ver != APIVersion {
		fail(&api.Error{Code: "InvalidVersion", HttpStatus: 400, Message: "Specified parameter Version is not valid: the KMS API served is " + APIVersion + ", got " + model.SafeText(ver)})
		return
	}
	if f := params["Format"]; f != "" && !strings.EqualFold(f, "JSON") {
		fail(&api.Error{Code: model.CodeInvalidParameter, HttpStatus: 400, Message: "The parameter Format is invalid: only JSON is served, got " + model.SafeText(f)})
		return
	}
	if params["SecurityToken"] != "" {
		fail(&api.Error{Code: model.CodeInvalidParameter, HttpStatus: 400, Message: "The parameter SecurityToken is invalid: STS tokens are not supported; sign with an access key from kmsconsole accesskey create"})
		return
	}
	// The protocol's own parameters; the rest are the action's.
	for _, p := range []string{"Action", "Version", "RegionId", "Format", "SecurityToken"} {
		delete(params, p)
	}
	region := s.cfg.Service.Region()
	if rid := v.Params.Get("RegionId"); rid != "" {
		region = rid
	}
	svc := s.cfg.Service.InRegion(region).As(service.Actor{
		Name: "accesskey:" + key.Name,
		Role: model.RoleAdmin,
		// What the key may do is its policy's business alone.
		Authorize: func(action, secretName string) error {
			if key.Policy.Allowed("kms:"+action, api.RequestResource(action, region, secretName)) {
				return nil
			}
			return model.Errorf(model.CodeNoPermission, "The access key %s is not allowed to %s on %s", key.Name, action, api.RequestResource(action, region, secretName))
		},
		AuditAll: true,
	})
	resp, err := s.cfg.Dispatch(ctx, svc, action, params)
	if err != nil {
		fail(api.AsError(err))
		return
	}
	out, err := cli.EncodeJSON(resp)
	if err != nil {
		fail(api.AsError(err))
		return
	}
	writeBody(w, http.StatusOK, out)
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// flatten turns parameters into one value each (Verify refused duplicates).
func flatten(v url.Values) map[string]string {
	out := make(map[string]string, len(v))
	for k, vs := range v {
		if len(vs) > 0 {
			out[k] = vs[0]
		}
	}
	return out
}

// actionOf is the action a refused request asked for, for the audit record
// (unauthenticated: what the request claimed).
func actionOf(r *http.Request, body []byte) string {
	if a := r.Header.Get("x-acs-action"); a != "" {
		return model.SafeText(a)
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return model.SafeText(a)
	}
	if q, err := url.ParseQuery(string(body)); err == nil {
		return model.SafeText(q.Get("Action"))
	}
	return ""
}

// credentials looks keys up for api.Verify and keeps what it found.
type credentials struct {
	ctx   context.Context
	svc   *service.Service
	found *service.AccessKeyCredentials
	id    string
}

func (c *credentials) Secret(accessKeyId string) ([][]byte, api.KeyStatus, error) {
	k, err := c.svc.AccessKeyForAuth(c.ctx, accessKeyId)
	if err != nil {
		return nil, api.KeyDisabled, err
	}
	if k == nil {
		return nil, api.KeyDisabled, api.ErrKeyNotFound
	}
	c.found, c.id = k, accessKeyId
	status := api.KeyDisabled
	if k.Enabled {
		status = api.KeyEnabled
	}
	return k.Secrets, status, nil
}

// claimedName is how a refused request is recorded: the key's name when
// the key exists (also when the request was refused before the key was
// looked up, e.g. for its timestamp), else the id it claimed.
func claimedName(c *credentials, claimed string) string {
	if c.found != nil && c.id == claimed {
		return "accesskey:" + c.found.Name
	}
	if k, err := c.svc.AccessKeyForAuth(c.ctx, claimed); err == nil && k != nil {
		return "accesskey:" + k.Name
	}
	if claimed == "" {
		return "accesskey:(none)"
	}
	return "accesskey:" + model.SafeText(claimed)
}

// keyLimiter is a token bucket per access key.
type keyLimiter struct {
	mu          sync.Mutex
	rate, burst float64
	buckets     map[string]*bucket
	lastSweep   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newKeyLimiter(rate, burst float64) *keyLimiter {
	return &keyLimiter{rate: rate, burst: burst, buckets: map[string]*bucket{}}
}

func (l *keyLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		// Forget idle keys (a full bucket is the same as none).
		for k, b := range l.buckets {
			if now.Sub(b.last) > time.Minute {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
