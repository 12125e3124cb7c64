package httpx

import (
	"fmt"
	"net/http"
	"strings"
)

// Route is one route of the HTTP API and what the published OpenAPI document says of it
// (services/contractsapi.OpenAPI). NB: ID is the operationId integrators' generated
// clients are named by: never rename one.
type Route struct {
	Method, Path string // Path is a net/http pattern path, {name} for a path parameter
	ID           string // the operationId, unique
	Summary      string
	// Operation is the access operation that guards it (services/access); "" for an
	// unauthenticated route.
	Operation string
	// PathParams describes its path parameters (each one not described is a string).
	PathParams []Param
	// Query lists its query parameters.
	Query []Param
	// Request is a value of its JSON body's Go type; nil for none. RequestType is the
	// body's content type (default application/json).
	Request     any
	RequestType string
	// Status is its success status (default 200); Response a value of that answer's Go
	// type (nil: no JSON schema, e.g. a document served as it is), ResponseType its
	// content type (default application/json).
	Status       int
	Response     any
	ResponseType string
}

// Param is a path or query parameter.
type Param struct {
	Name, Description string
	Required          bool     // for a query parameter; a path parameter always is
	Enum              []string // its values, when they are a fixed set
}

// Routes is a ServeMux that keeps the routes it serves, for the OpenAPI document and its
// test (every route registered is documented, every documented one served). Anything
// else answers the not-found problem.
type Routes struct {
	mux    *http.ServeMux
	routes []served
}

// served is a route and its handler.
type served struct {
	Route
	h http.Handler
}

func (r Route) pattern() string { return r.Method + " " + r.Path }

// NewRoutes returns an empty table.
func NewRoutes() *Routes {
	rs := &Routes{mux: http.NewServeMux()}
	rs.mux.HandleFunc("/", NotFound)
	return rs
}

// Handle serves r with h.
func (rs *Routes) Handle(r Route, h http.Handler) {
	if r.Method == "" || !strings.HasPrefix(r.Path, "/") || r.ID == "" {
		panic(fmt.Sprintf("httpx: route %+v: method, path and id are required", r))
	}
	rs.mux.Handle(r.pattern(), h)
	rs.routes = append(rs.routes, served{r, h})
}

// Include serves every route of other here too, as other serves it.
func (rs *Routes) Include(other *Routes) {
	for _, s := range other.routes {
		rs.Handle(s.Route, s.h)
	}
}

func (rs *Routes) ServeHTTP(w http.ResponseWriter, r *http.Request) { rs.mux.ServeHTTP(w, r) }

// Pattern is the path pattern of the route that serves r ("/v1/tickets/{id}"), "" when
// none does: a label with as many values as there are routes, whatever the path.
func (rs *Routes) Pattern(r *http.Request) string {
	_, pattern := rs.mux.Handler(r)
	if pattern == "/" { // the not-found catch-all
		return ""
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// List returns the routes, in registration order.
func (rs *Routes) List() []Route {
	out := make([]Route, len(rs.routes))
	for i, s := range rs.routes {
		out[i] = s.Route
	}
	return out
}

// MountOn registers every route on mux, served as here.
func (rs *Routes) MountOn(mux *http.ServeMux) {
	for _, s := range rs.routes {
		mux.Handle(s.pattern(), s.h)
	}
}
