package contractsapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ledgerdesk/ledgerdesk/contracts/schemagen"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// pathParam finds the {name} parameters of a route's path.
var pathParam = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// OpenAPI is the OpenAPI 3.1 document of routes: each with its operation id, summary,
// path and query parameters, request and answer bodies (schemas reflected from their Go
// types) and every problem type it may answer (RFC 9457, httpx.ProblemKinds). The server
// serves the copy in contracts/openapi.json, which services/app's test keeps equal to this
// of the routes it registers.
func OpenAPI(routes []httpx.Route) ([]byte, error) {
	paths := map[string]map[string]any{}
	ids := map[string]bool{}
	for _, r := range routes {
		if ids[r.ID] {
			return nil, fmt.Errorf("contractsapi: operation id %s twice", r.ID)
		}
		ids[r.ID] = true
		op := map[string]any{"operationId": r.ID, "summary": r.Summary}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(r.Path, -1) {
			p := httpx.Param{Name: m[1], Required: true}
			if i := slices.IndexFunc(r.PathParams, func(d httpx.Param) bool { return d.Name == m[1] }); i >= 0 {
				p, p.Required = r.PathParams[i], true
			}
			params = append(params, parameter(p, "path"))
		}
		for _, q := range r.Query {
			params = append(params, parameter(q, "query"))
		}
		if params != nil {
			op["parameters"] = params
		}
		if r.Request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				or(r.RequestType, "application/json"): map[string]any{"schema": schemagen.Inline(r.Request)}}}
		}
		status := r.Status
		if status == 0 {
			status = http.StatusOK
		}
		ok := map[string]any{"description": http.StatusText(status)}
		if status != http.StatusNoContent {
			media := map[string]any{}
			if r.Response != nil {
				media["schema"] = schemagen.Inline(r.Response)
			}
			ok["content"] = map[string]any{or(r.ResponseType, "application/json"): media}
		}
		op["responses"] = map[string]any{strconv.Itoa(status): ok,
			"4XX": map[string]any{"$ref": "#/components/responses/Problem"},
			"5XX": map[string]any{"$ref": "#/components/responses/Problem"}}
		if r.Operation != "" {
			op["x-ledgerdesk-operation"] = r.Operation
		} else {
			op["security"] = []any{}
		}
		if paths[r.Path] == nil {
			paths[r.Path] = map[string]any{}
		}
		paths[r.Path][strings.ToLower(r.Method)] = op
	}
	var types []any
	var kinds []any
	for _, k := range httpx.ProblemKinds() {
		types = append(types, httpx.ProblemTypePrefix+k.Kind)
		kinds = append(kinds, map[string]any{"type": httpx.ProblemTypePrefix + k.Kind, "status": k.Status, "when": k.When})
	}
	problem := schemagen.Inline(httpx.Problem{})
	if props, ok := problem["properties"].(map[string]any); ok {
		props["type"] = map[string]any{"type": "string", "enum": types, "description": "the problem type: x-ledgerdesk-problem-types says when each is answered"}
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "ledgerdesk", "version": "1",
			"description": "The HTTP API of ledgerdesk run. Every /v1/ call needs Authorization: Bearer <token>; a principal's role decides " +
				"the operations (x-ledgerdesk-operation) it may call and its tenants what it sees. Errors are RFC 9457 problems."},
		"servers":  []any{map[string]any{"url": "http://127.0.0.1:8080", "description": "ledgerdesk run's default listener (--http)"}},
		"security": []any{map[string]any{"bearer": []any{}}},
		"paths":    paths, // encoding/json sorts the keys: the document is stable
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer",
				"description": "a token of POST /v1/tokens, or the admin token (data/admin.token)"}},
			"schemas": map[string]any{"Problem": problem},
			"responses": map[string]any{"Problem": map[string]any{"description": "An RFC 9457 problem",
				"content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}},
		},
		"x-ledgerdesk-problem-types": kinds,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func parameter(p httpx.Param, in string) map[string]any {
	schema := map[string]any{"type": "string"}
	if p.Enum != nil {
		schema["enum"] = p.Enum
	}
	out := map[string]any{"name": p.Name, "in": in, "schema": schema}
	if p.Description != "" {
		out["description"] = p.Description
	}
	if p.Required {
		out["required"] = true
	}
	return out
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
