package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events"
)

func TestConfigVersions(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.CurrentConfig(ctx, "acme"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("no config yet: %v, want ErrNotFound", err)
	}
	v1, err := s.ApplyConfig(ctx, "acme", json.RawMessage(`{"tenant":"acme","n":1}`), "admin")
	if err != nil || v1.Version != 1 {
		t.Fatalf("first apply: %+v, %v", v1, err)
	}
	if _, err := s.ApplyConfig(ctx, "globex", json.RawMessage(`{"tenant":"globex"}`), "admin"); err != nil {
		t.Fatal(err)
	}
	v2, err := s.ApplyConfig(ctx, "acme", json.RawMessage(`{"tenant":"acme","n":2}`), "admin")
	if err != nil || v2.Version != 2 {
		t.Fatalf("second apply: %+v, %v", v2, err)
	}
	cur, err := s.CurrentConfig(ctx, "acme")
	if err != nil || cur.Version != 2 || cur.Sequence != v2.Sequence || string(cur.Document) != `{"tenant":"acme","n":2}` || cur.Actor != "admin" {
		t.Fatalf("current = %+v, %v", cur, err)
	}
	for v, want := range map[uint64]string{1: `{"tenant":"acme","n":1}`, 2: `{"tenant":"acme","n":2}`} {
		got, err := s.ConfigAt(ctx, "acme", v)
		if err != nil || got.Version != v || string(got.Document) != want {
			t.Fatalf("ConfigAt(%d) = %+v, %v", v, got, err)
		}
	}
	if _, err := s.ConfigAt(ctx, "acme", 3); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("ConfigAt(3) = %v, want ErrNotFound", err)
	}
}

func TestConcurrentConfigAppliesGetDistinctVersions(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const n = 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		versions = map[uint64]bool{}
		conflict int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.ApplyConfig(ctx, "acme", json.RawMessage(`{}`), "admin")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, events.ErrConflict):
				conflict++
			case err != nil:
				t.Error(err)
			case versions[v.Version]:
				t.Errorf("version %d handed out twice", v.Version)
			default:
				versions[v.Version] = true
			}
		}()
	}
	wg.Wait()
	cur, err := s.CurrentConfig(ctx, "acme")
	if err != nil || int(cur.Version) != len(versions) || len(versions)+conflict != n {
		t.Fatalf("current %+v after %d applied and %d conflicts", cur, len(versions), conflict)
	}
}

// TestConfigAfter: the first CONFIG message after a sequence, 0 when there is none.
func TestConfigAfter(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	after := func(seq uint64) uint64 {
		t.Helper()
		next, err := s.ConfigAfter(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	if got := after(0); got != 0 {
		t.Fatalf("empty stream: ConfigAfter(0) = %d, want 0", got)
	}
	v1, err := s.ApplyConfig(ctx, "acme", json.RawMessage(`{"tenant":"acme"}`), "admin")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := s.ApplyConfig(ctx, "globex", json.RawMessage(`{"tenant":"globex"}`), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if got := after(0); got != v1.Sequence {
		t.Errorf("ConfigAfter(0) = %d, want %d", got, v1.Sequence)
	}
	if got := after(v1.Sequence); got != v2.Sequence {
		t.Errorf("ConfigAfter(%d) = %d, want %d", v1.Sequence, got, v2.Sequence)
	}
	if got := after(v2.Sequence); got != 0 {
		t.Errorf("ConfigAfter(last) = %d, want 0", got)
	}
}
