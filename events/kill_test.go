package events_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"crypto/tls"
	"crypto/x509"

	"kmsconsole/db"
	"kmsconsole/events"
	"kmsconsole/model"
)

// The kill -9 tests run this test binary again as another process, which
// runs TestChildProcess only, in the mode KMSEVENTS_CHILD names, on the
// store KMSEVENTS_DB, and is killed with SIGKILL by the test.

// TestChildProcess is the other process; it does nothing in a normal run.
func TestChildProcess(t *testing.T) {
	mode := os.Getenv("KMSEVENTS_CHILD")
	if mode == "" {
		return
	}
	s, err := db.Open(os.Getenv("KMSEVENTS_DB"), "")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case "commit":
		// Commit events, say so, and wait to be killed: they were never
		// handed to anyone.
		n, _ := strconv.Atoi(os.Getenv("KMSEVENTS_N"))
		for i := 1; i <= n; i++ {
			commit(t, s, event(childSecret(i), (i+2)/3))
		}
		os.Stdout.WriteString("committed\n")
	case "deliver":
		// Deliver the store's events to the test's receiver, which
		// has this process killed before it answers.
		caPEM, err := os.ReadFile(os.Getenv("KMSEVENTS_CA"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		key, _ := hex.DecodeString(os.Getenv("KMSEVENTS_KEY"))
		w, err := events.New(s, events.Config{WebhookURL: os.Getenv("KMSEVENTS_URL"), WebhookKey: key, TLSConfig: &tls.Config{RootCAs: pool}})
		if err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("running\n")
		go w.Run(context.Background())
	default:
		t.Fatalf("unknown child mode %s", mode)
	}
	time.Sleep(time.Minute)
	t.Fatal("not killed")
}

// childSecret spreads the child's events over three secrets: a, b, c, a, …
func childSecret(i int) string { return string(rune('a' + (i-1)%3)) }

// startChild runs the child process in mode and returns it once it printed
// ready; the test kills it.
func startChild(t *testing.T, mode, ready string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{"KMSEVENTS_CHILD=" + mode}, env...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == ready {
				line <- sc.Text()
				return
			}
		}
		close(line)
	}()
	select {
	case l, ok := <-line:
		if !ok {
			cmd.Wait()
			t.Fatalf("the child ended before %q: %s", ready, stderr.String())
		}
		_ = l
	case <-time.After(30 * time.Second):
		t.Fatalf("the child did not get to %q: %s", ready, stderr.String())
	}
	return cmd
}

// kill9 kills the child with SIGKILL and checks that it died of it.
func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child ended with %v, not SIGKILL", err)
	}
}

// kill -9 between the commit and the delivery: a process commits events
// and dies of SIGKILL before delivering any; the next process on the store
// delivers them all, in order per secret.
func TestKill9BetweenCommitAndDelivery(t *testing.T) {
	first, loc := openStore(t) // made (and its master key) before the child opens it
	first.Close()
	child := startChild(t, "commit", "committed", "KMSEVENTS_DB="+loc, "KMSEVENTS_N=12")
	kill9(t, child)

	s, err := db.Open(loc, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := undelivered(t, s, db.ChannelWebhook); n != 12 {
		t.Fatalf("%d undelivered after the kill, want 12", n)
	}
	rcv := newReceiver(t, testKey)
	w, err := events.New(s, events.Config{WebhookURL: rcv.srv.URL, WebhookKey: testKey, TLSConfig: rcv.tls()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	waitFor(t, 20*time.Second, "12 deliveries, recorded", func() bool { return len(rcv.receipts()) >= 12 && undelivered(t, s, db.ChannelWebhook) == 0 })
	cancel()
	<-done
	rcv.check()
	if dups := checkOrder(t, rcv.receipts(), map[string]int{"a": 4, "b": 4, "c": 4}); len(dups) > 0 {
		t.Fatalf("duplicates %v without a lost acknowledgement", dups)
	}
	if n := undelivered(t, s, db.ChannelWebhook); n != 0 {
		t.Fatalf("%d undelivered", n)
	}
}

// kill -9 during a delivery: the receiver got the events but the process
// died before it heard the answer. Another process sends them again once
// the dead one's claim has run out: those, and only those, arrive twice,
// with the same ids; nothing is lost and each secret stays in order.
func TestKill9DuringDelivery(t *testing.T) {
	s, loc := openStore(t)
	commit(t, s, event("a", 1), event("a", 2), event("b", 1), event("c", 1), event("c", 2))
	rcv := newReceiver(t, testKey)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rcv.srv.Certificate().Raw}), 0o600)

	// While the child delivers, the first request has it killed, and
	// every request of the child is answered only once it is dead.
	arrived := make(chan struct{}, 16)
	dead := make(chan struct{})
	rcv.setAnswer(nil, func(model.Event) int {
		select {
		case <-dead:
			return 200
		default:
		}
		arrived <- struct{}{}
		<-dead
		return 0
	})
	child := startChild(t, "deliver", "running", "KMSEVENTS_DB="+loc, "KMSEVENTS_URL="+rcv.srv.URL,
		"KMSEVENTS_CA="+ca, "KMSEVENTS_KEY="+hex.EncodeToString(testKey))
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the child delivered nothing")
	}
	kill9(t, child)
	close(dead)
	rcv.inflight.Wait()
	var unacked []string
	for _, r := range rcv.receipts() {
		unacked = append(unacked, r.ev.Id)
	}
	if len(unacked) == 0 || undelivered(t, s, db.ChannelWebhook) != 5 {
		t.Fatalf("%d received by the child's deliveries, %d undelivered", len(unacked), undelivered(t, s, db.ChannelWebhook))
	}

	// This process, once the dead one's claims ran out (its clock moved
	// past them rather than waiting).
	c := &clock{now: time.Now().Add(events.DefaultWebhookTimeout + time.Minute)}
	w, err := events.New(s, events.Config{WebhookURL: rcv.srv.URL, WebhookKey: testKey, TLSConfig: rcv.tls(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, w, c, c.Now().Add(time.Hour))
	rcv.check()
	dups := checkOrder(t, rcv.receipts(), map[string]int{"a": 2, "b": 1, "c": 2})
	slices.Sort(dups)
	slices.Sort(unacked)
	if !slices.Equal(dups, unacked) {
		t.Fatalf("sent twice: %v, want exactly those the dead process did not hear answered: %v", dups, unacked)
	}
	t.Logf("the dead process had %d events at the receiver unanswered (%s); all 5 delivered, those twice", len(unacked), strings.Join(unacked, ", "))
}
