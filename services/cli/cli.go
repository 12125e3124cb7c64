// Package cli is the ledgerdesk command line, on github.com/alecthomas/kong: one struct
// per command whose fields are its arguments and flags (name, default, help and the
// LEDGERDESK_* environment variable in one struct tag), and shell completion through
// github.com/willabides/kongplete.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/nats-io/nats.go"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/app"
)

const description = `ledgerdesk — event-sourced IT service desk on NATS JetStream.

Every flag can also be set as an environment variable: LEDGERDESK_ and the flag's name in upper case with - as _ (--nats-listen is LEDGERDESK_NATS_LISTEN). Flags given on the command line win.`

// commands is the command line: one field per command or command group, each defined in
// a file of its own. A new group is one field here, e.g.
//
//	Audit auditGroup `cmd:"" help:"…"`
//
// and its file (audit.go: auditGroup with a field per subcommand, each a struct with a
// Run method). Every flag gets its environment variable from envPrefix; values computed
// in Go reach the struct tags through vars.
type commands struct {
	Run         runCmd                       `cmd:"" help:"the whole system in one process on embedded JetStream"`
	Serve       serveCmd                     `cmd:"" help:"one service (${serve_service_names}) against a NATS server; replicas share its consumers"`
	Config      configGroup                  `cmd:"" help:"validate and apply tenant configuration documents through the HTTP API"`
	Projections projectionsGroup             `cmd:"" help:"rebuild every read model from sequence 1"`
	Token       tokenGroup                   `cmd:"" help:"grant, list and revoke API tokens (principals with a role and tenants) through the HTTP API"`
	NATS        natsGroup                    `cmd:"" name:"nats" help:"NATS keys, per-role creds and server auth config for an external nats-server; stream provisioning"`
	Audit       auditGroup                   `cmd:"" help:"the auditors' commands: verify the log against its signed checkpoints, export with proofs, recompute SLA verdicts, replay reports; with the auditor's read-only credentials or a data directory"`
	Completion  kongplete.InstallCompletions `cmd:"" help:"print the shell completion for your login shell (bash, zsh or fish), e.g. for source <(ledgerdesk completion)"`
}

// envPrefix makes a flag's environment variable: LEDGERDESK_ and the flag's name in upper
// case with '-' as '_'.
const envPrefix = "LEDGERDESK"

// vars are the values of the ${name} references in the struct tags.
func vars() kong.Vars {
	return kong.Vars{
		"services":             strings.Join(app.ServiceNames(), ","),
		"service_names":        strings.Join(app.ServiceNames(), ", "),
		"serve_services":       strings.Join(serveServices(), ","),
		"serve_service_names":  strings.Join(serveServices(), ", "),
		"metrics_defaults":     metricsDefaults(),
		"nats_url":             nats.DefaultURL,
		"rate_limit":           strconv.FormatFloat(app.DefaultRateLimit, 'f', -1, 64),
		"rate_burst":           strconv.Itoa(app.DefaultRateBurst),
		"default_partitions":   strconv.Itoa(events.DefaultPartitions),
		"partitions_help":      partitionsUsage,
		"role_partitions_help": rolePartitionsUsage,
		"nats_roles":           roleNames(),
	}
}

// streams is where a command writes: its result to out, what a person reads beside it
// to err.
type streams struct{ out, err io.Writer }

// errLogged is what a command returns when it has logged why it failed: Main exits 1
// without saying it again.
var errLogged = errors.New("cli: failed (logged)")

// exit is the panic of kong's Exit (after --help, or a completion request), recovered by
// execute: the process exits with it.
type exit int

// Main runs the command line and returns the process exit code: 0, 1 when a command
// failed, 2 for a usage error (an unknown command, a bad or missing flag or argument).
func Main(args []string, stderr io.Writer) int {
	return execute(args, os.Stdout, stderr)
}

// execute is Main writing results to stdout.
func execute(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(exit)
			if !ok {
				panic(r)
			}
			code = int(e)
		}
	}()
	var cli commands
	parser, err := newParser(&cli, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "ledgerdesk: command line:", err)
		return 1
	}
	// A shell asking for completions (COMP_LINE set) is answered here and exits.
	kongplete.Complete(parser,
		kongplete.WithPredictor("file", complete.PredictFiles("*")),
		kongplete.WithPredictor("dir", complete.PredictDirs("*")))

	switch {
	case len(args) == 0: // no command: the help, on stderr, as a usage error
		parser.Stdout = stderr
		parser.Exit = func(int) { panic(exit(2)) }
		args = []string{"--help"}
	case args[0] == "help": // help [COMMAND...] is COMMAND... --help
		args = append(args[1:], "--help")
	}
	ctx, err := parser.Parse(args)
	if err != nil {
		usageError(stderr, parser.Model.Node, args, err)
		return 2
	}
	if err := ctx.Run(&streams{out: stdout, err: stderr}); err != nil {
		if !errors.Is(err, errLogged) {
			fmt.Fprintf(stderr, "%s: %v\n", ctx.Selected().FullPath(), err)
		}
		return 1
	}
	return 0
}

// newParser is the parser of the command line into cli, writing help to stdout and errors
// to stderr.
func newParser(cli *commands, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(cli,
		kong.Name("ledgerdesk"),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.ConfigureHelp(kong.HelpOptions{NoExpandSubcommands: true}),
		kong.Exit(func(code int) { panic(exit(code)) }),
		kong.DefaultEnvars(envPrefix),
		vars(),
		// kongplete v0.4.0 reads no --uninstall: the flag would do nothing.
		kong.IgnoreFields(`^InstallCompletions\.Uninstall$`),
	)
}

// usageError tells what is wrong with args, naming the command, and where its help is.
func usageError(w io.Writer, root *kong.Node, args []string, err error) {
	cmd, msg := root, err.Error()
	var perr *kong.ParseError
	if errors.As(err, &perr) && perr.Context != nil {
		for _, p := range perr.Context.Path {
			if p.Command != nil {
				cmd = p.Command
			}
		}
	}
	if group, name := unknownCommand(root, args); group != nil {
		cmd, msg = group, fmt.Sprintf("unknown command %q (one of %s)", name, strings.Join(commandNames(group), ", "))
	}
	msg = strings.TrimPrefix(msg, strings.TrimSpace(cmd.Path())+": ") // a command's Validate error names it
	fmt.Fprintf(w, "%s: %s\nRun '%s --help' for usage.\n", cmd.FullPath(), msg, cmd.FullPath())
}

// unknownCommand finds the word of args where a command group expects one of its
// commands and gets another: the group and the word.
func unknownCommand(node *kong.Node, args []string) (*kong.Node, string) {
	for _, arg := range args {
		names := commandNames(node)
		if len(names) == 0 || len(node.Positional) > 0 || strings.HasPrefix(arg, "-") {
			return nil, ""
		}
		if !slices.Contains(names, arg) {
			return node, arg
		}
		for _, child := range node.Children {
			if child.Name == arg {
				node = child
			}
		}
	}
	return nil, ""
}

// commandNames are the names of a node's visible commands.
func commandNames(node *kong.Node) []string {
	var names []string
	for _, child := range node.Children {
		if child.Type == kong.CommandNode && !child.Hidden {
			names = append(names, child.Name)
		}
	}
	return names
}

// runCmd is `ledgerdesk run`: the whole system in one process until SIGINT or SIGTERM.
type runCmd struct {
	Data               string  `default:"./data" predictor:"dir" help:"data directory: JetStream files, the generated admin token and NATS credentials (credentials/)"`
	HTTP               string  `name:"http" default:"127.0.0.1:8080" help:"HTTP listen address"`
	NATSListen         string  `name:"nats-listen" default:"127.0.0.1:4222" help:"embedded NATS client listen address"`
	AdminToken         string  `placeholder:"TOKEN" help:"admin bearer token (default: read or generate <data>/admin.token)"`
	SeedConfig         string  `placeholder:"DIR" predictor:"dir" help:"apply the configuration documents in this directory for tenants that have none"`
	DebugListen        string  `placeholder:"ADDR" help:"serve /debug/pprof on this address (off when empty)"`
	CommitWorkers      int     `default:"1" help:"group-commit workers"`
	RateLimit          float64 `default:"${rate_limit}" help:"HTTP requests per second per principal (0: no limit)"`
	RateBurst          int     `default:"${rate_burst}" help:"HTTP requests a principal may send at once above --rate-limit"`
	logPartitions      `embed:""`
	Services           string        `default:"${services}" help:"services to run in-process beside intake, comma-separated (--services= for none)"`
	CheckpointInterval time.Duration `default:"5s" help:"how often reporting signs a checkpoint of the log's tree while it grows"`
	processFlags       `embed:""`
}

func (c *runCmd) Run() error {
	cfg := app.RunConfig{DataDir: c.Data, HTTPAddr: c.HTTP, NATSListen: c.NATSListen, AdminToken: c.AdminToken,
		SeedConfigDir: c.SeedConfig, DebugAddr: c.DebugListen, CommitWorkers: c.CommitWorkers,
		RateLimit: c.RateLimit, RateBurst: c.RateBurst, Partitions: c.Partitions, CheckpointInterval: c.CheckpointInterval,
		ShutdownTimeout: c.ShutdownTimeout}
	cfg.Services = []string{}
	for _, name := range strings.Split(c.Services, ",") {
		if name = strings.TrimSpace(name); name != "" {
			cfg.Services = append(cfg.Services, name)
		}
	}
	log, err := c.logger()
	if err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	sys, err := app.Start(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", zap.Error(err))
		return errLogged
	}
	<-ctx.Done()
	log.Info("shutting down", zap.String("signal", "received"))
	sys.Stop(context.Background())
	return nil
}
