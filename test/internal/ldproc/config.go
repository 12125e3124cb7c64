package ldproc

import (
	"context"
	"net/http"
	"testing"
)

// DeskConfig is tenant acme's configuration for the suites that drive tickets through
// the pipeline: every ticket goes to one group of eight agents in turn and gets a 24x7
// SLA, so each ticket gets exactly one routed, one assigned and one sla_attached.
const DeskConfig = `
tenant: acme
sla_policies:
  - { id: all, response: 1h, resolution: 8h }
groups:
  - id: desk
    tier: 1
    agents: [{ id: a1 }, { id: a2 }, { id: a3 }, { id: a4 }, { id: a5 }, { id: a6 }, { id: a7 }, { id: a8 }]
default_group: desk
`

// ConfigureDesk applies DeskConfig through c's HTTP API; any answer but 200 fails t.
func ConfigureDesk(ctx context.Context, t testing.TB, c *Client) {
	t.Helper()
	if status, body, err := c.Send(ctx, http.MethodPut, "/v1/tenants/acme/config", "application/yaml", []byte(DeskConfig)); err != nil || status != http.StatusOK {
		t.Fatalf("configure tenant acme: %d %s %v", status, body, err)
	}
}
