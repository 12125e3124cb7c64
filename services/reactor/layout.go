package reactor

import "github.com/ledgerdesk/ledgerdesk/events"

// partitions is how many partitions the ticket log has (its stream's).
func (s *Service) partitions() int { return s.store.Partitions() }

// partitionFilter is the subject filter of one partition of the ticket log.
func partitionFilter(p int) string { return events.PartitionFilter(p) }

// partitionConsumer names a handler's durable consumer of one partition.
func partitionConsumer(base string, p int) string { return events.PartitionConsumer(base, p) }
