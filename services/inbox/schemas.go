package inbox

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/ledgerdesk/ledgerdesk/contracts"
	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// schemas are the published schemas of the inbound types (contracts/), compiled: every
// message's data is validated against its type's before it is decoded.
type schemas struct{ byType map[string]*jsonschema.Schema }

// schemaBase makes the schemas' $ids absolute for the compiler; reasons name the
// published path (contracts.SchemaPath).
const schemaBase = "https://ledgerdesk.invalid"

func compileSchemas() (*schemas, error) {
	c := jsonschema.NewCompiler()
	s := &schemas{byType: map[string]*jsonschema.Schema{}}
	for _, t := range events.InboundTypes() {
		b, ok := contracts.EventSchema(t.Type)
		if !ok {
			return nil, fmt.Errorf("inbox: no published schema of %s", t.Type)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("inbox: schema of %s: %w", t.Type, err)
		}
		url := schemaBase + contracts.SchemaPath(t.Type)
		if err := c.AddResource(url, doc); err != nil {
			return nil, err
		}
		if s.byType[t.Type], err = c.Compile(url); err != nil {
			return nil, fmt.Errorf("inbox: compile the schema of %s: %w", t.Type, err)
		}
	}
	return s, nil
}

func (s *schemas) known(typ string) bool { _, ok := s.byType[typ]; return ok }

var printer = message.NewPrinter(language.English)

// decode validates data against typ's schema and decodes it; a problem lists every
// reason: each schema violation with the data's field and the schema's path.
func (s *schemas) decode(typ string, data []byte) (events.Inbound, *httpx.Problem) {
	invalid := func(detail string, errs []httpx.FieldError) *httpx.Problem {
		p := httpx.NewProblem(http.StatusBadRequest, httpx.KindSchema, "Data does not match its schema", detail)
		p.Errors = errs
		return p
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, invalid("the data is not JSON: "+err.Error(), nil)
	}
	var ve *jsonschema.ValidationError
	if err := s.byType[typ].Validate(inst); errors.As(err, &ve) {
		var errs []httpx.FieldError
		for _, leaf := range leaves(ve) {
			errs = append(errs, httpx.FieldError{Field: field(leaf.InstanceLocation),
				Reason: leaf.ErrorKind.LocalizedString(printer), Schema: schemaPath(leaf)})
		}
		return nil, invalid(fmt.Sprintf("%d violation(s) of %s", len(errs), contracts.SchemaPath(typ)), errs)
	} else if err != nil {
		return nil, invalid(err.Error(), nil)
	}
	in, err := events.DecodeInbound(typ, data)
	if err != nil {
		pr := httpx.ProblemFor(err)
		if pr.Status >= 500 {
			return nil, invalid(err.Error(), nil)
		}
		return nil, pr
	}
	return in, nil
}

// leaves are the violations that have no causes of their own: the reasons.
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// field names a place in the data as the problem's errors do: data, data.requester.email.
func field(location []string) string {
	return strings.Join(append([]string{"data"}, location...), ".")
}

// schemaPath is the published schema's path and JSON pointer of the violated keyword.
func schemaPath(e *jsonschema.ValidationError) string {
	path := strings.TrimPrefix(e.SchemaURL, schemaBase)
	for _, k := range e.ErrorKind.KeywordPath() {
		if !strings.Contains(path, "#") {
			path += "#"
		}
		path += "/" + k
	}
	return path
}
