// Package cli is the ledgerdesk command line: subcommands, flags, and the LEDGERDESK_*
// environment variable behind every flag.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ledgerdesk/ledgerdesk/services/app"
)

const usage = `ledgerdesk — event-sourced IT service desk on NATS JetStream

Usage:
  ledgerdesk run [flags]                 the whole system in one process on embedded JetStream
  ledgerdesk serve SERVICE [flags]       one service (routing, sla, escalation or reporting)
                                         against a NATS server; replicas share its consumers
  ledgerdesk config apply FILE [flags]   validate and apply a tenant configuration document
  ledgerdesk projections rebuild [flags] rebuild every read model from sequence 1
  ledgerdesk token create|list|revoke    grant, list and revoke API tokens (principals with a
                                         role and tenants) through the HTTP API
  ledgerdesk nats init|provision|issue   NATS keys, per-role creds and server auth config
                                         for an external nats-server; stream provisioning

Every flag can also be set as an environment variable: --nats-listen is
LEDGERDESK_NATS_LISTEN. Flags given on the command line win.
Run 'ledgerdesk <command> -h' for a command's flags.
`

// Main runs the command line and returns the process exit code.
func Main(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return run(args[1:], stderr)
	case "serve":
		return serve(args[1:], stderr)
	case "projections":
		return projectionsCmd(args[1:], os.Stdout, stderr)
	case "token":
		return tokenCmd(args[1:], os.Stdout, stderr)
	case "nats":
		return natsCmd(args[1:], os.Stdout, stderr)
	case "config":
		if len(args) < 2 || args[1] != "apply" {
			fmt.Fprintf(stderr, "ledgerdesk config: usage: ledgerdesk config apply FILE --url URL --token TOKEN\n")
			return 2
		}
		return configApply(args[2:], stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stderr, usage)
		return 0
	}
	fmt.Fprintf(stderr, "ledgerdesk: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// parse parses flags, then fills every flag not given from LEDGERDESK_<NAME>.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		env := EnvName(f.Name)
		if v, ok := os.LookupEnv(env); ok && !given[f.Name] {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// EnvName is the environment variable behind a flag: LEDGERDESK_ and the flag name in
// upper case with '-' as '_'.
func EnvName(flagName string) string {
	return "LEDGERDESK_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func run(args []string, stderr io.Writer) int {
	var cfg app.RunConfig
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data", "./data", "data directory: JetStream files, the generated admin token and NATS credentials (credentials/)")
	fs.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&cfg.NATSListen, "nats-listen", "127.0.0.1:4222", "embedded NATS client listen address")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "admin bearer token (default: read or generate <data>/admin.token)")
	fs.StringVar(&cfg.SeedConfigDir, "seed-config", "", "apply the configuration documents in this directory for tenants that have none")
	fs.StringVar(&cfg.DebugAddr, "debug-listen", "", "serve /debug/pprof on this address (off when empty)")
	fs.IntVar(&cfg.CommitWorkers, "commit-workers", 1, "group-commit workers")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", app.DefaultRateLimit, "HTTP requests per second per principal (0: no limit)")
	fs.IntVar(&cfg.RateBurst, "rate-burst", app.DefaultRateBurst, "HTTP requests a principal may send at once above --rate-limit")
	fs.IntVar(&cfg.Partitions, "partitions", 0, partitionsUsage)
	services := fs.String("services", strings.Join(app.ServiceNames(), ","), "services to run in-process beside intake, comma-separated (\"\" for none)")
	if err := parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "ledgerdesk run:", err)
		return 2
	}
	cfg.Services = []string{}
	for _, name := range strings.Split(*services, ",") {
		if name = strings.TrimSpace(name); name != "" {
			cfg.Services = append(cfg.Services, name)
		}
	}
	log, err := newLogger()
	if err != nil {
		fmt.Fprintln(stderr, "ledgerdesk run: logger:", err)
		return 1
	}
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	sys, err := app.Start(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", zap.Error(err))
		return 1
	}
	<-ctx.Done()
	log.Info("shutting down", zap.String("signal", "received"))
	sys.Stop(context.Background())
	return 0
}

// newLogger is the production JSON logger with ISO 8601 times.
func newLogger() (*zap.Logger, error) {
	logCfg := zap.NewProductionConfig()
	logCfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return logCfg.Build()
}
