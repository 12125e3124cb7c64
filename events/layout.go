package events

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// LogLayout is the layout of the ticket log this release reads and writes, recorded in
// the TICKETS stream's metadata (MetadataLogLayout):
//
//   - Layout 1 (the releases before partitions, no metadata): each event stored on
//     tickets.<tenant>.<ticket>.
//   - Layout 2: writers publish tickets.<tenant>.<ticket> (Subject); the stream's subject
//     transform stores each event on tickets.<p>.<tenant>.<ticket> (StoredSubject), p the
//     ticket's partition in [0, N): nats-server's partition(N,1,2), FNV-1a of tenant and
//     ticket id modulo N. N is recorded beside it (MetadataPartitions).
//
// NB: a persisted format. A released layout never changes; a new one gets a new number.
const LogLayout = 2

// The TICKETS stream's metadata that records its layout. NB: persisted names and values;
// never change them, and never change them on a stream (EnsureStream refuses).
const (
	MetadataLogLayout  = "ledgerdesk.log_layout"
	MetadataPartitions = "ledgerdesk.partitions"
)

// metadataPrefix marks the metadata keys that are part of a stream's layout.
const metadataPrefix = "ledgerdesk."

// DefaultPartitions is the number of partitions of a new ticket log. Choose N when a log
// is created (StoreConfig.Partitions, `ledgerdesk run --partitions`, `ledgerdesk nats
// provision --partitions`): at least the most replicas you will ever run of one service,
// times a few, so that replicas split the partitions evenly and a stopped replica's share
// spreads over the others. More partitions cost one durable consumer each per ticket
// handler of each service, and larger NATS credentials; each durable consumer writes its
// state, synced, up to ten times a second while it consumes, on the disk the log's
// appends fsync on (measured on 2 cores and one disk, `ledgerdesk run` with every
// service: intake took about 1,100 tickets/s at 4 partitions, 1,000 at 8, 560 at 16).
// NB: N can never change for a log, that is for a data directory: a ticket's events must
// stay in one partition.
const DefaultPartitions = 4

// MaxPartitions is the most partitions a log may have: partition consumer names carry
// two digits (PartitionConsumer), and every role's credentials list its consumers.
const MaxPartitions = 100

// ErrLayout is returned (wrapped, naming the layout found and the one wanted) for a
// stream whose layout — its subject transform and its ledgerdesk.* metadata, fixed when
// it is created — is not the one wanted: by OpenStore and Provision for a TICKETS stream
// of another layout or partition count, by EnsureStream for an update that would change
// a stream's layout.
var ErrLayout = errors.New("events: stream layout mismatch")

// StoredSubject is the subject an event of a ticket is stored on in partition p:
// tickets.<p>.<tenant>.<ticket>.
func StoredSubject(p int, tenant, ticketID string) string {
	return SubjectPrefix + "." + strconv.Itoa(p) + "." + tenant + "." + ticketID
}

// ParseStoredSubject splits a stored ticket subject (StoredSubject) into its partition,
// tenant and ticket id.
func ParseStoredSubject(subject string) (p int, tenant, ticketID string, err error) {
	tokens := strings.Split(subject, ".")
	if len(tokens) != 4 || tokens[0] != SubjectPrefix {
		return 0, "", "", fmt.Errorf("subject %q is not a stored ticket subject %s.<partition>.<tenant>.<ticket>", subject, SubjectPrefix)
	}
	p, err = strconv.Atoi(tokens[1])
	if err != nil || p < 0 || p >= MaxPartitions || strconv.Itoa(p) != tokens[1] {
		return 0, "", "", fmt.Errorf("subject %q: partition %q is not a number from 0 to %d", subject, tokens[1], MaxPartitions-1)
	}
	return p, tokens[2], tokens[3], nil
}

// PartitionFilter is the filter subject of every event stored in partition p.
func PartitionFilter(p int) string { return SubjectPrefix + "." + strconv.Itoa(p) + ".>" }

// TenantFilter is the filter subject of every event of a tenant, in every partition.
func TenantFilter(tenant string) string { return SubjectPrefix + ".*." + tenant + ".>" }

// TicketFilter is the filter subject of every message stored under a ticket id, under
// any tenant (a message under another tenant's subject is refused by every reader).
func TicketFilter(ticketID string) string { return SubjectPrefix + ".*.*." + ticketID }

// PartitionConsumer is the name of the durable consumer of partition p of a consumer
// base name (<service>-<handler>): base-<pp>, the partition in two digits, so that the
// names sort by partition (routing-tickets-00 … routing-tickets-15). NB: persisted
// names (a consumer's position in the log); never change the form.
func PartitionConsumer(base string, p int) string { return fmt.Sprintf("%s-%02d", base, p) }

// subjectTransform stores every ticket event in its partition of n.
func subjectTransform(n int) *jetstream.SubjectTransformConfig {
	return &jetstream.SubjectTransformConfig{
		Source:      SubjectPrefix + ".*.*",
		Destination: fmt.Sprintf("%s.{{partition(%d,1,2)}}.{{wildcard(1)}}.{{wildcard(2)}}", SubjectPrefix, n),
	}
}

// layoutMetadata is the metadata that records layout LogLayout with n partitions.
func layoutMetadata(n int) map[string]string {
	return map[string]string{MetadataLogLayout: strconv.Itoa(LogLayout), MetadataPartitions: strconv.Itoa(n)}
}

// validPartitions checks a partition count.
func validPartitions(n int) error {
	if n < 1 || n > MaxPartitions {
		return fmt.Errorf("events: %d partitions: must be from 1 to %d", n, MaxPartitions)
	}
	return nil
}

// ticketsPartitions reads the partition count of an existing TICKETS stream from its
// configuration, checking that its layout is LogLayout and, when want is not 0, that it
// has want partitions; else ErrLayout, saying what to do.
func ticketsPartitions(c jetstream.StreamConfig, want int) (int, error) {
	layout := c.Metadata[MetadataLogLayout]
	if layout == "" && c.SubjectTransform == nil {
		layout = "1"
	}
	if layout != strconv.Itoa(LogLayout) {
		return 0, fmt.Errorf("%w: stream %s has log layout %s, this release reads and writes layout %d "+
			"(events stored on %s.<partition>.<tenant>.<ticket>); a log cannot be migrated in place (it denies delete and purge, "+
			"and its sequences are the tickets' versions and the read models' checkpoints): start this release on a fresh "+
			"data directory (or NATS account); the release that wrote it still reads the old one",
			ErrLayout, StreamName, layoutName(layout), LogLayout, SubjectPrefix)
	}
	n, err := strconv.Atoi(c.Metadata[MetadataPartitions])
	if err == nil {
		err = validPartitions(n)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: stream %s: metadata %s %q: %v", ErrLayout, StreamName, MetadataPartitions, c.Metadata[MetadataPartitions], err)
	}
	if got, want := transformName(c.SubjectTransform), transformName(subjectTransform(n)); got != want {
		return 0, fmt.Errorf("%w: stream %s records %d partitions, but its subject transform is %s, want %s: "+
			"it was changed behind ledgerdesk's back; restore it", ErrLayout, StreamName, n, got, want)
	}
	if want != 0 && want != n {
		return 0, fmt.Errorf("%w: stream %s has %d partitions, the setting asks for %d: a log's partition count never changes "+
			"(a ticket's events stay in one partition); leave the setting unset to use the stream's, or set it to %d",
			ErrLayout, StreamName, n, want, n)
	}
	return n, nil
}

// layoutName names a layout for an error: "1" is the unpartitioned one.
func layoutName(layout string) string {
	if layout == "1" {
		return "1 (one subject per ticket, tickets.<tenant>.<ticket>: a release before partitions)"
	}
	return strconv.Quote(layout)
}

// LayoutChanges lists how changing a stream from cur to next would change its layout,
// which is fixed when it is created: its subject transform, and the metadata under
// "ledgerdesk." (the log layout and partition count of TICKETS). None is the empty list.
func LayoutChanges(cur, next jetstream.StreamConfig) []string {
	out := transformChanges(cur.SubjectTransform, next.SubjectTransform)
	var keys []string
	for k := range cur.Metadata {
		if strings.HasPrefix(k, metadataPrefix) {
			keys = append(keys, k)
		}
	}
	for k := range next.Metadata {
		if _, ok := cur.Metadata[k]; !ok && strings.HasPrefix(k, metadataPrefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		c, inCur := cur.Metadata[k]
		n, inNext := next.Metadata[k]
		switch {
		case !inNext:
			out = append(out, fmt.Sprintf("metadata %s removed (was %q)", k, c))
		case !inCur:
			out = append(out, fmt.Sprintf("metadata %s %q (from none)", k, n))
		case c != n:
			out = append(out, fmt.Sprintf("metadata %s %q (from %q)", k, n, c))
		}
	}
	return out
}

// transformChanges describes a change of subject transform.
func transformChanges(cur, next *jetstream.SubjectTransformConfig) []string {
	if transformName(cur) == transformName(next) {
		return nil
	}
	return []string{fmt.Sprintf("subject transform %s (from %s)", transformName(next), transformName(cur))}
}

func transformName(t *jetstream.SubjectTransformConfig) string {
	if t == nil {
		return "none"
	}
	return t.Source + " → " + t.Destination
}
