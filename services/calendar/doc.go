// Package calendar does business-time arithmetic on business calendars: hours per
// weekday in an IANA time zone, minus holidays. It is pure (no clock of its own) and
// correct across nights, weekends, holidays and daylight-saving changes.
package calendar
