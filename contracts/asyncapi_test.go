package contracts_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/contracts"
	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
)

// covers reports whether a role's publish subject lies within a channel's address: each
// {parameter} takes one token (a wildcard or a value), every other token is literal, and
// a trailing > stands for parameters only.
func covers(address, subject string) bool {
	at, st := strings.Split(address, "."), strings.Split(subject, ".")
	for i, s := range st {
		if i >= len(at) {
			return false
		}
		param := strings.HasPrefix(at[i], "{")
		switch {
		case s == ">":
			for _, rest := range at[i:] {
				if !strings.HasPrefix(rest, "{") {
					return false
				}
			}
			return true
		case param:
		case s != at[i]:
			return false
		}
	}
	return len(st) == len(at)
}

// TestChannelsAreTheRoles: every subject a service role may publish to (the server
// refuses any other) is a channel of the AsyncAPI document that names the role among its
// senders, and every sender a channel names may publish to it.
func TestChannelsAreTheRoles(t *testing.T) {
	channels := contracts.Channels()
	for _, role := range append(natsauth.Roles(), natsauth.RoleIntegration) {
		if role == natsauth.RoleAdmin {
			continue // break-glass: everything
		}
		perms, err := natsauth.RolePermissions(role, 4)
		if role == natsauth.RoleIntegration {
			perms, err = natsauth.IntegrationPermissions("zabbix", []string{"acme"})
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, subject := range perms.PublishAllow {
			if strings.HasPrefix(subject, "$JS.") || strings.HasPrefix(subject, "$SYS.") {
				continue // JetStream and system API requests, not channels
			}
			if !slices.ContainsFunc(channels, func(c contracts.Channel) bool {
				return slices.Contains(c.Send, role) && covers(c.Address, subject)
			}) {
				t.Errorf("role %s may publish to %s, which no channel it sends on covers", role, subject)
			}
		}
		for _, c := range channels {
			if slices.Contains(c.Send, role) && !slices.ContainsFunc(perms.PublishAllow, func(s string) bool { return covers(c.Address, s) }) {
				t.Errorf("channel %s names %s a sender, but the role may not publish to %s", c.ID, role, c.Address)
			}
		}
	}
}

// TestAsyncAPIDocument: an AsyncAPI 3.0 document whose channels and operations refer to
// what it defines, with a message for every registered event type whose payload is that
// type's published schema.
func TestAsyncAPIDocument(t *testing.T) {
	b, err := contracts.AsyncAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AsyncAPI string `json:"asyncapi"`
		Channels map[string]struct {
			Address  string                       `json:"address"`
			Messages map[string]map[string]string `json:"messages"`
		} `json:"channels"`
		Operations map[string]struct {
			Action  string            `json:"action"`
			Channel map[string]string `json:"channel"`
		} `json:"operations"`
		Components struct {
			Messages map[string]struct {
				Payload map[string]string `json:"payload"`
			} `json:"messages"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.AsyncAPI != "3.0.0" {
		t.Errorf("asyncapi %q", doc.AsyncAPI)
	}
	for id, c := range doc.Channels {
		for name, ref := range c.Messages {
			if _, ok := doc.Components.Messages[strings.TrimPrefix(ref["$ref"], "#/components/messages/")]; !ok || name == "" {
				t.Errorf("channel %s: message %s refers to %q, which the document does not define", id, name, ref["$ref"])
			}
		}
	}
	for id, op := range doc.Operations {
		if _, ok := doc.Channels[strings.TrimPrefix(op.Channel["$ref"], "#/channels/")]; !ok || (op.Action != "send" && op.Action != "receive") {
			t.Errorf("operation %s: %s on %q", id, op.Action, op.Channel["$ref"])
		}
	}
	for _, typ := range events.Types() {
		m, ok := doc.Components.Messages[typ]
		if !ok {
			t.Errorf("no message of event type %s", typ)
			continue
		}
		if got, want := "/v1/contracts/"+m.Payload["$ref"], contracts.SchemaPath(typ); got != want {
			t.Errorf("%s: payload %s, want the published schema %s", typ, got, want)
		}
		if _, ok := doc.Channels["ticketEvents"].Messages[typ]; !ok {
			t.Errorf("ticketEvents does not carry %s", typ)
		}
	}
}
