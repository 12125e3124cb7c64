package app_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/services/app"
	"github.com/ledgerdesk/ledgerdesk/services/auditapi"
)

// checkpointAtLeast polls GET /v1/audit/checkpoint until a checkpoint covers size
// messages, and returns it opened with the verifier key.
func (c *client) checkpointAtLeast(tok string, size uint64) audit.Checkpoint {
	c.t.Helper()
	key := c.doAs(tok, "GET", "/v1/audit/key", "")
	if key.status != http.StatusOK {
		c.t.Fatalf("GET /v1/audit/key: %d %s", key.status, key.body)
	}
	v, err := audit.ParseVerifierKey(string(key.body))
	if err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := c.doAs(tok, "GET", "/v1/audit/checkpoint", "")
		if r.status == http.StatusOK {
			cp, err := audit.OpenCheckpoint(r.body, v)
			if err != nil {
				c.t.Fatalf("checkpoint does not verify with the served key: %v\n%s", err, r.body)
			}
			if cp.Size >= size {
				return cp
			}
		} else if r.status != http.StatusNotFound {
			c.t.Fatalf("GET /v1/audit/checkpoint: %d %s", r.status, r.body)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no checkpoint of %d messages within 10s (last answer %d %s)", size, r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *client) seqOf(ticketID string) uint64 {
	c.t.Helper()
	raws, _, err := c.sys.Store.Load(context.Background(), ticketID)
	if err != nil {
		c.t.Fatal(err)
	}
	return raws[0].Sequence
}

// TestCheckpointsAndProofs: the running system signs checkpoints of the log's tree that
// verify with the key in <data>/credentials and the one served; every event's inclusion
// proof verifies against the checkpoint's root, a consistency proof links two
// checkpoints, and a tenant-scoped auditor gets proofs of its own tenant's events only.
func TestCheckpointsAndProofs(t *testing.T) {
	c := startWith(t, app.RunConfig{CheckpointInterval: 50 * time.Millisecond})
	if r := c.do("GET", "/v1/audit/checkpoint", ""); r.status != http.StatusNotFound && r.status != http.StatusOK {
		t.Fatalf("checkpoint of an empty log: %d %s", r.status, r.body)
	}
	var acme, globex []string
	for range 3 {
		acme = append(acme, openAs(c, token, "acme"))
		globex = append(globex, openAs(c, token, "globex"))
	}
	first := c.checkpointAtLeast(token, c.streamMsgs())

	vkeyFile, err := audit.ReadVerifierKey(filepath.Join(c.sys.DataDir(), app.CredentialsDir, audit.VerifierKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := audit.ParseVerifierKey(vkeyFile)
	if _, err := audit.OpenCheckpoint(first.Note, v); err != nil {
		t.Fatalf("the checkpoint does not verify with the key file: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(c.sys.DataDir(), app.CredentialsDir, audit.SigningKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing key: %v, mode %v", err, fi.Mode())
	}

	auditor := c.grant("acme-auditor", "auditor", "acme").Token
	for _, id := range append(acme, globex...) {
		seq := c.seqOf(id)
		r := c.doAs(auditor, "GET", "/v1/audit/proof?seq="+strconv.FormatUint(seq, 10), "")
		if contains(globex, id) {
			r.problem(t, http.StatusNotFound, "not-found")
			continue
		}
		if r.status != http.StatusOK {
			t.Fatalf("proof of seq %d: %d %s", seq, r.status, r.body)
		}
		var p auditapi.InclusionJSON
		r.json(t, &p)
		cp, err := audit.OpenCheckpoint([]byte(p.Checkpoint), v)
		if err != nil || cp.Size != p.TreeSize {
			t.Fatalf("the proof's checkpoint: %v (size %d, proof's %d)", err, cp.Size, p.TreeSize)
		}
		raw, err := c.sys.Store.Get(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		leaf := events.LeafHash(seq, p.Subject, raw.Hash)
		if !bytes.Equal(leaf, p.LeafHash) || p.TicketID != id || p.Tenant != "acme" {
			t.Fatalf("the proof names another leaf or event: %+v", p)
		}
		if err := audit.VerifyInclusion(p.LeafIndex, p.TreeSize, leaf, p.Proof, cp.Root); err != nil {
			t.Fatalf("inclusion of seq %d: %v", seq, err)
		}
	}

	// More events, a newer checkpoint, and the proof that the first one is its prefix.
	openAs(c, token, "acme")
	second := c.checkpointAtLeast(auditor, first.Size+1)
	r := c.doAs(auditor, "GET", "/v1/audit/consistency?from="+strconv.FormatUint(first.Size, 10), "")
	if r.status != http.StatusOK {
		t.Fatalf("consistency: %d %s", r.status, r.body)
	}
	var cons auditapi.ConsistencyJSON
	r.json(t, &cons)
	newest, err := audit.OpenCheckpoint([]byte(cons.Checkpoint), v)
	if err != nil || newest.Size < second.Size || cons.To != newest.Size {
		t.Fatalf("consistency answered against %d: %v", cons.To, err)
	}
	if err := audit.VerifyConsistency(first.Size, cons.To, cons.Proof, first.Root, newest.Root); err != nil {
		t.Fatalf("consistency of %d and %d: %v", first.Size, cons.To, err)
	}

	// Bad input, and roles that may not read the audit API.
	c.doAs(auditor, "GET", "/v1/audit/proof?seq=abc", "").problem(t, http.StatusBadRequest, "validation")
	c.doAs(auditor, "GET", "/v1/audit/proof", "").problem(t, http.StatusBadRequest, "validation")
	c.doAs(auditor, "GET", "/v1/audit/proof?seq=999999", "").problem(t, http.StatusNotFound, "not-found")
	c.doAs(auditor, "GET", "/v1/audit/consistency?from=999999", "").problem(t, http.StatusBadRequest, "validation")
	agent := c.grant("agent-1", "agent", "acme").Token
	c.doAs(agent, "GET", "/v1/audit/checkpoint", "").problem(t, http.StatusForbidden, "forbidden")
	if r := c.doAs("wrong", "GET", "/v1/audit/checkpoint", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("no token: %d", r.status)
	}
}

// openAs opens a ticket of tenant with token tok and returns its id.
func openAs(c *client, tok, tenant string) string {
	c.t.Helper()
	r := c.doAs(tok, "POST", "/v1/tickets", openBodyFor(tenant))
	if r.status != http.StatusCreated {
		c.t.Fatalf("open for %s: %d %s", tenant, r.status, r.body)
	}
	var tk ticket
	r.json(c.t, &tk)
	return tk.ID
}
