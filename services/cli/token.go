package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ledgerdesk/ledgerdesk/services/access"
)

const tokenUsage = `usage:
  ledgerdesk token create --name NAME --role admin|agent|integration|auditor --tenant T [--tenant T2 ...] --url URL --token TOKEN
  ledgerdesk token list --url URL --token TOKEN
  ledgerdesk token revoke ID --url URL --token TOKEN
(--tenant '*' for every tenant; --url and --token also LEDGERDESK_URL and LEDGERDESK_TOKEN)
`

// tokenCmd grants, lists and revokes API tokens through /v1/tokens.
func tokenCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "ledgerdesk token: ", tokenUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("token "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := addAPIFlags(fs)
	var req access.Request
	var tenants stringList
	var id string
	switch sub {
	case "create":
		fs.StringVar(&req.Name, "name", "", "the principal's name (1-64 of A-Z a-z 0-9 . _ -)")
		fs.Var((*roleFlag)(&req.Role), "role", "admin, agent, integration or auditor")
		fs.Var(&tenants, "tenant", "a tenant the token may act for (repeat it; '*' for all)")
	case "list":
	case "revoke":
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			id, args = args[0], args[1:]
		}
	default:
		fmt.Fprintf(stderr, "ledgerdesk token: unknown subcommand %q\n%s", sub, tokenUsage)
		return 2
	}
	if err := parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "ledgerdesk token %s: %v\n", sub, err)
		return 2
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	var missing []string
	if api.token == "" {
		missing = append(missing, "--token (or LEDGERDESK_TOKEN) is required")
	}
	if sub == "revoke" && id == "" {
		missing = append(missing, "the id of the token to revoke is required (ledgerdesk token list shows them)")
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "ledgerdesk token %s: %s\n%s", sub, strings.Join(missing, "; "), tokenUsage)
		return 2
	}
	method, path, okStatus, body := http.MethodGet, "/v1/tokens", http.StatusOK, io.Reader(nil)
	switch sub {
	case "create":
		req.Tenants = tenants
		b, err := json.Marshal(req)
		if err != nil {
			fmt.Fprintln(stderr, "ledgerdesk token create:", err)
			return 1
		}
		method, okStatus, body = http.MethodPost, http.StatusCreated, bytes.NewReader(b)
	case "revoke":
		method, path, okStatus = http.MethodDelete, "/v1/tokens/"+id, http.StatusNoContent
	}
	status, answer, err := api.do(method, path, body)
	if err != nil {
		fmt.Fprintf(stderr, "ledgerdesk token %s: %v\n", sub, err)
		return 1
	}
	if status != okStatus {
		fmt.Fprintf(stderr, "ledgerdesk token %s: refused: %s\n", sub, readable(status, answer))
		return 1
	}
	switch sub {
	case "create":
		var g access.Granted
		if err := json.Unmarshal(answer, &g); err != nil {
			fmt.Fprintln(stderr, "ledgerdesk token create: decode answer:", err)
			return 1
		}
		fmt.Fprintf(stdout, "token: %s\n(shown only now: store it safely; the server keeps its hash only)\n\n", g.Token)
		printPrincipals(stdout, []access.Principal{g.Principal})
	case "list":
		var list struct {
			Tokens []access.Principal `json:"tokens"`
		}
		if err := json.Unmarshal(answer, &list); err != nil {
			fmt.Fprintln(stderr, "ledgerdesk token list: decode answer:", err)
			return 1
		}
		printPrincipals(stdout, list.Tokens)
	case "revoke":
		fmt.Fprintf(stdout, "revoked %s\n", id)
	}
	return 0
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

// stringList is a repeatable flag; each value may also hold several, comma-separated (as
// LEDGERDESK_TENANT=acme,globex does).
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

type roleFlag access.Role

func (r *roleFlag) String() string { return string(*r) }

func (r *roleFlag) Set(v string) error {
	if !access.ValidRole(access.Role(v)) {
		return fmt.Errorf("unknown role %q: admin, agent, integration or auditor", v)
	}
	*r = roleFlag(v)
	return nil
}
