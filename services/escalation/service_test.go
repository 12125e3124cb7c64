package escalation_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/services/escalation"
	"github.com/ledgerdesk/ledgerdesk/services/reactor/reactortest"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
	"github.com/ledgerdesk/ledgerdesk/services/webhook"
)

const secret = "escalation-test-secret-0123456789"

func document(okURL, brokenURL string) tenantconfig.Document {
	return tenantconfig.Document{
		Tenant: "acme",
		Groups: []tenantconfig.Group{{ID: "desk", Tier: 1, Lead: &tenantconfig.Contact{Name: "Lena", Email: "lena@msp.example"},
			Agents: []tenantconfig.Agent{{ID: "alice", Email: "alice@msp.example", Manager: "mona"}}}},
		DefaultGroup: "desk",
		Managers: []tenantconfig.Person{
			{ID: "mona", Email: "mona@msp.example", Manager: "max"},
			{ID: "max", Email: "max@msp.example"},
		},
		CustomerContact: &tenantconfig.Contact{Name: "Carl", Email: "carl@customer.example"},
		EscalationRules: []tenantconfig.EscalationRule{{
			ID: "manual", On: tenantconfig.Trigger{Event: tenantconfig.OnEscalated},
			Actions: []tenantconfig.Action{{Notify: tenantconfig.RoleCustomerContact}, {Escalate: tenantconfig.Hierarchical}},
		}},
		Webhooks: []tenantconfig.Webhook{
			{ID: "customer-portal", URL: okURL, Secret: secret, Roles: []string{tenantconfig.RoleCustomerContact}},
			{ID: "broken-pager", URL: brokenURL, Secret: secret, Roles: []string{tenantconfig.RoleManager}},
		},
	}
}

// TestManualEscalationGoesThroughTheRules: a manual escalation notifies the customer
// contact and the assignee's manager chain; the webhooks' outcomes are recorded, a
// refused delivery as failed.
func TestManualEscalationGoesThroughTheRules(t *testing.T) {
	var delivered atomic.Int32
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header, body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		delivered.Add(1)
	}))
	defer ok.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusGone) // permanent: no retries
	}))
	defer broken.Close()

	env := reactortest.New(t)
	env.ApplyConfig(t, document(ok.URL, broken.URL))
	env.Run(t, escalation.New)
	o := env.Open(t, "acme", eventstest.OpenedFixture("VPN flaps"))
	env.Do(t, o.TicketID, events.Assigned{Agent: "alice", Group: "desk"})
	esc := env.Do(t, o.TicketID, events.Escalated{Tier: 2, Reason: "customer asked"})[0]

	var reqs []events.Raw
	eventstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		reqs = env.Events(t, o.TicketID, events.TypeNotificationRequested)
		outcomes := len(env.Events(t, o.TicketID, events.TypeNotificationDelivered)) + len(env.Events(t, o.TicketID, events.TypeNotificationFailed))
		if len(reqs) < 3 || outcomes < 3 {
			return fmt.Errorf("%d requested, %d outcomes", len(reqs), outcomes)
		}
		return nil
	})
	var who []string
	for _, r := range reqs {
		n := r.Data.(events.NotificationRequested)
		who = append(who, fmt.Sprintf("%s:%s:%d", n.Role, n.Email, n.Level))
		if r.CausationID != esc.ID || n.RuleID != "manual" {
			t.Errorf("notification %+v caused by %s, want the escalation %s", n, r.CausationID, esc.ID)
		}
	}
	if fmt.Sprint(who) != "[customer_contact:carl@customer.example:0 manager:mona@msp.example:1 manager:max@msp.example:2]" {
		t.Errorf("notified %v", who)
	}
	if d := env.Events(t, o.TicketID, events.TypeNotificationDelivered); len(d) != 1 || d[0].CausationID != reqs[0].ID || delivered.Load() != 1 {
		t.Errorf("delivered events %d (receiver verified %d)", len(d), delivered.Load())
	}
	failed := env.Events(t, o.TicketID, events.TypeNotificationFailed)
	if len(failed) != 2 || failed[0].Data.(events.NotificationFailed).Attempts != 1 {
		t.Errorf("failed deliveries %v", failed)
	}
	if n := len(env.Events(t, o.TicketID, events.TypeEscalated)); n != 1 {
		t.Errorf("%d escalations: a manual escalation must not escalate again", n)
	}
}

// TestDeadReceiverDelaysNoOtherDelivery: while a receiver keeps answering 503 to one
// ticket's notification (retried with backoff for up to 20 s), another ticket's
// notification is delivered and recorded at once.
func TestDeadReceiverDelaysNoOtherDelivery(t *testing.T) {
	var deadTicket atomic.Value
	deadTicket.Store("")
	var deadAttempts atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p escalation.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if p.Ticket == deadTicket.Load().(string) {
			deadAttempts.Add(1)
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable) // retried
		}
	}))
	defer receiver.Close()

	env := reactortest.New(t)
	env.ApplyConfig(t, document(receiver.URL, receiver.URL))
	env.Run(t, escalation.New)
	dead := env.Open(t, "acme", eventstest.OpenedFixture("VPN flaps"))
	deadTicket.Store(dead.TicketID)
	env.Do(t, dead.TicketID, events.Escalated{Tier: 2, Reason: "customer asked"})
	eventstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if deadAttempts.Load() < 2 {
			return errors.New("the dead receiver has not been retried yet")
		}
		return nil
	})

	alive := env.Open(t, "acme", eventstest.OpenedFixture("printer jams"))
	start := time.Now()
	env.Do(t, alive.TicketID, events.Escalated{Tier: 2, Reason: "customer asked"})
	eventstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := len(env.Events(t, alive.TicketID, events.TypeNotificationDelivered)); n == 0 {
			return errors.New("the other ticket's notification is not delivered")
		}
		return nil
	})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the other ticket's notification took %s behind a dead receiver", took)
	}
	if n := len(env.Events(t, dead.TicketID, events.TypeNotificationFailed)); n != 0 {
		t.Errorf("the dead receiver's notification failed already (%d), want it still being retried", n)
	}
}
