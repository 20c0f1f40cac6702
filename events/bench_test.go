package events_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/events"
	"kmsconsole/model"
)

// Delivery throughput: b.N events committed beforehand over some secrets,
// then delivered by passes until none is left (events/s). One secret is
// the slowest case: its events go one at a time, each after the previous
// one's acknowledgement was recorded.
func BenchmarkDelivery(b *testing.B) {
	for _, c := range []struct {
		channel string
		secrets int
	}{
		{db.ChannelWebhook, 64}, {db.ChannelWebhook, 1}, {db.ChannelCommand, 64},
	} {
		b.Run(fmt.Sprintf("%s/%d-secrets", c.channel, c.secrets), func(b *testing.B) {
			s, _ := openStore(b)
			rcv := newReceiver(b, testKey)
			cfg := events.Config{}
			if c.channel == db.ChannelWebhook {
				cfg = events.Config{WebhookURL: rcv.srv.URL, WebhookKey: testKey, TLSConfig: rcv.tls()}
			} else {
				cfg.Command = "cat > /dev/null"
			}
			w, err := events.New(s, cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for i := 0; i < b.N; i += 200 {
				var evs []model.Event
				for j := i; j < min(i+200, b.N); j++ {
					evs = append(evs, event(fmt.Sprintf("s%d", j%c.secrets), j/c.secrets+1))
				}
				if err := s.Write(ctx, func(tx *db.Tx) error { return tx.AddEvent(evs...) }); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			start := time.Now()
			delivered := 0
			for {
				r, err := w.DeliverDue(ctx)
				if err != nil {
					b.Fatal(err)
				}
				delivered += r.Delivered
				if r.Next.IsZero() {
					break
				}
				if r.Failed > 0 {
					b.Fatalf("%d deliveries failed", r.Failed)
				}
			}
			b.ReportMetric(float64(delivered)/time.Since(start).Seconds(), "events/s")
			if delivered != b.N {
				b.Fatalf("%d delivered of %d", delivered, b.N)
			}
		})
	}
}

// The time from the commit (and Notify) of an event to its arrival at the
// webhook, with Run as serve runs it.
func BenchmarkCommitToWebhook(b *testing.B) {
	s, _ := openStore(b)
	rcv := newReceiver(b, testKey)
	w, err := events.New(s, events.Config{WebhookURL: rcv.srv.URL, WebhookKey: testKey, TLSConfig: rcv.tls(), PollInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		commit(b, s, event("app/db", i+1))
		w.Notify()
		for len(rcv.receipts()) < i+1 {
			time.Sleep(50 * time.Microsecond)
		}
	}
}
