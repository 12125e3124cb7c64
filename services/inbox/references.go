package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// references are the external references of tickets, in the REFERENCES KV bucket: one key
// per (tenant, ce-source, external_id), naming the ticket last opened for it.
type references struct{ kv jetstream.KeyValue }

// reference is an entry's value. NB: stored contract.
type reference struct {
	Ticket     string `json:"ticket"`
	Source     string `json:"source"`
	ExternalID string `json:"external_id"`
}

// referenceKey is the bucket key of a reference: <tenant>.<hash>.
func referenceKey(tenant, source, externalID string) string {
	return tenant + "." + hashKey(tenant, source, externalID)
}

// get returns the ticket the reference names and the entry's revision; "" and 0 when it
// names none.
func (r references) get(ctx context.Context, key string) (string, uint64, error) {
	e, err := r.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("inbox: reference %s: %w", key, err)
	}
	var ref reference
	if err := json.Unmarshal(e.Value(), &ref); err != nil {
		return "", 0, fmt.Errorf("inbox: reference %s undecodable: %w", key, err)
	}
	return ref.Ticket, e.Revision(), nil
}

// set makes the reference name ref.Ticket: a new entry when rev is 0, else a replacement
// of revision rev. It reports false, without error, when another writer changed the entry
// first.
func (r references) set(ctx context.Context, key string, ref reference, rev uint64) (bool, error) {
	b, err := json.Marshal(ref)
	if err != nil {
		return false, err
	}
	if rev == 0 {
		_, err = r.kv.Create(ctx, key, b)
	} else {
		_, err = r.kv.Update(ctx, key, b, rev)
	}
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists),
		errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence:
		return false, nil
	}
	return false, fmt.Errorf("inbox: set reference %s: %w", key, err)
}
