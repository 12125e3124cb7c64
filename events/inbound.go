package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Inbound message types: the CloudEvents integrations publish to the inbox (NATS
// inbox.<tenant>.<integration>, or POST /v1/events), each asking for one ticket command.
// Their data schemas are published beside the event types' (contracts/). A released
// type's schema never changes. NB: wire names; never rename one.
const (
	TypeInboxOpen    = "ledgerdesk.inbox.open.v1"
	TypeInboxComment = "ledgerdesk.inbox.comment.v1"
	TypeInboxResolve = "ledgerdesk.inbox.resolve.v1"
	TypeInboxReopen  = "ledgerdesk.inbox.reopen.v1"
	TypeInboxLink    = "ledgerdesk.inbox.link.v1"
	TypeInboxAlert   = "ledgerdesk.inbox.alert.v1"

	// Evidence an MSP owes its customers: recorded as facts of the tenant (the EVIDENCE
	// stream), not ticket commands.
	TypeInboxBackupResult = "ledgerdesk.inbox.backup_result.v1"
	TypeInboxPatchScan    = "ledgerdesk.inbox.patch_scan.v1"
)

// The evidence types as the EVIDENCE stream stores them: the data of the inbound message
// they were recorded from. NB: wire names.
const (
	TypeEvidenceBackup = "ledgerdesk.evidence.backup_result.v1"
	TypeEvidencePatch  = "ledgerdesk.evidence.patch_scan.v1"
)

// BackupStatus is how a backup job ended.
type BackupStatus string

// Backup statuses.
const (
	BackupSuccess BackupStatus = "success"
	BackupPartial BackupStatus = "partial" // some items failed
	BackupFailed  BackupStatus = "failed"
)

// BackupStatuses lists the backup statuses (the published schema's enumeration).
func BackupStatuses() []BackupStatus {
	return []BackupStatus{BackupSuccess, BackupPartial, BackupFailed}
}

// InboxBackupResult is the result of one backup job run on a system: the backup
// verification log an MSP shows its customer. A failed or partial run opens an incident
// once per system and day.
type InboxBackupResult struct {
	System        string       `json:"system"`
	Job           string       `json:"job"`
	Started       time.Time    `json:"started"`
	Finished      time.Time    `json:"finished"`
	Status        BackupStatus `json:"status"`
	Bytes         int64        `json:"bytes"`
	RestoreTested bool         `json:"restore_tested"` // a restore of this backup was tested and verified
}

// PatchCounts are missing patches by severity.
type PatchCounts struct {
	Critical  int `json:"critical"`
	Important int `json:"important"`
	Moderate  int `json:"moderate"`
	Low       int `json:"low"`
}

// InboxPatchScan is a device's patch compliance scan: the patches it misses by severity.
type InboxPatchScan struct {
	Device      string      `json:"device"`
	ScannedAt   time.Time   `json:"scanned_at"`
	Missing     PatchCounts `json:"missing"`
	LastPatched time.Time   `json:"last_patched"`
}

// AlertStatus is an alert's state, as Alertmanager and Grafana send it.
type AlertStatus string

// Alert statuses.
const (
	AlertFiring   AlertStatus = "firing"
	AlertResolved AlertStatus = "resolved"
)

// AlertStatuses lists the alert statuses (the published schema's enumeration).
func AlertStatuses() []AlertStatus { return []AlertStatus{AlertFiring, AlertResolved} }

// MaxExternalID bounds an external reference's id (an alert fingerprint, a PSA ticket number).
const MaxExternalID = 256

// TicketRef names the ticket an inbound message is about: by its id, or by the external
// reference it was opened under (the message's ce-source and this external_id). Exactly
// one is given.
type TicketRef struct {
	Ticket     string `json:"ticket,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
}

// InboxOpen opens a ticket; with an external_id, later messages from the same ce-source
// may address the ticket by it, and an open with a reference whose ticket is still open
// opens nothing new.
type InboxOpen struct {
	ExternalID    string     `json:"external_id,omitempty"`
	Type          TicketType `json:"type"`
	Title         string     `json:"title"`
	Description   string     `json:"description,omitempty"`
	Requester     Requester  `json:"requester"`
	Impact        Level      `json:"impact"`
	Urgency       Level      `json:"urgency"`
	Category      string     `json:"category"`
	MajorIncident bool       `json:"major_incident,omitempty"`
	Labels        []string   `json:"labels,omitempty"`
}

// InboxComment adds a comment to a ticket.
type InboxComment struct {
	TicketRef
	Commented
}

// InboxResolve resolves a ticket.
type InboxResolve struct {
	TicketRef
	Resolved
}

// InboxReopen reopens a resolved ticket within its reopen window.
type InboxReopen struct {
	TicketRef
	Reopened
}

// InboxLink links a ticket to another (target is a ticket id).
type InboxLink struct {
	TicketRef
	Linked
}

// InboxAlert is a monitoring alert, keyed by its external_id (Alertmanager's fingerprint):
// firing opens an incident, or comments on the one still open (reopens it when resolved
// within the reopen window, else opens a new one linked to it); resolved resolves it (or
// comments, per the tenant's alert policy). Impact and urgency come from the tenant's
// mapping of the severity.
type InboxAlert struct {
	ExternalID  string            `json:"external_id"`
	Status      AlertStatus       `json:"status"`
	Title       string            `json:"title"`
	Description string            `json:"description,omitempty"`
	Severity    string            `json:"severity,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	StartsAt    time.Time         `json:"starts_at"`
	URL         string            `json:"url,omitempty"` // where the alert is seen (generatorURL, a panel)
}

// Inbound is the data of an inbound message, decoded.
type Inbound interface {
	// InboundType is the message's ce-type, one of the TypeInbox constants.
	InboundType() string
	// Command is the ticket command the message asks for, and the ticket it is about
	// (the zero TicketRef for an open, which makes its ticket). An alert's command
	// depends on its ticket's state: its Payload is nil.
	Command(source string) (TicketRef, Payload)
}

func (InboxOpen) InboundType() string         { return TypeInboxOpen }
func (InboxComment) InboundType() string      { return TypeInboxComment }
func (InboxResolve) InboundType() string      { return TypeInboxResolve }
func (InboxReopen) InboundType() string       { return TypeInboxReopen }
func (InboxLink) InboundType() string         { return TypeInboxLink }
func (InboxAlert) InboundType() string        { return TypeInboxAlert }
func (InboxBackupResult) InboundType() string { return TypeInboxBackupResult }
func (InboxPatchScan) InboundType() string    { return TypeInboxPatchScan }

// Command is the open; source becomes the ticket's source (routing rules match it).
func (m InboxOpen) Command(source string) (TicketRef, Payload) {
	return TicketRef{}, Opened{Type: m.Type, Title: m.Title, Description: m.Description, Requester: m.Requester,
		Impact: m.Impact, Urgency: m.Urgency, Category: m.Category, Source: source,
		MajorIncident: m.MajorIncident, Labels: m.Labels}
}
func (m InboxComment) Command(string) (TicketRef, Payload) { return m.TicketRef, m.Commented }
func (m InboxResolve) Command(string) (TicketRef, Payload) { return m.TicketRef, m.Resolved }
func (m InboxReopen) Command(string) (TicketRef, Payload)  { return m.TicketRef, m.Reopened }
func (m InboxLink) Command(string) (TicketRef, Payload)    { return m.TicketRef, m.Linked }
func (m InboxAlert) Command(string) (TicketRef, Payload) {
	return TicketRef{ExternalID: m.ExternalID}, nil
}

// Command of evidence is none: it is recorded, not applied to a ticket.
func (InboxBackupResult) Command(string) (TicketRef, Payload) { return TicketRef{}, nil }
func (InboxPatchScan) Command(string) (TicketRef, Payload)    { return TicketRef{}, nil }

// InboundType is one registered inbound message type. NB: inboundTypes is the one table.
type InboundType struct {
	Type string       // the ce-type
	Go   reflect.Type // the data's Go type
	Does string       // what the message does, for the published contracts

	decode func([]byte) (Inbound, error)
}

func registerInbound[M Inbound](does string) InboundType {
	var zero M
	return InboundType{Type: zero.InboundType(), Go: reflect.TypeFor[M](), Does: does,
		decode: func(data []byte) (Inbound, error) {
			var m M
			d := json.NewDecoder(bytes.NewReader(data))
			d.DisallowUnknownFields()
			if err := d.Decode(&m); err != nil {
				return nil, err
			}
			if d.More() {
				return nil, errors.New("data holds more than one JSON value")
			}
			return m, nil
		}}
}

var inboundTypes = []InboundType{
	registerInbound[InboxOpen]("opens a ticket"),
	registerInbound[InboxComment]("comments on a ticket"),
	registerInbound[InboxResolve]("resolves a ticket"),
	registerInbound[InboxReopen]("reopens a resolved ticket"),
	registerInbound[InboxLink]("links a ticket to another"),
	registerInbound[InboxAlert]("opens, comments on, reopens or resolves the incident of a monitoring alert"),
	registerInbound[InboxBackupResult]("records a backup job's result as evidence (a failed one opens an incident once per system and day)"),
	registerInbound[InboxPatchScan]("records a device's patch compliance scan as evidence"),
}

// InboundTypes lists every inbound message type, in the registry's order.
func InboundTypes() []InboundType { return slices.Clone(inboundTypes) }

// DecodeInbound decodes the data of an inbound message of ce-type typ; an unknown type
// or data that does not fit its Go type is an error (the published schema says why in
// detail: contracts/). The TicketRef of a command is checked here: exactly one of
// ticket and external_id.
func DecodeInbound(typ string, data []byte) (Inbound, error) {
	i := slices.IndexFunc(inboundTypes, func(t InboundType) bool { return t.Type == typ })
	if i < 0 {
		return nil, &ValidationError{Field: "type", Reason: "unknown inbound type; one of " + strings.Join(InboundTypeNames(), ", ")}
	}
	m, err := inboundTypes[i].decode(data)
	if err != nil {
		return nil, err
	}
	if ref, cmd := m.Command(""); typ != TypeInboxOpen && (cmd != nil || ref != TicketRef{}) {
		if err := ref.validate(); err != nil {
			return nil, err
		}
	}
	switch v := m.(type) {
	case InboxOpen:
		if len(v.ExternalID) > MaxExternalID {
			return nil, &ValidationError{Field: "external_id", Reason: "at most 256 characters"}
		}
	case InboxAlert:
		if err := oneOf("status", v.Status, AlertStatuses()); err != nil {
			return nil, err
		}
		if strings.TrimSpace(v.Title) == "" {
			return nil, required("title")
		}
	case InboxBackupResult:
		if err := oneOf("status", v.Status, BackupStatuses()); err != nil {
			return nil, err
		}
		switch {
		case strings.TrimSpace(v.System) == "" || len(v.System) > MaxExternalID:
			return nil, &ValidationError{Field: "system", Reason: "required, at most 256 characters"}
		case v.Finished.Before(v.Started):
			return nil, &ValidationError{Field: "finished", Reason: "is before started"}
		case v.Bytes < 0:
			return nil, &ValidationError{Field: "bytes", Reason: "must not be negative"}
		}
	case InboxPatchScan:
		m := v.Missing
		switch {
		case strings.TrimSpace(v.Device) == "" || len(v.Device) > MaxExternalID:
			return nil, &ValidationError{Field: "device", Reason: "required, at most 256 characters"}
		case m.Critical < 0 || m.Important < 0 || m.Moderate < 0 || m.Low < 0:
			return nil, &ValidationError{Field: "missing", Reason: "counts must not be negative"}
		}
	}
	return m, nil
}

func (r TicketRef) validate() error {
	switch {
	case (r.Ticket == "") == (r.ExternalID == ""):
		return &ValidationError{Field: "ticket", Reason: "give exactly one of ticket and external_id"}
	case len(r.ExternalID) > MaxExternalID:
		return &ValidationError{Field: "external_id", Reason: "at most 256 characters"}
	}
	return nil
}

// InboundTypeNames lists the inbound ce-types.
func InboundTypeNames() []string {
	out := make([]string, len(inboundTypes))
	for i, t := range inboundTypes {
		out[i] = t.Type
	}
	return out
}
