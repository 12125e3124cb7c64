package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
)

func TestProgressWaitFor(t *testing.T) {
	var p events.Progress
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- p.WaitFor(context.Background(), 2) }()
	}
	p.Set(1)
	select {
	case err := <-done:
		t.Fatalf("returned at seq 1: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.Set(2)
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter did not return at seq 2")
		}
	}
	if err := p.WaitFor(context.Background(), 2); err != nil || p.Seq() != 2 {
		t.Fatalf("at seq %d: %v", p.Seq(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.WaitFor(ctx, 3); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("past the deadline: %v", err)
	}
}
