package calendar

import "time"

// searchDays bounds the walk of Add through a calendar: Compile refuses calendars without
// business hours, so only a calendar whose holidays cover ten years could exhaust it.
const searchDays = 3660

// Location is the calendar's time zone (UTC for 24x7).
func (c *Calendar) Location() *time.Location { return c.loc }

// IsOpen reports whether t is business time: inside a range of its local weekday's hours
// (start included, end excluded) on a day that is not a holiday.
func (c *Calendar) IsOpen(t time.Time) bool {
	if c.always {
		return true
	}
	l := t.In(c.loc)
	for _, iv := range c.day(l.Year(), l.Month(), l.Day()) {
		if !t.Before(iv.from) && t.Before(iv.to) {
			return true
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
	l := from.In(c.loc)
	for y, m, d := l.Date(); time.Date(y, m, d, 0, 0, 0, 0, c.loc).Before(to); d++ {
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
	l := from.In(c.loc)
	y, m, day := l.Date()
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
	return time.Date(y, m, day, 0, 0, 0, 0, c.loc).In(from.Location())
}

// interval is a business range of one day as instants.
type interval struct{ from, to time.Time }

// day returns the business ranges of a local date (normalized as time.Date does) as
// instants. The ranges are built from wall-clock times, so on a daylight-saving change
// they have their real length: "00:00-24:00" lasts 23 or 25 hours.
func (c *Calendar) day(y int, m time.Month, d int) []interval {
	date := time.Date(y, m, d, 0, 0, 0, 0, c.loc)
	y, m, d = date.Date()
	if c.holidays[civilDate{y, m, d}] {
		return nil
	}
	spans := c.week[date.Weekday()]
	out := make([]interval, 0, len(spans))
	for _, s := range spans {
		out = append(out, interval{c.wall(y, m, d, s.from), c.wall(y, m, d, s.to)})
	}
	return out
}

// wall is the instant of a wall-clock offset from local midnight ("24:00" is the next
// midnight).
func (c *Calendar) wall(y int, m time.Month, d int, off time.Duration) time.Time {
	return time.Date(y, m, d, int(off/time.Hour), int(off%time.Hour/time.Minute), 0, 0, c.loc)
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
