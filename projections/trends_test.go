package projections_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/projections"
)

func TestTrendsFindRecurringIssues(t *testing.T) {
	s := &script{}
	withRequester := func(o events.Opened, email string) events.Opened { o.Requester.Email = email; return o }
	// Password resets every Monday, Berlin time: 00:30 on 2 March is still Sunday in UTC.
	for i, when := range []string{"2026-03-01 23:30", "2026-03-09 07:10", "2026-03-16 08:45", "2026-03-23 09:05", "2026-03-11 10:00"} {
		s.at(when, "acme", fmt.Sprintf("pw%d", i), withRequester(opened(events.ServiceRequest, "password", "P4", "portal"), fmt.Sprintf("u%d@acme.example", i)))
	}
	// One requester's printer, at all hours of several days.
	for i, when := range []string{"2026-03-02 08:00", "2026-03-04 13:00", "2026-03-06 16:00", "2026-03-12 11:00"} {
		s.at(when, "acme", fmt.Sprintf("pr%d", i), withRequester(opened(events.Incident, "printing", "P4", "email"), "max@acme.example"))
	}
	// Spread out: no pattern. And the same Monday pattern outside the period.
	for i, when := range []string{"2026-03-03 09:00", "2026-03-05 14:00", "2026-03-10 17:00"} {
		s.at(when, "acme", fmt.Sprintf("vpn%d", i), withRequester(opened(events.Incident, "vpn", "P3", "email"), fmt.Sprintf("v%d@acme.example", i)))
	}
	s.at("2026-04-06 08:00", "acme", "pw-april", opened(events.ServiceRequest, "password", "P4", "portal"))
	p := open(t, vfs.NewMem(), 1000)
	defer p.Close()
	if err := p.Apply(eventstest.Seal(t, s.raws)); err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, berlin), time.Date(2026, 4, 1, 0, 0, 0, 0, berlin)
	got, _, err := p.Trends("acme", from, to, projections.TrendOptions{Location: berlin})
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, c := range got {
		summary = append(summary, fmt.Sprintf("%s %s=%s %d/%d %v", c.Category, c.Pattern, c.Value, c.Tickets, c.Total, c.TicketIDs))
	}
	want := []string{
		"password weekday=Monday 4/5 [pw0 pw1 pw2 pw3]",
		"printing requester=max@acme.example 4/4 [pr0 pr1 pr2 pr3]",
	}
	if fmt.Sprint(summary) != fmt.Sprint(want) {
		t.Errorf("candidates:\n%v\nwant\n%v", summary, want)
	}
	if len(got) > 0 && (got[0].ByWeekday != [7]int{0, 4, 0, 1, 0, 0, 0} || got[0].ByHour[0] != 1 || got[0].Summary == "") {
		t.Errorf("evidence of %s: weekdays %v, hours %v, %q", got[0].Category, got[0].ByWeekday, got[0].ByHour, got[0].Summary)
	}
}
