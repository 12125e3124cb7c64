package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// BackupWatchInterval is how often WatchBackups looks.
const BackupWatchInterval = time.Minute

// WatchBackups checks every interval, until quit is closed or ctx ends, that every system
// of every tenant with a backup window (evidence.backup_window) had a successful backup
// within it (CheckBackups). Replicas may all watch: what one raises, another's repeat
// finds answered.
func (p *Processor) WatchBackups(ctx context.Context, quit <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			for _, r := range p.CheckBackups(ctx) {
				if r.Err != nil {
					p.cfg.Logger.Warn("inbox: backup watch: incident not raised; next round retries", zap.Error(r.Err))
				}
			}
		}
	}
}

// CheckBackups raises an incident for each system whose last successful backup (or, if it
// never had one, its first reported run) is older than its tenant's backup window: once a
// system and day, keyed like a failed run's incident, so one day's failure and absence
// are one incident. It returns the outcome of each raised.
func (p *Processor) CheckBackups(ctx context.Context) []Result {
	now := p.cfg.Now()
	var msgs []Message
	for _, tenant := range p.cfg.Configs.Tenants() {
		doc, _, err := p.cfg.Configs.Current(ctx, tenant)
		if err != nil || doc.BackupWindow() == 0 {
			continue
		}
		missing, err := p.missingBackups(ctx, tenant, now, doc.BackupWindow())
		if err != nil {
			p.cfg.Logger.Warn("inbox: backup watch", zap.String("tenant", tenant), zap.Error(err))
			continue
		}
		loc := doc.Location()
		for _, b := range missing {
			since := b.Finished
			al := events.InboxAlert{ExternalID: backupIncidentID(b.System, now.In(loc)), Status: events.AlertFiring,
				Title:       "No successful backup of " + b.System + " since " + since.In(loc).Format("2006-01-02 15:04 MST"),
				Description: fmt.Sprintf("The backup window of %s has passed without a successful backup of %s (last job %s).", doc.BackupWindow(), b.System, b.Job),
				Severity:    "high", Labels: map[string]string{"system": b.System, "evidence": "backup"}, StartsAt: since.Add(doc.BackupWindow())}
			e, err := alertEvent("backup-missing:"+hashKey(tenant, b.System)+":"+now.In(loc).Format(time.DateOnly), evidenceSource, now, al)
			if err != nil {
				continue
			}
			msgs = append(msgs, Message{Tenant: tenant, Integration: "ledgerdesk", Actor: "service:intake", Event: e, TicketSource: "evidence"})
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return p.Handle(ctx, msgs, nil)
}

// missingBackups are the tenant's systems whose last success is older than window, each
// as its last successful run, or its first run when it never had one.
func (p *Processor) missingBackups(ctx context.Context, tenant string, now time.Time, window time.Duration) ([]events.InboxBackupResult, error) {
	js := p.cfg.Store.JetStream()
	stream, err := js.Stream(ctx, EvidenceStream)
	if err != nil {
		return nil, err
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter("evidence."+tenant+".backup.>"))
	if err != nil {
		return nil, err
	}
	systems := map[string]bool{} // system keys
	for subject := range info.State.Subjects {
		if parts := strings.Split(subject, "."); len(parts) == 5 {
			systems[parts[3]] = true
		}
	}
	var out []events.InboxBackupResult
	for key := range systems {
		prefix := "evidence." + tenant + ".backup." + key + "."
		m, err := stream.GetLastMsgForSubject(ctx, prefix+string(events.BackupSuccess))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			m, err = stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(prefix+"*")) // the first run
		}
		if err != nil {
			return nil, err
		}
		var b events.InboxBackupResult
		if err := json.Unmarshal(m.Data, &b); err != nil {
			return nil, fmt.Errorf("evidence %d undecodable: %w", m.Sequence, err)
		}
		if now.Sub(b.Finished) > window {
			out = append(out, b)
		}
	}
	return out, nil
}
