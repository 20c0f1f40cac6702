// Command bench-api measures GetSecretValue over HTTPS keep-alive against a
// running `kmsconsole serve --api-listen` (signature checked, policy
// evaluated, value decrypted, read audited), and in the same run against a
// bare net/http TLS handler, in a process of its own, that answers the same
// bytes without doing any of that. Both are driven by the same clients:
// each signs every request as alibaba-cloud-sdk-go does (RPC v1, openapi-
// util's GetRPCSignature) and keeps one connection alive. scripts/bench-api
// sets it up; see there.
//
//	bench-api -endpoint https://127.0.0.1:PORT -keys FILE -secret NAME [-clients 32] [-duration 10s]
//	bench-api -bare -body FILE -cert PEM -key PEM      (the bare handler; prints its address)
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	openapiutil "github.com/alibabacloud-go/openapi-util/service"
	"github.com/alibabacloud-go/tea/tea"
)

type key struct{ AccessKeyId, AccessKeySecret string }

func main() {
	var (
		endpoint = flag.String("endpoint", "", "kmsconsole's API endpoint, https://HOST:PORT")
		keysFile = flag.String("keys", "", "access keys, one JSON object {AccessKeyId, AccessKeySecret} per line; client i uses key i mod n")
		secret   = flag.String("secret", "", "the secret to read")
		clients  = flag.Int("clients", 32, "concurrent clients, one keep-alive connection each")
		duration = flag.Duration("duration", 10*time.Second, "how long each target is measured")
		warmup   = flag.Duration("warmup", 2*time.Second, "load before measuring, per target")
		certFile = flag.String("cert", "", "TLS certificate (PEM) for the bare handler (serve's self-signed one)")
		keyFile  = flag.String("key", "", "its private key (PEM)")
		bare     = flag.Bool("bare", false, "run the bare handler: serve -body on 127.0.0.1:0 and print the address")
		bodyFile = flag.String("body", "", "the bare handler's answer")
		only     = flag.String("only", "", "measure only serve or bare")
	)
	flag.Parse()
	if *bare {
		if err := serveBare(*bodyFile, *certFile, *keyFile); err != nil {
			fmt.Fprintln(os.Stderr, "bench-api -bare:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*endpoint, *keysFile, *secret, *clients, *duration, *warmup, *certFile, *keyFile, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench-api:", err)
		os.Exit(1)
	}
}

// serveBare answers every request with the same bytes and headers as a
// GetSecretValue answer, over TLS with the same certificate, with the
// server settings serve uses.
func serveBare(bodyFile, certFile, keyFile string) error {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println("https://" + ln.Addr().String())
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			h := w.Header()
			h.Set("Content-Type", "application/json;charset=utf-8")
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			w.Write(body)
		}),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 2 * time.Minute,
		IdleTimeout: 90 * time.Second, MaxHeaderBytes: 32 << 10,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	go func() { // stops when the parent closes stdin
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	return srv.Serve(tls.NewListener(ln, srv.TLSConfig))
}

func readKeys(file string) ([]key, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var keys []key
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var k key
		if err := json.Unmarshal([]byte(line), &k); err != nil || k.AccessKeyId == "" || k.AccessKeySecret == "" {
			return nil, fmt.Errorf("%s: a line is not {AccessKeyId, AccessKeySecret}", file)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no keys", file)
	}
	return keys, sc.Err()
}

// signedQuery is GetSecretValue as alibaba-cloud-sdk-go sends it.
func signedQuery(k key, secret string, seq int64) string {
	v := map[string]string{
		"Action": "GetSecretValue", "Version": "2016-01-20", "Format": "JSON", "AccessKeyId": k.AccessKeyId,
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureType": "",
		"SignatureNonce": fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), seq),
		"Timestamp":      time.Now().UTC().Format("2006-01-02T15:04:05Z"), "RegionId": "cn-hangzhou",
		"SecretName": secret, "VersionStage": "ACSCurrent",
	}
	signed := map[string]*string{}
	q := url.Values{}
	for k, val := range v {
		signed[k] = tea.String(val)
		q.Set(k, val)
	}
	q.Set("Signature", tea.StringValue(openapiutil.GetRPCSignature(signed, tea.String("POST"), tea.String(k.AccessKeySecret))))
	return q.Encode()
}

func newClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
		MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true,
	}}
}

// result of one target.
type result struct {
	name      string
	requests  int
	errors    int
	codes     map[string]int
	elapsed   time.Duration
	latencies []time.Duration
}

func (r *result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r *result) pct(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(p * float64(len(r.latencies)-1))
	return r.latencies[i]
}

// load drives target with n clients for warmup+d and measures the last d.
func load(name, target string, keys []key, secret string, n int, warmup, d time.Duration, check func([]byte) error) *result {
	var (
		seq      atomic.Int64
		measure  atomic.Bool
		stop     atomic.Bool
		mu       sync.Mutex
		res      = &result{name: name, codes: map[string]int{}}
		wg       sync.WaitGroup
		firstErr error
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(k key) {
			defer wg.Done()
			c := newClient()
			var lat []time.Duration
			ok, bad := 0, 0
			codes := map[string]int{}
			for !stop.Load() {
				q := signedQuery(k, secret, seq.Add(1))
				start := time.Now()
				req, _ := http.NewRequest(http.MethodPost, target+"/?"+q, nil)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := c.Do(req)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						var e struct{ Code string }
						json.Unmarshal(body, &e)
						codes[fmt.Sprintf("%d %s", resp.StatusCode, e.Code)]++
						err = fmt.Errorf("HTTP %d %s", resp.StatusCode, e.Code)
					}
					if err == nil {
						err = check(body)
					}
				}
				took := time.Since(start)
				if !measure.Load() {
					continue
				}
				if err != nil {
					bad++
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				ok++
				lat = append(lat, took)
			}
			mu.Lock()
			res.requests += ok
			res.errors += bad
			res.latencies = append(res.latencies, lat...)
			for k, v := range codes {
				res.codes[k] += v
			}
			mu.Unlock()
		}(keys[i%len(keys)])
	}
	time.Sleep(warmup)
	measure.Store(true)
	start := time.Now()
	time.Sleep(d)
	stop.Store(true)
	res.elapsed = time.Since(start)
	wg.Wait()
	sort.Slice(res.latencies, func(i, j int) bool { return res.latencies[i] < res.latencies[j] })
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "%s: first error: %v\n", name, firstErr)
	}
	return res
}

func run(endpoint, keysFile, secret string, n int, d, warmup time.Duration, certFile, keyFile, only string) error {
	if endpoint == "" || keysFile == "" || secret == "" {
		return errors.New("-endpoint, -keys and -secret are required")
	}
	keys, err := readKeys(keysFile)
	if err != nil {
		return err
	}
	// One real answer: its size and shape are what the bare handler sends.
	c := newClient()
	req, _ := http.NewRequest(http.MethodPost, endpoint+"/?"+signedQuery(keys[0], secret, 0), nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	sample, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GetSecretValue of %s: HTTP %d: %s", secret, resp.StatusCode, sample)
	}
	var ans struct{ SecretName, SecretData, VersionId string }
	if err := json.Unmarshal(sample, &ans); err != nil || ans.SecretName != secret {
		return fmt.Errorf("GetSecretValue answer: %v", err)
	}
	check := func(body []byte) error {
		if len(body) < len(sample)-8 || len(body) > len(sample)+8 {
			return fmt.Errorf("answer of %d bytes, expected about %d", len(body), len(sample))
		}
		return nil
	}
	fmt.Printf("GetSecretValue of %s: %d-byte answer (%d-byte value); %d clients, one keep-alive HTTPS connection each, %d access keys; %v warm-up, %v measured per target; GOMAXPROCS of this load generator %d on %d CPUs\n\n",
		secret, len(sample), len(ans.SecretData), n, len(keys), warmup, d, runtimeProcs(), runtimeCPUs())

	var results []*result
	if only != "bare" {
		results = append(results, load("kmsconsole serve", endpoint, keys, secret, n, warmup, d, check))
	}
	if only != "serve" {
		if certFile == "" || keyFile == "" {
			return errors.New("-cert and -key are required for the bare handler")
		}
		bodyFile, err := os.CreateTemp("", "bench-api-body-")
		if err != nil {
			return err
		}
		defer os.Remove(bodyFile.Name())
		bodyFile.Write(sample)
		bodyFile.Close()
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cmd := exec.Command(self, "-bare", "-body", bodyFile.Name(), "-cert", certFile, "-key", keyFile)
		cmd.Stderr = os.Stderr
		stdin, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return err
		}
		defer func() { stdin.Close(); cmd.Wait() }()
		addr, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			return fmt.Errorf("bare handler: %v", err)
		}
		results = append(results, load("bare net/http TLS handler", strings.TrimSpace(addr), keys, secret, n, warmup, d, check))
	}
	fmt.Printf("%-28s %10s %8s %10s %9s %9s %9s %9s\n", "target", "requests", "errors", "req/s", "p50", "p90", "p99", "max")
	for _, r := range results {
		fmt.Printf("%-28s %10d %8d %10.0f %9s %9s %9s %9s\n", r.name, r.requests, r.errors, r.rate(),
			ms(r.pct(0.50)), ms(r.pct(0.90)), ms(r.pct(0.99)), ms(r.pct(1)))
		for code, k := range r.codes {
			fmt.Printf("    %d answers %s\n", k, code)
		}
	}
	if len(results) == 2 {
		s, b := results[0], results[1]
		ratio := s.rate() / b.rate()
		fmt.Printf("\nserve/bare throughput: %.1f %% (goal >= 25 %%): %s\n", 100*ratio, verdict(ratio >= 0.25))
		fmt.Printf("serve p99: %s (goal < 20 ms): %s\n", ms(s.pct(0.99)), verdict(s.pct(0.99) < 20*time.Millisecond))
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
func runtimeCPUs() int  { return runtime.NumCPU() }
