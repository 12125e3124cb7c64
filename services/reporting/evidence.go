package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/inbox"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// BackupSection is the summary's backup evidence: the period's backup job results, per
// system. NB: API contract (fields are only added).
type BackupSection struct {
	Jobs        int     `json:"jobs"`
	Succeeded   int     `json:"succeeded"`
	SuccessRate float64 `json:"success_rate"` // succeeded / jobs (0 without jobs)
	// Window is the tenant's backup window (evidence.backup_window), in ms; 0: not watched,
	// and no gaps are told.
	WindowMS int64          `json:"window_ms"`
	Systems  []BackupSystem `json:"systems"`
}

// BackupSystem is one system's backups in the period.
type BackupSystem struct {
	System      string     `json:"system"`
	Jobs        int        `json:"jobs"`
	Succeeded   int        `json:"succeeded"`
	Failed      int        `json:"failed"` // failed or partial
	SuccessRate float64    `json:"success_rate"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// LastVerifiedRestore is the finish of the last successful backup whose restore was
	// tested and verified, up to the period's end.
	LastVerifiedRestore *time.Time `json:"last_verified_restore,omitempty"`
	// Gaps are the stretches longer than the window without a successful backup.
	Gaps []Gap `json:"gaps"`
}

// Gap is a stretch of time.
type Gap struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// PatchSection is the summary's patch compliance: each device's last scan in the period
// against the tenant's patch policy. NB: API contract.
type PatchSection struct {
	Devices        int     `json:"devices"`
	Compliant      int     `json:"compliant"`
	ComplianceRate float64 `json:"compliance_rate"`
	// BySeverity is, per severity the policy limits, the share of devices within it.
	BySeverity  map[string]float64 `json:"by_severity"`
	OutOfPolicy []string           `json:"out_of_policy"` // device names, sorted
	DeviceList  []PatchDevice      `json:"device_list"`
}

// PatchDevice is one device's last scan in the period.
type PatchDevice struct {
	Device      string             `json:"device"`
	ScannedAt   time.Time          `json:"scanned_at"`
	LastPatched time.Time          `json:"last_patched"`
	Missing     events.PatchCounts `json:"missing"`
	Compliant   bool               `json:"compliant"`
	Reasons     []string           `json:"reasons,omitempty"` // why it is out of policy
}

// evidenceLookBack is how long before a period evidence is read from: a backup that
// finished in the period may have been reported days later, and the last success before
// the period starts its first gap.
const evidenceLookBack = 31 * 24 * time.Hour

// evidenceSections reads the tenant's evidence recorded up to asOf and sums up its
// backups and patches of [from, to).
func evidenceSections(ctx context.Context, js jetstream.JetStream, doc *tenantconfig.Document, tenant string, from, to, asOf time.Time) (BackupSection, PatchSection, error) {
	backups, scans, err := readEvidence(ctx, js, tenant, from.Add(-evidenceLookBack), asOf)
	if err != nil {
		return BackupSection{}, PatchSection{}, err
	}
	window, policy := time.Duration(0), tenantconfig.DefaultPatchPolicy
	if doc != nil {
		window, policy = doc.BackupWindow(), doc.PatchPolicy()
	}
	end := to
	if asOf.Before(end) {
		end = asOf
	}
	return backupSection(backups, from, end, window), patchSection(scans, from, end, policy), nil
}

// readEvidence reads the tenant's evidence recorded from since up to asOf.
func readEvidence(ctx context.Context, js jetstream.JetStream, tenant string, since, asOf time.Time) ([]events.InboxBackupResult, []events.InboxPatchScan, error) {
	stream, err := js.Stream(ctx, inbox.EvidenceStream)
	if err != nil {
		return nil, nil, fmt.Errorf("reporting: evidence: %w", err)
	}
	filter := inbox.TenantEvidence(tenant)
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, nil, err
	}
	if len(info.State.Subjects) == 0 {
		return nil, nil, nil
	}
	cons, err := js.OrderedConsumer(ctx, inbox.EvidenceStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter},
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since})
	if err != nil {
		return nil, nil, err
	}
	var backups []events.InboxBackupResult
	var scans []events.InboxPatchScan
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, nil, err
		}
		n, caughtUp := 0, false
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return nil, nil, err
			}
			caughtUp = meta.NumPending == 0
			if meta.Timestamp.After(asOf) {
				continue // recorded after the report's moment
			}
			var decodeErr error
			switch m.Headers().Get(events.HeaderType) {
			case events.TypeEvidenceBackup:
				var b events.InboxBackupResult
				decodeErr = json.Unmarshal(m.Data(), &b)
				backups = append(backups, b)
			case events.TypeEvidencePatch:
				var s events.InboxPatchScan
				decodeErr = json.Unmarshal(m.Data(), &s)
				scans = append(scans, s)
			}
			if decodeErr != nil {
				return nil, nil, fmt.Errorf("reporting: evidence %d undecodable: %w", meta.Sequence.Stream, decodeErr)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, nil, err
		}
		if caughtUp || n == 0 {
			return backups, scans, nil
		}
	}
}

func rate(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// backupSection sums up the backups that finished in [from, end), per system.
func backupSection(all []events.InboxBackupResult, from, end time.Time, window time.Duration) BackupSection {
	out := BackupSection{WindowMS: window.Milliseconds(), Systems: []BackupSystem{}}
	bySystem := map[string][]events.InboxBackupResult{}
	for _, b := range all {
		bySystem[b.System] = append(bySystem[b.System], b)
	}
	for _, name := range slices.Sorted(maps.Keys(bySystem)) {
		runs := bySystem[name]
		slices.SortFunc(runs, func(a, b events.InboxBackupResult) int { return a.Finished.Compare(b.Finished) })
		sys := BackupSystem{System: name, Gaps: []Gap{}}
		var lastBefore *time.Time // the last success before the period
		var successes []time.Time
		for _, b := range runs {
			ok := b.Status == events.BackupSuccess
			if b.Finished.Before(from) {
				if ok {
					t := b.Finished
					lastBefore = &t
				}
				continue
			}
			if !b.Finished.Before(end) {
				continue
			}
			sys.Jobs++
			if !ok {
				sys.Failed++
				continue
			}
			sys.Succeeded++
			t := b.Finished
			sys.LastSuccess = &t
			successes = append(successes, t)
			if b.RestoreTested {
				sys.LastVerifiedRestore = &t
			}
		}
		if sys.Jobs == 0 && lastBefore == nil {
			continue
		}
		for _, b := range runs { // a verified restore before the period still counts
			if sys.LastVerifiedRestore == nil && b.RestoreTested && b.Status == events.BackupSuccess && b.Finished.Before(end) {
				t := b.Finished
				sys.LastVerifiedRestore = &t
			}
		}
		sys.SuccessRate = rate(sys.Succeeded, sys.Jobs)
		if window > 0 {
			prev := from
			if lastBefore != nil {
				prev = *lastBefore
			}
			for _, s := range append(successes, end) {
				if s.Sub(prev) > window {
					sys.Gaps = append(sys.Gaps, Gap{From: maxTime(prev, from), To: s})
				}
				prev = s
			}
		}
		out.Jobs += sys.Jobs
		out.Succeeded += sys.Succeeded
		out.Systems = append(out.Systems, sys)
	}
	out.SuccessRate = rate(out.Succeeded, out.Jobs)
	return out
}

// patchSection holds each device's last scan in [from, end) to the policy.
func patchSection(all []events.InboxPatchScan, from, end time.Time, policy tenantconfig.PatchPolicy) PatchSection {
	out := PatchSection{BySeverity: map[string]float64{}, OutOfPolicy: []string{}, DeviceList: []PatchDevice{}}
	last := map[string]events.InboxPatchScan{}
	for _, s := range all {
		if s.ScannedAt.Before(from) || !s.ScannedAt.Before(end) {
			continue
		}
		if prev, ok := last[s.Device]; !ok || s.ScannedAt.After(prev.ScannedAt) {
			last[s.Device] = s
		}
	}
	limits := []struct {
		name    string
		allowed *int
		missing func(events.PatchCounts) int
	}{
		{"critical", policy.Critical, func(c events.PatchCounts) int { return c.Critical }},
		{"important", policy.Important, func(c events.PatchCounts) int { return c.Important }},
		{"moderate", policy.Moderate, func(c events.PatchCounts) int { return c.Moderate }},
		{"low", policy.Low, func(c events.PatchCounts) int { return c.Low }},
	}
	within := map[string]int{}
	for _, name := range slices.Sorted(maps.Keys(last)) {
		s := last[name]
		d := PatchDevice{Device: name, ScannedAt: s.ScannedAt, LastPatched: s.LastPatched, Missing: s.Missing}
		for _, l := range limits {
			if l.allowed == nil {
				continue
			}
			if n := l.missing(s.Missing); n > *l.allowed {
				d.Reasons = append(d.Reasons, fmt.Sprintf("%d %s missing (%d allowed)", n, l.name, *l.allowed))
			} else {
				within[l.name]++
			}
		}
		if maxAge := time.Duration(policy.MaxAge); maxAge > 0 && s.ScannedAt.Sub(s.LastPatched) > maxAge {
			d.Reasons = append(d.Reasons, fmt.Sprintf("last patched %s, more than %d days before the scan",
				s.LastPatched.Format(time.DateOnly), int(maxAge.Hours()/24)))
		}
		d.Compliant = len(d.Reasons) == 0
		if d.Compliant {
			out.Compliant++
		} else {
			out.OutOfPolicy = append(out.OutOfPolicy, name)
		}
		out.DeviceList = append(out.DeviceList, d)
	}
	out.Devices = len(out.DeviceList)
	out.ComplianceRate = rate(out.Compliant, out.Devices)
	for _, l := range limits {
		if l.allowed != nil && out.Devices > 0 {
			out.BySeverity[l.name] = rate(within[l.name], out.Devices)
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
