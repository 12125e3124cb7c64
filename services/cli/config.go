package cli

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// configApply PUTs a configuration document to /v1/tenants/{tenant}/config and prints the
// answer: the new version, or every problem of an invalid document.
func configApply(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("config apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "ledgerdesk HTTP API")
	token := fs.String("token", "", "bearer token (the admin token)")
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
	if file == "" || *token == "" {
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
	req, err := http.NewRequest(http.MethodPut, strings.TrimRight(*url, "/")+"/v1/tenants/"+*tenant+"/config", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(stderr, "ledgerdesk config apply:", err)
		return 1
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "ledgerdesk config apply:", err)
		return 1
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "ledgerdesk config apply: %s refused (%s):\n%s\n", file, res.Status, answer)
		return 1
	}
	fmt.Printf("%s\n", bytes.TrimSpace(answer))
	return 0
}
