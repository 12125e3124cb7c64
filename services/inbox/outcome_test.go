package inbox

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
)

// TestOutcomesRecordedOnce: outcomes recorded at once share an atomic batch; two records
// of the same outcome (one inbox message's, redelivered) are stored once, both answered
// without error though their batch was refused for the duplicate.
func TestOutcomesRecordedOnce(t *testing.T) {
	ctx := context.Background()
	_, nc := eventstest.RunJetStream(t)
	js := jetstreamOf(t, nc)
	stream, err := js.CreateStream(ctx, OutcomeStreamConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := newOutcomes(js, stream)
	defer s.close()
	o := Outcome{ID: "m1", Tenant: "acme", Integration: "zabbix", Status: StatusAccepted, At: time.Now(), key: "k1"}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			id := "inbox-" + string(rune('a'+i)) // 20 messages, one id twice
			if i == 19 {
				id = "inbox-a"
			}
			errs[i] = s.record(ctx, o, id)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 19 {
		t.Errorf("OUTCOMES holds %d messages, want 19 (20 records, one a duplicate)", info.State.Msgs)
	}
}

func jetstreamOf(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestPanicIsARejection: a message whose handling panics is answered, rejected with an
// internal problem, not left to be delivered again and again.
func TestPanicIsARejection(t *testing.T) {
	p := &Processor{cfg: Config{Logger: zap.NewNop(), Now: time.Now}} // no schemas: handling panics
	e := event.New(event.CloudEventsVersionV1)
	e.SetID("m1")
	e.SetSource("//x")
	e.SetType(events.TypeInboxComment)
	res := p.safeDecide(context.Background(), Message{Tenant: "acme", Integration: "zabbix", Event: &e}, "k1")
	if res.Err != nil || res.Outcome.Status != StatusRejected || res.Outcome.Problem.Status != 500 || res.Outcome.ID != "m1" {
		t.Fatalf("a panicking message: %+v", res)
	}
}
