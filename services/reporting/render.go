package reporting

import (
	"encoding/csv"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ledgerdesk/ledgerdesk/projections"
)

// writeSummaryCSV writes the summary as rows of figure, key, value (durations in ms,
// rates as fractions).
func writeSummaryCSV(w io.Writer, s SummaryJSON) error {
	c := csv.NewWriter(w)
	row := func(figure, key, value string) { _ = c.Write([]string{figure, key, value}) }
	i := func(n int) string { return strconv.Itoa(n) }
	ms := func(n int64) string { return strconv.FormatInt(n, 10) }
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) }
	row("figure", "key", "value")
	row("tenant", "", s.Tenant)
	row("from", "", s.From.Format(time.RFC3339))
	row("to", "", s.To.Format(time.RFC3339))
	row("as_of", "", s.AsOf.Format(time.RFC3339))
	row("time_zone", "", s.TimeZone)
	row("opened", "", i(s.Opened))
	for _, m := range []struct {
		name string
		m    map[string]int
	}{{"by_type", s.ByType}, {"by_category", s.ByCategory}, {"by_priority", s.ByPriority}, {"by_source", s.BySource}, {"backlog", s.Backlog}} {
		for _, k := range slices.Sorted(maps.Keys(m.m)) {
			row(m.name, k, i(m.m[k]))
		}
	}
	row("backlog_total", "", i(s.BacklogTotal))
	row("mtta_ms", "", ms(s.MTTAMS))
	row("mttr_wall_ms", "", ms(s.MTTRWallMS))
	row("mttr_business_ms", "", ms(s.MTTRBusinessMS))
	row("resolved", "", i(s.Resolved))
	row("first_contact_resolution", "", f(s.FirstContactResolution))
	for _, k := range slices.Sorted(maps.Keys(s.SLACompliance)) {
		row("sla_compliance", k, f(s.SLACompliance[k].Rate))
		row("sla_met", k, i(s.SLACompliance[k].Met))
		row("sla_missed", k, i(s.SLACompliance[k].Missed))
	}
	row("reopen_rate", "", f(s.ReopenRate))
	row("escalation_rate", "", f(s.EscalationRate))
	for _, k := range slices.Sorted(maps.Keys(s.ResolvedByTier)) {
		row("resolved_by_tier", k, f(s.ResolvedByTier[k]))
	}
	for _, c := range s.TopCategories {
		row("top_categories", c.Category, i(c.Tickets))
	}
	stamp := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	b := s.Backups
	row("backup_jobs", "", i(b.Jobs))
	row("backup_success_rate", "", f(b.SuccessRate))
	for _, sys := range b.Systems {
		row("backup_system_jobs", sys.System, i(sys.Jobs))
		row("backup_system_success_rate", sys.System, f(sys.SuccessRate))
		row("backup_system_last_success", sys.System, stamp(sys.LastSuccess))
		row("backup_system_last_verified_restore", sys.System, stamp(sys.LastVerifiedRestore))
		for _, g := range sys.Gaps {
			row("backup_system_gap", sys.System, g.From.Format(time.RFC3339)+"/"+g.To.Format(time.RFC3339))
		}
	}
	pt := s.Patches
	row("patch_devices", "", i(pt.Devices))
	row("patch_compliance_rate", "", f(pt.ComplianceRate))
	for _, k := range slices.Sorted(maps.Keys(pt.BySeverity)) {
		row("patch_compliance", k, f(pt.BySeverity[k]))
	}
	for _, d := range pt.DeviceList {
		if !d.Compliant {
			row("patch_out_of_policy", d.Device, strings.Join(d.Reasons, "; "))
		}
	}
	c.Flush()
	return c.Error()
}

// bar is one bar of a chart: its label, value and width in percent of the largest.
type bar struct {
	Label string
	Value string
	Width float64
}

func bars(m map[string]int, order []string) []bar {
	if order == nil {
		order = slices.Sorted(maps.Keys(m))
	}
	top := 1
	for _, v := range m {
		top = max(top, v)
	}
	var out []bar
	for _, k := range order {
		out = append(out, bar{Label: k, Value: strconv.Itoa(m[k]), Width: 100 * float64(m[k]) / float64(top)})
	}
	return out
}

func duration(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).Round(time.Minute).String()
}

func percent(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) + " %" }

var summaryPage = template.Must(template.New("summary").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Service report {{.S.Tenant}} {{.Period}}</title>
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:52em;color:#222}
 h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ccc}
 table{border-collapse:collapse;width:100%} td{padding:.25em .5em;border-bottom:1px solid #eee}
 td.n{text-align:right;white-space:nowrap} .kpi{display:grid;grid-template-columns:repeat(4,1fr);gap:.8em}
 .kpi div{border:1px solid #ddd;border-radius:4px;padding:.6em} .kpi b{display:block;font-size:1.4em}
 svg{width:100%} .bar{fill:#3a6ea5} .label{font-size:11px} @media print{body{margin:0}}
</style></head><body>
<h1>Service report — {{.S.Tenant}}</h1>
<p>{{.Period}} ({{.S.TimeZone}}) · figures as of {{.AsOf}} · log sequence {{.S.Seq}}</p>
<div class="kpi">
 <div>Tickets opened<b>{{.S.Opened}}</b></div>
 <div>Resolved<b>{{.S.Resolved}}</b></div>
 <div>Mean time to respond<b>{{.MTTA}}</b></div>
 <div>Mean time to resolve<b>{{.MTTRWall}}</b>{{.MTTRBusiness}} business</div>
 <div>First-contact resolution<b>{{.FCR}}</b></div>
 <div>Response SLA met<b>{{.Response}}</b></div>
 <div>Resolution SLA met<b>{{.Resolution}}</b></div>
 <div>Open backlog<b>{{.S.BacklogTotal}}</b></div>
</div>
{{range .Charts}}<h2>{{.Title}}</h2>
<svg viewBox="0 0 600 {{.Height}}" role="img" aria-label="{{.Title}}">{{range $i, $b := .Bars}}
 <text class="label" x="0" y="{{$b.Y}}">{{$b.Label}}</text>
 <rect class="bar" x="150" y="{{$b.Top}}" height="14" width="{{$b.W}}"></rect>
 <text class="label" x="{{$b.End}}" y="{{$b.Y}}">{{$b.Value}}</text>{{end}}
</svg>{{end}}
<h2>Backups</h2>
{{with .S.Backups}}<p>{{.Jobs}} backup jobs, {{$.BackupRate}} successful.</p>
{{if .Systems}}<table>
 <tr><td><b>System</b></td><td class="n"><b>Jobs</b></td><td class="n"><b>Successful</b></td><td><b>Last success</b></td><td><b>Last verified restore</b></td><td><b>Gaps</b></td></tr>
 {{range $.BackupRows}}<tr><td>{{.System}}</td><td class="n">{{.Jobs}}</td><td class="n">{{.Rate}}</td><td>{{.LastSuccess}}</td><td>{{.LastRestore}}</td><td>{{.Gaps}}</td></tr>{{end}}
</table>{{else}}<p>No backup results were reported in the period.</p>{{end}}{{end}}
<h2>Patch compliance</h2>
{{with .S.Patches}}{{if .Devices}}<p>{{.Compliant}} of {{.Devices}} devices within the patch policy ({{$.PatchRate}}).</p>
<table>
 <tr><td><b>Device</b></td><td class="n"><b>Critical</b></td><td class="n"><b>Important</b></td><td class="n"><b>Moderate</b></td><td class="n"><b>Low</b></td><td><b>Last patched</b></td><td><b>Policy</b></td></tr>
 {{range $.PatchRows}}<tr><td>{{.Device}}</td><td class="n">{{.Missing.Critical}}</td><td class="n">{{.Missing.Important}}</td><td class="n">{{.Missing.Moderate}}</td><td class="n">{{.Missing.Low}}</td><td>{{.LastPatched}}</td><td>{{.Policy}}</td></tr>{{end}}
</table>{{else}}<p>No patch scans were reported in the period.</p>{{end}}{{end}}
<h2>Rates</h2>
<table>
 <tr><td>Reopen rate (reopens per resolution)</td><td class="n">{{.Reopen}}</td></tr>
 <tr><td>Escalation rate (tickets escalated at least once)</td><td class="n">{{.Escalation}}</td></tr>
 {{range .Tiers}}<tr><td>Resolved at tier {{.Label}}</td><td class="n">{{.Value}}</td></tr>{{end}}
</table>
</body></html>
`))

type chartBar struct {
	Label, Value string
	Y, Top       int
	W, End       float64
}

type chart struct {
	Title  string
	Height int
	Bars   []chartBar
}

func newChart(title string, bs []bar) chart {
	c := chart{Title: title, Height: max(20, 20*len(bs))}
	for i, b := range bs {
		w := 4 * b.Width // 400 px for the largest
		c.Bars = append(c.Bars, chartBar{Label: b.Label, Value: b.Value, Y: 20*i + 13, Top: 20*i + 2, W: w, End: 150 + w + 6})
	}
	return c
}

// writeSummaryHTML writes the printable monthly summary page for the customer.
func writeSummaryHTML(w io.Writer, s SummaryJSON) error {
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	var tiers []bar
	for _, k := range slices.Sorted(maps.Keys(s.ResolvedByTier)) {
		tiers = append(tiers, bar{Label: k, Value: percent(s.ResolvedByTier[k])})
	}
	top := map[string]int{}
	var topOrder []string
	for _, c := range s.TopCategories {
		top[c.Category] = c.Tickets
		topOrder = append(topOrder, c.Category)
	}
	var backlogOrder []string
	for _, b := range projections.BacklogBuckets {
		backlogOrder = append(backlogOrder, b.Name)
	}
	data := map[string]any{
		"S":            s,
		"Period":       s.From.In(loc).Format("2 Jan 2006") + " – " + s.To.In(loc).Add(-time.Nanosecond).Format("2 Jan 2006"),
		"AsOf":         s.AsOf.In(loc).Format("2 Jan 2006 15:04 MST"),
		"MTTA":         duration(s.MTTAMS),
		"MTTRWall":     duration(s.MTTRWallMS),
		"MTTRBusiness": duration(s.MTTRBusinessMS),
		"FCR":          percent(s.FirstContactResolution),
		"Response":     percent(s.SLACompliance["response"].Rate),
		"Resolution":   percent(s.SLACompliance["resolution"].Rate),
		"Reopen":       percent(s.ReopenRate),
		"Escalation":   percent(s.EscalationRate),
		"Tiers":        tiers,
		"Charts": []chart{
			newChart("Top categories", bars(top, topOrder)),
			newChart("Tickets by priority", bars(s.ByPriority, nil)),
			newChart("Tickets by type", bars(s.ByType, nil)),
			newChart("Tickets by source", bars(s.BySource, nil)),
			newChart("Open backlog by age", bars(s.Backlog, backlogOrder)),
		},
	}
	day := func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.In(loc).Format("2 Jan 2006 15:04")
	}
	type backupRow struct {
		System, Rate, LastSuccess, LastRestore, Gaps string
		Jobs                                         int
	}
	var backupRows []backupRow
	for _, sys := range s.Backups.Systems {
		var gaps []string
		for _, g := range sys.Gaps {
			gaps = append(gaps, g.From.In(loc).Format("2 Jan 15:04")+" – "+g.To.In(loc).Format("2 Jan 15:04"))
		}
		backupRows = append(backupRows, backupRow{System: sys.System, Jobs: sys.Jobs, Rate: percent(sys.SuccessRate),
			LastSuccess: day(sys.LastSuccess), LastRestore: day(sys.LastVerifiedRestore), Gaps: strings.Join(gaps, "; ")})
	}
	type patchRow struct {
		PatchDevice
		LastPatched, Policy string
	}
	var patchRows []patchRow
	for _, d := range s.Patches.DeviceList {
		policy := "within"
		if !d.Compliant {
			policy = "out: " + strings.Join(d.Reasons, "; ")
		}
		patched := d.LastPatched
		patchRows = append(patchRows, patchRow{PatchDevice: d, LastPatched: day(&patched), Policy: policy})
	}
	data["BackupRate"], data["BackupRows"] = percent(s.Backups.SuccessRate), backupRows
	data["PatchRate"], data["PatchRows"] = percent(s.Patches.ComplianceRate), patchRows
	return summaryPage.Execute(w, data)
}
