package cli

import (
	"bytes"
	"fmt"
	"net/http"
	"os"

	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// configGroup is `ledgerdesk config`.
type configGroup struct {
	Apply configApplyCmd `cmd:"" help:"validate and apply a tenant configuration document"`
}

// configApplyCmd PUTs a configuration document to /v1/tenants/{tenant}/config and prints
// the answer: the new version, or every problem of an invalid document.
type configApplyCmd struct {
	File      string `arg:"" predictor:"file" help:"the tenant configuration document (YAML, one tenant)"`
	Tenant    string `placeholder:"TENANT" help:"tenant (default: the document's tenant field)"`
	apiClient `embed:""`
}

func (c *configApplyCmd) Run(s *streams) error {
	body, err := os.ReadFile(c.File)
	if err != nil {
		return err
	}
	tenant := c.Tenant
	if tenant == "" {
		doc, err := tenantconfig.Parse(body)
		if err != nil {
			return fmt.Errorf("%s: %w", c.File, err)
		}
		tenant = doc.Tenant
	}
	status, answer, err := c.do(http.MethodPut, "/v1/tenants/"+tenant+"/config", bytes.NewReader(body))
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s refused: %s", c.File, readable(status, answer))
	}
	fmt.Fprintf(s.out, "%s\n", bytes.TrimSpace(answer))
	return nil
}
