package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// apiClient is what every command talking to the HTTP API shares: the --url and --token
// flags (LEDGERDESK_URL, LEDGERDESK_TOKEN) and one way to send a request and read a
// problem answer.
type apiClient struct {
	URL   string `name:"url" default:"http://127.0.0.1:8080" help:"ledgerdesk HTTP API"`
	Token string `name:"token" required:"" placeholder:"TOKEN" help:"bearer token (the admin token, or a token granted with 'ledgerdesk token create')"`
}

// do sends a request with the bearer token and returns the status and the body.
func (c *apiClient) do(method, path string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequest(method, strings.TrimRight(c.URL, "/")+path, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return res.StatusCode, answer, nil
}

// call sends a request and returns the answer's body, or an error saying why the API
// refused it when the status is not want.
func (c *apiClient) call(method, path string, body io.Reader, want int) ([]byte, error) {
	status, answer, err := c.do(method, path, body)
	if err != nil {
		return nil, err
	}
	if status != want {
		return nil, fmt.Errorf("refused: %s", readable(status, answer))
	}
	return answer, nil
}

// readable renders an error answer for a person: a problem's title, detail, field and
// every listed problem, or the raw body when it is no problem.
func readable(status int, answer []byte) string {
	var p httpx.Problem
	if json.Unmarshal(answer, &p) != nil || p.Type == "" {
		return fmt.Sprintf("HTTP %d: %s", status, strings.TrimSpace(string(answer)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (HTTP %d, %s)", p.Title, p.Status, strings.TrimPrefix(p.Type, httpx.ProblemTypePrefix))
	if p.Detail != "" {
		fmt.Fprintf(&b, ": %s", p.Detail)
	}
	for _, e := range p.Errors {
		fmt.Fprintf(&b, "\n  %s: %s", e.Field, e.Reason)
	}
	if len(p.Allowed) > 0 {
		fmt.Fprintf(&b, "\n  allowed: %s", strings.Join(p.Allowed, ", "))
	}
	return b.String()
}
