package projections

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
)

var updateFormat = flag.Bool("update-format", false,
	"write the golden encodings of a FormatVersion that has none yet (never rewrites an existing version)")

// persisted is every value type this package writes as JSON (setJSON) with a fixed value
// that sets each of its fields, nested ones included: full is that value, zero the type's
// zero value. View holds events.Ticket, SLAStatus and ClockStatus.
//
// NB: This must not change. The golden files of a version pin what stores of that
// version hold on disk; a projector reads them back after a restart. A change of a JSON
// name, a field, omitempty or a value's type is a new FormatVersion, with its own files.
func persisted() []struct {
	name string
	full any
	zero any
} {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	due := at("2026-03-02T10:30:00.123Z")
	ticket := events.Ticket{
		ID: "0195f3a0-7c1e-7d3a-9b7e-2f6a1c0d4e5f", Tenant: "acme", Type: events.Incident,
		Title: "mail server down", Description: "no mail since 09:00",
		Requester: events.Requester{Name: "Ada Lovelace", Email: "ada@acme.example"},
		Impact:    events.High, Urgency: events.Medium, Priority: "P2", MajorIncident: true,
		Category: "email", Source: "alertmanager", Labels: []string{"exchange", "site-a"},
		State: events.StateOnHold, HoldReason: events.AwaitingVendor, Tier: 4, Group: "messaging", Agent: "alice",
		Responded: true, Escalations: 2, Reopens: 1,
		Links:  []events.Link{{Kind: events.LinkProblem, Target: "0195f3a0-0000-7000-8000-000000000001"}},
		Vendor: "Contoso", VendorCase: "CS-4711",
		OpenedAt: at("2026-03-02T09:00:00Z"), ResolvedAt: at("2026-03-02T11:00:00.5Z"), UpdatedAt: at("2026-03-02T12:15:00Z"),
		Version: 17,
	}
	clock := ClockStatus{Clock: events.ClockResolution, TargetMS: 14400000, State: ClockRunning, Due: &due,
		Warnings: []int{50, 75}, Breached: true, Outcome: events.OutcomeMissed, UsedMS: 15000000}
	view := View{Ticket: ticket, Seq: 42, Hash: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		SLA:        &SLAStatus{PolicyID: "p2", PolicyVersion: 3, Calendar: "office", Clocks: []ClockStatus{clock}},
		Reassigned: true}
	m := func(k string, v int) map[string]int { return map[string]int{k: v} }
	bucket := hourBucket{Opened: 3, ByType: m("incident", 2), ByCategory: m("email", 3), ByPriority: m("P2", 1),
		BySource: m("alertmanager", 3), Responded: 2, ResponseMS: 1800000, Escalated: 1,
		Resolved: 1, ResolveWallMS: 7200000, ResolvedByTier: m("1", 1), FirstContact: 1, Reopened: 1,
		SLAMet: m(events.ClockResponse, 2), SLAMissed: m(events.ClockResolution, 1), BusinessResolved: 1, BusinessResolveMS: 3600000}
	return []struct {
		name string
		full any
		zero any
	}{
		{"view", view, View{}},
		{"ticket", ticket, events.Ticket{}},
		{"sla_status", *view.SLA, SLAStatus{}},
		{"clock_status", clock, ClockStatus{}},
		{"hour_bucket", bucket, hourBucket{}},
		{"opened_entry", openedEntry{Category: "email", Requester: "ada@acme.example"}, openedEntry{}},
	}
}

// TestFormatVersionStableValues pins the JSON encoding of every persisted value of the
// current FormatVersion (pebble's TestFormatMajorVersionStableValues): each fixed value
// must encode to exactly the bytes in testdata/format/v<FormatVersion>/<name>.json (and
// its zero value to <name>.zero.json) and decode back to itself.
func TestFormatVersionStableValues(t *testing.T) {
	dir := filepath.Join("testdata", "format", fmt.Sprintf("v%d", FormatVersion))
	if *updateFormat {
		writeGolden(t, dir)
	}
	for _, v := range persisted() {
		for _, c := range []struct {
			file  string
			value any
		}{{v.name + ".json", v.full}, {v.name + ".zero.json", v.zero}} {
			got, err := json.Marshal(c.value)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, c.file))
			if errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("no golden encodings of FormatVersion %d (%s): write them with go test -run TestFormatVersionStableValues -update-format", FormatVersion, dir)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: the persisted encoding of %T changed; bump FormatVersion (stores written before must rebuild) "+
					"and write the new version's files with -update-format.\n%s", c.file, c.value, lineDiff(indent(want), indent(got)))
				continue
			}
			back := reflect.New(reflect.TypeOf(c.value))
			if err := json.Unmarshal(want, back.Interface()); err != nil {
				t.Fatalf("%s: %v", c.file, err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), c.value) {
				t.Errorf("%s decodes to %+v, want %+v", c.file, back.Elem().Interface(), c.value)
			}
		}
	}
}

// TestPersistedValuesAreExplicit: every field of every persisted struct has an explicit
// JSON name, and each fixed value of TestFormatVersionStableValues sets every field, so a
// field added, renamed or retagged changes a golden encoding.
func TestPersistedValuesAreExplicit(t *testing.T) {
	for _, v := range persisted() {
		checkExplicit(t, v.name, reflect.ValueOf(v.full))
	}
}

func checkExplicit(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("%s is nil in the fixed value: set it", path)
			return
		}
		checkExplicit(t, path, v.Elem())
	case reflect.Slice:
		if v.Len() == 0 {
			t.Errorf("%s is empty in the fixed value: give it an element", path)
		}
		for i := 0; i < v.Len(); i++ {
			checkExplicit(t, fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			t.Errorf("%s is empty in the fixed value: give it an entry", path)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if v.Interface().(time.Time).IsZero() {
				t.Errorf("%s is zero in the fixed value: set it", path)
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				t.Errorf("%s.%s (%s) has no explicit JSON name: persisted values need one", path, f.Name, v.Type())
			}
			checkExplicit(t, path+"."+f.Name, v.Field(i))
		}
	default:
		if v.IsZero() {
			t.Errorf("%s is zero in the fixed value: set it, so its encoding is pinned", path)
		}
	}
}

// writeGolden writes the golden files of a version that has none. The files of an
// existing version are never rewritten: they pin what stores of that version hold.
func writeGolden(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("%s exists: the encodings of FormatVersion %d must not change; bump FormatVersion instead", dir, FormatVersion)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range persisted() {
		for file, value := range map[string]any{v.name + ".json": v.full, v.name + ".zero.json": v.zero} {
			b, err := json.Marshal(value)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func indent(b []byte) []string {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return strings.Split(string(b), "\n")
	}
	return strings.Split(out.String(), "\n")
}

// lineDiff is a line diff of want and got (longest common subsequence): "-" lines are
// in want only, "+" lines in got only.
func lineDiff(want, got []string) string {
	n, m := len(want), len(got)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && want[i] == got[j]:
			b.WriteString("  " + want[i] + "\n")
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			b.WriteString("- " + want[i] + "\n")
			i++
		default:
			b.WriteString("+ " + got[j] + "\n")
			j++
		}
	}
	return b.String()
}
