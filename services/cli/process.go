package cli

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// processFlags are the flags of the commands that run services (run, serve): how the
// process logs, and how long SIGTERM may take.
type processFlags struct {
	LogFormat       string        `default:"auto" enum:"auto,json,console" help:"log lines as JSON for a log collector (json) or as text for a person (console); auto: console when stderr is a terminal, else JSON"`
	ShutdownTimeout time.Duration `default:"10s" help:"how long SIGTERM may take: HTTP requests in flight and the consumers' batches in hand finish within it; past it the process exits, and what it had not acknowledged is delivered again (to another replica, or after a restart)"`
}

// logger is the process's logger in the format asked for, at info level with ISO 8601
// times, on stderr.
func (f processFlags) logger() (*zap.Logger, error) {
	return newLogger(f.LogFormat, term.IsTerminal(int(os.Stderr.Fd())))
}

// newLogger is a logger as --log-format asks (see loggerConfig).
func newLogger(format string, terminal bool) (*zap.Logger, error) {
	cfg, err := loggerConfig(format, terminal)
	if err != nil {
		return nil, err
	}
	return cfg.Build()
}

// loggerConfig is zap's production configuration (JSON) or the same as console text,
// "auto" choosing console on a terminal; colours only on one.
func loggerConfig(format string, terminal bool) (zap.Config, error) {
	cfg := zap.NewProductionConfig()
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	switch {
	case format == "console", format == "auto" && terminal:
		cfg.Encoding = "console"
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		if terminal {
			cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
	case format == "json", format == "auto":
	default:
		return zap.Config{}, fmt.Errorf("--log-format %q: one of auto, json, console", format)
	}
	return cfg, nil
}
