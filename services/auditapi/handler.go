package auditapi

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// HandlerConfig wires the audit API.
type HandlerConfig struct {
	Wiring
	Store *events.Store // required: the log, for the event a proof is asked for
	// MaxWait bounds how long a proof waits for the tree to reach the checkpoint it is
	// asked against (default 5s); then it answers 503.
	MaxWait time.Duration
}

// Handler serves /v1/audit/: the newest checkpoint, the verifier key, and proofs.
type Handler struct {
	cfg    HandlerConfig
	routes *httpx.Routes
}

// NewHandler returns the audit API; it refuses missing dependencies.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	err := cfg.validate()
	if cfg.Store == nil {
		err = errors.Join(err, errors.New("auditapi: Store is required"))
	}
	if err != nil {
		return nil, err
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 5 * time.Second
	}
	h := &Handler{cfg: cfg, routes: httpx.NewRoutes()}
	rs := h.routes
	size := httpx.Param{Name: "size", Description: "the tree size to prove against (default: the newest checkpoint's)"}
	access.Handle(rs, access.OpAuditRead, httpx.Route{Method: "GET", Path: "/v1/audit/checkpoint", ID: "getCheckpoint",
		Summary: "The newest signed checkpoint of the log's Merkle tree (C2SP tlog-checkpoint, an Ed25519 signed note)", ResponseType: "text/plain"},
		h.fail(h.checkpoint))
	access.Handle(rs, access.OpAuditRead, httpx.Route{Method: "GET", Path: "/v1/audit/key", ID: "getCheckpointKey",
		Summary: "The verifier key of the log's checkpoints (note format): keep it apart from the server", ResponseType: "text/plain"},
		h.fail(h.key))
	access.Handle(rs, access.OpAuditRead, httpx.Route{Method: "GET", Path: "/v1/audit/proof", ID: "getInclusionProof",
		Summary: "The proof that the event at a stream sequence is in the log's tree (RFC 6962)", Response: InclusionJSON{},
		Query: []httpx.Param{{Name: "seq", Description: "the event's stream sequence", Required: true}, size}}, h.fail(h.inclusion))
	access.Handle(rs, access.OpAuditRead, httpx.Route{Method: "GET", Path: "/v1/audit/consistency", ID: "getConsistencyProof",
		Summary: "The proof that the tree of one size is a prefix of the tree of a larger one (RFC 6962)", Response: ConsistencyJSON{},
		Query: []httpx.Param{{Name: "from", Description: "the older tree size, e.g. a checkpoint's you kept", Required: true},
			{Name: "to", Description: "the newer tree size (default: the newest checkpoint's)"}}}, h.fail(h.consistency))
	return h, nil
}

// Routes are the audit API's routes.
func (h *Handler) Routes() *httpx.Routes { return h.routes }

// InclusionJSON is GET /v1/audit/proof.
type InclusionJSON struct {
	Seq       uint64   `json:"seq"`
	TicketID  string   `json:"ticket_id"`
	Tenant    string   `json:"tenant"`
	EventID   string   `json:"event_id"`
	Subject   string   `json:"subject"`    // the stored subject, part of the leaf
	EventHash string   `json:"event_hash"` // the hash the event's content has, the leaf's commitment
	LeafIndex uint64   `json:"leaf_index"`
	LeafHash  []byte   `json:"leaf_hash"` // base64
	TreeSize  uint64   `json:"tree_size"`
	Proof     [][]byte `json:"proof"` // base64 hashes, RFC 6962 order
	// Checkpoint is the signed checkpoint of TreeSize when it is the newest one.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// ConsistencyJSON is GET /v1/audit/consistency.
type ConsistencyJSON struct {
	From       uint64   `json:"from"`
	To         uint64   `json:"to"`
	Proof      [][]byte `json:"proof"` // base64 hashes, RFC 6962 order
	Checkpoint string   `json:"checkpoint,omitempty"`
}

func (h *Handler) fail(serve func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := serve(w, r); err != nil {
			httpx.Fail(w, r, h.cfg.Log, err)
		}
	}
}

var errNoCheckpoint = events.NewError(events.KindNotFound, "auditapi: no checkpoint", "the log has no signed checkpoint yet: one is signed every few seconds once it holds events")

func (h *Handler) latest(ctx context.Context) (audit.Stored, error) {
	st, err := audit.Latest(ctx, h.cfg.JS)
	if errors.Is(err, audit.ErrNoCheckpoint) {
		return st, errNoCheckpoint
	}
	return st, err
}

func writeText(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(b)
}

func (h *Handler) checkpoint(w http.ResponseWriter, r *http.Request) error {
	st, err := h.latest(r.Context())
	if err != nil {
		return err
	}
	writeText(w, st.Note)
	return nil
}

func (h *Handler) key(w http.ResponseWriter, _ *http.Request) error {
	writeText(w, []byte(h.cfg.Key.VKey+"\n"))
	return nil
}

func uintParam(r *http.Request, name string, required bool) (uint64, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" && !required {
		return 0, nil
	}
	v, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || v == 0 {
		return 0, &events.ValidationError{Field: name, Reason: "must be a whole number from 1"}
	}
	return v, nil
}

// against is the tree size a proof is asked against (the newest checkpoint's when size
// is 0) with that checkpoint's note, once the tree holds it.
func (h *Handler) against(ctx context.Context, size uint64) (uint64, string, error) {
	var note string
	if size == 0 {
		st, err := h.latest(ctx)
		if err != nil {
			return 0, "", err
		}
		cp, err := st.Open(h.cfg.Key.Verifier)
		if err != nil {
			return 0, "", err
		}
		size, note = cp.Size, string(st.Note)
	}
	deadline := time.Now().Add(h.cfg.MaxWait)
	for h.cfg.Tree.TreeHead().Size < size {
		if time.Now().After(deadline) {
			return 0, "", events.NewError(events.KindUnavailable, "auditapi: tree behind",
				"the read models have not reached that tree size yet (they hold "+strconv.FormatUint(h.cfg.Tree.TreeHead().Size, 10)+" messages); retry")
		}
		select {
		case <-ctx.Done():
			return 0, "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return size, note, nil
}

func (h *Handler) inclusion(w http.ResponseWriter, r *http.Request) error {
	seq, err := uintParam(r, "seq", true)
	if err != nil {
		return err
	}
	size, err := uintParam(r, "size", false)
	if err != nil {
		return err
	}
	ev, err := h.cfg.Store.Get(r.Context(), seq)
	var undecodable *events.Undecodable
	if errors.Is(err, events.ErrNotFound) || errors.As(err, &undecodable) || (err == nil && !access.From(r.Context()).Allows(ev.Tenant)) {
		// Another tenant's event, and a message that is no event (readers refuse it; audit
		// verify names it), answer as one that does not exist.
		return events.NewError(events.KindNotFound, "auditapi: no event", "no event at that stream sequence")
	}
	if err != nil {
		return err
	}
	size, note, err := h.against(r.Context(), size)
	if err != nil {
		return err
	}
	if seq > size {
		return &events.ValidationError{Field: "seq", Reason: "is after the tree size proved against (" + strconv.FormatUint(size, 10) + "): ask again once a newer checkpoint covers it"}
	}
	entry := events.EntryOf(ev)
	index := seq - 1 // the log's sequences have no gaps (events.LeafHash)
	stored, err := h.cfg.Tree.Nodes([]compact.NodeID{compact.NewNodeID(0, index)})
	if err != nil {
		return err
	}
	if !bytes.Equal(stored[0], entry.Leaf) {
		return events.NewError(events.KindConflict, "auditapi: leaf differs",
			"the tree's leaf "+strconv.FormatUint(index, 10)+" is not this event's as the log holds it now: the event was changed after the read models took it in, or the log has a gap; run ledgerdesk audit verify")
	}
	proof, err := audit.InclusionProof(h.cfg.Tree, index, size)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, InclusionJSON{Seq: seq, TicketID: ev.TicketID, Tenant: ev.Tenant, EventID: ev.ID,
		Subject: entry.Subject, EventHash: events.ComputeHash(ev.Event, ev.RawData), LeafIndex: index, LeafHash: entry.Leaf,
		TreeSize: size, Proof: proof, Checkpoint: note})
	return nil
}

func (h *Handler) consistency(w http.ResponseWriter, r *http.Request) error {
	from, err := uintParam(r, "from", true)
	if err != nil {
		return err
	}
	to, err := uintParam(r, "to", false)
	if err != nil {
		return err
	}
	to, note, err := h.against(r.Context(), to)
	if err != nil {
		return err
	}
	if from > to {
		return &events.ValidationError{Field: "from", Reason: "is larger than the tree size proved against (" + strconv.FormatUint(to, 10) + ")"}
	}
	proof, err := audit.ConsistencyProof(h.cfg.Tree, from, to)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, ConsistencyJSON{From: from, To: to, Proof: proof, Checkpoint: note})
	return nil
}
