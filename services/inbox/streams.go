package inbox

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Wire names. NB: never rename one: they are streams, subjects and a durable consumer
// that hold data (events/natsauth restates them in the role table).
const (
	// StreamName is the stream integrations publish to.
	StreamName = "INBOX"
	// OutcomeStream keeps the outcome of every inbound message.
	OutcomeStream = "OUTCOMES"
	// ReferencesBucket maps external references to tickets.
	ReferencesBucket = "REFERENCES"
	// Consumer is the intake's durable consumer of the inbox.
	Consumer = "intake-inbox"
)

// Retention and limits. NB: documented in README's "Integrate".
const (
	// MaxMessage bounds an inbound message (the NATS body, or one HTTP request): the
	// inbox stream refuses a bigger publish with its reason.
	MaxMessage = 1 << 20
	// InboxRetention is how long the inbox keeps a message: ledgerdesk may be down this
	// long without losing what integrations published.
	InboxRetention = 30 * 24 * time.Hour
	// OutcomeRetention is how long outcomes are kept, and so how long a re-sent ce-id is
	// recognised.
	OutcomeRetention = 400 * 24 * time.Hour
)

// subjectOutcome is where a message's outcome goes.
func subjectOutcome(tenant, integration, key string) string {
	return "outcomes." + tenant + "." + integration + "." + key
}

// StreamConfig is the INBOX stream: inbox.<tenant>.<integration>, file storage, bounded
// messages, a duplicate window for publishers that set Nats-Msg-Id.
func StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: StreamName, Description: "ledgerdesk: what integrations publish (inbox.<tenant>.<integration>)",
		Subjects: []string{"inbox.*.*"}, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
		MaxAge: InboxRetention, MaxMsgSize: MaxMessage, Duplicates: 2 * time.Minute, AllowDirect: true}
}

// OutcomeStreamConfig is the OUTCOMES stream: outcomes.<tenant>.<integration>.<key>.
func OutcomeStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: OutcomeStream, Description: "ledgerdesk: the outcome of every inbound message (outcomes.<tenant>.<integration>.<key>)",
		Subjects: []string{"outcomes.*.*.*"}, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
		MaxAge: OutcomeRetention, Duplicates: 2 * time.Minute, AllowDirect: true,
		AllowAtomicPublish: true} // concurrent outcomes are recorded in atomic batches
}

// ReferencesBucketConfig is the REFERENCES bucket: <tenant>.<reference key> → ticket id.
func ReferencesBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: ReferencesBucket, Description: "ledgerdesk: external references of tickets",
		Storage: jetstream.FileStorage, History: 1}
}
