package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ledgerdesk/ledgerdesk/services/access"
)

// tokenGroup is `ledgerdesk token`: grant, list and revoke API tokens through /v1/tokens.
type tokenGroup struct {
	Create tokenCreateCmd `cmd:"" help:"grant a token to a principal with a role and tenants; prints the token once"`
	List   tokenListCmd   `cmd:"" help:"list the active tokens, without their secrets"`
	Revoke tokenRevokeCmd `cmd:"" help:"revoke a token: it is refused (401) from then on"`
}

type tokenCreateCmd struct {
	Name      string      `required:"" placeholder:"NAME" help:"the principal's name (1-64 of A-Z a-z 0-9 . _ -)"`
	Role      access.Role `required:"" enum:"admin,agent,integration,auditor" help:"the principal's role: admin, agent, integration or auditor"`
	Tenant    []string    `required:"" help:"a tenant the token may act for (repeat it, or comma-separated; '*' for all)"`
	apiClient `embed:""`
}

func (c *tokenCreateCmd) Run(s *streams) error {
	b, err := json.Marshal(access.Request{Name: c.Name, Role: c.Role, Tenants: c.Tenant})
	if err != nil {
		return err
	}
	answer, err := c.call(http.MethodPost, "/v1/tokens", bytes.NewReader(b), http.StatusCreated)
	if err != nil {
		return err
	}
	var g access.Granted
	if err := json.Unmarshal(answer, &g); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	fmt.Fprintf(s.out, "token: %s\n(shown only now: store it safely; the server keeps its hash only)\n\n", g.Token)
	printPrincipals(s.out, []access.Principal{g.Principal})
	return nil
}

type tokenListCmd struct {
	apiClient `embed:""`
}

func (c *tokenListCmd) Run(s *streams) error {
	answer, err := c.call(http.MethodGet, "/v1/tokens", nil, http.StatusOK)
	if err != nil {
		return err
	}
	var list struct {
		Tokens []access.Principal `json:"tokens"`
	}
	if err := json.Unmarshal(answer, &list); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	printPrincipals(s.out, list.Tokens)
	return nil
}

type tokenRevokeCmd struct {
	ID        string `arg:"" help:"the token's id (ledgerdesk token list shows them)"`
	apiClient `embed:""`
}

func (c *tokenRevokeCmd) Run(s *streams) error {
	if _, err := c.call(http.MethodDelete, "/v1/tokens/"+c.ID, nil, http.StatusNoContent); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "revoked %s\n", c.ID)
	return nil
}

func printPrincipals(w io.Writer, ps []access.Principal) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tTENANTS\tCREATED\tGRANTED BY")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.Role, strings.Join(p.Tenants, ","),
			p.CreatedAt.UTC().Format(time.RFC3339), p.GrantedBy)
	}
	_ = tw.Flush()
}
