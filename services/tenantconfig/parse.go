package tenantconfig

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Parse reads a configuration document written in YAML or JSON (JSON is YAML). It is
// strict: an unknown or misspelt key, a value of the wrong type, an unparsable duration
// or a repeated key is an error, and every such problem is reported (errors.Join of
// *Problem values, each naming the key's path, e.g. "groups[0].agents[1].emial").
//
// YAML 1.1 reads some unquoted words as booleans (on, off, yes, no, y, n). The key "on"
// of an escalation rule may nevertheless be written unquoted; a value such as a keyword
// "no" must be quoted, and the error says so.
//
// Parse neither fills defaults nor validates the document: call SetDefaults and Validate.
func Parse(data []byte) (Document, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Document{}, &Problem{Reason: "the document is empty"}
	}
	if multipleDocuments(data) {
		return Document{}, &Problem{Reason: "the file holds more than one YAML document (---); write one tenant's document per file"}
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return Document{}, &Problem{Reason: "not valid YAML or JSON: " + strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")}
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return Document{}, &Problem{Reason: "not valid YAML or JSON: " + err.Error()}
	}
	if tree == nil { // only comments
		return Document{}, &Problem{Reason: "the document is empty"}
	}
	root, ok := tree.(map[string]any)
	if !ok {
		return Document{}, &Problem{Reason: "the document must be a mapping of keys (tenant, groups, …), not " + kindOf(tree)}
	}
	restoreOnKeys(root)
	var problems []error
	check(reflect.TypeFor[Document](), root, "", &problems)
	if len(problems) > 0 {
		return Document{}, errors.Join(problems...)
	}
	// The tree now fits the document's types; decode it strictly as the last word.
	js, err = json.Marshal(root)
	if err != nil {
		return Document{}, fmt.Errorf("tenantconfig: re-encode document: %w", err)
	}
	var doc Document
	dec = json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return Document{}, &Problem{Reason: err.Error()}
	}
	return doc, nil
}

var docMarker = regexp.MustCompile(`^(---|\.\.\.)(\s|$)`)

// multipleDocuments reports whether content follows a document marker ("---" or "...")
// that itself follows content: YAMLToJSON would silently read only the first document.
// A leading "---" and a trailing marker with nothing after it are one document.
func multipleDocuments(data []byte) bool {
	docs, content := 0, false
	for line := range strings.Lines(string(data)) {
		t := strings.TrimRight(line, "\r\n")
		if docMarker.MatchString(t) {
			if content {
				docs++
			}
			rest := strings.TrimSpace(t[3:]) // "--- {tenant: a}" starts a document with content
			content = rest != "" && !strings.HasPrefix(rest, "#")
			continue
		}
		trimmed := strings.TrimSpace(t)
		if trimmed != "" && !strings.HasPrefix(trimmed, "#") && !strings.HasPrefix(t, "%") {
			content = true
		}
	}
	if content {
		docs++
	}
	return docs > 1
}

// restoreOnKeys renames the key "true" of escalation rules back to "on": YAML 1.1 reads
// an unquoted on: as the boolean true, which YAMLToJSON writes as "true".
func restoreOnKeys(root map[string]any) {
	rules, _ := root["escalation_rules"].([]any)
	for _, r := range rules {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		if v, ok := m["true"]; ok {
			if _, has := m["on"]; !has {
				delete(m, "true")
				m["on"] = v
			}
		}
	}
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// check walks a decoded JSON value against the Go type it must decode into and appends
// a *Problem for every unknown key, wrong type and value its type refuses.
func check(t reflect.Type, v any, path string, problems *[]error) {
	if v == nil { // null leaves the zero value, as encoding/json does
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	add := func(reason string) { *problems = append(*problems, &Problem{Path: path, Reason: reason}) }
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		raw, err := json.Marshal(v)
		if err == nil {
			err = json.Unmarshal(raw, reflect.New(t).Interface())
		}
		if err != nil {
			add(err.Error())
		}
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return // not used by the document; let encoding/json decide
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			add("want a mapping of keys, got " + kindOf(v))
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			ft, ok := fields[k]
			if !ok {
				*problems = append(*problems, &Problem{Path: join(path, k), Reason: "unknown field " + strconv.Quote(k) + suggest(k, fields)})
				continue
			}
			check(ft, m[k], join(path, k), problems)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			add("want a mapping of keys, got " + kindOf(v))
			return
		}
		for _, k := range sortedKeys(m) {
			check(t.Elem(), m[k], join(path, k), problems)
		}
	case reflect.Slice, reflect.Array:
		l, ok := v.([]any)
		if !ok {
			add("want a list, got " + kindOf(v))
			return
		}
		for i, e := range l {
			check(t.Elem(), e, path+"["+strconv.Itoa(i)+"]", problems)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			add("want a string, got " + kindOf(v) + quoteHint(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			add("want true or false, got " + kindOf(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			add("want a whole number, got " + kindOf(v))
			return
		}
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			add("want a whole number, got " + n.String())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			add("want a whole number, got " + kindOf(v))
			return
		}
		if _, err := strconv.ParseUint(n.String(), 10, t.Bits()); err != nil {
			add("want a whole number ≥ 0, got " + n.String())
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			add("want a number, got " + kindOf(v))
		}
	}
}

// jsonFields maps the JSON names of a struct's fields, with the fields of untagged
// embedded structs promoted, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					if _, shadowed := out[k]; !shadowed {
						out[k] = v
					}
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// suggest names the known field closest to a misspelt key, if one is close: at most two
// edits away, and at most half the key's length, so that a short key such as "xy" is
// not "corrected" to an unrelated "id".
func suggest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", min(2, (len(key)+1)/2)+1
	for _, k := range slices.Sorted(maps.Keys(fields)) { // ties: the same suggestion every time
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + strconv.Quote(best) + "?)"
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "the boolean " + strconv.FormatBool(v)
	case json.Number:
		return "the number " + v.String()
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

func quoteHint(v any) string {
	switch v.(type) {
	case bool:
		return ` (YAML reads unquoted yes, no, on, off, y and n as booleans: quote the value, e.g. "no")`
	case json.Number:
		return ` (quote the value to make it a string)`
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m)) // problems come out in a stable order
}
