package inbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
)

// Message is one inbound CloudEvent as a door received it.
type Message struct {
	Tenant      string // the tenant it is for
	Integration string // who sent it: the inbox subject's last token, or the HTTP principal's name
	Actor       string // the ce-actor of the events it causes
	// TicketSource is the source of the tickets it opens, which routing rules match
	// (default: Integration; the alert webhooks say alertmanager or grafana).
	TicketSource string
	Event        *event.Event // nil when it is no CloudEvent (Err says why)
	Err          error
}

func (m Message) ticketSource() string {
	if m.TicketSource != "" {
		return m.TicketSource
	}
	return m.Integration
}

// ceHeaderPrefix marks the CloudEvents attributes among a binary-mode message's headers
// (the NATS protocol binding).
const ceHeaderPrefix = "ce-"

// FromNATS decodes a message of the inbox stream: a CloudEvent in binary mode (ce-*
// headers, the data as the body) or structured mode (the whole event as JSON, content type
// application/cloudevents+json). The subject inbox.<tenant>.<integration> says whose it
// is: the server lets only that integration's user publish there.
func FromNATS(subject string, h nats.Header, data []byte) Message {
	m := Message{}
	parts := strings.Split(subject, ".")
	if len(parts) != 3 || parts[0] != "inbox" {
		m.Err = fmt.Errorf("subject %q is not inbox.<tenant>.<integration>", subject)
		return m
	}
	m.Tenant, m.Integration, m.Actor = parts[1], parts[2], "integration:"+parts[2]
	binary := false
	for k := range h {
		if strings.EqualFold(k, ceHeaderPrefix+"specversion") {
			binary = true
		}
	}
	if binary {
		m.Event, m.Err = binaryEvent(h, data)
	} else {
		m.Event, m.Err = structuredEvent(data)
	}
	return m
}

// binaryEvent reads a binary-mode event: every ce-* header is an attribute (the unknown
// ones extensions), the body is the data.
func binaryEvent(h nats.Header, data []byte) (*event.Event, error) {
	attrs := map[string]string{}
	contentType := ""
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		lk := strings.ToLower(k)
		if lk == "content-type" {
			contentType = vs[0]
		}
		if name, ok := strings.CutPrefix(lk, ceHeaderPrefix); ok {
			if _, dup := attrs[name]; dup || len(vs) > 1 {
				return nil, fmt.Errorf("header %s is given more than once", k)
			}
			attrs[name] = vs[0]
		}
	}
	if attrs["specversion"] != event.CloudEventsVersionV1 {
		return nil, fmt.Errorf("ce-specversion %q: only %s is supported", attrs["specversion"], event.CloudEventsVersionV1)
	}
	e := event.New(event.CloudEventsVersionV1)
	var errs []error
	for name, v := range attrs {
		switch name {
		case "specversion":
		case "id":
			e.SetID(v)
		case "source":
			e.SetSource(v)
		case "type":
			e.SetType(v)
		case "subject":
			e.SetSubject(v)
		case "dataschema":
			e.SetDataSchema(v)
		case "datacontenttype":
			contentType = v
		case "time":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				errs = append(errs, fmt.Errorf("ce-time %q: not an RFC 3339 time", v))
			}
			e.SetTime(t)
		default:
			if err := e.Context.SetExtension(name, v); err != nil {
				errs = append(errs, fmt.Errorf("header ce-%s: %w", name, err))
			}
		}
	}
	if contentType != "" {
		e.SetDataContentType(contentType)
	}
	e.DataEncoded = data
	return &e, errors.Join(errs...)
}

// structuredEvent reads a structured-mode event.
func structuredEvent(data []byte) (*event.Event, error) {
	e := event.New()
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("not a CloudEvent in binary mode (no ce-specversion header) nor in structured mode: %w", err)
	}
	return &e, nil
}

// tenantExtension is the CloudEvents extension attribute that names a message's tenant
// over HTTP (ce-tenant), where no subject does.
const tenantExtension = "tenant"

// jsonData reports whether the event's data is JSON (no content type means JSON).
func jsonData(e *event.Event) bool {
	ct := e.DataContentType()
	return ct == "" || ct == event.ApplicationJSON || strings.HasPrefix(ct, event.ApplicationJSON+";")
}
