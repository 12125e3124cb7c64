package ldproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// Ticket is the part of the API's ticket JSON the suites assert on.
type Ticket struct {
	ID       string `json:"id"`
	Tenant   string `json:"tenant"`
	Title    string `json:"title"`
	State    string `json:"state"`
	Priority string `json:"priority"`
	Version  uint64 `json:"version"`
}

// NewTicketBody is a valid body of POST /v1/tickets for tenant "acme" (priority P2).
func NewTicketBody(title string) []byte {
	b, err := json.Marshal(map[string]any{
		"tenant": "acme", "type": "incident", "title": title, "description": "end-to-end suite",
		"requester": map[string]string{"name": "Ann", "email": "ann@example.com"},
		"impact":    "high", "urgency": "medium", "category": "network", "source": "email",
	})
	if err != nil {
		panic(err) // a literal map always marshals
	}
	return b
}

// Client calls the HTTP API of one Proc. It is safe for concurrent use.
type Client struct {
	base, token string
	http        *http.Client
}

// NewClient returns a client for p with room for conns concurrent keep-alive connections
// and timeout per request.
func NewClient(p *Proc, conns int, timeout time.Duration) *Client {
	return NewClientOf(p.URL, p.Token, conns, timeout)
}

// NewClientOf is NewClient for the API at base (http://host:port) with the bearer token.
func NewClientOf(base, token string, conns int, timeout time.Duration) *Client {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: 30 * time.Second}
	return &Client{base: base, token: token, http: &http.Client{Transport: tr, Timeout: timeout}}
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Created is the answer to POST /v1/tickets.
type Created struct {
	Status   int
	Ticket   Ticket // decoded when Status is 201
	Replayed bool   // Idempotent-Replayed: true — the key had opened a ticket before
}

// Create posts body to /v1/tickets with the Idempotency-Key key (none when empty). err
// is set only when no HTTP answer arrived or a 201 body did not decode.
func (c *Client) Create(ctx context.Context, key string, body []byte) (Created, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/tickets", bytes.NewReader(body))
	if err != nil {
		return Created{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	var out Created
	resp, err := c.do(req, http.StatusCreated, &out.Ticket)
	if resp != nil {
		out.Status, out.Replayed = resp.StatusCode, resp.Header.Get("Idempotent-Replayed") == "true"
	}
	return out, err
}

// Ticket gets /v1/tickets/{id}; the ticket is decoded when the status is 200.
func (c *Client) Ticket(ctx context.Context, id string) (int, Ticket, error) {
	var t Ticket
	status, err := c.get(ctx, "/v1/tickets/"+id, &t)
	return status, t, err
}

// Events gets /v1/tickets/{id}/events; the events are decoded when the status is 200.
func (c *Client) Events(ctx context.Context, id string) (int, []events.Structured, error) {
	var evs []events.Structured
	status, err := c.get(ctx, "/v1/tickets/"+id+"/events", &evs)
	return status, evs, err
}

func (c *Client) get(ctx context.Context, path string, into any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(req, http.StatusOK, into)
	if resp == nil {
		return 0, err
	}
	return resp.StatusCode, err
}

// do sends req with the bearer token, drains and closes the body, and decodes it into
// into when the status is okStatus. The response is nil when no answer arrived.
func (c *Client) do(req *http.Request, okStatus int, into any) (*http.Response, error) {
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode == okStatus {
		if err := json.Unmarshal(body, into); err != nil {
			return resp, fmt.Errorf("%s %s: decode %s: %w", req.Method, req.URL.Path, body, err)
		}
	}
	return resp, nil
}

// Send sends method path with a JSON (or YAML) body and returns the status and the
// response body; err is set only when no answer arrived.
func (c *Client) Send(ctx context.Context, method, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
