package tenantconfig

import (
	"slices"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/calendar"
)

// DefaultWarnings are the warning thresholds of a policy that sets none (percent of target).
var DefaultWarnings = []int{50, 75, 90}

// DefaultPausingReasons are the hold reasons that pause a policy's clocks when it sets none.
var DefaultPausingReasons = []events.HoldReason{events.AwaitingCustomer, events.AwaitingVendor}

// SetDefaults fills what the author left out: a policy's calendar ("24x7"), warnings
// (50, 75, 90) and pausing reasons (awaiting_customer, awaiting_vendor), and a group's
// strategy (round_robin). It never overrides what the author wrote: an explicitly empty
// list (warnings: [] or pausing_reasons: []) stays empty and means none.
func (d *Document) SetDefaults() {
	for i := range d.SLAPolicies {
		p := &d.SLAPolicies[i]
		if p.Calendar == "" {
			p.Calendar = calendar.TwentyFourSevenID
		}
		if p.Warnings == nil {
			p.Warnings = slices.Clone(DefaultWarnings)
		}
		if p.PausingReasons == nil {
			p.PausingReasons = slices.Clone(DefaultPausingReasons)
		}
	}
	for i := range d.Groups {
		if d.Groups[i].Strategy == "" {
			d.Groups[i].Strategy = RoundRobin
		}
	}
}

// effectiveWarnings are the policy's warnings with the default applied.
func (p SLAPolicy) effectiveWarnings() []int {
	if p.Warnings == nil {
		return DefaultWarnings
	}
	return p.Warnings
}
