// Package deploy tests what deploy/ ships to operators: every manifest decodes strictly
// against its real schema or types (a typo fails), says what the services really accept
// (every `ledgerdesk` command line runs through the real binary, every creds file is one
// `ledgerdesk nats init` writes, every port and probe points at a listener the command
// opens), and the alert rules parse with Prometheus's own parser and name only metrics a
// running ledgerdesk exports. It runs the binary, never a container: nothing here needs
// docker, kubectl, helm or promtool.
package deploy

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

// TestDeploy checks deploy/: the compose file, the Kubernetes manifests, the NATS Helm
// chart's values and the Prometheus alert rules, against one build of the binary.
func TestDeploy(t *testing.T) {
	d := newDeployment(t)
	t.Run("compose", func(t *testing.T) { checkCompose(t, d) })
	t.Run("kubernetes", func(t *testing.T) { checkKubernetes(t, d) })
	t.Run("alerts", func(t *testing.T) { checkAlerts(t, d) })
}

// deployment is what the checks share: the repository, the binary, and the credentials
// directory the real `ledgerdesk nats init` wrote.
type deployment struct {
	root  string   // the repository root
	bin   string   // ledgerdesk, built from it
	creds string   // a `nats init --out` directory
	files []string // the files nats init wrote there
	// natsVersion is the nats-server release the services embed and the cluster test
	// runs (services/go.mod), without its "v": the image the manifests must run.
	natsVersion string
}

func newDeployment(t *testing.T) *deployment {
	t.Helper()
	d := &deployment{root: ldproc.RepoRoot(t), bin: ldproc.Build(t), creds: filepath.Join(t.TempDir(), "credentials")}
	if out, err := exec.Command(d.bin, "nats", "init", "--out", d.creds).CombinedOutput(); err != nil {
		t.Fatalf("ledgerdesk nats init: %v\n%s", err, out)
	}
	entries, err := os.ReadDir(d.creds)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		d.files = append(d.files, e.Name())
	}
	gomod, err := os.ReadFile(filepath.Join(d.root, "services", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.ParseLax("services/go.mod", gomod, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Require {
		if r.Mod.Path == "github.com/nats-io/nats-server/v2" {
			d.natsVersion = strings.TrimPrefix(r.Mod.Version, "v")
		}
	}
	if d.natsVersion == "" {
		t.Fatal("services/go.mod requires no nats-server")
	}
	return d
}

// initFile checks that name is a file `ledgerdesk nats init` writes.
func (d *deployment) initFile(t *testing.T, where, name string) {
	t.Helper()
	if !slices.Contains(d.files, name) {
		t.Errorf("%s: %q is no file ledgerdesk nats init writes (%s)", where, name, strings.Join(d.files, ", "))
	}
}

// command is a `ledgerdesk` command line of a manifest: its arguments (after the binary)
// and its LEDGERDESK_* environment.
type command struct {
	where string // the manifest and the service, for messages
	args  []string
	env   map[string]string
}

// flag is the value of --name in the command line, or of its LEDGERDESK_ variable.
func (c command) flag(name string) (string, bool) {
	for i, a := range c.args {
		if a == "--"+name && i+1 < len(c.args) {
			return c.args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	v, ok := c.env[envName(name)]
	return v, ok
}

// envName is a flag's environment variable (README: LEDGERDESK_ and its name in upper
// case with - as _).
func envName(flag string) string {
	return "LEDGERDESK_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// check runs the command line through the real binary with --nats (or LEDGERDESK_NATS)
// pointed at an address nothing listens on and --creds at the same file of d's nats init
// directory (which must exist there): the binary parses it (the command, the service, every
// flag and value, LEDGERDESK_ variables it knows), validates it, reads the creds and checks
// they are the role's, and fails only on connecting. Anything else it says fails t.
func (c command) check(t *testing.T, d *deployment) {
	t.Helper()
	nowhere := "nats://" + eventstest.FreeAddr(t) // free a moment ago: connecting is refused
	args := slices.Clone(c.args)
	env := []string{"HOME=" + t.TempDir()} // nothing of the test's own LEDGERDESK_* environment
	rewrite := func(name, value string) string {
		switch name {
		case "nats":
			return nowhere
		case "creds":
			d.initFile(t, c.where+": --creds", filepath.Base(value))
			return filepath.Join(d.creds, filepath.Base(value))
		}
		return value
	}
	for i := 0; i < len(args); i++ {
		flag, ok := strings.CutPrefix(args[i], "--")
		if !ok {
			continue
		}
		if name, value, inline := strings.Cut(flag, "="); inline {
			args[i] = "--" + name + "=" + rewrite(name, value)
		} else if (flag == "nats" || flag == "creds") && i+1 < len(args) {
			args[i+1] = rewrite(flag, args[i+1])
			i++
		}
	}
	help := c.help(t, d)
	for name, value := range c.env {
		if !strings.HasPrefix(name, "LEDGERDESK_") {
			continue
		}
		if !strings.Contains(help, "($"+name+")") {
			t.Errorf("%s: %s is no variable of ledgerdesk %s", c.where, name, strings.Join(c.args[:min(2, len(c.args))], " "))
		}
		switch name {
		case envName("nats"):
			value = nowhere
		case envName("creds"):
			value = rewrite("creds", value)
		}
		env = append(env, name+"="+value)
	}
	cmd := exec.Command(d.bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "no servers available for connection") {
		t.Errorf("%s: ledgerdesk %s: exit %d (%v), want it to fail on connecting only:\n%s", c.where, strings.Join(c.args, " "), code, err, out)
	}
}

// help is the --help of the command line's command (the words before its first flag).
func (c command) help(t *testing.T, d *deployment) string {
	t.Helper()
	var words []string
	for _, a := range c.args {
		if strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	out, err := exec.Command(d.bin, append(words, "--help")...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: ledgerdesk %s --help: %v\n%s", c.where, strings.Join(words, " "), err, out)
	}
	return string(out)
}

// listenPort is the port of a listen address a command line gives (--http,
// --metrics-listen), which must be bound to every interface: a probe, a load balancer or
// Prometheus reaches the container from outside it.
func listenPort(t *testing.T, c command, flag string) string {
	t.Helper()
	addr, ok := c.flag(flag)
	if !ok {
		t.Errorf("%s: no --%s (its default listens on 127.0.0.1, unreachable from outside the container)", c.where, flag)
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("%s: --%s %q: %v", c.where, flag, addr, err)
		return ""
	}
	if host != "0.0.0.0" && host != "" {
		t.Errorf("%s: --%s %s listens on %s only: probes and scrapes come from outside the container", c.where, flag, addr, host)
	}
	return port
}

// natsURLs checks that the command's NATS URLs are exactly nodes, each once.
func natsURLs(t *testing.T, c command, nodes []string) {
	t.Helper()
	v, _ := c.flag("nats")
	got := strings.Split(v, ",")
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(nodes))) {
		t.Errorf("%s: NATS URLs %q, want every node once: %q", c.where, v, strings.Join(nodes, ","))
	}
}
