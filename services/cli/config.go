package cli

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// configApply PUTs a configuration document to /v1/tenants/{tenant}/config and prints the
// answer: the new version, or every problem of an invalid document.
func configApply(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("config apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := addAPIFlags(fs)
	tenant := fs.String("tenant", "", "tenant (default: the document's tenant field)")
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintln(stderr, "ledgerdesk config apply:", err)
		return 2
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
	}
	if file == "" || api.token == "" {
		fmt.Fprintln(stderr, "ledgerdesk config apply: FILE and --token (or LEDGERDESK_TOKEN) are required")
		return 2
	}
	body, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(stderr, "ledgerdesk config apply:", err)
		return 1
	}
	if *tenant == "" {
		doc, err := tenantconfig.Parse(body)
		if err != nil {
			fmt.Fprintf(stderr, "ledgerdesk config apply: %s: %v\n", file, err)
			return 1
		}
		*tenant = doc.Tenant
	}
	status, answer, err := api.do(http.MethodPut, "/v1/tenants/"+*tenant+"/config", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(stderr, "ledgerdesk config apply:", err)
		return 1
	}
	if status != http.StatusOK {
		fmt.Fprintf(stderr, "ledgerdesk config apply: %s refused: %s\n", file, readable(status, answer))
		return 1
	}
	fmt.Printf("%s\n", bytes.TrimSpace(answer))
	return 0
}
