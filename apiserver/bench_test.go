package apiserver

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kmsconsole/api"
	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// The endpoint in process, for `go test -bench -cpuprofile`: what
// scripts/bench-api measures against the serve process (GetSecretValue over
// HTTPS keep-alive on loopback, 32 clients, each request RPC v1 signed with
// its client's own access key, the policy evaluated, the value decrypted,
// the read audited), beside a bare net/http TLS handler that answers the
// same bytes. Both report req/s and p50/p99 latency.
//
//	go test -run '^$' -bench 'API|Bare' -benchtime 10s -cpuprofile cpu.out ./apiserver

const benchClients = 32

type benchKey struct{ id, secret string }

// benchEndpoint starts the API on a fresh store with one secret and
// benchClients access keys; it returns the URL and the keys.
func benchEndpoint(b *testing.B) (string, []benchKey, *Certificate) {
	b.Helper()
	dir := b.TempDir()
	store, err := db.Open(filepath.Join(dir, "kms.db"), "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	svc := service.New(store, service.Options{Actor: service.Actor{Name: "bench", Role: model.RoleAdmin}})
	b.Cleanup(svc.Close)
	ctx := context.Background()
	if _, err := svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: "bench/db", VersionId: "v1",
		SecretData: `{"user":"app","password":"0123456789abcdef0123456789abcdef","host":"db.internal:5432"}`}); err != nil {
		b.Fatal(err)
	}
	policy := `{"Statement":[{"Effect":"Allow","Action":"kms:GetSecretValue","Resource":"acs:kms:*:*:secret/bench/*"},
		{"Effect":"Deny","Action":"kms:GetSecretValue","Resource":"acs:kms:*:*:secret/bench/locked"}]}`
	var keys []benchKey
	for i := 0; i < benchClients; i++ {
		k, err := svc.CreateAccessKey(ctx, fmt.Sprintf("bench-%d", i), policy)
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, benchKey{k.AccessKeyId, k.AccessKeySecret})
	}
	cert, err := SelfSignedCertificate(dir, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{Service: svc, Certificate: cert, Logf: func(string, ...any) {}})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return "https://" + ln.Addr().String(), keys, cert
}

var benchNonce atomic.Int64

// benchQuery is GetSecretValue signed as alibaba-cloud-sdk-go signs it.
func benchQuery(k benchKey) string {
	v := url.Values{}
	for key, val := range map[string]string{
		"Action": "GetSecretValue", "Version": APIVersion, "Format": "JSON", "AccessKeyId": k.id,
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureType": "",
		"SignatureNonce": fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), benchNonce.Add(1)),
		"Timestamp":      time.Now().UTC().Format("2006-01-02T15:04:05Z"), "RegionId": "cn-hangzhou",
		"SecretName": "bench/db", "VersionStage": "ACSCurrent",
	} {
		v.Set(key, val)
	}
	h := hmac.New(sha1.New, []byte(k.secret+"&"))
	h.Write([]byte(api.RPCStringToSign("POST", v)))
	v.Set("Signature", base64.StdEncoding.EncodeToString(h.Sum(nil)))
	return v.Encode()
}

// benchLoad runs b.N signed GetSecretValue requests from benchClients
// goroutines, each with its own keep-alive connection and key, and reports
// req/s, p50 and p99.
func benchLoad(b *testing.B, target string, keys []benchKey) {
	var next atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism((benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		k := keys[int(next.Add(1)-1)%len(keys)]
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}}
		defer c.CloseIdleConnections()
		var lat []time.Duration
		for pb.Next() {
			t0 := time.Now()
			req, _ := http.NewRequest(http.MethodPost, target+"/?"+benchQuery(k), nil)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("HTTP %d: %s", resp.StatusCode, body)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkAPIGetSecretValue is the real endpoint, in process.
func BenchmarkAPIGetSecretValue(b *testing.B) {
	target, keys, _ := benchEndpoint(b)
	benchLoad(b, target, keys)
}

// BenchmarkBareTLSHandler answers a GetSecretValue answer's bytes from a
// bare net/http TLS handler with the endpoint's certificate and timeouts.
func BenchmarkBareTLSHandler(b *testing.B) {
	target, keys, cert := benchEndpoint(b)
	// One real answer, for its size.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Post(target+"/?"+benchQuery(keys[0]), "application/x-www-form-urlencoded", nil)
	if err != nil {
		b.Fatal(err)
	}
	sample, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			writeBody(w, http.StatusOK, sample)
		}),
		ReadHeaderTimeout: DefaultReadHeaderTimeout, ReadTimeout: DefaultReadTimeout, WriteTimeout: DefaultWriteTimeout,
		IdleTimeout: DefaultIdleTimeout, MaxHeaderBytes: DefaultMaxHeaderBytes,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert.Certificate}, MinVersion: tls.VersionTLS12},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	defer srv.Close()
	benchLoad(b, "https://"+ln.Addr().String(), keys)
}
