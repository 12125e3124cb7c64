package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleReport() Report {
	intake := Measured("intake.http", 30000, "tickets/s")
	intake.RatioTo, intake.Target = "raw.atomic_publish", &Target{Op: ">=", Limit: 0.5, On: "ratio"}
	slow := Measured("intake.http.p99_ms", 40, "ms")
	slow.Target = &Target{Op: "<=", Limit: 25, On: "value"}
	rss := Measured("rss_mb", 200, "MiB")
	rss.Target = &Target{Op: "<=", Limit: 512, On: "value"}
	pipe := NotMeasured("pipeline.route_sla", "tickets/s", "not measured: needs routing/SLA/projections")
	pipe.RatioTo = "raw.atomic_publish"
	return Report{Results: []Result{Measured("raw.atomic_publish", 50000, "msgs/s"), intake, slow, rss, pipe},
		Env: Env{GoVersion: "go1.26.8", NProc: 2, CPUModel: "test", NATSServer: "2.15.2", Date: "2026-01-01T00:00:00Z"}}
}

func TestFinalizeRatioAndMet(t *testing.T) {
	r := sampleReport()
	if err := r.Finalize(); err != nil {
		t.Fatal(err)
	}
	type want struct {
		ratio *float64
		met   *bool
	}
	f, yes, no := func(x float64) *float64 { return &x }, true, false
	wants := map[string]want{
		"raw.atomic_publish": {nil, nil},     // no target: met is null
		"intake.http":        {f(0.6), &yes}, // 30000/50000 >= 0.5
		"intake.http.p99_ms": {nil, &no},     // 40 > 25
		"rss_mb":             {nil, &yes},    // 200 <= 512
		"pipeline.route_sla": {nil, &no},     // not measured is never met
	}
	for _, res := range r.Results {
		w := wants[res.Name]
		if (w.ratio == nil) != (res.Ratio == nil) || (w.ratio != nil && *w.ratio != *res.Ratio) {
			t.Errorf("%s: ratio = %v, want %v", res.Name, deref(res.Ratio), deref(w.ratio))
		}
		if (w.met == nil) != (res.Met == nil) || (w.met != nil && *w.met != *res.Met) {
			t.Errorf("%s: met = %v, want %v", res.Name, deref(res.Met), deref(w.met))
		}
	}

	// The threshold itself meets a ">=" target; below it does not.
	r.Results[1].Value = f(25000)
	if err := r.Finalize(); err != nil || !*r.Results[1].Met {
		t.Errorf("ratio exactly at the target: met = %v, err %v; want met", *r.Results[1].Met, err)
	}
	r.Results[1].Value = f(24999)
	if err := r.Finalize(); err != nil || *r.Results[1].Met {
		t.Errorf("ratio below the target: met = %v, err %v; want not met", *r.Results[1].Met, err)
	}
}

func TestFinalizeRefusesBadReferences(t *testing.T) {
	r := sampleReport()
	r.Results[1].RatioTo = "raw.nope"
	if err := r.Finalize(); err == nil || !strings.Contains(err.Error(), "raw.nope") {
		t.Errorf("unknown ratio_to: err = %v, want one naming it", err)
	}
	r = sampleReport()
	r.Results[1].RatioTo = ""
	if err := r.Finalize(); err == nil {
		t.Error("ratio target without ratio_to: want an error")
	}
}

func TestReportJSONShape(t *testing.T) {
	r := sampleReport()
	if err := r.Finalize(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bench-results.json")
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []map[string]json.RawMessage `json:"results"`
		Env     map[string]json.RawMessage   `json:"env"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != len(r.Results) {
		t.Fatalf("%d results in the file, want %d", len(doc.Results), len(r.Results))
	}
	for _, res := range doc.Results {
		for _, k := range []string{"name", "value", "unit", "ratio", "ratio_to", "target", "met"} {
			if _, ok := res[k]; !ok {
				t.Errorf("result %s lacks key %q", res["name"], k)
			}
		}
	}
	if !strings.Contains(string(b), `"op": ">="`) {
		t.Errorf("targets are not written readably:\n%s", b)
	}
	pipe := doc.Results[4]
	if string(pipe["value"]) != "null" || string(pipe["met"]) != "false" || !strings.Contains(string(pipe["note"]), "not measured") {
		t.Errorf("not-measured row = %v, want value null, met false and a note", pipe)
	}
	if string(doc.Results[1]["ratio_to"]) != `"raw.atomic_publish"` || string(doc.Results[1]["ratio"]) != "0.6" {
		t.Errorf("intake row ratio = %s to %s, want 0.6 to raw.atomic_publish", doc.Results[1]["ratio"], doc.Results[1]["ratio_to"])
	}
	for _, k := range []string{"go_version", "nproc", "cpu_model", "nats_server_version", "date"} {
		if _, ok := doc.Env[k]; !ok {
			t.Errorf("env lacks %q", k)
		}
	}
}

func TestTableShowsUnmetRows(t *testing.T) {
	r := sampleReport()
	if err := r.Finalize(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(r.Table(), "\n")
	for _, tc := range []struct{ row, want string }{
		{"intake.http ", "0.60 × raw.atomic_publish"},
		{"intake.http.p99_ms", "NO"},
		{"pipeline.route_sla", "NO"},
		{"rss_mb", "yes"},
	} {
		var found bool
		for _, l := range lines {
			if strings.HasPrefix(l, tc.row) {
				found = true
				if !strings.Contains(l, tc.want) {
					t.Errorf("table row %q lacks %q", l, tc.want)
				}
			}
		}
		if !found {
			t.Errorf("table has no row %q:\n%s", tc.row, r.Table())
		}
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted input
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{99, 99 * time.Millisecond}, {50, 50 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := Percentile(ds, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("Percentile sorted its input in place")
	}
	if Percentile(nil, 99) != 0 {
		t.Error("p99 of nothing: want 0")
	}
}

func TestMedianOf(t *testing.T) {
	runs := []float64{90, 30, 60, 10, 20}
	i := 0
	measure := func() float64 { i++; return runs[i-1] }
	if got := MedianOf(3, measure); got != 60 || i != 3 {
		t.Errorf("median of 90, 30, 60 = %v after %d runs, want 60 after 3", got, i)
	}
	if got := MedianOf(2, measure); got != 20 {
		t.Errorf("median of 10, 20 = %v, want the higher, 20", got)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
