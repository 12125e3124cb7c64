package calendar_test

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones must not depend on the machine's zoneinfo

	"github.com/ledgerdesk/ledgerdesk/services/calendar"
)

func compile(t *testing.T, s calendar.Spec) *calendar.Calendar {
	t.Helper()
	c, err := s.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func weekdays(ranges ...string) map[string][]string {
	h := map[string][]string{}
	for _, d := range []string{"monday", "tuesday", "wednesday", "thursday", "friday"} {
		h[d] = ranges
	}
	return h
}

func everyDay(ranges ...string) map[string][]string {
	h := weekdays(ranges...)
	h["saturday"], h["sunday"] = ranges, ranges
	return h
}

func TestCompileNamesEveryProblem(t *testing.T) {
	_, err := calendar.Spec{TimeZone: "Mars/Olympus", Hours: map[string][]string{
		"monday":  {"08:00-12:00", "11:00-13:00"},
		"funday":  {"08:00-12:00"},
		"tuesday": {"8-12", "18:00-09:00"},
	}, Holidays: []string{"2026-12-25", "25.12.2026"}}.Compile()
	if err == nil {
		t.Fatal("compiled")
	}
	for _, want := range []string{
		`time_zone: unknown IANA time zone "Mars/Olympus"`,
		"hours.monday[1]:", "must be ascending",
		"hours.funday: not a weekday",
		"hours.tuesday[0]:", "hours.tuesday[1]:", "must end after it starts",
		`holidays[1]: "25.12.2026" is not a date`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "holidays[0]") {
		t.Errorf("a good holiday reported: %v", err)
	}
	if _, err := (calendar.Spec{TimeZone: "UTC"}).Compile(); err == nil || !strings.Contains(err.Error(), "no business hours") {
		t.Errorf("a calendar without hours: %v", err)
	}
	if _, err := (calendar.Spec{Hours: weekdays("08:00-17:00")}).Compile(); err == nil || !strings.Contains(err.Error(), "time_zone: required") {
		t.Errorf("a calendar without a zone: %v", err)
	}
}

func TestArithmetic(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	newYork, _ := time.LoadLocation("America/New_York")
	office := compile(t, calendar.Spec{TimeZone: "Europe/Berlin", Hours: weekdays("08:00-18:00"),
		Holidays: []string{"2026-12-25", "2026-12-28"}})
	lunch := compile(t, calendar.Spec{TimeZone: "Europe/Berlin", Hours: weekdays("08:00-12:00", "13:00-17:00")})
	allDay := compile(t, calendar.Spec{TimeZone: "Europe/Berlin", Hours: everyDay("00:00-24:00")})
	nights := compile(t, calendar.Spec{TimeZone: "America/New_York", Hours: everyDay("00:00-06:00")})
	at := func(loc *time.Location, y int, m time.Month, d, h, min int) time.Time {
		return time.Date(y, m, d, h, min, 0, 0, loc)
	}
	for _, tc := range []struct {
		name     string
		cal      *calendar.Calendar
		from     time.Time
		add      time.Duration
		want     time.Time
		between  time.Time // optional: Between(from, between) == betweenD
		betweenD time.Duration
	}{
		{"within a day", office, at(berlin, 2026, 3, 2, 9, 0), 3 * time.Hour, at(berlin, 2026, 3, 2, 12, 0), time.Time{}, 0},
		{"across a night", office, at(berlin, 2026, 3, 2, 17, 0), 2 * time.Hour, at(berlin, 2026, 3, 3, 9, 0),
			at(berlin, 2026, 3, 3, 9, 0), 2 * time.Hour},
		{"across a weekend", office, at(berlin, 2026, 3, 6, 17, 30), time.Hour, at(berlin, 2026, 3, 9, 8, 30),
			at(berlin, 2026, 3, 9, 8, 0), 30 * time.Minute},
		{"from a Saturday", office, at(berlin, 2026, 3, 7, 10, 0), time.Hour, at(berlin, 2026, 3, 9, 9, 0),
			at(berlin, 2026, 3, 8, 23, 0), 0},
		{"at the end of the day", office, at(berlin, 2026, 3, 2, 8, 0), 10 * time.Hour, at(berlin, 2026, 3, 2, 18, 0), time.Time{}, 0},
		{"across Christmas and a holiday Monday", office, at(berlin, 2026, 12, 24, 17, 0), 2 * time.Hour, at(berlin, 2026, 12, 29, 9, 0),
			at(berlin, 2026, 12, 29, 0, 0), time.Hour},
		{"across lunch", lunch, at(berlin, 2026, 3, 2, 11, 0), 2 * time.Hour, at(berlin, 2026, 3, 2, 14, 0),
			at(berlin, 2026, 3, 2, 13, 0), time.Hour},
		{"starting in lunch", lunch, at(berlin, 2026, 3, 2, 12, 30), 30 * time.Minute, at(berlin, 2026, 3, 2, 13, 30), time.Time{}, 0},
		{"spring forward in Berlin: a 23-hour day", allDay, at(berlin, 2026, 3, 29, 0, 0), 23 * time.Hour, at(berlin, 2026, 3, 30, 0, 0),
			at(berlin, 2026, 3, 30, 0, 0), 23 * time.Hour},
		{"fall back in Berlin: a 25-hour day", allDay, at(berlin, 2026, 10, 25, 0, 0), 25 * time.Hour, at(berlin, 2026, 10, 26, 0, 0),
			at(berlin, 2026, 10, 26, 0, 0), 25 * time.Hour},
		{"spring forward in New York: 00:00-06:00 is 5 hours", nights, at(newYork, 2026, 3, 8, 0, 0), 5 * time.Hour, at(newYork, 2026, 3, 8, 6, 0),
			at(newYork, 2026, 3, 8, 12, 0), 5 * time.Hour},
		{"24x7", calendar.TwentyFourSeven(), at(berlin, 2026, 3, 28, 22, 0), 5 * time.Hour, at(berlin, 2026, 3, 29, 4, 0),
			at(berlin, 2026, 3, 29, 4, 0), 5 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cal.Add(tc.from, tc.add); !got.Equal(tc.want) {
				t.Errorf("Add(%s, %s) = %s, want %s", tc.from, tc.add, got, tc.want)
			}
			if got := tc.cal.Between(tc.from, tc.want); got != tc.add {
				t.Errorf("Between(%s, %s) = %s, want %s", tc.from, tc.want, got, tc.add)
			}
			if !tc.between.IsZero() {
				if got := tc.cal.Between(tc.from, tc.between); got != tc.betweenD {
					t.Errorf("Between(%s, %s) = %s, want %s", tc.from, tc.between, got, tc.betweenD)
				}
			}
		})
	}
}

// TestDaylightSavingGap: business hours that start or end at a wall time the clocks
// skip begin or end at the instant of the change, so nothing is counted twice or
// negatively.
func TestDaylightSavingGap(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	newYork, _ := time.LoadLocation("America/New_York")
	for _, tc := range []struct {
		name     string
		spec     calendar.Spec
		day      time.Time // local midnight of the changing day
		want     time.Duration
		from, to time.Time // Add(from, want') == to for want' = Between(from, to)
	}{
		// 00:00-02:00 CET, then the clocks jump to 03:00 CEST: 2h + 2h.
		{"Berlin, a range ending in the gap", calendar.Spec{TimeZone: "Europe/Berlin", Hours: everyDay("00:00-02:30", "03:00-05:00")},
			time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), 4 * time.Hour,
			time.Date(2026, 3, 29, 1, 30, 0, 0, berlin), time.Date(2026, 3, 29, 3, 30, 0, 0, berlin)},
		// 01:45-02:00 EST, then 03:15-04:00 EDT: 15m + 45m.
		{"New York, a range ending in the gap", calendar.Spec{TimeZone: "America/New_York", Hours: everyDay("01:45-02:30", "03:15-04:00")},
			time.Date(2026, 3, 8, 0, 0, 0, 0, newYork), time.Hour,
			time.Date(2026, 3, 8, 1, 50, 0, 0, newYork), time.Date(2026, 3, 8, 3, 25, 0, 0, newYork)},
		// 02:30 does not exist: the range starts when the clocks jump, at 03:00 EDT.
		{"New York, a range starting in the gap", calendar.Spec{TimeZone: "America/New_York", Hours: everyDay("02:30-04:00")},
			time.Date(2026, 3, 8, 0, 0, 0, 0, newYork), time.Hour,
			time.Date(2026, 3, 8, 0, 0, 0, 0, newYork), time.Date(2026, 3, 8, 3, 30, 0, 0, newYork)},
		// A range wholly inside the gap has no business time that day.
		{"Berlin, a range inside the gap", calendar.Spec{TimeZone: "Europe/Berlin", Hours: everyDay("02:15-02:45", "04:00-05:00")},
			time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), time.Hour,
			time.Date(2026, 3, 29, 1, 0, 0, 0, berlin), time.Date(2026, 3, 29, 4, 10, 0, 0, berlin)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cal := compile(t, tc.spec)
			if got := cal.Between(tc.day, tc.day.AddDate(0, 0, 1)); got != tc.want {
				t.Errorf("business time of the day = %s, want %s", got, tc.want)
			}
			d := cal.Between(tc.from, tc.to)
			if got := cal.Add(tc.from, d); !got.Equal(tc.to) {
				t.Errorf("Add(%s, %s) = %s, want %s", tc.from, d, got, tc.to)
			}
		})
	}
}

// TestAddFromZero: adding nothing stays put, even outside business hours, and results
// are in the location of from.
func TestAddFromZero(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	office := compile(t, calendar.Spec{TimeZone: "Europe/Berlin", Hours: weekdays("08:00-18:00")})
	for _, from := range []time.Time{
		time.Date(2026, 3, 2, 10, 0, 0, 0, berlin), // open
		time.Date(2026, 3, 7, 10, 0, 0, 0, berlin), // Saturday
		time.Date(2026, 3, 2, 18, 0, 0, 0, berlin), // closing time
	} {
		for _, d := range []time.Duration{0, -time.Hour} {
			if got := office.Add(from, d); got != from {
				t.Errorf("Add(%s, %s) = %s, want from itself", from, d, got)
			}
		}
	}
	from := time.Date(2026, 3, 2, 17, 0, 0, 0, tokyo) // 09:00 in Berlin
	got := office.Add(from, time.Hour)
	if want := time.Date(2026, 3, 2, 18, 0, 0, 0, tokyo); !got.Equal(want) || got.Location() != tokyo {
		t.Errorf("Add(%s, 1h) = %s, want %s", from, got, want)
	}
	if got := calendar.TwentyFourSeven().Add(from, time.Hour); got != from.Add(time.Hour) {
		t.Errorf("24x7: Add(%s, 1h) = %s", from, got)
	}
	if got := office.Location(); got.String() != "Europe/Berlin" {
		t.Errorf("Location() = %s", got)
	}
}

// TestAddGivesUp: a calendar whose every business day is a holiday for more than ten
// years makes Add return the end of its search instead of looping.
func TestAddGivesUp(t *testing.T) {
	var holidays []string
	for d := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC); d.Year() < 2038; d = d.AddDate(0, 0, 7) {
		holidays = append(holidays, d.Format(time.DateOnly)) // every Monday
	}
	cal := compile(t, calendar.Spec{TimeZone: "UTC", Hours: map[string][]string{"monday": {"08:00-17:00"}}, Holidays: holidays})
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	got := cal.Add(from, time.Hour)
	if got.Before(from.AddDate(9, 0, 0)) || got.After(from.AddDate(11, 0, 0)) {
		t.Errorf("Add = %s, want about ten years after %s", got, from)
	}
	if d := cal.Between(from, got); d != 0 {
		t.Errorf("Between(from, Add) = %s, want 0", d)
	}
}

// TestAddAndBetweenAgree: Between(from, Add(from, d)) == d, Add is monotone in d and
// its result is the earliest such instant, for starts every 20 minutes of weeks spanning
// the daylight-saving changes of 2026 in Berlin, New York and Santiago, ranges that start
// or end in the skipped hour, and a holiday.
func TestAddAndBetweenAgree(t *testing.T) {
	cals := map[string]*calendar.Calendar{
		"office": compile(t, calendar.Spec{TimeZone: "Europe/Berlin", Hours: weekdays("08:00-12:00", "13:00-17:30"),
			Holidays: []string{"2026-03-31"}}),
		"nights": compile(t, calendar.Spec{TimeZone: "America/New_York", Hours: everyDay("00:00-06:00", "22:00-24:00")}),
		"gaps":   compile(t, calendar.Spec{TimeZone: "Europe/Berlin", Hours: everyDay("00:00-02:30", "02:45-03:15", "03:30-24:00")}),
		"gaps New York": compile(t, calendar.Spec{TimeZone: "America/New_York",
			Hours: everyDay("00:30-01:15", "01:45-02:30", "02:40-02:50", "03:15-04:00", "23:00-24:00")}),
		// Santiago changes at midnight: 2026-04-05 00:00 becomes 23:00 again, 2026-09-06
		// 00:00 becomes 01:00.
		"Santiago": compile(t, calendar.Spec{TimeZone: "America/Santiago", Hours: everyDay("00:00-00:30", "09:00-18:00", "23:00-24:00")}),
		"24x7":     calendar.TwentyFourSeven(),
	}
	durations := []time.Duration{0, time.Second, 17 * time.Minute, time.Hour, 4 * time.Hour, 9*time.Hour + 30*time.Minute, 50 * time.Hour}
	for _, start := range []time.Time{
		time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC),   // New York springs forward on the 8th
		time.Date(2026, 3, 26, 0, 0, 0, 0, time.UTC),  // Berlin springs forward on the 29th
		time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC),   // Santiago falls back on the 5th
		time.Date(2026, 9, 3, 0, 0, 0, 0, time.UTC),   // Santiago springs forward on the 6th
		time.Date(2026, 10, 22, 0, 0, 0, 0, time.UTC), // Berlin falls back on the 25th
		time.Date(2026, 10, 29, 0, 0, 0, 0, time.UTC), // New York falls back on November 1st
	} {
		for name, cal := range cals {
			for from := start; from.Before(start.Add(7 * 24 * time.Hour)); from = from.Add(20 * time.Minute) {
				prev := from
				for _, d := range durations {
					to := cal.Add(from, d)
					if got := cal.Between(from, to); got != d {
						t.Fatalf("%s: Between(%s, Add(%s)) = %s", name, from, d, got)
					}
					if to.Before(prev) {
						t.Fatalf("%s: Add(%s, %s) = %s goes back", name, from, d, to)
					}
					if d > 0 {
						if !cal.IsOpen(to.Add(-time.Nanosecond)) {
							t.Fatalf("%s: Add(%s, %s) = %s does not end business time", name, from, d, to)
						}
						if got := cal.Between(from, to.Add(-time.Nanosecond)); got != d-time.Nanosecond {
							t.Fatalf("%s: Add(%s, %s) = %s is not the earliest: a nanosecond before, %s", name, from, d, to, got)
						}
					}
					prev = to
				}
			}
		}
	}
}

func TestIsOpen(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	office := compile(t, calendar.Spec{TimeZone: "Europe/Berlin", Hours: weekdays("08:00-18:00"), Holidays: []string{"2026-12-25"}})
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 3, 2, 8, 0, 0, 0, berlin), true},
		{time.Date(2026, 3, 2, 7, 59, 59, 0, berlin), false},
		{time.Date(2026, 3, 2, 17, 59, 59, 0, berlin), true},
		{time.Date(2026, 3, 2, 18, 0, 0, 0, berlin), false},
		{time.Date(2026, 3, 2, 8, 30, 0, 0, time.UTC), true},  // 09:30 in Berlin
		{time.Date(2026, 3, 7, 10, 0, 0, 0, berlin), false},   // Saturday
		{time.Date(2026, 12, 25, 10, 0, 0, 0, berlin), false}, // holiday
	} {
		if got := office.IsOpen(tc.at); got != tc.want {
			t.Errorf("IsOpen(%s) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if !calendar.TwentyFourSeven().IsOpen(time.Date(2026, 12, 25, 3, 0, 0, 0, berlin)) {
		t.Error("24x7 is closed")
	}
}
