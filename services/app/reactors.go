package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/ledgerdesk/ledgerdesk/services/escalation"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
	"github.com/ledgerdesk/ledgerdesk/services/routing"
	"github.com/ledgerdesk/ledgerdesk/services/sla"
)

// reactors are the services that react to the ticket log, by name.
var reactors = map[string]func(context.Context, reactor.Config) (*reactor.Service, error){
	routing.Name:    routing.New,
	sla.Name:        sla.New,
	escalation.Name: escalation.New,
}

// ReactorNames lists the reacting services, sorted.
func ReactorNames() []string {
	out := make([]string, 0, len(reactors))
	for n := range reactors {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ServiceNames lists every service `run` can start beside intake, sorted.
func ServiceNames() []string {
	out := append(ReactorNames(), ReportingName)
	slices.Sort(out)
	return out
}

// Reactor is a reacting service running in the background.
type Reactor struct {
	svc     *reactor.Service
	done    chan error
	stopped atomic.Pointer[string] // why Run returned, once it has
}

// StartReactor starts the named reacting service with cfg (its connection, store and
// logger; the rest may stay zero) and returns once its handlers consume. Stop it with Stop.
func StartReactor(ctx context.Context, name string, cfg reactor.Config) (*Reactor, error) {
	newService, ok := reactors[name]
	if !ok {
		return nil, fmt.Errorf("unknown service %q (one of %s)", name, strings.Join(ReactorNames(), ", "))
	}
	svc, err := newService(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	r := &Reactor{svc: svc, done: make(chan error, 1)}
	go func() {
		err := svc.Run(context.WithoutCancel(ctx))
		why := "stopped"
		if err != nil {
			why = err.Error()
		}
		r.stopped.Store(&why)
		r.done <- err
	}()
	select {
	case <-svc.Running():
		return r, nil
	case err := <-r.done:
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
}

// Problem is why the service is not consuming all it should ("" while it is): it
// stopped, or partition consumers it holds are not consuming.
func (r *Reactor) Problem() string {
	if why := r.stopped.Load(); why != nil {
		return r.svc.Name() + " stopped: " + *why
	}
	if d := r.svc.Detached(); len(d) > 0 {
		return r.svc.Name() + ": consumers not consuming: " + strings.Join(d, "; ")
	}
	return ""
}

// Stop stops the service, letting the message in flight finish, and returns once it has
// stopped (its OnStop work done: routing's last snapshot), even when closing failed.
func (r *Reactor) Stop() error {
	err := r.svc.Close()
	return errors.Join(err, <-r.done)
}
