// Package schemagen generates the JSON Schemas of contracts/schemas from the registries
// of event types (events.PayloadTypes) and inbound message types (events.InboundTypes),
// with invopop/jsonschema.
package schemagen

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/invopop/jsonschema"

	"github.com/ledgerdesk/ledgerdesk/contracts"
	"github.com/ledgerdesk/ledgerdesk/events"
)

// enums are the values of the enumerated string types, as Decide allows them.
var enums = map[reflect.Type][]string{
	reflect.TypeFor[events.TicketType]():   strs(events.TicketTypes()),
	reflect.TypeFor[events.Level]():        strs(events.Levels()),
	reflect.TypeFor[events.Priority]():     strs(events.Priorities()),
	reflect.TypeFor[events.HoldReason]():   strs(events.HoldReasons()),
	reflect.TypeFor[events.LinkKind]():     strs(events.LinkKinds()),
	reflect.TypeFor[events.AlertStatus]():  strs(events.AlertStatuses()),
	reflect.TypeFor[events.BackupStatus](): strs(events.BackupStatuses()),
}

func strs[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// enumMapper gives the enumerated string types their values.
func enumMapper(rt reflect.Type) *jsonschema.Schema {
	values, ok := enums[rt]
	if !ok {
		return nil
	}
	s := &jsonschema.Schema{Type: "string"}
	for _, v := range values {
		s.Enum = append(s.Enum, v)
	}
	return s
}

// Reflect generates the schema of a payload type's data from its Go type (see reflectType).
func Reflect(t events.PayloadType) ([]byte, error) {
	return reflectType(t.EventType, t.Go, description(t))
}

// ReflectInbound generates the schema of an inbound message type's data from its Go type.
func ReflectInbound(t events.InboundType) ([]byte, error) {
	return reflectType(t.Type, t.Go, "The data of a "+t.Type+" message, which "+t.Does+
		" (publish it to inbox.<tenant>.<integration>, or POST it to /v1/events).")
}

// reflectType generates the schema of a type's data from its Go type: its JSON field
// names; required unless omitempty; no other fields; the enumerated types' values; times
// as date-time.
func reflectType(name string, goType reflect.Type, desc string) ([]byte, error) {
	r := &jsonschema.Reflector{Mapper: enumMapper}
	s := r.ReflectFromType(goType)
	s.ID = jsonschema.ID(contracts.SchemaPath(name))
	s.Title = name
	s.Description = desc
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("contracts: schema of %s: %w", name, err)
	}
	return append(b, '\n'), nil
}

// description says who appends events of the type.
func description(t events.PayloadType) string {
	if t.Command == "" {
		return "The data of a " + t.EventType + " event, appended by a ledgerdesk service as the effect of another event."
	}
	return "The data of a " + t.EventType + " event, appended by the " + t.Command + " command."
}

// Inline is the JSON Schema of a Go value's type with every definition inline (no $ref),
// the enumerated types' values listed and times as date-time: a body of the OpenAPI
// document (services/contractsapi).
func Inline(v any) map[string]any {
	r := &jsonschema.Reflector{DoNotReference: true, Mapper: enumMapper}
	s := r.Reflect(v)
	s.Version, s.ID = "", ""
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("schemagen: schema of %T: %v", v, err)) // a reflected schema always encodes
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("schemagen: schema of %T: %v", v, err))
	}
	return out
}
