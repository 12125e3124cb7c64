package deploy

import (
	"bufio"
	"context"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/mod/modfile"
)

// composeFile is the compose file, relative to the repository root.
const composeFile = "deploy/docker-compose.yml"

// composeEnv is the environment the compose file is loaded with: what its quick start
// exports (a required variable left unset fails the load, as it fails `docker compose up`).
var composeEnv = types.Mapping{"LEDGERDESK_ADMIN_TOKEN": "token", "CREDS_UID": "1000", "CREDS_GID": "1000"}

// servedServices are the services `ledgerdesk serve` runs, each with the replicas the
// compose file runs of it (issue 14: two of routing and of SLA).
var servedServices = map[string]int{"intake": 1, "routing": 2, "sla": 2, "escalation": 1, "reporting": 1}

// checkCompose loads the compose file with compose-go, which validates it against the
// compose specification's schema (an unknown or misspelt key fails) and checks its
// references, then checks that it runs what ledgerdesk needs: three nodes of
// nats-cluster.conf, the provisioning, and every service as `ledgerdesk serve` with its own
// role's creds, listening where its healthcheck looks.
func checkCompose(t *testing.T, d *deployment) {
	ctx := context.Background()
	file := filepath.Join(d.root, composeFile)
	p, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  filepath.Dir(file),
		ConfigFiles: []types.ConfigFile{{Filename: file}},
		Environment: composeEnv,
	}, func(o *loader.Options) { o.SetProjectName("ledgerdesk", true) })
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}

	// The files the compose file mounts from deploy/nats/credentials: those nats init
	// writes, and never a seed (whoever holds account.nk can issue users).
	mounted := map[string]string{} // what → its file
	for name, sec := range p.Secrets {
		mounted["secret "+name] = sec.File
	}
	for name, conf := range p.Configs {
		mounted["config "+name] = conf.File
	}
	credsDir := filepath.Join(d.root, "deploy", "nats", "credentials")
	for what, file := range mounted {
		if rel, err := filepath.Rel(credsDir, file); err == nil && !strings.HasPrefix(rel, "..") {
			d.initFile(t, composeFile+": "+what, rel)
			if strings.HasSuffix(rel, ".nk") {
				t.Errorf("%s: %s mounts the seed %s", composeFile, what, rel)
			}
		}
	}

	nodes := checkComposeNATS(t, d, p)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, "nats://"+n)
	}

	provision, ok := p.Services["provision"]
	if !ok {
		t.Fatal(composeFile + ": no service provision")
	}
	c := composeCommand(t, provision)
	if !slices.Equal(c.args[:2], []string{"nats", "provision"}) {
		t.Errorf("%s: provision runs ledgerdesk %s, want nats provision", c.where, strings.Join(c.args, " "))
	}
	composeCreds(t, p, provision, c, "admin")
	natsURLs(t, c, urls)
	c.check(t, d)
	for _, node := range nodes {
		name, _, _ := net.SplitHostPort(node)
		if dep := provision.DependsOn[name]; dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: provision does not wait for %s to be healthy", composeFile, name)
		}
	}

	for name, replicas := range servedServices {
		s, ok := p.Services[name]
		if !ok {
			t.Errorf("%s: no service %s", composeFile, name)
			continue
		}
		c := composeCommand(t, s)
		if !slices.Equal(c.args[:2], []string{"serve", name}) {
			t.Errorf("%s: runs ledgerdesk %s, want serve %s", c.where, strings.Join(c.args, " "), name)
		}
		composeCreds(t, p, s, c, name)
		natsURLs(t, c, urls)
		c.check(t, d)
		if got := s.GetScale(); got != replicas {
			t.Errorf("%s: %d replicas, want %d", c.where, got, replicas)
		}
		if dep := s.DependsOn["provision"]; dep.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: does not wait for provision to complete", c.where)
		}
		port := listenPort(t, c, "metrics-listen")
		if s.HealthCheck == nil || !slices.Contains(s.HealthCheck.Test, "http://127.0.0.1:"+port+"/readyz") {
			t.Errorf("%s: healthcheck %v does not ask /readyz on its --metrics-listen port %s", c.where, healthTest(s), port)
		}
		if name == "intake" || name == "reporting" {
			httpPort := listenPort(t, c, "http")
			if !slices.ContainsFunc(s.Ports, func(pc types.ServicePortConfig) bool { return strconv.FormatUint(uint64(pc.Target), 10) == httpPort }) {
				t.Errorf("%s: --http port %s is not published (%v)", c.where, httpPort, s.Ports)
			}
		}
	}
	checkDockerfile(t, d, p)
}

// checkComposeNATS checks the compose file's nats-server nodes: each runs the official
// image of the services' nats-server release with nats-cluster.conf (as nats-server
// reads it, with the auth.conf nats init writes beside it) under its own name, which is a
// route of every node, and is healthy when its monitoring port says so. It returns their
// client addresses.
func checkComposeNATS(t *testing.T, d *deployment, p *types.Project) (nodes []string) {
	t.Helper()
	var names []string
	for name, s := range p.Services {
		if strings.HasPrefix(s.Image, "nats:") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) != 3 {
		t.Fatalf("%s: nats-server nodes %v, want three", composeFile, names)
	}
	for _, name := range names {
		s := p.Services[name]
		where := composeFile + ": " + name
		if want := "nats:" + d.natsVersion + "-alpine"; s.Image != want {
			t.Errorf("%s: image %s, want %s (the nats-server the services embed)", where, s.Image, want)
		}
		if v := s.Environment["NATS_SERVER_NAME"]; v == nil || *v != name {
			t.Errorf("%s: NATS_SERVER_NAME %v, want %s (the name the routes use)", where, v, name)
		}
		confArg := s.Command[slices.Index(s.Command, "--config")+1]
		var conf, auth string
		for _, c := range s.Configs {
			if c.Target == confArg {
				conf = p.Configs[c.Source].File
			}
		}
		for _, sec := range s.Secrets {
			if sec.Target == path.Join(path.Dir(confArg), "credentials", "auth.conf") {
				auth = p.Secrets[sec.Source].File
			}
		}
		if conf != filepath.Join(d.root, "deploy", "nats", "nats-cluster.conf") || filepath.Base(auth) != "auth.conf" {
			t.Fatalf("%s: runs --config %s from %q, its include ./credentials/auth.conf from %q; want deploy/nats/nats-cluster.conf and auth.conf",
				where, confArg, conf, auth)
		}
		opts := natsOptions(t, d, conf, name)
		if !opts.SyncAlways || !opts.JetStream || opts.Cluster.Name == "" {
			t.Errorf("%s: nats-cluster.conf: jetstream %v, sync always %v, cluster %q", where, opts.JetStream, opts.SyncAlways, opts.Cluster.Name)
		}
		var routes []string
		for _, r := range opts.Routes {
			routes = append(routes, r.Hostname())
		}
		if !slices.Equal(slices.Sorted(slices.Values(routes)), names) {
			t.Errorf("%s: nats-cluster.conf routes to %v, the compose file's nodes are %v", where, routes, names)
		}
		if s.HealthCheck == nil || !slices.ContainsFunc(s.HealthCheck.Test, func(a string) bool {
			u, err := url.Parse(a)
			return err == nil && u.Port() == strconv.Itoa(opts.HTTPPort) && u.Path == "/healthz"
		}) {
			t.Errorf("%s: healthcheck %v does not ask /healthz on the monitoring port %d", where, healthTest(s), opts.HTTPPort)
		}
		if len(s.Volumes) != 1 || !strings.HasPrefix(opts.StoreDir, s.Volumes[0].Target) {
			t.Errorf("%s: volumes %v do not hold the JetStream store %s", where, s.Volumes, opts.StoreDir)
		}
		nodes = append(nodes, net.JoinHostPort(name, strconv.Itoa(opts.Port)))
	}
	return nodes
}

// natsOptions reads conf as nats-server would on the node named name, with the auth.conf
// of d's nats init directory as its include.
func natsOptions(t *testing.T, d *deployment, conf, name string) *server.Options {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nats.conf"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(d.creds, filepath.Join(dir, "credentials")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NATS_SERVER_NAME", name)
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats.conf"))
	if err != nil {
		t.Fatalf("nats-server reads %s: %v", conf, err)
	}
	return opts
}

// composeCommand is a compose service's ledgerdesk command line and environment.
func composeCommand(t *testing.T, s types.ServiceConfig) command {
	t.Helper()
	c := command{where: composeFile + ": " + s.Name, args: s.Command, env: map[string]string{}}
	if len(c.args) < 2 {
		t.Fatalf("%s: command %q", c.where, c.args)
	}
	for k, v := range s.Environment {
		if v != nil {
			c.env[k] = *v
		}
	}
	return c
}

// composeCreds checks that the --creds of s's command c is the secret mounted in its
// container for it, the file nats init writes for role.
func composeCreds(t *testing.T, p *types.Project, s types.ServiceConfig, c command, role string) {
	t.Helper()
	creds, _ := c.flag("creds")
	for _, sec := range s.Secrets {
		target := sec.Target
		if !path.IsAbs(target) {
			target = path.Join("/run/secrets", target)
		}
		if target == creds {
			if got := filepath.Base(p.Secrets[sec.Source].File); got != role+".creds" {
				t.Errorf("%s: --creds %s is secret %s, from %s; want %s.creds", c.where, creds, sec.Source, got, role)
			}
			return
		}
	}
	t.Errorf("%s: --creds %s is no secret mounted in its container", c.where, creds)
}

// checkDockerfile checks the image the ledgerdesk services build: from the repository root
// (the Go workspace), with the Go of go.work, and with an ignore file that keeps the
// credentials out of the build context.
func checkDockerfile(t *testing.T, d *deployment, p *types.Project) {
	t.Helper()
	b := p.Services["intake"].Build
	if b == nil || b.Context != d.root {
		t.Fatalf("%s: intake builds %+v, want the repository root as its context", composeFile, b)
	}
	work, err := os.ReadFile(filepath.Join(d.root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	wf, err := modfile.ParseWork("go.work", work, nil)
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := filepath.Join(b.Context, b.Dockerfile)
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var golang string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && strings.EqualFold(fields[0], "FROM") && strings.HasPrefix(fields[1], "golang:") {
			golang = fields[1]
		}
	}
	if want := "golang:" + wf.Go.Version + "-alpine"; golang != want {
		t.Errorf("%s: builds FROM %q, want %s (go.work's Go; the golang image will not fetch another)", dockerfile, golang, want)
	}
	ignore, err := os.ReadFile(dockerfile + ".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(string(ignore), "\n"), "deploy/nats/credentials") {
		t.Errorf("%s.dockerignore lets deploy/nats/credentials into the build context", dockerfile)
	}
}

// healthTest is a service's healthcheck command, for messages.
func healthTest(s types.ServiceConfig) []string {
	if s.HealthCheck == nil {
		return nil
	}
	return s.HealthCheck.Test
}
