package calendar

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Calendar is a compiled Spec, ready for arithmetic. It is immutable and safe for
// concurrent use.
type Calendar struct {
	loc *time.Location
	// week holds each weekday's business intervals (time.Sunday = 0), as offsets from
	// local midnight, ascending and disjoint. always is true for 24x7.
	week     [7][]span
	holidays map[civilDate]bool
	always   bool
}

// span is a business interval of one day: [from, to) as offsets from local midnight.
type span struct{ from, to time.Duration }

// civilDate is a local calendar date.
type civilDate struct {
	y int
	m time.Month
	d int
}

// TwentyFourSeven is the calendar in which every instant is business time.
func TwentyFourSeven() *Calendar { return &Calendar{loc: time.UTC, always: true} }

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// Compile checks the spec and compiles it. The error joins every problem found, each
// naming the field it is about ("time_zone", "hours.monday[1]", "holidays[0]").
func (s Spec) Compile() (*Calendar, error) {
	var errs []error
	c := &Calendar{holidays: map[civilDate]bool{}}
	loc, err := time.LoadLocation(s.TimeZone)
	switch {
	case s.TimeZone == "":
		errs = append(errs, errors.New("time_zone: required (an IANA name such as Europe/Berlin)"))
	case err != nil:
		errs = append(errs, fmt.Errorf("time_zone: unknown IANA time zone %q", s.TimeZone))
	}
	c.loc = loc
	open := false
	days := make([]string, 0, len(s.Hours))
	for day := range s.Hours {
		days = append(days, day)
	}
	slices.Sort(days)
	for _, day := range days {
		wd, ok := weekdays[day]
		if !ok {
			errs = append(errs, fmt.Errorf("hours.%s: not a weekday (monday … sunday)", day))
			continue
		}
		var prev time.Duration
		for i, r := range s.Hours[day] {
			sp, err := parseRange(r)
			if err == nil && sp.from < prev {
				err = errors.New("ranges must be ascending and must not overlap")
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("hours.%s[%d]: %q: %w", day, i, r, err))
				continue
			}
			prev = sp.to
			c.week[wd] = append(c.week[wd], sp)
			open = true
		}
	}
	if !open && len(errs) == 0 {
		errs = append(errs, errors.New("hours: no business hours on any weekday"))
	}
	for i, h := range s.Holidays {
		d, err := time.Parse(time.DateOnly, h)
		if err != nil {
			errs = append(errs, fmt.Errorf("holidays[%d]: %q is not a date YYYY-MM-DD", i, h))
			continue
		}
		c.holidays[civilDate{d.Year(), d.Month(), d.Day()}] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// parseRange parses "HH:MM-HH:MM" with from < to; "24:00" may end a range.
func parseRange(r string) (span, error) {
	from, to, ok := strings.Cut(r, "-")
	if !ok {
		return span{}, errors.New(`want "HH:MM-HH:MM"`)
	}
	f, err1 := parseClock(strings.TrimSpace(from), false)
	t, err2 := parseClock(strings.TrimSpace(to), true)
	if err := errors.Join(err1, err2); err != nil {
		return span{}, err
	}
	if f >= t {
		return span{}, errors.New("the range must end after it starts")
	}
	return span{f, t}, nil
}

// parseClock parses "HH:MM" as an offset from midnight; end allows "24:00".
func parseClock(s string, end bool) (time.Duration, error) {
	if end && s == "24:00" {
		return 24 * time.Hour, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time HH:MM", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}
