// Package embedded starts the in-process nats-server with JetStream that `ledgerdesk run`,
// the tests and the benchmarks use, with ledgerdesk's production durability settings and
// always with authentication: there is no way to start it open to anonymous clients.
package embedded

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
)

// Config configures the embedded server.
type Config struct {
	// StoreDir holds JetStream's files (required).
	StoreDir string
	// Auth is the trust the server runs with, in operator mode (required): only users
	// signed by its account key connect, each with its role's rights.
	Auth *natsauth.Keys
	// Listen is the client listener, host:port; port -1 picks a free port (default 127.0.0.1:-1).
	Listen string
	// SyncInterval is how often JetStream fsyncs; 0 means always: every acknowledged
	// write is on disk. Anything else trades durability for speed and is only for
	// labelled benchmark comparisons.
	SyncInterval time.Duration
	// ReadyTimeout bounds the wait for the server to accept connections (default 10s).
	ReadyTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:-1"
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 10 * time.Second
	}
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.StoreDir == "" {
		errs = append(errs, errors.New("embedded: StoreDir is required"))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("embedded: Auth is required: the server never runs without authentication"))
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("embedded: listen %q: %w", c.Listen, err))
	} else if _, err := strconv.Atoi(port); err != nil {
		errs = append(errs, fmt.Errorf("embedded: listen %q: port is not a number", c.Listen))
	}
	return errors.Join(errs...)
}

// Start runs a JetStream server and waits until it accepts connections. The caller
// shuts it down with Shutdown and WaitForShutdown.
func Start(cfg Config) (*server.Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, portStr, _ := net.SplitHostPort(cfg.Listen)
	port, _ := strconv.Atoi(portStr)
	opts := &server.Options{
		ServerName: "ledgerdesk",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		// SyncAlways makes every write fsync before its ack: the `sync_interval: always` setting.
		SyncAlways:   cfg.SyncInterval == 0,
		SyncInterval: cfg.SyncInterval,
	}
	if err := cfg.Auth.ConfigureServer(opts); err != nil {
		return nil, fmt.Errorf("start nats-server: %w", err)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start nats-server: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(cfg.ReadyTimeout) {
		s.Shutdown()
		return nil, fmt.Errorf("start nats-server: not ready within %s", cfg.ReadyTimeout)
	}
	return s, nil
}
