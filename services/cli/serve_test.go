package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/app"
	"github.com/ledgerdesk/ledgerdesk/services/inbox"
)

// TestServeIntakeBehindALoadBalancer deploys as deploy/README.md says (nats init, the
// single-node config, nats provision) and runs two `serve intake` replicas and one
// `serve routing` on it, each with its own role's creds, as a load balancer would see them:
// both intakes ready; a configuration applied through one, a ticket opened through the
// other and read back through the first, routed by routing; a token granted on one is
// honoured by the other, which takes an integration's event over /v1/events; each
// process's /metrics (on its own listener) counts what it served. Readiness names an inbox
// consumer that was deleted behind the intakes' backs, and a NATS connection that is down.
func TestServeIntakeBehindALoadBalancer(t *testing.T) {
	d := deployment(t)
	url, creds := d.srv.ClientURL(), d.creds
	const token = "serve-admin"
	intake := func() *served {
		return startServe(t, "intake", "--nats", url, "--creds", filepath.Join(creds, "intake.creds"), "--data", t.TempDir(),
			"--admin-token", token, "--http", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--rate-limit", "0")
	}
	a, b := intake(), intake()
	routing := startServe(t, "routing", "--nats", url, "--creds", filepath.Join(creds, "routing.creds"), "--metrics-listen", "127.0.0.1:0")
	if routing.node.HTTPAddr != nil {
		t.Errorf("serve routing has an API listener at %s", routing.node.HTTPAddr)
	}
	for _, probe := range []string{a.api + "/readyz", a.ops + "/readyz", b.ops + "/readyz", routing.ops + "/readyz", routing.ops + "/livez"} {
		if status, body := get(t, probe, ""); status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", probe, status, body)
		}
	}

	acme, err := os.ReadFile(filepath.Join("..", "..", "deploy", "demo-config", "acme.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if status, body := send(t, "PUT", a.api+"/v1/tenants/acme/config", token, "application/yaml", string(acme)); status != http.StatusOK {
		t.Fatalf("configure acme through intake a: %d %s", status, body)
	}
	status, body := send(t, "POST", b.api+"/v1/tickets", token, "application/json", `{"tenant":"acme","type":"incident","title":"VPN down",
		"description":"no tunnel","requester":{"name":"Ann","email":"ann@acme.example"},"impact":"high","urgency":"high","category":"network","source":"email"}`)
	var tk struct {
		ID string `json:"id"`
	}
	if status != http.StatusCreated || json.Unmarshal(body, &tk) != nil {
		t.Fatalf("open a ticket through intake b: %d %s", status, body)
	}
	eventstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		status, body := get(t, a.api+"/v1/tickets/"+tk.ID+"/events", token)
		if status != http.StatusOK || !strings.Contains(string(body), events.TypeAssigned) {
			return fmt.Errorf("the ticket through intake a: %d %s; want it routed and assigned by serve routing", status, body)
		}
		return nil
	})

	// A token granted through a reaches b through ACCESS; b answers the integration's event.
	status, body = send(t, "POST", a.api+"/v1/tokens", token, "application/json", `{"name":"rmm","role":"integration","tenants":["acme"]}`)
	var grant struct {
		Token string `json:"token"`
	}
	if status != http.StatusCreated || json.Unmarshal(body, &grant) != nil {
		t.Fatalf("grant an integration token through intake a: %d %s", status, body)
	}
	eventstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		req, err := http.NewRequest("POST", b.api+"/v1/events", strings.NewReader(`{"ticket":"`+tk.ID+`","body":"RMM agent confirms"}`))
		if err != nil {
			return err
		}
		for k, v := range map[string]string{"Authorization": "Bearer " + grant.Token, "Content-Type": "application/json", "ce-specversion": "1.0",
			"ce-id": "rmm-1", "ce-source": "//rmm.acme.example", "ce-type": "ledgerdesk.inbox.comment.v1"} {
			req.Header.Set(k, v)
		}
		status, body := do(t, req)
		if status != http.StatusOK || !strings.Contains(string(body), `"status":"accepted"`) {
			return fmt.Errorf("POST /v1/events through intake b: %d %s", status, body)
		}
		return nil
	})

	// Each process counts what it served, on its own listener; the API listener has none.
	for _, want := range []struct {
		proc   *served
		series string
	}{
		{a, `ledgerdesk_http_requests_total{code="200",method="put",route="/v1/tenants/{tenant}/config"} 1`},
		{b, `ledgerdesk_http_requests_total{code="201",method="post",route="/v1/tickets"} 1`},
		{b, `ledgerdesk_commit_appends_total{outcome="stored"}`},
		{routing, `ledgerdesk_consumer_handled_messages_total{consumer="routing-tickets-`},
	} {
		if status, body := get(t, want.proc.ops+"/metrics", ""); status != http.StatusOK || !strings.Contains(string(body), want.series) {
			t.Errorf("%s /metrics: %d, want %s in:\n%s", want.proc.name, status, want.series, body)
		}
	}
	if status, _ := get(t, a.api+"/metrics", ""); status != http.StatusNotFound {
		t.Errorf("GET /metrics on intake a's API listener: %d, want 404 (served on --metrics-listen)", status)
	}

	// An admin deletes the inbox's durable consumer: both intakes say they are not ready.
	admin := adminJetStream(t, url, creds)
	if err := admin.DeleteConsumer(context.Background(), inbox.StreamName, inbox.Consumer); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*served{a, b} {
		eventstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			status, body := get(t, p.ops+"/readyz", "")
			if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "the inbox consumer intake-inbox stopped") {
				return fmt.Errorf("%s /readyz: %d %s", p.name, status, body)
			}
			return nil
		})
	}
	// The server goes away: routing says its connection is down, and is ready again once
	// the server is back.
	d.srv.Shutdown()
	d.srv.WaitForShutdown()
	eventstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		status, body := get(t, routing.ops+"/readyz", "")
		if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "the routing role's NATS connection is") {
			return fmt.Errorf("routing /readyz without a server: %d %s", status, body)
		}
		return nil
	})
	if status, _ := get(t, routing.ops+"/livez", ""); status != http.StatusOK {
		t.Errorf("routing /livez without a server: %d, want 200 (alive, not ready)", status)
	}
	d.restart()
	eventstest.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		if status, body := get(t, routing.ops+"/readyz", ""); status != http.StatusOK {
			return fmt.Errorf("routing /readyz with the server back: %d %s", status, body)
		}
		return nil
	})
	for _, p := range []*served{routing, a, b} {
		p.stop() // before the restarted server's cleanup
	}
}

// deployed is a nats-server deployed as deploy/README.md says.
type deployed struct {
	srv   *server.Server
	creds string // the keys' and creds files' directory
	// restart starts the server again, on the same port and store, after srv.Shutdown.
	restart func() *server.Server
}

// deployment is deploy/README.md's steps 1 to 3 on a test's own listener and store: the
// keys and every role's creds, nats-server with deploy/nats/nats-single.conf, the streams
// provisioned with admin.creds.
func deployment(t *testing.T) deployed {
	t.Helper()
	root, start := singleNode(t)
	creds := filepath.Join(root, "credentials")
	var stdout, stderr strings.Builder
	if rc := natsCmd([]string{"init", "--out", creds}, &stdout, &stderr); rc != 0 {
		t.Fatalf("nats init: rc %d: %s", rc, stderr.String())
	}
	srv := start(-1)
	if rc := natsCmd([]string{"provision", "--nats", srv.ClientURL(), "--creds", filepath.Join(creds, "admin.creds")}, &stdout, &stderr); rc != 0 {
		t.Fatalf("nats provision: rc %d: %s", rc, stderr.String())
	}
	port := srv.Addr().(*net.TCPAddr).Port
	return deployed{srv: srv, creds: creds, restart: func() *server.Server { return start(port) }}
}

// adminJetStream connects to url with the deployment's admin creds until the test ends.
func adminJetStream(t *testing.T, url, creds string) jetstream.JetStream {
	t.Helper()
	nc, err := connectNATS(url, filepath.Join(creds, "admin.creds"), natsauth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// served is a `ledgerdesk serve` running in the test.
type served struct {
	name     string
	node     *app.Node
	api, ops string // the API's and the probes' and metrics' base URLs ("" when not served)
	stop     func() // ends it as SIGTERM would; the test's end does too
}

// startServe parses `ledgerdesk serve args...` as the command line does and runs it
// until the test ends (then it must stop cleanly); it returns once the service is ready.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	var cli commands
	parser, err := newParser(&cli, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(append([]string{"serve"}, args...)); err != nil {
		t.Fatalf("serve %s: %v", strings.Join(args, " "), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan *app.Node, 1), make(chan error, 1)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).With(zap.String("service", args[0]))
	go func() { done <- cli.Serve.serve(ctx, log, func(n *app.Node) { ready <- n }) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve %s: %v", args[0], err)
			}
		})
	}
	t.Cleanup(stop)
	s := &served{name: "serve " + args[0], stop: stop}
	select {
	case s.node = <-ready:
	case err := <-done:
		t.Fatalf("serve %s stopped before it was ready: %v", args[0], err)
	case <-time.After(30 * time.Second):
		t.Fatalf("serve %s not ready within 30s", args[0])
	}
	s.ops = "http://" + s.node.MetricsAddr.String()
	if s.node.HTTPAddr != nil {
		s.api = "http://" + s.node.HTTPAddr.String()
	}
	return s
}

// get GETs url with the bearer token (none when ""), returning the status and body.
func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	return send(t, "GET", url, token, "", "")
}

// send sends a request with a body of the content type.
func send(t *testing.T, method, url, token, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}
