package contracts_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ledgerdesk/ledgerdesk/contracts"
	"github.com/ledgerdesk/ledgerdesk/contracts/schemagen"
	"github.com/ledgerdesk/ledgerdesk/events"
)

var writeSchemas = flag.Bool("write-schemas", false, "write the schema files of registered types that have none (never overwrites one)")

// TestSchemasAreTheRegistrys: every registered type has its schema file, exactly what
// schemagen.Reflect makes of its Go type today, and every file belongs to a registered type. A
// released type's schema never changes: a difference means the Go type changed, which
// needs a new type version instead.
func TestSchemasAreTheRegistrys(t *testing.T) {
	have := typesIn(t, "schemas", ".schema.json")
	type generated struct {
		name   string
		schema func() ([]byte, error)
	}
	var all []generated
	for _, pt := range events.PayloadTypes() {
		all = append(all, generated{pt.EventType, func() ([]byte, error) { return schemagen.Reflect(pt) }})
	}
	for _, it := range events.InboundTypes() {
		all = append(all, generated{it.Type, func() ([]byte, error) { return schemagen.ReflectInbound(it) }})
	}
	var names []string
	for _, g := range all {
		names = append(names, g.name)
		want, err := g.schema()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("schemas", g.name+".schema.json")
		if !slices.Contains(have, g.name) && *writeSchemas {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			have = append(have, g.name)
		}
		got, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s has no schema file: write it with go test ./contracts -run TestSchemasAreTheRegistrys -write-schemas", g.name)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("the Go type of released type %s no longer has its published schema %s: a released type never changes; "+
				"add a new version of the type (and an upcaster) instead.\nits Go type now gives:\n%s", g.name, path, want)
		}
		if served, ok := contracts.EventSchema(g.name); !ok || !bytes.Equal(served, got) {
			t.Errorf("EventSchema(%s) does not serve %s", g.name, path)
		}
	}
	for _, f := range have {
		if !slices.Contains(names, f) {
			t.Errorf("schemas/%s.schema.json belongs to no registered type", f)
		}
	}
	if _, ok := contracts.EventSchema("../golden/" + events.TypeOpened); ok {
		t.Error("EventSchema served a file outside schemas/")
	}
}

// compiled is every registered type's schema, compiled.
func compiled(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	out := map[string]*jsonschema.Schema{}
	for _, typ := range append(events.Types(), events.InboundTypeNames()...) {
		b, ok := contracts.EventSchema(typ)
		if !ok {
			t.Fatalf("no schema of %s", typ)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		url := "https://ledgerdesk.invalid" + contracts.SchemaPath(typ)
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
		if out[typ], err = c.Compile(url); err != nil {
			t.Fatalf("compile the schema of %s: %v", typ, err)
		}
	}
	return out
}

func instance(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGoldenPayloadsMatchTheirSchemas: every golden payload is valid against its type's
// schema, and the schemas are strict: an unknown field, a missing required one or a value
// outside an enumeration is refused.
func TestGoldenPayloadsMatchTheirSchemas(t *testing.T) {
	schemas := compiled(t)
	for _, typ := range events.Types() {
		raw, err := os.ReadFile(filepath.Join("golden", typ+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas[typ].Validate(instance(t, raw)); err != nil {
			t.Errorf("golden %s: %v", typ, err)
		}
	}
	opened, err := os.ReadFile(filepath.Join("golden", events.TypeOpened+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(opened, &fields); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(map[string]any){
		"an unknown field":        func(m map[string]any) { m["colour"] = "red" },
		"a missing title":         func(m map[string]any) { delete(m, "title") },
		"an impact of none":       func(m map[string]any) { m["impact"] = "none" },
		"a requester without one": func(m map[string]any) { m["requester"] = map[string]any{"name": "x"} },
	} {
		m := map[string]any{}
		for k, v := range fields {
			m[k] = v
		}
		change(m)
		b, _ := json.Marshal(m)
		if err := schemas[events.TypeOpened].Validate(instance(t, b)); err == nil {
			t.Errorf("an opened payload with %s passed its schema", name)
		}
	}
}
