package natsauth

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ledgerdesk/ledgerdesk/events"
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
	// RoleIntegration is not a row of the table: each integration's user gets rights of
	// its own, on its name and tenants (IntegrationPermissions).
	RoleIntegration Role = "integration"
)

// The streams and subjects the table grants rights on. They restate wire names owned by
// events (TICKETS, CONFIG), services/reactor (DEADLETTER, the MEMBERS bucket), services/sla
// (SLA_TIMERS), services/routing (the ROUTING_SNAPSHOTS bucket), services/inbox (INBOX,
// OUTCOMES, the REFERENCES bucket), events/audit (CHECKPOINTS) and the token registry (ACCESS); services/app's tests run every service on its role connection, which fails if
// they drift apart. NB: wire names; never rename.
const (
	StreamTickets    = "TICKETS"
	StreamConfig     = "CONFIG"
	StreamAccess     = "ACCESS"
	StreamDeadLetter = "DEADLETTER"
	StreamSLATimers  = "SLA_TIMERS"
	// StreamMembers is the stream of the KV bucket BucketMembers.
	StreamMembers = "KV_MEMBERS"
	// BucketMembers is the KV bucket of replica leases, under keys <role>.<instance>.
	BucketMembers = "MEMBERS"
	// BucketRoutingSnapshots is the object store bucket of routing's view snapshots
	// (services/routing).
	BucketRoutingSnapshots = "ROUTING_SNAPSHOTS"
	// StreamInbox keeps what integrations publish until the intake has answered it.
	StreamInbox = "INBOX"
	// StreamOutcomes keeps the outcome of every inbound message.
	StreamOutcomes = "OUTCOMES"
	// BucketReferences is the KV bucket of external references (services/inbox).
	BucketReferences = "REFERENCES"
	// StreamEvidence keeps the tenants' backup results and patch scans (services/inbox).
	StreamEvidence = "EVIDENCE"
	// StreamCheckpoints keeps the signed checkpoints of the ticket log (events/audit).
	StreamCheckpoints = "CHECKPOINTS"

	// SubjectTickets is the subject every ticket event is published to:
	// tickets.<tenant>.<ticket> (the stream stores it on tickets.<p>.<tenant>.<ticket>,
	// and refuses a publish there: events.LogLayout).
	SubjectTickets     = "tickets.*.*"
	SubjectConfig      = "config.*"
	SubjectAccess      = "access.>"
	SubjectSLASchedule = "sla.schedule.>"
	// SubjectInbox is where integrations publish: inbox.<tenant>.<integration>.
	SubjectInbox = "inbox.*.*"
	// SubjectOutcomes is where the intake answers them:
	// outcomes.<tenant>.<integration>.<message key>.
	SubjectOutcomes = "outcomes.*.*.*"
	// SubjectEvidence is where evidence is recorded: evidence.<tenant>.<kind>.>.
	SubjectEvidence = "evidence.>"
	// SubjectCheckpoints is where reporting stores the checkpoints it signs.
	SubjectCheckpoints = "checkpoints"

	// anyStream in a row of the table means every stream of the account, present and future.
	anyStream = "*"
)

// SubjectDeadLetter is the dead-letter subject of one service.
func SubjectDeadLetter(service Role) string { return "deadletter." + string(service) }

// SubjectMembers is the subject of a role's replica leases in the KV bucket BucketMembers
// (keys <role>.<instance>).
func SubjectMembers(role Role) string { return "$KV." + BucketMembers + "." + string(role) + ".>" }

// durable is a durable consumer a role owns: only its owner may create, update, read from
// or ack on it; every other role is denied those subjects, wildcards notwithstanding.
type durable struct {
	stream, name string
	// partitioned: one durable per partition of the ticket log, named
	// events.PartitionConsumer(name, p) (<service>-<handler>-<pp>), which the owner may
	// also unpin (CONSUMER.UNPIN: its replicas hand partitions over in a priority group).
	partitioned bool
}

// names are the consumer names of d in a log of n partitions.
func (d durable) names(n int) []string {
	if !d.partitioned {
		return []string{d.name}
	}
	out := make([]string, n)
	for p := range n {
		out[p] = events.PartitionConsumer(d.name, p)
	}
	return out
}

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
	// pull, ack; unpin the partitioned ones).
	durables []durable
	// leases: the role keeps its replicas' leases in the KV bucket BucketMembers: it may
	// put and delete its own keys (<role>.>), read every key and watch the bucket.
	leases bool
	// objects are the object store buckets the role keeps: it may put objects (chunks,
	// metadata, purging the chunks it replaces) and get them (read, ordered consumers
	// with flow control). No other role but admin writes them.
	objects []string
	// buckets are the KV buckets the role keeps: it may put, create and update keys and
	// get them. No other role but admin writes them.
	buckets []string
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
		publish: []string{SubjectTickets, SubjectConfig, SubjectAccess, SubjectOutcomes, SubjectEvidence},
		read:    []string{StreamTickets, StreamConfig, StreamAccess, StreamInbox, StreamOutcomes, StreamEvidence},
		ordered: []string{StreamAccess, StreamConfig}, // the token registry, configurations
		durables: []durable{
			{stream: StreamInbox, name: "intake-inbox"},
		},
		buckets: []string{BucketReferences},
		inbox:   "_INBOX_intake",
	},
	// The reacting services' ticket handlers each have one durable per partition.
	RoleRouting: {
		publish: []string{SubjectTickets, SubjectDeadLetter(RoleRouting)},
		read:    []string{StreamTickets, StreamConfig, StreamDeadLetter},
		ordered: []string{StreamTickets, StreamConfig}, // the load view, configurations
		durables: []durable{
			{stream: StreamTickets, name: "routing-tickets", partitioned: true},
		},
		leases:  true,
		objects: []string{BucketRoutingSnapshots}, // the load view's snapshots
		inbox:   "_INBOX_routing",
	},
	RoleSLA: {
		publish: []string{SubjectTickets, SubjectDeadLetter(RoleSLA), SubjectSLASchedule},
		read:    []string{StreamTickets, StreamConfig, StreamDeadLetter, StreamSLATimers},
		ordered: []string{StreamConfig}, // configurations
		durables: []durable{
			{stream: StreamTickets, name: "sla-tickets", partitioned: true},
			{stream: StreamSLATimers, name: "sla-timers"},
		},
		leases: true,
		inbox:  "_INBOX_sla",
	},
	RoleEscalation: {
		publish: []string{SubjectTickets, SubjectDeadLetter(RoleEscalation)},
		read:    []string{StreamTickets, StreamConfig, StreamDeadLetter},
		ordered: []string{StreamConfig}, // configurations
		durables: []durable{
			{stream: StreamTickets, name: "escalation-tickets", partitioned: true},
		},
		leases: true,
		inbox:  "_INBOX_escalation",
	},
	RoleReporting: {
		publish: []string{SubjectDeadLetter(RoleReporting), SubjectCheckpoints},
		read:    []string{StreamTickets, StreamConfig, StreamAccess, StreamDeadLetter, StreamEvidence, StreamCheckpoints},
		ordered: []string{StreamTickets, StreamAccess, StreamEvidence}, // the projector, the token registry, the summary's evidence
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

// Reads reports whether the role may read the stream's info and messages (admin and the
// auditor every stream's).
func (r Role) Reads(stream string) bool {
	a := table[r]
	return a.all || slices.Contains(a.read, anyStream) || slices.Contains(a.read, stream)
}

// Permissions are a user's NATS rights, as they go into its JWT.
type Permissions struct {
	PublishAllow, PublishDeny     []string
	SubscribeAllow, SubscribeDeny []string
	// InboxPrefix is the prefix the user's client must give nats.CustomInboxPrefix;
	// "" means the default _INBOX.
	InboxPrefix string
}

// RolePermissions compiles the table's row of role into subjects for a ticket log of
// partitions partitions (1 to events.MaxPartitions; the stream's, events.Store.Partitions):
// the role's partitioned durables are one per partition. Admin's rights are the same for
// every log (partitions is not looked at).
func RolePermissions(role Role, partitions int) (Permissions, error) {
	a, ok := table[role]
	if !ok {
		return Permissions{}, fmt.Errorf("%w: %q", ErrUnknownRole, role)
	}
	if a.all {
		return Permissions{PublishAllow: []string{">"}, SubscribeAllow: []string{">"}}, nil
	}
	if partitions < 1 || partitions > events.MaxPartitions {
		return Permissions{}, fmt.Errorf("natsauth: rights of %s for %d partitions: the log has 1 to %d", role, partitions, events.MaxPartitions)
	}
	const js = "$JS.API."
	p := Permissions{InboxPrefix: a.inbox}
	allow := func(s ...string) { p.PublishAllow = append(p.PublishAllow, s...) }
	allow(a.publish...)
	read, ordered := a.read, a.ordered
	if a.leases {
		allow(SubjectMembers(role), "$JS.FC."+StreamMembers+".>") // puts and deletes; a watch's flow control
		read, ordered = append(slices.Clone(read), StreamMembers), append(slices.Clone(ordered), StreamMembers)
	}
	for _, b := range a.objects {
		stream := "OBJ_" + b
		allow("$O."+b+".C.>", "$O."+b+".M.>", js+"STREAM.PURGE."+stream, "$JS.FC."+stream+".>")
		read, ordered = append(slices.Clone(read), stream), append(slices.Clone(ordered), stream)
	}
	for _, b := range a.buckets {
		allow("$KV." + b + ".>")
		read = append(slices.Clone(read), "KV_"+b)
	}
	for _, s := range read {
		allow(js+"STREAM.INFO."+s, js+"STREAM.MSG.GET."+s, js+"DIRECT.GET."+s, js+"DIRECT.GET."+s+".>")
	}
	for _, s := range ordered {
		// CREATE.<stream>.<name> and, with one filter subject, CREATE.<stream>.<name>.<filter>.
		allow(js+"CONSUMER.CREATE."+s+".*", js+"CONSUMER.CREATE."+s+".*.>", js+"CONSUMER.INFO."+s+".*",
			js+"CONSUMER.MSG.NEXT."+s+".*", js+"CONSUMER.DELETE."+s+".*")
		if a.browse {
			allow("$JS.ACK."+s+".*.>", "$JS.FC."+s+".>")
		}
	}
	for _, d := range a.durables {
		for _, name := range d.names(partitions) {
			c := d.stream + "." + name
			allow(js+"CONSUMER.CREATE."+c, js+"CONSUMER.CREATE."+c+".>", js+"CONSUMER.INFO."+c, js+"CONSUMER.MSG.NEXT."+c, "$JS.ACK."+c+".>")
			if d.partitioned {
				allow(js + "CONSUMER.UNPIN." + c)
			}
		}
	}
	if a.browse {
		// $SYS.REQ.USER.INFO answers a user with its own permissions (`nats account info`).
		allow(js+"INFO", js+"STREAM.NAMES", js+"STREAM.LIST", "$SYS.REQ.USER.INFO")
		for _, s := range a.read {
			allow(js+"CONSUMER.NAMES."+s, js+"CONSUMER.LIST."+s)
		}
	}
	// No consumer on INBOX but the intake's durable: NATS cannot look inside a create
	// request, and a push consumer delivering the inbox's messages onto inbox.<tenant>.<name>
	// would have them taken again, as that integration's, for that tenant.
	if slices.Contains(ordered, anyStream) || slices.Contains(ordered, StreamInbox) {
		p.PublishDeny = append(p.PublishDeny, js+"CONSUMER.CREATE."+StreamInbox+".*", js+"CONSUMER.CREATE."+StreamInbox+".*.>")
	}
	// Consumer rights on any name never reach another role's durable consumer, and no
	// durable consumer is deleted but by admin (that would restart it from the beginning).
	for other, oa := range table {
		for _, d := range oa.durables {
			if !slices.Contains(ordered, d.stream) && !slices.Contains(ordered, anyStream) {
				continue
			}
			for _, name := range d.names(partitions) {
				c := d.stream + "." + name
				p.PublishDeny = append(p.PublishDeny, js+"CONSUMER.DELETE."+c)
				if other != role {
					p.PublishDeny = append(p.PublishDeny, js+"CONSUMER.CREATE."+c, js+"CONSUMER.CREATE."+c+".>",
						js+"CONSUMER.MSG.NEXT."+c)
					if a.browse { // only browse allows acks beyond the role's own durables
						p.PublishDeny = append(p.PublishDeny, "$JS.ACK."+c+".>")
					}
				}
			}
		}
	}
	slices.Sort(p.PublishDeny)
	inbox := a.inbox
	if inbox == "" {
		inbox = "_INBOX"
	}
	p.SubscribeAllow = []string{inbox + ".>"}
	if slices.Contains(a.publish, SubjectTickets) {
		// An appender ends its appends in flight when the log elects a new leader.
		p.SubscribeAllow = append(p.SubscribeAllow, events.LeaderElectedSubject)
	}
	return p, nil
}

// IntegrationInboxPrefix is the reply-subject prefix an integration's user must give its
// client (nats --inbox-prefix, nats.CustomInboxPrefix) to get the inbox's JetStream acks.
func IntegrationInboxPrefix(name string) string { return "_INBOX_integration_" + name }

// IntegrationPermissions are the rights of an integration's user: publish to
// inbox.<tenant>.<name> for each of its tenants (["*"]: every tenant), and subscribe to
// the outcomes of what it published there (outcomes.<tenant>.<name>.>) and to its replies.
// The subject names the integration, so the intake knows who published a message: the
// server refuses every other user but admin. name and tenants are tokens (events.ValidToken).
func IntegrationPermissions(name string, tenants []string) (Permissions, error) {
	if !events.ValidToken(name) {
		return Permissions{}, fmt.Errorf("natsauth: integration name %q: 1-64 letters, digits, '-' or '_'", name)
	}
	if len(tenants) == 0 {
		return Permissions{}, errors.New(`natsauth: an integration needs tenants (or exactly ["*"] for all)`)
	}
	p := Permissions{InboxPrefix: IntegrationInboxPrefix(name), SubscribeAllow: []string{IntegrationInboxPrefix(name) + ".>"}}
	for _, t := range tenants {
		if t == "*" && len(tenants) > 1 || t != "*" && !events.ValidToken(t) {
			return Permissions{}, fmt.Errorf(`natsauth: integration tenant %q: a tenant token, or exactly ["*"] for all`, t)
		}
		p.PublishAllow = append(p.PublishAllow, "inbox."+t+"."+name)
		p.SubscribeAllow = append(p.SubscribeAllow, "outcomes."+t+"."+name+".>")
	}
	return p, nil
}
