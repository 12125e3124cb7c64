// Package bench is ledgerdesk's benchmark suite. The suite itself is behind the build tag
// bench (`make bench`); this file, always built, is its results table: each result's
// ratio to another result, whether it met its target, and the bench-results.json format.
package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Target is the goal of a result: its value, or its ratio when On is "ratio", compared
// with Limit by Op.
type Target struct {
	Op    string  `json:"op"` // ">=" or "<="
	Limit float64 `json:"limit"`
	On    string  `json:"on"` // "value" or "ratio"
}

// met reports whether x meets the target.
func (t Target) met(x float64) bool {
	if t.Op == ">=" {
		return x >= t.Limit
	}
	return x <= t.Limit
}

// Result is one row of bench-results.json. Value nil means not measured. Ratio is Value
// divided by the value of the result named RatioTo (null without one). Met is nil for a
// result without a target and false for one not measured. Finalize fills Ratio and Met.
type Result struct {
	Name    string   `json:"name"`
	Value   *float64 `json:"value"`
	Unit    string   `json:"unit"`
	Ratio   *float64 `json:"ratio"`
	RatioTo string   `json:"ratio_to"` // "" when none
	Target  *Target  `json:"target"`
	Met     *bool    `json:"met"`
	Note    string   `json:"note,omitempty"`
}

// Measured is a result with a value.
func Measured(name string, value float64, unit string) Result {
	return Result{Name: name, Value: &value, Unit: unit}
}

// NotMeasured is a result without a value, shown as not met.
func NotMeasured(name, unit, note string) Result {
	return Result{Name: name, Unit: unit, Note: note}
}

// Env describes where the figures were measured: they only compare within one Env.
type Env struct {
	GoVersion  string `json:"go_version"`
	NProc      int    `json:"nproc"`
	CPUModel   string `json:"cpu_model"`
	NATSServer string `json:"nats_server_version"`
	Date       string `json:"date"`
}

// CollectEnv describes this machine and the nats-server linked into this build.
func CollectEnv() Env {
	return Env{GoVersion: runtime.Version(), NProc: runtime.NumCPU(), CPUModel: cpuModel(),
		NATSServer: server.VERSION, Date: time.Now().UTC().Format(time.RFC3339)}
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "unknown".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// Report is the content of bench-results.json.
type Report struct {
	Results []Result `json:"results"`
	Env     Env      `json:"env"`
}

// Finalize computes every result's Ratio and Met. It fails on a RatioTo that names no
// result and on a target on the ratio of a result without RatioTo.
func (r *Report) Finalize() error {
	byName := make(map[string]*Result, len(r.Results))
	for i := range r.Results {
		byName[r.Results[i].Name] = &r.Results[i]
	}
	for i := range r.Results {
		res := &r.Results[i]
		res.Ratio, res.Met = nil, nil
		if res.RatioTo != "" {
			ref, ok := byName[res.RatioTo]
			if !ok {
				return fmt.Errorf("bench: %s: ratio to unknown result %q", res.Name, res.RatioTo)
			}
			if res.Value != nil && ref.Value != nil && *ref.Value != 0 {
				ratio := *res.Value / *ref.Value
				res.Ratio = &ratio
			}
		}
		if res.Target != nil && res.Target.On == "ratio" && res.RatioTo == "" {
			return fmt.Errorf("bench: %s: target on the ratio but no ratio_to", res.Name)
		}
		var met bool
		switch {
		case res.Value == nil:
			met = false
		case res.Target == nil:
			continue // no target: Met stays nil
		case res.Target.On == "ratio":
			met = res.Ratio != nil && res.Target.met(*res.Ratio)
		default:
			met = res.Target.met(*res.Value)
		}
		res.Met = &met
	}
	return nil
}

// Find returns the result of that name, nil when the report has none.
func (r *Report) Find(name string) *Result {
	for i := range r.Results {
		if r.Results[i].Name == name {
			return &r.Results[i]
		}
	}
	return nil
}

// NoteRatio adds to a result's note its ratio to another result, against a second
// bound (a row carries one ratio and target; some rows have two).
func (r *Report) NoteRatio(name, to string, atLeast float64) {
	res, ref := r.Find(name), r.Find(to)
	if res == nil || ref == nil || res.Value == nil || ref.Value == nil || *ref.Value == 0 {
		return
	}
	ratio := *res.Value / *ref.Value
	verdict := "met"
	if ratio < atLeast {
		verdict = "not met"
	}
	res.Note = strings.TrimSpace(fmt.Sprintf("%s; %.3f × %s (≥ %.2f: %s)", res.Note, ratio, to, atLeast, verdict))
}

// Table renders the results for a terminal.
func (r Report) Table() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tVALUE\tUNIT\tRATIO\tTARGET\tMET\tNOTE")
	for _, res := range r.Results {
		value, ratio, target, met := "—", "—", "—", "—"
		if res.Value != nil {
			value = fmt.Sprintf("%.1f", *res.Value)
		}
		if res.Ratio != nil {
			ratio = fmt.Sprintf("%.2f × %s", *res.Ratio, res.RatioTo)
		}
		if t := res.Target; t != nil {
			target = fmt.Sprintf("%s %g %s", t.Op, t.Limit, res.Unit)
			if t.On == "ratio" {
				target = fmt.Sprintf("%s %.2f × %s", t.Op, t.Limit, res.RatioTo)
			}
		}
		if res.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*res.Met]
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", res.Name, value, res.Unit, ratio, target, met, res.Note)
	}
	w.Flush()
	fmt.Fprintf(&b, "go %s, %d CPUs (%s), nats-server %s, %s\n",
		r.Env.GoVersion, r.Env.NProc, r.Env.CPUModel, r.Env.NATSServer, r.Env.Date)
	return b.String()
}

// WriteFile writes the report as indented JSON to path.
func (r Report) WriteFile(path string) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep ">=" readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode bench results: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write bench results: %w", err)
	}
	return nil
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of ds, 0 for none.
// readRuns is how many times the rows that read a log whole (raw.ordered_read,
// rebuild, verify, the bare read) are measured: each takes a second or two, so one run on
// a shared machine is at the mercy of whatever else runs then; the median is reported.
const readRuns = 3

// MedianOf runs measure n times and returns the median of what it measured.
func MedianOf(n int, measure func() float64) float64 {
	vs := make([]float64, n)
	for i := range vs {
		vs[i] = measure()
	}
	slices.Sort(vs)
	return vs[n/2]
}

func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}
