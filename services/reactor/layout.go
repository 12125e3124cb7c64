package reactor

import "github.com/ledgerdesk/ledgerdesk/events"

// partitions is how many partitions the ticket log has.
func (s *Service) partitions() int { return 1 }

// partitionFilter is the subject filter of one partition of the ticket log.
func partitionFilter(int) string { return events.SubjectPrefix + ".>" }

// partitionConsumer names a handler's durable consumer of one partition.
func partitionConsumer(base string, _ int) string { return base }
