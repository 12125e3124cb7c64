package calendar

// Spec is a business calendar as written in a tenant configuration document.
type Spec struct {
	// TimeZone is the IANA time zone the hours and holidays are in, e.g. "Europe/Berlin".
	TimeZone string `json:"time_zone"`
	// Hours maps a lowercase English weekday ("monday" … "sunday") to its business hours
	// as "HH:MM-HH:MM" ranges in local time, ascending and not overlapping; "24:00" may
	// end a range. A weekday that is absent has no business hours.
	Hours map[string][]string `json:"hours"`
	// Holidays are local dates (YYYY-MM-DD) without business hours.
	Holidays []string `json:"holidays,omitempty"`
}

// TwentyFourSevenID is the calendar id that means every hour of every day; it needs no
// definition in the document.
const TwentyFourSevenID = "24x7"
