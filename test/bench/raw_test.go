//go:build bench

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/embedded"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
)

const (
	rawStream     = "BENCH"
	rawPublishers = 4
	rawBatch      = 500
	rawMsgSize    = 512
)

// measureRaw publishes about n messages of rawMsgSize bytes in atomic batches of
// rawBatch from rawPublishers connections to a scratch stream on an embedded server that
// fsyncs every write, then reads them back with an ordered consumer.
func measureRaw(t *testing.T, n int) []Result {
	perPub := max(1, n/(rawPublishers*rawBatch)) // batches per publisher
	n = perPub * rawPublishers * rawBatch
	keys, err := natsauth.Generate(events.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	s, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Auth: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	admin, err := keys.Connect(natsauth.RoleAdmin) // a scratch stream of its own
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*nats.Conn, rawPublishers)
	for i := range conns {
		if conns[i], err = nats.Connect(s.ClientURL(), admin...); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conns[i].Close)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	js, err := jetstream.New(conns[0])
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: rawStream, Subjects: []string{"bench.>"},
		Storage: jetstream.FileStorage, Replicas: 1, AllowAtomicPublish: true})
	if err != nil {
		t.Fatal(err)
	}

	payload := make([]byte, rawMsgSize)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for p, nc := range conns {
		wg.Go(func() {
			for range perPub {
				if err := publishBatch(nc, fmt.Sprintf("bench.%d", p), payload); err != nil {
					t.Errorf("publisher %d: %v", p, err)
					return
				}
			}
		})
	}
	wg.Wait()
	pubRate := float64(n) / time.Since(start).Seconds()
	if t.Failed() {
		t.FailNow()
	}
	if info, err := stream.Info(ctx); err != nil || info.State.Msgs != uint64(n) {
		t.Fatalf("stream holds %v messages (err %v), want %d", info.State.Msgs, err, n)
	}

	readRate := MedianOf(readRuns, func() float64 { return orderedRead(ctx, t, js, n) })
	return []Result{Measured("raw.atomic_publish", pubRate, "msgs/s"), Measured("raw.ordered_read", readRate, "msgs/s")}
}

// publishBatch publishes rawBatch messages as one atomic batch (nats-server's batch
// headers; the commit message is a request answered by the batch's ack).
func publishBatch(nc *nats.Conn, subject string, payload []byte) error {
	id := nuid.Next()
	for i := 1; i <= rawBatch; i++ {
		m := nats.NewMsg(subject)
		m.Data = payload
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i))
		if i < rawBatch {
			if err := nc.PublishMsg(m); err != nil {
				return fmt.Errorf("publish batch message: %w", err)
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		reply, err := nc.RequestMsg(m, 30*time.Second)
		if err != nil {
			return fmt.Errorf("commit batch: %w", err)
		}
		var ack struct {
			Count int `json:"count"`
			Error *struct {
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(reply.Data, &ack); err != nil {
			return fmt.Errorf("decode batch ack %s: %w", reply.Data, err)
		}
		if ack.Error != nil || ack.Count != rawBatch {
			return fmt.Errorf("batch ack %s: want %d messages committed", reply.Data, rawBatch)
		}
	}
	return nil
}

// orderedRead consumes the whole scratch stream (n messages) with an ordered consumer
// and returns messages per second.
func orderedRead(ctx context.Context, t *testing.T, js jetstream.JetStream, n int) float64 {
	cons, err := js.OrderedConsumer(ctx, rawStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	done := make(chan struct{})
	start := time.Now()
	cc, err := cons.Consume(func(jetstream.Msg) {
		if got.Add(1) == int64(n) {
			close(done)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("ordered read: %d of %d messages before the timeout", got.Load(), n)
	}
	return float64(n) / time.Since(start).Seconds()
}
