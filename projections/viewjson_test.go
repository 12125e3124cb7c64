package projections

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// viewsToEncode are the persisted view of TestFormatVersionStableValues (every field
// set), its zero value, and variants of the first at the edges of the encoding: empty
// and nil slices, strings json.Marshal escapes, times in other zones and at the limits.
func viewsToEncode(t *testing.T) []View {
	t.Helper()
	var full View
	for _, p := range persisted() {
		if v, ok := p.full.(View); ok {
			full = v
		}
	}
	if full.Seq == 0 {
		t.Fatal("persisted() has no view")
	}
	variant := func(change func(v *View)) View {
		v := full
		sla := *full.SLA
		sla.Clocks = append([]ClockStatus(nil), full.SLA.Clocks...)
		v.SLA = &sla
		change(&v)
		return v
	}
	zone := time.FixedZone("", -(3*3600 + 30*60))
	return []View{
		full, {},
		variant(func(v *View) { v.SLA = nil; v.Hash = ""; v.Reassigned = false }),
		variant(func(v *View) { v.SLA.Clocks = nil }),
		variant(func(v *View) { v.SLA.Clocks = []ClockStatus{} }),
		variant(func(v *View) {
			v.SLA.Clocks = append(v.SLA.Clocks, ClockStatus{Clock: events.ClockResponse, Warnings: []int{}})
		}),
		variant(func(v *View) { v.Ticket.Labels = []string{}; v.Ticket.Links = []events.Link{} }),
		variant(func(v *View) {
			v.Ticket.Labels = []string{"a", "b", "c"}
			v.Ticket.Links = append(v.Ticket.Links, events.Link{Kind: events.LinkParent, Target: "x"})
		}),
		variant(func(v *View) {
			v.Ticket.Title = "<b>Tom & Jerry</b> \"quoted\" \\ back\tslash\n\r\b\f\x00\x1f"
			v.Ticket.Description = "grüße, 日本語, \u2028\u2029, bad utf-8 \xff\xfe, emoji 🎫"
			v.Ticket.Requester.Name = "Zoë O'Brien"
			v.Ticket.Labels = []string{"<", ">", "&", "\x7f"}
		}),
		variant(func(v *View) {
			v.Ticket.OpenedAt = v.Ticket.OpenedAt.In(zone)
			v.Ticket.UpdatedAt = time.Date(2026, 3, 2, 12, 15, 0, 1, time.UTC)
			v.Ticket.ResolvedAt = time.Time{}
			due := time.Date(9999, 12, 31, 23, 59, 59, 999999999, zone)
			v.SLA.Clocks[0].Due = &due
		}),
		variant(func(v *View) {
			v.Ticket.Tier, v.Ticket.Escalations, v.Ticket.Reopens = -1, -7, 1<<40
			v.SLA.PolicyVersion, v.SLA.Clocks[0].TargetMS, v.SLA.Clocks[0].UsedMS = -3, -1<<62, 1<<62
			v.Seq, v.Ticket.Version = 1<<64-1, 1<<63
		}),
	}
}

// TestViewJSONIsJSONMarshal: appendViewJSON writes exactly what json.Marshal writes, and
// leaves a view json.Marshal refuses to it.
func TestViewJSONIsJSONMarshal(t *testing.T) {
	for i, v := range viewsToEncode(t) {
		want, err := json.Marshal(&v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendViewJSON([]byte("prefix"), &v)
		if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("view %d: appendViewJSON gives %s (%v)\nwant prefix%s", i, got, err, want)
		}
	}
	bad := viewsToEncode(t)[0]
	bad.Ticket.OpenedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	_, want := json.Marshal(&bad)
	if _, err := appendViewJSON(nil, &bad); err == nil || want == nil || err.Error() != want.Error() {
		t.Errorf("a year json.Marshal refuses: appendViewJSON says %v, json.Marshal %v", err, want)
	}
}

// FuzzViewJSON: for any strings in a view, appendViewJSON and json.Marshal agree.
func FuzzViewJSON(f *testing.F) {
	f.Add("mail server down", "ada@acme.example", "exchange", "P2")
	f.Add("<b>&</b>", "\u2028\xff\"\\", "\x00\n", "日本")
	f.Fuzz(func(t *testing.T, title, email, label, priority string) {
		v := viewsToEncode(t)[0]
		v.Ticket.Title, v.Ticket.Requester.Email, v.Ticket.Priority = title, email, events.Priority(priority)
		v.Ticket.Labels = []string{label, title}
		v.SLA.Clocks[0].Outcome = label
		want, err := json.Marshal(&v)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := appendViewJSON(nil, &v); err != nil || !bytes.Equal(got, want) {
			t.Errorf("appendViewJSON gives %s (%v)\nwant %s", got, err, want)
		}
	})
}
