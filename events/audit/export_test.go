package audit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
)

// exportFixture is a real log of two tenants' tickets with a signed checkpoint of it in
// CHECKPOINTS, and one more event after the checkpoint.
func exportFixture(t *testing.T) (jetstream.JetStream, *audit.Key) {
	t.Helper()
	ctx := context.Background()
	_, nc := eventstest.RunJetStream(t)
	store, err := events.NewStore(ctx, nc, events.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	js := store.JetStream()
	if _, err := js.CreateStream(ctx, audit.StreamConfig()); err != nil {
		t.Fatal(err)
	}
	key, err := audit.LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tenant := range []string{"acme", "globex", "acme"} {
		id := eventstest.NewTicketID(t)
		o := eventstest.OpenedFixture("ticket of " + tenant)
		o.Title = "printer <on fire> & smoking" // data the JSON encoder would escape
		if _, err := store.Append(ctx, events.Append{Tenant: tenant, TicketID: id, Events: []events.Event{{Data: o}, {Data: events.Commented{Body: "looking"}}}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	tree := audit.NewMemoryTree()
	feed, err := events.ReadLog(ctx, js, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		e, _, err := feed.Next(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		tree.Append(e.Leaf)
	}
	feed.Stop()
	root, _ := tree.Root()
	cp, _ := key.Sign(6, root)
	if _, err := audit.Publish(ctx, js, key, cp, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, events.Append{Tenant: "acme", TicketID: eventstest.NewTicketID(t), Events: []events.Event{{Data: eventstest.OpenedFixture("after")}}}); err != nil {
		t.Fatal(err)
	}
	return js, key
}

func TestExportVerifiesOffline(t *testing.T) {
	js, key := exportFixture(t)
	var buf bytes.Buffer
	written, after, err := audit.Export(context.Background(), js, audit.ExportOptions{Tenant: "acme", From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour), Key: key.Verifier}, &buf)
	if err != nil || written != 4 || after != 1 {
		t.Fatalf("export: %d written, %d after the checkpoint, %v; want 4 and 1", written, after, err)
	}
	export := buf.String()
	r, err := audit.VerifyExport(strings.NewReader(export), key.Verifier)
	if err != nil || !r.OK() || r.Messages != 4 || r.Tickets != 2 {
		t.Fatalf("the export: %+v %v", r, err)
	}

	// One event altered in the file: named, with its sequence; the rest still verify.
	lines := strings.Split(strings.TrimSpace(export), "\n")
	altered := append([]string(nil), lines...)
	altered[2] = strings.Replace(altered[2], `"looking"`, `"LOOKING"`, 1)
	if altered[2] == lines[2] {
		t.Fatalf("line 3 holds no comment to alter: %s", lines[2])
	}
	r, err = audit.VerifyExport(strings.NewReader(strings.Join(altered, "\n")), key.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(r); got != "altered@2 not_included@2" {
		t.Fatalf("an altered export: %q, want the comment at seq 2 named", got)
	}

	// A line removed, another key, and a line of another tenant.
	if r, _ := audit.VerifyExport(strings.NewReader(strings.Join(append(lines[:1:1], lines[2:]...), "\n")), key.Verifier); kinds(r) != "export_count@0" {
		t.Fatalf("a line removed: %q", kinds(r))
	}
	other, _ := audit.LoadOrCreateKey(t.TempDir())
	if r, _ := audit.VerifyExport(strings.NewReader(export), other.Verifier); kinds(r) != "signature@0" {
		t.Fatalf("another key: %q", kinds(r))
	}
	var globex bytes.Buffer
	if _, _, err := audit.Export(context.Background(), js, audit.ExportOptions{Tenant: "globex", From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour), Key: key.Verifier}, &globex); err != nil {
		t.Fatal(err)
	}
	smuggled := append(lines[:2:2], strings.Split(strings.TrimSpace(globex.String()), "\n")[1])
	smuggled = append(smuggled, lines[3:]...)
	if r, _ := audit.VerifyExport(strings.NewReader(strings.Join(smuggled, "\n")), key.Verifier); kinds(r) != "out_of_scope@3" {
		t.Fatalf("another tenant's event in the export: %q", kinds(r))
	}
}
