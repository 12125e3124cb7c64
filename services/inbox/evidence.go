package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// EvidenceStream keeps the evidence of every tenant: backup job results and patch scans,
// immutable like the ticket log (deny delete, deny purge). NB: wire names; never rename.
const EvidenceStream = "EVIDENCE"

// EvidenceStreamConfig is the EVIDENCE stream: evidence.<tenant>.backup.<system key>.<status>
// and evidence.<tenant>.patch.<device key> (keys: hashKey of the name, which may hold
// dots), file storage, nothing deleted or purged, a day's duplicate window.
func EvidenceStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: EvidenceStream, Description: "ledgerdesk: backup results and patch scans, per tenant (evidence.<tenant>.<kind>.>)",
		Subjects: []string{"evidence.>"}, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
		DenyDelete: true, DenyPurge: true, Duplicates: 24 * time.Hour, AllowDirect: true}
}

// BackupSubject is where a backup result of a tenant's system is stored; "*" as status
// filters them all.
func BackupSubject(tenant, system string, status events.BackupStatus) string {
	return "evidence." + tenant + ".backup." + hashKey(system) + "." + string(status)
}

// PatchSubject is where a tenant's device's patch scans are stored.
func PatchSubject(tenant, device string) string {
	return "evidence." + tenant + ".patch." + hashKey(device)
}

// TenantEvidence filters every evidence of a tenant.
func TenantEvidence(tenant string) string { return "evidence." + tenant + ".>" }

// evidence records the message's evidence in EVIDENCE and returns its sequence; a failed
// or partial backup also opens its incident (once per system and day, see backupIncident).
func (a *applying) evidence(ctx context.Context, in events.Inbound) (ticket string, version uint64, existing bool, seq uint64, err error) {
	var subject, typ, about string
	switch v := in.(type) {
	case events.InboxBackupResult:
		subject, typ, about = BackupSubject(a.m.Tenant, v.System, v.Status), events.TypeEvidenceBackup, v.System
	case events.InboxPatchScan:
		subject, typ, about = PatchSubject(a.m.Tenant, v.Device), events.TypeEvidencePatch, v.Device
	default:
		return "", 0, false, 0, fmt.Errorf("inbox: %T is no evidence", in)
	}
	data, err := json.Marshal(in)
	if err != nil {
		return "", 0, false, 0, err
	}
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	events.SetEnvelope(m.Header, events.Event{ID: derivedID(a.key, -2), Type: typ, Source: Source, TicketID: about, Time: a.now,
		Tenant: a.m.Tenant, Actor: a.m.Actor, CorrelationID: a.correlation, CausationID: a.m.Event.ID()})
	ack, err := a.p.cfg.Store.JetStream().PublishMsg(ctx, m, jetstream.WithExpectStream(EvidenceStream))
	if err != nil {
		return "", 0, false, 0, fmt.Errorf("inbox: record evidence: %w", err)
	}
	if b, ok := in.(events.InboxBackupResult); ok && b.Status != events.BackupSuccess {
		a.references = evidenceSource
		ticket, version, existing, err = a.alert(ctx, backupIncident(a.p.location(ctx, a.m.Tenant), b))
	}
	return ticket, version, existing, ack.Sequence, err
}

// evidenceSource keys the references of backup incidents, whoever reported the backup,
// and is the ce-source of the backup watch's messages.
const evidenceSource = "/ledgerdesk/evidence"

// location is the tenant's time zone (UTC without one): backup incidents are per local day.
func (p *Processor) location(ctx context.Context, tenant string) *time.Location {
	if doc, _, err := p.cfg.Configs.Current(ctx, tenant); err == nil {
		return doc.Location()
	}
	return time.UTC
}

// backupIncidentID keys a system's backup incident of a day: a failed run and a missing
// one of the same system and day are one incident.
func backupIncidentID(system string, day time.Time) string {
	return "backup:" + system + ":" + day.Format(time.DateOnly)
}

// backupIncident is the alert a failed or partial backup raises, keyed by the system and
// the tenant's local day of the run (a later failure that day comments on it).
func backupIncident(loc *time.Location, b events.InboxBackupResult) events.InboxAlert {
	return events.InboxAlert{ExternalID: backupIncidentID(b.System, b.Finished.In(loc)), Status: events.AlertFiring,
		Title:       fmt.Sprintf("Backup %s of %s: %s", b.Status, b.System, b.Job),
		Description: fmt.Sprintf("Backup job %s on %s ended %s at %s (started %s).", b.Job, b.System, b.Status, b.Finished.Format(time.RFC3339), b.Started.Format(time.RFC3339)),
		Severity:    "high", Labels: map[string]string{"system": b.System, "job": b.Job, "evidence": "backup"}, StartsAt: b.Started}
}
