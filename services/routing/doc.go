// Package routing is the routing service: it decides where a ticket goes and who works
// it.
//
// On opened, reopened, recategorized and escalated it applies the tenant's current
// configuration (Pick). The routing rules are tried in order and the first whose match
// fits the ticket picks the group, at the rule's tier or else its group's; when none
// fits, the ticket goes to the default group at tier 1. An escalated ticket goes to the
// first fitting rule at its new tier, else to the first group at that tier, else stays
// in its group at the new tier. The group's strategy then picks the agent among those
// available: round_robin, least_loaded or skills.
//
// It appends routed and, when an agent is available, assigned, each naming the rule id
// and the configuration version that decided it; decisions no rule made name the
// reserved ids RuleDefaultGroup and RuleTierFallback. Both events derive their ids from
// the trigger's, so a redelivered or replayed trigger appends nothing twice.
//
// The loads the strategies count (open tickets per agent, assignments per group) come
// from a View of the whole log, fed in order by an ordered consumer; before deciding,
// the service waits until the view has caught up with the log. The view keeps a few
// words per ticket still open or reopenable, so its memory follows the work in
// progress, not the length of the log.
package routing
