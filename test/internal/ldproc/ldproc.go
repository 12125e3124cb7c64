// Package ldproc builds the ledgerdesk binary and runs `ledgerdesk run` as a child process
// for the end-to-end, fault-injection and benchmark suites. Every helper takes a
// testing.TB and fails it on error; processes are stopped in t.Cleanup.
package ldproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
)

// readyTimeout bounds the wait for /readyz after a start.
const readyTimeout = 30 * time.Second

// RepoRoot returns the directory holding go.work, found by walking up from the working
// directory (a test runs in its package directory).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("ldproc: no go.work above the working directory")
		}
		dir = parent
	}
}

// Build compiles ./services/cmd/ledgerdesk from the repository root into a temp dir and
// returns the binary's path.
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ledgerdesk")
	cmd := exec.Command("go", "build", "-o", bin, "./services/cmd/ledgerdesk")
	cmd.Dir = RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build ledgerdesk: %v\n%s", err, out)
	}
	return bin
}

// Proc is a running `ledgerdesk run` child process.
type Proc struct {
	URL     string // base URL of the HTTP API, http://host:port
	NATSURL string // the embedded NATS server's client URL, nats://host:port
	Token   string // admin bearer token
	DataDir string

	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
	// crashOnly: the test's end kills it (SIGKILL) rather than asking it to stop: a
	// nats-server node exits on SIGTERM by the signal, which Stop would count as a failure.
	crashOnly bool
}

// Start runs `bin run` on free ports with its store in dataDir and token as the admin
// token, and more flags (e.g. --services), and returns once GET /readyz answers 200. The
// process is stopped (SIGTERM, then SIGKILL) in t.Cleanup; when the test failed, the
// tail of its log is printed.
func Start(t testing.TB, bin, dataDir, token string, more ...string) *Proc {
	t.Helper()
	httpAddr, natsAddr := eventstest.FreeAddr(t), eventstest.FreeAddr(t)
	// --rate-limit 0: the suites drive many clients with the one admin token, far above
	// the per-principal default limit a deployment runs with.
	args := append([]string{"run", "--data", dataDir, "--http", httpAddr, "--nats-listen", natsAddr, "--rate-limit", "0"}, more...)
	p := spawn(t, bin, args, "LEDGERDESK_ADMIN_TOKEN="+token)
	p.URL, p.NATSURL, p.Token, p.DataDir = "http://"+httpAddr, "nats://"+natsAddr, token, dataDir

	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	eventstest.CheckFor(t, readyTimeout, 50*time.Millisecond, func() error {
		if p.Exited() {
			t.Fatalf("ledgerdesk exited before ready: %v\n%s", p.waitErr, p.LogTail(40))
		}
		resp, err := client.Get(p.URL + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /readyz: %s", resp.Status)
		}
		return nil
	})
	return p
}

// spawn starts bin with args and env (beside the test's), its output in a log file, and
// stops it in t.Cleanup (printing its log's tail when the test failed).
func spawn(t testing.TB, bin string, args []string, env ...string) *Proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "ledgerdesk.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	// A test binary that dies without its cleanups (a panic, -timeout) must not leave
	// the process running and loading the machine. (Linux signals when the thread that
	// started it exits; the Go runtime keeps its threads, so in practice when the test
	// process dies.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start ledgerdesk %s: %v", args[0], err)
	}
	p := &Proc{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.crashOnly {
			if !p.Exited() {
				p.Kill(t)
			}
		} else {
			p.Stop(t)
		}
		if t.Failed() {
			t.Logf("ledgerdesk %s log (pid %d), last lines:\n%s", strings.Join(args, " "), cmd.Process.Pid, p.LogTail(40))
		}
	})
	return p
}

// Server is a NATS server (or cluster) the suites run services against and follow the
// log of: a `ledgerdesk run`'s embedded one (a Proc), or one the test runs (External).
type Server interface {
	// NATS is its client URL (comma-separated for a cluster) and the directory of its
	// roles' creds files, <role>.creds.
	NATS() (url, credsDir string)
}

// NATS is run's embedded server and the creds it issued in its data directory.
func (p *Proc) NATS() (string, string) { return p.NATSURL, filepath.Join(p.DataDir, "credentials") }

// External is a NATS server or cluster the test runs, with the creds of `ledgerdesk nats
// init`.
type External struct{ URL, CredsDir string }

// NATS is its URL and creds directory.
func (e External) NATS() (string, string) { return e.URL, e.CredsDir }

// ServeAPI is Serve of intake or reporting with its API on a free port (the URL returned),
// its data in a directory of its own, token as the admin token and no rate limit (the
// suites drive many clients with the one token).
func ServeAPI(t testing.TB, bin string, srv Server, service, token string) (*Proc, string) {
	t.Helper()
	addr := eventstest.FreeAddr(t)
	p := Serve(t, bin, srv, service, "--http", addr, "--data", t.TempDir(), "--admin-token", token, "--rate-limit", "0")
	return p, "http://" + addr
}

// Serve runs `bin serve <service>` against srv with the service's own credentials, its
// metrics and probes on a free port (the Proc's URL), more flags beside (intake's --http,
// say), and returns once the service logs that it is ready.
func Serve(t testing.TB, bin string, srv Server, service string, more ...string) *Proc {
	t.Helper()
	url, credsDir := srv.NATS()
	metricsAddr := eventstest.FreeAddr(t)
	args := append([]string{"serve", service, "--nats", url, "--creds", filepath.Join(credsDir, service+".creds"), "--metrics-listen", metricsAddr}, more...)
	p := spawn(t, bin, args)
	p.NATSURL, p.URL = url, "http://"+metricsAddr
	eventstest.CheckFor(t, readyTimeout, 20*time.Millisecond, func() error {
		if p.Exited() {
			t.Fatalf("ledgerdesk serve %s exited before ready: %v\n%s", service, p.waitErr, p.LogTail(40))
		}
		if !strings.Contains(p.LogTail(1000), `"msg":"service ready"`) {
			return fmt.Errorf("ledgerdesk serve %s not ready", service)
		}
		return nil
	})
	return p
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL — no shutdown code runs — and waits for the process to be gone.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("kill ledgerdesk: already exited: %v", p.waitErr)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill ledgerdesk: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("kill ledgerdesk: still running 10s after SIGKILL")
	}
}

// Stop sends SIGTERM and waits up to 15s for a graceful exit, then SIGKILLs. It is a
// no-op on an exited process and reports a graceful exit that failed.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.waitErr != nil {
			t.Errorf("ledgerdesk exited after SIGTERM with %v", p.waitErr)
		}
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		t.Errorf("ledgerdesk did not stop within 15s of SIGTERM")
	}
}

// PeakRSSMB returns the process's peak resident set size (VmHWM) in MiB; it must be
// called while the process runs.
func (p *Proc) PeakRSSMB() (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, fmt.Errorf("read peak rss: %w", err)
	}
	defer f.Close()
	return parseVmHWM(f)
}

// parseVmHWM finds "VmHWM:  <n> kB" in a /proc/<pid>/status file and returns MiB.
func parseVmHWM(r io.Reader) (float64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmHWM %q: %w", rest, err)
		}
		return kb / 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// LogTail returns the last n lines of the process's stderr and stdout.
func (p *Proc) LogTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// natsCLIVersion is the nats CLI the suites drive: the real tool an operator or auditor uses.
const natsCLIVersion = "v0.5.0"

// alertmanagerVersion is the Alertmanager the alert webhook's test runs: the newest
// release `go install` builds from the module proxy (from v0.32 on, the module embeds a
// UI build that its zip does not hold, and the build fails).
const alertmanagerVersion = "v0.28.1"

// NatsCLI returns the path of the real `nats` CLI: the one on PATH, else one built with
// `go install github.com/nats-io/natscli/nats@` + natsCLIVersion into the user cache
// (through the Go module proxy; the first build takes a minute or two).
func NatsCLI(t testing.TB) string {
	t.Helper()
	return tool(t, "nats", "natscli", "github.com/nats-io/natscli/nats", natsCLIVersion)
}

// Alertmanager returns the path of the real Prometheus Alertmanager: the one on PATH,
// else one built with `go install github.com/prometheus/alertmanager/cmd/alertmanager@` +
// alertmanagerVersion into the user cache (the first build takes a few minutes).
func Alertmanager(t testing.TB) string {
	t.Helper()
	return tool(t, "alertmanager", "alertmanager", "github.com/prometheus/alertmanager/cmd/alertmanager", alertmanagerVersion)
}

// tool is the path of the command name: on PATH, else built once from pkg@version with
// go install into <user cache>/ledgerdesk-test/<project>-<version>.
func tool(t testing.TB, name, project, pkg, version string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "ledgerdesk-test", project+"-"+version)
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "install", pkg+"@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}
