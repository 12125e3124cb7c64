package app_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/app"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// TestForgedEventsAreDeadLetteredEverywhere gets forged events into the log the only way
// left, with the break-glass admin credentials: a whole P1 ticket whose hash does not
// match, and a manual escalation of an honest ticket linked to an event it does not
// have. Each reader — routing, SLA, escalation and the projector —
// dead-letters each of them with the reason and acts on neither; the forged ticket is
// in no queue, view or report, and the honest ticket was not escalated.
func TestForgedEventsAreDeadLetteredEverywhere(t *testing.T) {
	c := startWith(t, app.RunConfig{SeedConfigDir: filepath.Join("..", "..", "deploy", "demo-config")})
	ctx := context.Background()
	honest, _ := c.open()

	js := c.adminJetStream()
	publish := func(r events.Raw) {
		t.Helper()
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: events.Subject(r.Tenant, r.TicketID), Header: r.Header(), Data: r.RawData}); err != nil {
			t.Fatal(err)
		}
	}
	ghost, err := events.Seal(events.Event{ID: "forged-open", Source: "/ledgerdesk/intake", Tenant: "acme", TicketID: "ghost",
		Time: time.Now().UTC(), Actor: "agent:mallory", Data: events.Opened{Type: events.Incident, Title: "ghost", Impact: "high",
			Urgency: "high", Priority: "P1", Category: "network", Source: "email"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	ghost.Actor = "admin:admin" // after sealing: the hash no longer matches
	publish(ghost)
	escalate, err := events.Seal(events.Event{ID: "forged-escalate", Source: "/ledgerdesk/intake", Tenant: "acme", TicketID: honest.ID,
		Time: time.Now().UTC(), Actor: "agent:mallory", Data: events.Escalated{Tier: 2, Reason: "forged"}}, strings.Repeat("0", 64))
	if err != nil {
		t.Fatal(err)
	}
	publish(escalate)
	after, _ := c.open() // every reader must get past the forgeries to this one

	forged := map[string]bool{ghost.ID: true, escalate.ID: true}
	readers := []string{"routing-tickets", "sla-tickets", "escalation-tickets", "reporting-projector"}
	dlq, err := js.Stream(ctx, reactor.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	eventstest.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		info, err := dlq.Info(ctx)
		if err != nil {
			return err
		}
		got := map[string][]string{}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := dlq.GetMsg(ctx, seq)
			if err != nil {
				return err
			}
			id, reason := m.Header.Get(events.HeaderID), m.Header.Get(reactor.MetadataReason)
			if !forged[id] {
				return fmt.Errorf("dead letter of %q (%s): only the forged events belong there", id, reason)
			}
			if !strings.Contains(reason, "altered or forged") && !strings.Contains(reason, "last accepted event") {
				return fmt.Errorf("dead letter of %s without its reason: %q", id, reason)
			}
			got[id] = append(got[id], m.Header.Get(reactor.MetadataHandler))
		}
		for id := range forged {
			slices.Sort(got[id])
			want := slices.Sorted(slices.Values(readers))
			if !slices.Equal(got[id], want) {
				return fmt.Errorf("%s dead-lettered by %v, want by %v", id, got[id], want)
			}
		}
		return nil
	})

	// The honest tickets are routed and projected; the forged ones count nowhere.
	eventstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if r := c.do("GET", "/v1/tickets/"+after.ID+"/view", ""); r.status != http.StatusOK {
			return fmt.Errorf("view of the ticket after the forgeries: %d %s", r.status, r.body)
		}
		return nil
	})
	var queue struct {
		Tickets []struct {
			Ticket struct {
				ID string `json:"ID"`
			} `json:"ticket"`
		} `json:"tickets"`
		Total int `json:"total"`
	}
	c.do("GET", "/v1/queues?tenant=acme", "").json(t, &queue)
	if queue.Total != 2 {
		t.Errorf("acme's queue holds %d tickets, want the 2 honest ones: %+v", queue.Total, queue)
	}
	c.do("GET", "/v1/tickets/ghost", "").problem(t, 404, "not-found")
	c.do("GET", "/v1/tickets/ghost/view", "").problem(t, 404, "not-found")
	day := time.Now().UTC().Format(time.DateOnly)
	tomorrow := time.Now().UTC().Add(48 * time.Hour).Format(time.DateOnly)
	var summary struct {
		Opened int `json:"opened"`
	}
	c.do("GET", "/v1/reports/summary?tenant=acme&from="+day+"&to="+tomorrow, "").json(t, &summary)
	if summary.Opened != 2 {
		t.Errorf("the summary counts %d opened tickets, want the 2 honest ones", summary.Opened)
	}
	var hist []struct {
		ID          string `json:"id"`
		CausationID string `json:"causationid"`
	}
	c.do("GET", "/v1/tickets/"+honest.ID+"/events", "").json(t, &hist)
	for _, e := range hist {
		if e.ID == escalate.ID || e.CausationID == escalate.ID {
			t.Errorf("the honest ticket's history holds the forged escalation or an effect of it: %+v", e)
		}
	}
}

// adminJetStream connects to the system's NATS server with the break-glass admin
// credentials, as an operator with the nats CLI could.
func (c *client) adminJetStream() jetstream.JetStream {
	c.t.Helper()
	opts, err := c.sys.Keys.Connect(natsauth.RoleAdmin)
	if err != nil {
		c.t.Fatal(err)
	}
	admin, err := nats.Connect(c.sys.NATS.ClientURL(), opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(admin.Close)
	js, err := jetstream.New(admin)
	if err != nil {
		c.t.Fatal(err)
	}
	return js
}

// TestReadyzNamesAWeakenedLog: an admin sets a retention limit on TICKETS behind
// ledgerdesk's back; /readyz answers 503 naming it within a few seconds, and 200 again
// once the limit is gone.
func TestReadyzNamesAWeakenedLog(t *testing.T) {
	c := startSystem(t)
	js := c.adminJetStream()
	ctx := context.Background()
	weakened := events.StreamConfig(events.StoreConfig{})
	weakened.MaxAge, weakened.Duplicates = 30*24*time.Hour, time.Minute
	if _, err := js.UpdateStream(ctx, weakened); err != nil {
		t.Fatal(err)
	}
	eventstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		r := c.do("GET", "/readyz", "", "Authorization", "")
		if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "stream TICKETS is weakened: max age") {
			return fmt.Errorf("/readyz: %d %s", r.status, r.body)
		}
		return nil
	})
	if _, err := js.UpdateStream(ctx, events.StreamConfig(events.StoreConfig{})); err != nil {
		t.Fatal(err)
	}
	eventstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		if r := c.do("GET", "/readyz", "", "Authorization", ""); r.status != http.StatusOK {
			return fmt.Errorf("/readyz after the repair: %d %s", r.status, r.body)
		}
		return nil
	})
}
