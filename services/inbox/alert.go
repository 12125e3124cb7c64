package inbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// AutoResolved is the resolution code of an incident its alert resolved.
const AutoResolved = "auto_resolved"

// alert applies an alert message (events.InboxAlert) under the tenant's alert policy:
// firing opens an incident, comments on the one still open (the message's ce-id, one per
// comment interval, keeps it to one comment each), reopens it when resolved within the
// reopen window, else opens a new one linked to it; resolved resolves it, or comments.
func (a *applying) alert(ctx context.Context, al events.InboxAlert) (string, uint64, bool, error) {
	doc, _, err := a.p.cfg.Configs.Current(ctx, a.m.Tenant)
	if err != nil {
		return "", 0, false, err
	}
	policy := doc.AlertPolicy()
	if al.Status == events.AlertResolved {
		named, _, err := a.p.refs.get(ctx, referenceKey(a.m.Tenant, a.referenceSource(), al.ExternalID))
		if err != nil {
			return "", 0, false, err
		}
		if named == "" {
			return "", 0, false, events.NewError(events.KindNotFound, "inbox: resolved alert without incident",
				fmt.Sprintf("no incident was opened for alert %q from %q", al.ExternalID, a.referenceSource()))
		}
		version, err := a.update(ctx, named, func(t events.Ticket) (events.Payload, error) {
			switch {
			case t.State == events.StateResolved || ended(t.State):
				return nil, nil // resolved by hand already
			case policy.OnResolved == tenantconfig.OnResolvedComment:
				return events.Commented{Body: "Alert resolved: " + al.Title}, nil
			}
			return events.Resolved{Code: AutoResolved, Notes: "Alert resolved: " + al.Title}, nil
		})
		return named, version, true, err
	}

	ticket := derivedID(a.key, -1)
	existed := false
	named, version, previous, err := a.claim(ctx, al.ExternalID, ticket, func(named string) (uint64, bool, error) {
		over := false // the incident is over for good: a new one is opened
		version, err := a.update(ctx, named, func(t events.Ticket) (events.Payload, error) {
			switch {
			case ended(t.State):
				over = true
				return nil, nil
			case t.State == events.StateResolved:
				reopen := events.Reopened{Reason: "Alert firing again: " + al.Title}
				if _, err := events.Decide(t, reopen, a.now); err != nil {
					over = true // past the reopen window
					return nil, nil
				}
				return reopen, nil
			}
			return events.Commented{Body: fmt.Sprintf("Alert still firing (since %s): %s", al.StartsAt.UTC().Format(time.RFC3339), al.Title)}, nil
		})
		switch {
		case errors.Is(err, events.ErrNotFound):
			return 0, false, nil // claimed by an open that never got appended
		case err != nil:
			return 0, false, err
		}
		existed = true
		return version, !over, nil
	})
	if err != nil || named != "" {
		return named, version, named != "", err
	}
	severity := policy.Severity(al.Severity)
	opened := events.Opened{Type: events.Incident, Title: truncate(al.Title, 200), Description: alertDescription(al),
		Requester: events.Requester{Name: policy.Requester.Name, Email: policy.Requester.Email},
		Impact:    severity.Impact, Urgency: severity.Urgency, Category: policy.Category, Source: a.m.ticketSource(),
		Labels: alertLabels(al.Labels)}
	decided, err := events.Decide(events.Ticket{}, opened, a.now)
	if err != nil {
		return "", 0, false, err
	}
	evs := []events.Event{a.event(0, decided[0])}
	if previous != "" && existed {
		// A recurrence of an incident that is over: the new one names it.
		link := events.Linked{Kind: events.LinkDuplicateOf, Target: previous}
		if _, err := events.Decide(events.Fold([]events.Event{{Data: decided[0], TicketID: ticket}}), link, a.now); err != nil {
			return "", 0, false, err
		}
		evs = append(evs, a.event(1, link))
	}
	version, err = a.append(ctx, ticket, evs)
	return ticket, version, false, err
}

// alertDescription is the incident's description: the alert's, and where it is seen.
func alertDescription(a events.InboxAlert) string {
	parts := []string{}
	if a.Description != "" {
		parts = append(parts, a.Description)
	}
	if a.URL != "" {
		parts = append(parts, "Source: "+a.URL)
	}
	return strings.Join(parts, "\n\n")
}

// alertLabels are an alert's labels as ticket labels, name=value, sorted.
func alertLabels(labels map[string]string) []string {
	out := make([]string, 0, len(labels))
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// truncate cuts s to at most n bytes, at a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
