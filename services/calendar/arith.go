package calendar

import "time"

// searchDays bounds the walk of Add through a calendar: Compile refuses calendars without
// business hours, so only a calendar whose holidays cover ten years could exhaust it.
const searchDays = 3660

// The methods below walk the calendar day by day in its location. Each local date's
// business ranges are turned into instants from their wall-clock times, so they have
// their real length on a daylight-saving change, and are clipped to be ascending,
// disjoint and within the date; the ranges of all dates together are therefore disjoint,
// which is what makes Between(from, Add(from, d)) == d exact. A walk starts on the date
// before from's, so it never depends on how an ambiguous local midnight is resolved.

// Location is the calendar's time zone (UTC for 24x7).
func (c *Calendar) Location() *time.Location { return c.loc }

// IsOpen reports whether t is business time: inside a range of its local weekday's hours
// (start included, end excluded) on a day that is not a holiday.
func (c *Calendar) IsOpen(t time.Time) bool {
	if c.always {
		return true
	}
	y, m, d := t.In(c.loc).Date()
	for _, day := range []int{d - 1, d} {
		for _, iv := range c.day(y, m, day) {
			if !t.Before(iv.from) && t.Before(iv.to) {
				return true
			}
		}
	}
	return false
}

// Between is the business time in [from, to); zero when to is not after from.
func (c *Calendar) Between(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	if c.always {
		return to.Sub(from)
	}
	var sum time.Duration
	y, m, d := from.In(c.loc).Date()
	for d--; c.wall(y, m, d, 0).Before(to); d++ {
		for _, iv := range c.day(y, m, d) {
			a, b := later(iv.from, from), earlier(iv.to, to)
			if b.After(a) {
				sum += b.Sub(a)
			}
		}
	}
	return sum
}

// Add is the earliest instant t at or after from with Between(from, t) == d, in from's
// location: from itself for d ≤ 0, otherwise an instant inside or at the end of a
// business range. For a calendar without business time in the ten years after from it
// returns the end of that search.
func (c *Calendar) Add(from time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return from
	}
	if c.always {
		return from.Add(d)
	}
	y, m, day := from.In(c.loc).Date()
	day--
	for range searchDays {
		for _, iv := range c.day(y, m, day) {
			if !iv.to.After(from) {
				continue
			}
			start := later(iv.from, from)
			avail := iv.to.Sub(start)
			if d <= avail {
				return start.Add(d).In(from.Location())
			}
			d -= avail
		}
		day++
	}
	return c.wall(y, m, day, 0).In(from.Location())
}

// interval is a business range of one day as instants.
type interval struct{ from, to time.Time }

// day returns the business ranges of a local date (normalized as time.Date does) as
// instants: ascending, disjoint, non-empty and within [wall(date, 0), wall(date, 24h)).
// They are built from wall-clock times, so on a daylight-saving change they have their
// real length: "00:00-24:00" lasts 23 or 25 hours.
func (c *Calendar) day(y int, m time.Month, d int) []interval {
	date := time.Date(y, m, d, 12, 0, 0, 0, c.loc) // noon: on the date whatever the zone does
	y, m, d = date.Date()
	spans := c.week[date.Weekday()]
	if len(spans) == 0 || c.holidays[civilDate{y, m, d}] {
		return nil
	}
	out := make([]interval, 0, len(spans))
	floor, ceil := c.wall(y, m, d, 0), c.wall(y, m, d, 24*time.Hour)
	for _, s := range spans {
		from, to := later(c.wall(y, m, d, s.from), floor), earlier(c.wall(y, m, d, s.to), ceil)
		if to.After(from) {
			out = append(out, interval{from, to})
			floor = to
		}
	}
	return out
}

// wall is the instant at which the local clock of the date reads off after midnight
// ("24:00" is the next midnight). A wall time that a daylight-saving change skips (02:30
// when clocks jump from 02:00 to 03:00) is the instant of the change, the first at which
// the clock reads that late; time.Date alone would put it an hour before or after,
// depending on the zone. A wall time that occurs twice is whichever instant time.Date
// picks; day clips the result, so either keeps the ranges disjoint.
func (c *Calendar) wall(y int, m time.Month, d int, off time.Duration) time.Time {
	h, mi := int(off/time.Hour), int(off%time.Hour/time.Minute)
	t := time.Date(y, m, d, h, mi, 0, 0, c.loc)
	want := time.Date(y, m, d, h, mi, 0, 0, time.UTC)
	got := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
	switch {
	case got.Before(want): // placed before the gap: the change is where t's zone ends
		if _, end := t.ZoneBounds(); !end.IsZero() {
			return end
		}
	case got.After(want): // placed after the gap: the change is where t's zone starts
		if start, _ := t.ZoneBounds(); !start.IsZero() {
			return start
		}
	}
	return t
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
