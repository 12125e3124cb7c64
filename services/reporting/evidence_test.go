package reporting

import (
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestBackupSection: jobs and success rates per system of the period, the last verified
// restore (one before the period counts), and the gaps longer than the window, the
// first measured from the last success before the period.
func TestBackupSection(t *testing.T) {
	run := func(system, finished string, status events.BackupStatus, restore bool) events.InboxBackupResult {
		f := at(finished)
		return events.InboxBackupResult{System: system, Job: "nightly", Started: f.Add(-time.Hour), Finished: f, Status: status, RestoreTested: restore}
	}
	from, end := at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")
	all := []events.InboxBackupResult{
		run("fs-01", "2026-10-31T02:00:00Z", events.BackupSuccess, true), // before the period
		run("fs-01", "2026-11-01T02:00:00Z", events.BackupSuccess, false),
		run("fs-01", "2026-11-02T02:00:00Z", events.BackupFailed, false),
		run("fs-01", "2026-11-05T02:00:00Z", events.BackupSuccess, false), // 3 days after the last success: a gap
		run("fs-01", "2026-11-29T02:00:00Z", events.BackupSuccess, false), // another gap before it
		run("db-01", "2026-11-15T02:00:00Z", events.BackupPartial, false),
		run("db-01", "2026-12-01T02:00:00Z", events.BackupSuccess, true), // after the period
	}
	s := backupSection(all, from, end, 48*time.Hour)
	if s.Jobs != 5 || s.Succeeded != 3 || len(s.Systems) != 2 {
		t.Fatalf("section %+v", s)
	}
	db, fs := s.Systems[0], s.Systems[1]
	if db.System != "db-01" || db.Jobs != 1 || db.Failed != 1 || db.LastSuccess != nil || len(db.Gaps) != 1 ||
		!db.Gaps[0].From.Equal(from) || !db.Gaps[0].To.Equal(end) {
		t.Errorf("db-01 %+v", db)
	}
	if fs.Jobs != 4 || fs.Succeeded != 3 || fs.Failed != 1 || fs.SuccessRate != 0.75 {
		t.Errorf("fs-01 %+v", fs)
	}
	if fs.LastVerifiedRestore == nil || !fs.LastVerifiedRestore.Equal(at("2026-10-31T02:00:00Z")) {
		t.Errorf("fs-01's last verified restore %v", fs.LastVerifiedRestore)
	}
	if len(fs.Gaps) != 2 || !fs.Gaps[0].From.Equal(at("2026-11-01T02:00:00Z")) || !fs.Gaps[1].To.Equal(at("2026-11-29T02:00:00Z")) {
		t.Errorf("fs-01's gaps %+v", fs.Gaps)
	}
	if s := backupSection(all, from, end, 0); len(s.Systems[1].Gaps) != 0 {
		t.Errorf("without a window: gaps %+v", s.Systems[1].Gaps)
	}
}

// TestPatchSection: each device's last scan of the period against the policy: per
// severity limits and the age of the last patch.
func TestPatchSection(t *testing.T) {
	scan := func(device, scanned, patched string, missing events.PatchCounts) events.InboxPatchScan {
		return events.InboxPatchScan{Device: device, ScannedAt: at(scanned), LastPatched: at(patched), Missing: missing}
	}
	from, end := at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")
	all := []events.InboxPatchScan{
		scan("ws-1", "2026-11-02T06:00:00Z", "2026-11-01T00:00:00Z", events.PatchCounts{Critical: 2}),
		scan("ws-1", "2026-11-20T06:00:00Z", "2026-11-19T00:00:00Z", events.PatchCounts{Low: 9}), // its last: within
		scan("ws-2", "2026-11-20T06:00:00Z", "2026-09-01T00:00:00Z", events.PatchCounts{Important: 1}),
		scan("ws-3", "2026-12-02T06:00:00Z", "2026-12-01T00:00:00Z", events.PatchCounts{Critical: 5}), // after the period
	}
	p := patchSection(all, from, end, tenantconfig.DefaultPatchPolicy)
	if p.Devices != 2 || p.Compliant != 1 || p.ComplianceRate != 0.5 || len(p.OutOfPolicy) != 1 || p.OutOfPolicy[0] != "ws-2" {
		t.Fatalf("section %+v", p)
	}
	if ws2 := p.DeviceList[1]; ws2.Compliant || len(ws2.Reasons) != 2 {
		t.Errorf("ws-2 %+v: want out for an important patch and its age", ws2)
	}
	if p.BySeverity["critical"] != 1 || p.BySeverity["important"] != 0.5 {
		t.Errorf("by severity %v", p.BySeverity)
	}
	if _, limited := p.BySeverity["low"]; limited {
		t.Error("low is not limited by the default policy, yet has a compliance figure")
	}
}
