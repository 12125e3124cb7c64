package natsauth

import (
	"fmt"
	"maps"
	"slices"
)

// Role is a set of NATS rights a process connects with. NB: role names are wire and
// persisted names (user JWT names, <role>.creds files, inbox prefixes): never rename one.
type Role string

// The roles. Each service process connects as its own role; auditor is read-only for
// people with the nats CLI; admin is break-glass and provisions the streams.
const (
	RoleIntake     Role = "intake"
	RoleRouting    Role = "routing"
	RoleSLA        Role = "sla"
	RoleEscalation Role = "escalation"
	RoleReporting  Role = "reporting"
	RoleAuditor    Role = "auditor"
	RoleAdmin      Role = "admin"
)

// The streams and subjects the table grants rights on. They restate wire names owned by
// events (TICKETS, CONFIG), services/reactor (DEADLETTER), services/sla (SLA_TIMERS) and
// the token registry (ACCESS); services/app's tests run every service on its role
// connection, which fails if they drift apart. NB: wire names; never rename.
const (
	StreamTickets    = "TICKETS"
	StreamConfig     = "CONFIG"
	StreamAccess     = "ACCESS"
	StreamDeadLetter = "DEADLETTER"
	StreamSLATimers  = "SLA_TIMERS"
	StreamMembers    = "KV_MEMBERS" // the replicas' lease bucket MEMBERS (services/reactor)

	// SubjectTickets is every ticket's subject: tickets.<tenant>.<ticket>. The one place
	// to change when the log gets a partition token (issue 11).
	SubjectTickets     = "tickets.*.*"
	SubjectConfig      = "config.*"
	SubjectAccess      = "access.>"
	SubjectSLASchedule = "sla.schedule.>"

	// anyStream in a row of the table means every stream of the account, present and future.
	anyStream = "*"
)

// SubjectMembers is one service's lease keys in the MEMBERS bucket.
func SubjectMembers(service Role) string { return "$KV.MEMBERS." + string(service) + ".>" }

// SubjectDeadLetter is the dead-letter subject of one service.
func SubjectDeadLetter(service Role) string { return "deadletter." + string(service) }

// durable is a durable consumer a role owns: only its owner may create, update, read from
// or ack on it; every other role is denied those subjects, wildcards notwithstanding.
type durable struct{ stream, name string }

// access is one role's row of the table.
type access struct {
	// publish lists the subjects the role may append to (JetStream publishes them
	// with a PubAck request; atomic batches publish plainly, then request on commit).
	publish []string
	// read lists the streams whose info the role may read and whose messages it may get
	// (STREAM.INFO, STREAM.MSG.GET, DIRECT.GET including last-by-subject).
	read []string
	// ordered lists the streams the role may open ordered (or other ephemeral) consumers
	// on: create, info, pull and delete (an ordered consumer deletes its predecessor when
	// it resets). Consumer names are random, so these rights cover any name; the table
	// denies every other role's durable consumer by name. Another role's ordered consumer
	// is not covered: deleting one makes it reset, no position is lost.
	ordered []string
	// durables are the durable pull consumers the role owns (create or update, info,
	// pull, ack).
	durables []durable
	// inbox is the role's reply-subject prefix; it may subscribe to <inbox>.> only, so no
	// role reads another's replies. "" is the default _INBOX, which the nats CLI uses.
	inbox string
	// browse adds what `nats stream ls/info/view` and `nats account info` need beyond
	// read and ordered: stream names and list, account info, consumer names, list and
	// info, acks and flow control of its own consumers.
	browse bool
	// all grants everything (publish and subscribe ">").
	all bool
}

// table is every role's rights. NB: the one place they are stated.
var table = map[Role]access{
	RoleIntake: {
		publish: []string{SubjectTickets, SubjectConfig, SubjectAccess},
		read:    []string{StreamTickets, StreamConfig, StreamAccess},
		ordered: []string{StreamAccess}, // the token registry
		inbox:   "_INBOX_intake",
	},
	RoleRouting: {
		publish:  []string{SubjectTickets, SubjectDeadLetter(RoleRouting), SubjectMembers(RoleRouting)},
		read:     []string{StreamTickets, StreamConfig, StreamDeadLetter, StreamMembers},
		ordered:  []string{StreamTickets, StreamConfig, StreamMembers}, // the load view, configurations, leases
		durables: []durable{{StreamTickets, "routing-tickets"}},
		inbox:    "_INBOX_routing",
	},
	RoleSLA: {
		publish:  []string{SubjectTickets, SubjectDeadLetter(RoleSLA), SubjectSLASchedule, SubjectMembers(RoleSLA)},
		read:     []string{StreamTickets, StreamConfig, StreamDeadLetter, StreamSLATimers, StreamMembers},
		ordered:  []string{StreamConfig, StreamMembers}, // configurations, leases
		durables: []durable{{StreamTickets, "sla-tickets"}, {StreamSLATimers, "sla-timers"}},
		inbox:    "_INBOX_sla",
	},
	RoleEscalation: {
		publish:  []string{SubjectTickets, SubjectDeadLetter(RoleEscalation), SubjectMembers(RoleEscalation)},
		read:     []string{StreamTickets, StreamConfig, StreamDeadLetter, StreamMembers},
		ordered:  []string{StreamConfig, StreamMembers}, // configurations, leases
		durables: []durable{{StreamTickets, "escalation-rules"}, {StreamTickets, "escalation-notifier"}},
		inbox:    "_INBOX_escalation",
	},
	RoleReporting: {
		publish: []string{SubjectDeadLetter(RoleReporting)},
		read:    []string{StreamTickets, StreamConfig, StreamAccess, StreamDeadLetter},
		ordered: []string{StreamTickets, StreamAccess}, // the projector, the token registry
		inbox:   "_INBOX_reporting",
	},
	RoleAuditor: {
		read:    []string{anyStream},
		ordered: []string{anyStream},
		browse:  true,
	},
	RoleAdmin: {all: true},
}

// Roles lists every role, sorted.
func Roles() []Role { return slices.Sorted(maps.Keys(table)) }

// Valid reports whether r is a role of the table.
func (r Role) Valid() bool { _, ok := table[r]; return ok }

// Permissions are a user's NATS rights, as they go into its JWT.
type Permissions struct {
	PublishAllow, PublishDeny     []string
	SubscribeAllow, SubscribeDeny []string
	// InboxPrefix is the prefix the user's client must give nats.CustomInboxPrefix;
	// "" means the default _INBOX.
	InboxPrefix string
}

// RolePermissions compiles the table's row of role into subjects.
func RolePermissions(role Role) (Permissions, error) {
	a, ok := table[role]
	if !ok {
		return Permissions{}, fmt.Errorf("%w: %q", ErrUnknownRole, role)
	}
	if a.all {
		return Permissions{PublishAllow: []string{">"}, SubscribeAllow: []string{">"}}, nil
	}
	const js = "$JS.API."
	p := Permissions{InboxPrefix: a.inbox}
	allow := func(s ...string) { p.PublishAllow = append(p.PublishAllow, s...) }
	allow(a.publish...)
	for _, s := range a.read {
		allow(js+"STREAM.INFO."+s, js+"STREAM.MSG.GET."+s, js+"DIRECT.GET."+s, js+"DIRECT.GET."+s+".>")
	}
	for _, s := range a.ordered {
		// CREATE.<stream>.<name> and, with one filter subject, CREATE.<stream>.<name>.<filter>.
		allow(js+"CONSUMER.CREATE."+s+".*", js+"CONSUMER.CREATE."+s+".*.>", js+"CONSUMER.INFO."+s+".*",
			js+"CONSUMER.MSG.NEXT."+s+".*", js+"CONSUMER.DELETE."+s+".*")
		if a.browse {
			allow("$JS.ACK."+s+".*.>", "$JS.FC."+s+".>")
		}
	}
	for _, d := range a.durables {
		allow(js+"CONSUMER.CREATE."+d.stream+"."+d.name, js+"CONSUMER.CREATE."+d.stream+"."+d.name+".>",
			js+"CONSUMER.INFO."+d.stream+"."+d.name, js+"CONSUMER.MSG.NEXT."+d.stream+"."+d.name,
			js+"CONSUMER.UNPIN."+d.stream+"."+d.name, "$JS.ACK."+d.stream+"."+d.name+".>")
	}
	if a.browse {
		// $SYS.REQ.USER.INFO answers a user with its own permissions (`nats account info`).
		allow(js+"INFO", js+"STREAM.NAMES", js+"STREAM.LIST", "$SYS.REQ.USER.INFO")
		for _, s := range a.read {
			allow(js+"CONSUMER.NAMES."+s, js+"CONSUMER.LIST."+s)
		}
	}
	// Consumer rights on any name never reach another role's durable consumer, and no
	// durable consumer is deleted but by admin (that would restart it from the beginning).
	for other, oa := range table {
		for _, d := range oa.durables {
			if !slices.Contains(a.ordered, d.stream) && !slices.Contains(a.ordered, anyStream) {
				continue
			}
			p.PublishDeny = append(p.PublishDeny, js+"CONSUMER.DELETE."+d.stream+"."+d.name)
			if other != role {
				p.PublishDeny = append(p.PublishDeny,
					js+"CONSUMER.CREATE."+d.stream+"."+d.name, js+"CONSUMER.CREATE."+d.stream+"."+d.name+".>",
					js+"CONSUMER.MSG.NEXT."+d.stream+"."+d.name, "$JS.ACK."+d.stream+"."+d.name+".>")
			}
		}
	}
	slices.Sort(p.PublishDeny)
	inbox := a.inbox
	if inbox == "" {
		inbox = "_INBOX"
	}
	p.SubscribeAllow = []string{inbox + ".>"}
	return p, nil
}
