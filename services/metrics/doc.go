// Package metrics is ledgerdesk's Prometheus instrumentation
// (github.com/prometheus/client_golang): one Metrics per process, holding a registry of
// its own (no global state: tests run several systems in one process) with the Go and
// process collectors, and the project's families:
//
//	ledgerdesk_http_requests_total{method,route,code}         requests answered, by route pattern and status
//	ledgerdesk_http_request_duration_seconds{method,route}    their latency
//	ledgerdesk_commit_group_events                            events per group commit (one atomic batch, one fsync)
//	ledgerdesk_commit_group_duration_seconds                  a group commit's latency, fsync included
//	ledgerdesk_commit_appends_total{outcome}                  appends answered: stored, duplicate, conflict, failed
//	ledgerdesk_consumer_handled_messages_total{consumer}      messages a durable consumer's handler took
//	ledgerdesk_consumer_handle_duration_seconds{consumer}     time to handle a delivery (a batch, or one message)
//	ledgerdesk_consumer_redeliveries_total{consumer}          messages delivered more than once
//	ledgerdesk_consumer_pending_messages{consumer}            the consumer's lag: messages not yet delivered
//	ledgerdesk_consumer_ack_pending_messages{consumer}        delivered, not yet acknowledged
//	ledgerdesk_dead_letters_total{service,handler}            messages set aside in DEADLETTER
//	ledgerdesk_webhook_deliveries_total{outcome}              webhook notifications: delivered, failed
//	ledgerdesk_sla_timers_pending                             SLA timers scheduled and not yet fired
//	ledgerdesk_projector_checkpoint_lag_events                log events the read models' checkpoint is behind
//
// consumer is the durable consumer's name on the server (routing-tickets-03,
// sla-timers, intake-inbox). The pending gauges, the SLA timers and the projector's lag
// are read from the server when scraped (each read bounded by ScrapeTimeout); a replica
// reports the durable consumers it consumes, so replicas sharing one (intake-inbox,
// sla-timers) report the same figure: aggregate those with max, not sum.
//
// Every method is safe on a nil *Metrics, which records nothing: a component built
// without metrics (a test, a tool) needs no checks.
package metrics
