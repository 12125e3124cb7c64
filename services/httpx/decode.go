package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxBody is the largest request body accepted (1 MiB); larger ones get 413.
const MaxBody = 1 << 20

// DecodeJSON strictly decodes the request body into dst: at most MaxBody bytes, exactly
// one JSON value, no unknown fields. An empty body decodes as {} when allowEmpty. Errors
// are *Problem values naming the offending field where there is one.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any, allowEmpty bool) error {
	body, err := ReadBody(w, r)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if allowEmpty {
			return nil
		}
		return NewProblem(http.StatusBadRequest, KindMalformedJSON, "Malformed JSON", "the request body is empty")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonProblem(err)
	}
	if dec.More() {
		return NewProblem(http.StatusBadRequest, KindMalformedJSON, "Malformed JSON", "the body holds more than one JSON value")
	}
	return nil
}

// ReadBody reads at most MaxBody bytes of the request body; a larger body is a 413 problem.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, ProblemFor(err)
		}
		return nil, NewProblem(http.StatusBadRequest, KindMalformedJSON, "Unreadable body", err.Error())
	}
	return body, nil
}

func jsonProblem(err error) *Problem {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return NewProblem(http.StatusBadRequest, KindMalformedJSON, "Malformed JSON", fmt.Sprintf("syntax error at byte %d: %v", syntax.Offset, err))
	case errors.As(err, &typ):
		field := jsonFieldPath(typ.Field)
		p := NewProblem(http.StatusBadRequest, KindValidation, "Invalid field", fmt.Sprintf("%s: must be a JSON %s", field, typ.Type))
		p.Field = field
		return p
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		p := NewProblem(http.StatusBadRequest, KindValidation, "Unknown field", field+": not a field of this request")
		p.Field = field
		return p
	}
	return NewProblem(http.StatusBadRequest, KindMalformedJSON, "Malformed JSON", err.Error())
}

// jsonFieldPath drops the Go names of embedded structs from a decoder's field path
// ("Opened.requester.name" → "requester.name"): JSON names in this API are lower case.
func jsonFieldPath(path string) string {
	parts := strings.Split(path, ".")
	for len(parts) > 1 && parts[0] != "" && parts[0][0] >= 'A' && parts[0][0] <= 'Z' {
		parts = parts[1:]
	}
	return strings.Join(parts, ".")
}
