package projections

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// appendViewJSON appends the JSON encoding of v to b: byte for byte what json.Marshal
// encodes (the persisted format, pinned by testdata/format), without its reflection.
// Every batch encodes each view it changes, which made json.Marshal most of a rebuild's
// apply; TestViewJSONIsJSONMarshal and FuzzViewJSON hold the two equal, and
// TestPersistedValuesAreExplicit makes a field added to a view (or to events.Ticket) fail
// them until it is encoded here too. A value json.Marshal would refuse (a time it cannot
// encode) is left to it, error and all.
func appendViewJSON(b []byte, v *View) ([]byte, error) {
	start := len(b)
	e := viewEncoder{b: b}
	e.view(v)
	if e.failed {
		val, err := json.Marshal(v)
		return append(b[:start], val...), err
	}
	return e.b, nil
}

// viewEncoder appends JSON to b; failed tells a value it cannot encode as json.Marshal does.
type viewEncoder struct {
	b      []byte
	failed bool
}

func (e *viewEncoder) view(v *View) {
	e.b = append(e.b, `{"ticket":`...)
	e.ticket(&v.Ticket)
	e.b = append(e.b, `,"seq":`...)
	e.b = strconv.AppendUint(e.b, v.Seq, 10)
	if v.Hash != "" {
		e.field(`,"hash":`, v.Hash)
	}
	if v.SLA != nil {
		e.b = append(e.b, `,"sla":`...)
		e.sla(v.SLA)
	}
	if v.Reassigned {
		e.b = append(e.b, `,"reassigned":true`...)
	}
	e.b = append(e.b, '}')
}

func (e *viewEncoder) ticket(t *events.Ticket) {
	e.field(`{"id":`, t.ID)
	e.field(`,"tenant":`, t.Tenant)
	e.field(`,"type":`, string(t.Type))
	e.field(`,"title":`, t.Title)
	if t.Description != "" {
		e.field(`,"description":`, t.Description)
	}
	e.field(`,"requester":{"name":`, t.Requester.Name)
	e.field(`,"email":`, t.Requester.Email)
	e.field(`},"impact":`, string(t.Impact))
	e.field(`,"urgency":`, string(t.Urgency))
	e.field(`,"priority":`, string(t.Priority))
	if t.MajorIncident {
		e.b = append(e.b, `,"major_incident":true`...)
	}
	e.field(`,"category":`, t.Category)
	e.field(`,"source":`, t.Source)
	if len(t.Labels) > 0 {
		e.b = append(e.b, `,"labels":`...)
		for i, l := range t.Labels {
			e.field(sep(i), l)
		}
		e.b = append(e.b, ']')
	}
	e.field(`,"state":`, string(t.State))
	if t.HoldReason != "" {
		e.field(`,"hold_reason":`, string(t.HoldReason))
	}
	e.int(`,"tier":`, int64(t.Tier))
	if t.Group != "" {
		e.field(`,"group":`, t.Group)
	}
	if t.Agent != "" {
		e.field(`,"agent":`, t.Agent)
	}
	if t.Responded {
		e.b = append(e.b, `,"responded":true`...)
	}
	if t.Escalations != 0 {
		e.int(`,"escalations":`, int64(t.Escalations))
	}
	if t.Reopens != 0 {
		e.int(`,"reopens":`, int64(t.Reopens))
	}
	if len(t.Links) > 0 {
		e.b = append(e.b, `,"links":`...)
		for i, l := range t.Links {
			e.b = append(e.b, sep(i)...)
			e.field(`{"kind":`, string(l.Kind))
			e.field(`,"target":`, l.Target)
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	if t.Vendor != "" {
		e.field(`,"vendor":`, t.Vendor)
	}
	if t.VendorCase != "" {
		e.field(`,"vendor_case":`, t.VendorCase)
	}
	e.time(`,"opened_at":`, t.OpenedAt)
	if !t.ResolvedAt.IsZero() {
		e.time(`,"resolved_at":`, t.ResolvedAt)
	}
	e.time(`,"updated_at":`, t.UpdatedAt)
	e.b = append(e.b, `,"version":`...)
	e.b = strconv.AppendUint(e.b, t.Version, 10)
	e.b = append(e.b, '}')
}

func (e *viewEncoder) sla(s *SLAStatus) {
	e.field(`{"policy_id":`, s.PolicyID)
	e.int(`,"policy_version":`, int64(s.PolicyVersion))
	e.field(`,"calendar":`, s.Calendar)
	e.b = append(e.b, `,"clocks":`...)
	if s.Clocks == nil {
		e.b = append(e.b, `null}`...)
		return
	}
	if len(s.Clocks) == 0 {
		e.b = append(e.b, `[]}`...)
		return
	}
	for i := range s.Clocks {
		e.b = append(e.b, sep(i)...)
		e.clock(&s.Clocks[i])
	}
	e.b = append(e.b, "]}"...)
}

func (e *viewEncoder) clock(c *ClockStatus) {
	e.field(`{"clock":`, c.Clock)
	e.int(`,"target_ms":`, c.TargetMS)
	e.field(`,"state":`, string(c.State))
	if c.Due != nil {
		e.time(`,"due":`, *c.Due)
	}
	if len(c.Warnings) > 0 {
		e.b = append(e.b, `,"warnings":`...)
		for i, w := range c.Warnings {
			e.int(sep(i), int64(w))
		}
		e.b = append(e.b, ']')
	}
	if c.Breached {
		e.b = append(e.b, `,"breached":true`...)
	} else {
		e.b = append(e.b, `,"breached":false`...)
	}
	if c.Outcome != "" {
		e.field(`,"outcome":`, c.Outcome)
	}
	if c.UsedMS != 0 {
		e.int(`,"used_ms":`, c.UsedMS)
	}
	e.b = append(e.b, '}')
}

// sep opens an array (its first element) or separates its elements.
func sep(i int) string {
	if i == 0 {
		return "["
	}
	return ","
}

func (e *viewEncoder) int(name string, n int64) {
	e.b = strconv.AppendInt(append(e.b, name...), n, 10)
}

func (e *viewEncoder) time(name string, t time.Time) {
	e.b = append(append(e.b, name...), '"')
	b, err := t.AppendText(e.b)
	if err != nil {
		e.failed = true
		return
	}
	e.b = append(b, '"')
}

// field appends name (the JSON before the value) and s as a JSON string.
func (e *viewEncoder) field(name, s string) {
	e.b = append(e.b, name...)
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if !plainJSON[c] {
				e.quote(s)
				return
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			e.quote(s)
			return
		}
		i += size
	}
	e.b = append(append(append(e.b, '"'), s...), '"')
}

// quote appends s as json.Marshal writes a string that needs escaping (HTML characters
// too, and invalid UTF-8).
func (e *viewEncoder) quote(s string) {
	quoted, _ := json.Marshal(s) // a string always encodes
	e.b = append(e.b, quoted...)
}

// plainJSON are the ASCII bytes json.Marshal writes in a string as they are.
var plainJSON = func() (plain [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		plain[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return plain
}()
