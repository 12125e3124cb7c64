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

// TestAddAndBetweenAgree: Between(from, Add(from, d)) == d, and Add is monotone in d,
// for starts every 20 minutes of a week spanning a DST change and a holiday.
func TestAddAndBetweenAgree(t *testing.T) {
	cals := map[string]*calendar.Calendar{
		"office": compile(t, calendar.Spec{TimeZone: "Europe/Berlin", Hours: weekdays("08:00-12:00", "13:00-17:30"),
			Holidays: []string{"2026-03-31"}}),
		"nights": compile(t, calendar.Spec{TimeZone: "America/New_York", Hours: everyDay("00:00-06:00", "22:00-24:00")}),
		"24x7":   calendar.TwentyFourSeven(),
	}
	start := time.Date(2026, 3, 26, 0, 0, 0, 0, time.UTC)
	durations := []time.Duration{0, time.Second, 17 * time.Minute, time.Hour, 4 * time.Hour, 9*time.Hour + 30*time.Minute, 50 * time.Hour}
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
				if d > 0 && !cal.IsOpen(to.Add(-time.Nanosecond)) {
					t.Fatalf("%s: Add(%s, %s) = %s does not end business time", name, from, d, to)
				}
				prev = to
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
