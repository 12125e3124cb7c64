package contracts

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
)

// AsyncAPIPath is where the HTTP API serves the AsyncAPI document.
const AsyncAPIPath = "/v1/contracts/asyncapi.json"

// Channel is one NATS channel of the AsyncAPI document: its address (a subject with
// {parameters}), what it carries, and the roles (events/natsauth) that send on it and
// receive from it. NB: the one table of ledgerdesk's channels; TestChannelsAreTheRoles
// checks it against the role table, which the server enforces.
type Channel struct {
	ID, Address, Description string
	Parameters               map[string]string
	Messages                 []string // ids of components.messages
	Send, Receive            []natsauth.Role
}

// writers are the roles that append ticket events; readers, the roles that read them.
var (
	writers = []natsauth.Role{natsauth.RoleIntake, natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation}
	readers = []natsauth.Role{natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation, natsauth.RoleReporting, natsauth.RoleAuditor}
)

// Channels lists ledgerdesk's channels.
func Channels() []Channel {
	tenant, ticket := "a tenant (letters, digits, - and _)", "a ticket id (a UUIDv7 as intake mints them)"
	service := "the service's role: routing, sla, escalation or reporting"
	return []Channel{
		{ID: "ticketEvents", Address: "tickets.{tenant}.{ticket}",
			Description: "Ticket events as writers publish them: one CloudEvent in binary mode a message (ce-* headers, the data as the body), " +
				"appended with optimistic concurrency on the ticket (Nats-Expected-Last-Subject-Sequence) and deduplicated by Nats-Msg-Id = ce-id. " +
				"The TICKETS stream stores them on tickets.{partition}.{tenant}.{ticket}; nothing is stored that is published there directly.",
			Parameters: map[string]string{"tenant": tenant, "ticket": ticket},
			Messages:   events.Types(), Send: writers},
		{ID: "storedTicketEvents", Address: "tickets.{partition}.{tenant}.{ticket}",
			Description: "The ticket log as the TICKETS stream stores it (deny delete, deny purge): partition is the ticket's, " +
				"partition(N,1,2) of tenant and ticket. Readers check every event's hash chain (ce-hash, ce-prevhash) before acting on it.",
			Parameters: map[string]string{"partition": "0 to N-1, N the log's partition count (stream metadata ledgerdesk.partitions)",
				"tenant": tenant, "ticket": ticket},
			Messages: events.Types(), Receive: readers},
		{ID: "tenantConfig", Address: "config.{tenant}",
			Description: "A tenant's configuration, each version a message of the CONFIG stream (PUT /v1/tenants/{tenant}/config).",
			Parameters:  map[string]string{"tenant": tenant},
			Messages:    []string{"tenantConfig"}, Send: []natsauth.Role{natsauth.RoleIntake},
			Receive: []natsauth.Role{natsauth.RoleIntake, natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation, natsauth.RoleReporting, natsauth.RoleAuditor}},
		{ID: "accessEvents", Address: "access.{principal}",
			Description: "API principals granted and revoked (POST and DELETE /v1/tokens), one subject a principal, in the ACCESS stream.",
			Parameters:  map[string]string{"principal": "the principal's id"},
			Messages:    []string{events.TypeAccessGranted, events.TypeAccessRevoked}, Send: []natsauth.Role{natsauth.RoleIntake},
			Receive: []natsauth.Role{natsauth.RoleIntake, natsauth.RoleReporting, natsauth.RoleAuditor}},
		{ID: "deadLetters", Address: "deadletter.{service}",
			Description: "What a service gave up on or refused, in the DEADLETTER stream: the original message's body and headers with the reason.",
			Parameters:  map[string]string{"service": service},
			Messages:    []string{"deadLetter"},
			Send:        []natsauth.Role{natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation, natsauth.RoleReporting},
			Receive:     []natsauth.Role{natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation, natsauth.RoleReporting, natsauth.RoleAuditor}},
		{ID: "slaSchedules", Address: "sla.schedule.{tenant}.{ticket}",
			Description: "A ticket's next SLA instant, a JetStream message schedule of the SLA_TIMERS stream; a newer one replaces the older.",
			Parameters:  map[string]string{"tenant": tenant, "ticket": ticket},
			Messages:    []string{"slaSchedule"}, Send: []natsauth.Role{natsauth.RoleSLA}},
		{ID: "slaDue", Address: "sla.due.{tenant}.{ticket}",
			Description: "A fired SLA schedule, which the SLA service consumes durably (sla-timers).",
			Parameters:  map[string]string{"tenant": tenant, "ticket": ticket},
			Messages:    []string{"slaDue"}, Receive: []natsauth.Role{natsauth.RoleSLA}},
		{ID: "replicaLeases", Address: "$KV." + natsauth.BucketMembers + ".{service}.{instance}",
			Description: "A running replica's lease in the KV bucket " + natsauth.BucketMembers + ", put every second; replicas split the partitions by them.",
			Parameters:  map[string]string{"service": "routing, sla or escalation", "instance": "the replica's id"},
			Messages:    []string{"lease"}, Send: []natsauth.Role{natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation},
			Receive: []natsauth.Role{natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation, natsauth.RoleAuditor}},
		{ID: "inbox", Address: "inbox.{tenant}.{integration}",
			Description: "What integrations publish, in the INBOX stream (a JetStream publish: the ack says it is stored): one CloudEvent a message, " +
				"binary mode (ce-* headers, the data as the body) or structured (application/cloudevents+json). Each integration's user may publish " +
				"only under its own name and tenants (ledgerdesk nats integration), so the subject says who sent it. Every message gets an outcome.",
			Parameters: map[string]string{"tenant": tenant, "integration": "the integration's name, as its credentials were issued"},
			Messages:   events.InboundTypeNames(), Send: []natsauth.Role{natsauth.RoleIntegration},
			Receive: []natsauth.Role{natsauth.RoleIntake, natsauth.RoleAuditor}},
		{ID: "outcomes", Address: "outcomes.{tenant}.{integration}.{key}",
			Description: "The outcome of every inbound message (accepted with its ticket, or rejected with an RFC 9457 problem), in the OUTCOMES stream; " +
				"the integration may subscribe to its own. GET /v1/events/outcome looks one up by ce-source and ce-id.",
			Parameters: map[string]string{"tenant": tenant, "integration": "the integration's name",
				"key": "32 hex digits of SHA-256 over tenant, integration, ce-source and ce-id"},
			Messages: []string{"outcome"}, Send: []natsauth.Role{natsauth.RoleIntake},
			Receive: []natsauth.Role{natsauth.RoleIntegration, natsauth.RoleIntake, natsauth.RoleAuditor}},
		{ID: "references", Address: "$KV." + natsauth.BucketReferences + ".{tenant}.{key}",
			Description: "External references (an inbound message's ce-source and external_id) and the ticket each names, in the KV bucket " + natsauth.BucketReferences + ".",
			Parameters:  map[string]string{"tenant": tenant, "key": "32 hex digits of SHA-256 over tenant, ce-source and external_id"},
			Messages:    []string{"reference"}, Send: []natsauth.Role{natsauth.RoleIntake},
			Receive: []natsauth.Role{natsauth.RoleIntake, natsauth.RoleAuditor}},
		{ID: "evidence", Address: "evidence.{tenant}.{kind}.{key}",
			Description: "The tenants' evidence as the intake records it from inbound messages, in the EVIDENCE stream (deny delete, deny purge): " +
				"backup results on evidence.{tenant}.backup.{system key}.{status}, patch scans on evidence.{tenant}.patch.{device key}; " +
				"the monthly summary's backup and patch sections are read from it.",
			Parameters: map[string]string{"tenant": tenant, "kind": "backup or patch",
				"key": "32 hex digits of SHA-256 of the system's or device's name (and, for a backup, .{status})"},
			Messages: []string{events.TypeEvidenceBackup, events.TypeEvidencePatch}, Send: []natsauth.Role{natsauth.RoleIntake},
			Receive: []natsauth.Role{natsauth.RoleReporting, natsauth.RoleAuditor}},
		{ID: "checkpoints", Address: natsauth.SubjectCheckpoints,
			Description: "Signed checkpoints of the ticket log's Merkle tree (RFC 6962; a leaf per message of TICKETS in stream order), " +
				"in the CHECKPOINTS stream (deny delete, deny purge), oldest first: reporting signs one every few seconds while the log grows.",
			Messages: []string{"checkpoint"}, Send: []natsauth.Role{natsauth.RoleReporting},
			Receive: []natsauth.Role{natsauth.RoleReporting, natsauth.RoleAuditor}},
		{ID: "routingSnapshotChunks", Address: "$O." + natsauth.BucketRoutingSnapshots + ".C.{nuid}",
			Description: "The chunks of routing's view snapshot, an object of the object store bucket " + natsauth.BucketRoutingSnapshots + ".",
			Parameters:  map[string]string{"nuid": "the object version's id"},
			Messages:    []string{"objectChunk"}, Send: []natsauth.Role{natsauth.RoleRouting}, Receive: []natsauth.Role{natsauth.RoleRouting, natsauth.RoleAuditor}},
		{ID: "routingSnapshotMeta", Address: "$O." + natsauth.BucketRoutingSnapshots + ".M.{name}",
			Description: "The metadata of routing's view snapshot (its size, digest and chunks).",
			Parameters:  map[string]string{"name": "the object's name, base64url (view)"},
			Messages:    []string{"objectMeta"}, Send: []natsauth.Role{natsauth.RoleRouting}, Receive: []natsauth.Role{natsauth.RoleRouting, natsauth.RoleAuditor}},
	}
}

// describedString is the schema of a string header with its description.
func describedString(desc string) map[string]any {
	return map[string]any{"type": "string", "description": desc}
}

// ceHeaders is the schema of the CloudEvents binary-mode headers of a ticket event.
func ceHeaders() map[string]any {
	str := describedString
	return map[string]any{"type": "object",
		"required": []string{events.HeaderSpecVersion, events.HeaderID, events.HeaderSource, events.HeaderType, events.HeaderSubject,
			events.HeaderTime, events.HeaderDataContentType, events.HeaderTenant, events.HeaderActor, events.HeaderHash},
		"properties": map[string]any{
			events.HeaderSpecVersion:     map[string]any{"const": events.SpecVersion},
			events.HeaderID:              str("the event's id, also Nats-Msg-Id"),
			events.HeaderSource:          str("who appended it: /ledgerdesk/<service>"),
			events.HeaderType:            str("the event type, one of the messages of the channel"),
			events.HeaderSubject:         str("the ticket id"),
			events.HeaderTime:            map[string]any{"type": "string", "format": "date-time"},
			events.HeaderDataContentType: map[string]any{"const": events.DataContentType},
			events.HeaderTenant:          str("the tenant"),
			events.HeaderActor:           str("the principal that caused it: admin:<name>, agent:<name>, integration:<name>, service:<name>"),
			events.HeaderCorrelationID:   str("the request or alert the event belongs to"),
			events.HeaderCausationID:     str("the event or request that caused it"),
			events.HeaderPrevHash:        str("ce-hash of the ticket's previous event; none on its first"),
			events.HeaderHash:            str("hex SHA-256 of the event's canonical encoding, prevhash included (the hash chain)"),
		}}
}

// inboundHeaders is the schema of an inbound message's CloudEvents headers in binary mode.
func inboundHeaders() map[string]any {
	str := describedString
	return map[string]any{"type": "object",
		"required": []string{events.HeaderSpecVersion, events.HeaderID, events.HeaderSource, events.HeaderType},
		"properties": map[string]any{
			events.HeaderSpecVersion:     map[string]any{"const": events.SpecVersion},
			events.HeaderID:              str("unique per ce-source: a repeat is answered with the first outcome, never applied twice"),
			events.HeaderSource:          str("the sending system, a URI reference (e.g. //zabbix.acme.example); with external_id it keys a reference"),
			events.HeaderType:            str("the inbound message type, one of the messages of the channel"),
			events.HeaderTime:            map[string]any{"type": "string", "format": "date-time"},
			events.HeaderDataContentType: map[string]any{"const": events.DataContentType},
			events.HeaderCorrelationID:   str("optional: the correlation id the events it causes carry (default: ce-id)"),
		}}
}

// AsyncAPI is the AsyncAPI 3.0 document of ledgerdesk's channels, as JSON. The payload of
// a ticket event refers to its data schema at SchemaPath, relative to AsyncAPIPath.
func AsyncAPI() ([]byte, error) {
	messages := map[string]any{}
	for _, t := range events.PayloadTypes() {
		messages[t.EventType] = map[string]any{"name": t.EventType, "contentType": events.DataContentType,
			"headers": map[string]any{"$ref": "#/components/schemas/cloudEventsHeaders"},
			"payload": map[string]any{"$ref": strings.TrimPrefix(SchemaPath(t.EventType), "/v1/contracts/")}}
	}
	for _, t := range events.InboundTypes() {
		messages[t.Type] = map[string]any{"name": t.Type, "contentType": events.DataContentType,
			"summary": "Asks the intake to: " + t.Does + ".",
			"headers": map[string]any{"$ref": "#/components/schemas/inboundCloudEventsHeaders"},
			"payload": map[string]any{"$ref": strings.TrimPrefix(SchemaPath(t.Type), "/v1/contracts/")}}
	}
	other := func(desc, contentType string) map[string]any {
		return map[string]any{"contentType": contentType, "description": desc}
	}
	messages["tenantConfig"] = other("A tenant configuration document (GET /v1/tenants/{tenant}/config shows it).", "application/json")
	messages[events.TypeAccessGranted] = other("A principal granted: id, name, role, tenants and the SHA-256 of its token, never the token.", "application/json")
	messages[events.TypeAccessRevoked] = other("A principal revoked: its id.", "application/json")
	messages["deadLetter"] = other("The original message, its headers kept, with the reason and the handler that gave up.", "application/octet-stream")
	messages["slaSchedule"] = other("A message schedule: Nats-Schedule (@at <time>) and Nats-Schedule-Target (the slaDue subject).", "application/json")
	messages["slaDue"] = other("A fired schedule; its subject names the ticket.", "application/json")
	messages["lease"] = other("A replica's host, process id and start time.", "application/json")
	messages["outcome"] = other("The outcome: id, source, type, tenant, integration, status (accepted or rejected), ticket and sequence when accepted, "+
		"problem (RFC 9457, with errors[].field, reason and schema) when rejected, replayed for a repeat, digest and at.", "application/json")
	for stored, inbound := range map[string]string{events.TypeEvidenceBackup: events.TypeInboxBackupResult, events.TypeEvidencePatch: events.TypeInboxPatchScan} {
		messages[stored] = map[string]any{"name": stored, "contentType": events.DataContentType,
			"summary": "Evidence recorded from a " + inbound + " message: its data as received.",
			"payload": map[string]any{"$ref": strings.TrimPrefix(SchemaPath(inbound), "/v1/contracts/")}}
	}
	messages["reference"] = other("The ticket an external reference names: ticket, source, external_id.", "application/json")
	messages["objectChunk"] = other("A chunk of an object's bytes.", "application/octet-stream")
	messages["checkpoint"] = other("A C2SP tlog-checkpoint signed note: origin, tree size, base64 root hash, a blank line and the Ed25519 signature line; "+
		"header "+audit.HeaderVerifierKey+" carries the verifier key.", "text/plain")
	messages["objectMeta"] = other("An object's metadata, as the NATS object store writes it.", "application/json")

	channels, operations := map[string]any{}, map[string]any{}
	for _, c := range Channels() {
		params := map[string]any{}
		for name, desc := range c.Parameters {
			params[name] = map[string]any{"description": desc}
		}
		refs := map[string]any{}
		for _, m := range c.Messages {
			refs[m] = map[string]any{"$ref": "#/components/messages/" + m}
		}
		channels[c.ID] = map[string]any{"address": c.Address, "description": c.Description, "parameters": params, "messages": refs}
		for action, roles := range map[string][]natsauth.Role{"send": c.Send, "receive": c.Receive} {
			if len(roles) == 0 {
				continue
			}
			names := make([]string, len(roles))
			for i, r := range roles {
				names[i] = string(r)
			}
			slices.Sort(names)
			operations[action+strings.ToUpper(c.ID[:1])+c.ID[1:]] = map[string]any{"action": action,
				"channel":            map[string]any{"$ref": "#/channels/" + c.ID},
				"description":        "NATS roles allowed (events/natsauth): " + strings.Join(names, ", "),
				"x-ledgerdesk-roles": names}
		}
	}
	doc := map[string]any{
		"asyncapi": "3.0.0",
		"info": map[string]any{"title": "ledgerdesk", "version": "1",
			"description": "The NATS channels of ledgerdesk: the ticket log and what the services keep beside it. " +
				"Each role connects with its own credentials (data/credentials/<role>.creds); the server refuses what its role may not."},
		"defaultContentType": events.DataContentType,
		"servers":            map[string]any{"embedded": map[string]any{"host": "127.0.0.1:4222", "protocol": "nats", "description": "ledgerdesk run's embedded JetStream (--nats-listen)"}},
		"channels":           channels,
		"operations":         operations,
		"components": map[string]any{"messages": messages,
			"schemas": map[string]any{"cloudEventsHeaders": ceHeaders(), "inboundCloudEventsHeaders": inboundHeaders()}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
