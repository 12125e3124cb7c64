package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// ExportFormat is the version of an export file. NB: a persisted format: exports are
// kept and verified years later; a change of it gets a new version.
const ExportFormat = 1

// ExportHeader is the first line of an export: what it covers and the checkpoint every
// event's proof leads to.
type ExportHeader struct {
	Format     int       `json:"ledgerdesk_export"`
	Tenant     string    `json:"tenant"`
	From       time.Time `json:"from"` // events recorded at or after (ce-time)
	To         time.Time `json:"to"`   // and before
	Checkpoint string    `json:"checkpoint"`
	Events     int       `json:"events"` // the event lines that follow
}

// ExportedEvent is one line after the header: a tenant's event as a structured
// CloudEvent with its place in the log and its inclusion proof.
type ExportedEvent struct {
	Event events.Structured `json:"event"`
	// DataBase64 holds the data's bytes as stored when the event's data member does not
	// re-encode to them (the hash covers the bytes).
	DataBase64    []byte   `json:"data_base64,omitempty"`
	StoredSubject string   `json:"stored_subject"`
	LeafIndex     uint64   `json:"leaf_index"`
	Proof         [][]byte `json:"proof"`
}

// ExportOptions say what an export holds.
type ExportOptions struct {
	Tenant   string
	From, To time.Time
	Key      note.Verifier // the log's verifier key: the checkpoint must verify with it
}

// ErrNoCheckpointToExport is returned when there is no checkpoint to prove events against.
var ErrNoCheckpointToExport = errors.New("audit: the log has no checkpoint yet to prove an export against")

// Export writes the tenant's events recorded in [From, To) that the newest checkpoint
// covers, with their inclusion proofs against it, as JSON lines (ExportHeader, then one
// ExportedEvent per event, in stream order). It reads the whole log, as the proofs need
// its tree, and refuses when the log's tree does not match the checkpoint. It returns
// the events written and how many of the tenant's events in the period came after the
// checkpoint (left out: export again once a newer checkpoint covers them).
func Export(ctx context.Context, js jetstream.JetStream, opts ExportOptions, w io.Writer) (written, after int, err error) {
	st, err := Latest(ctx, js)
	if errors.Is(err, ErrNoCheckpoint) {
		return 0, 0, ErrNoCheckpointToExport
	}
	if err != nil {
		return 0, 0, err
	}
	cp, err := st.Open(opts.Key)
	if err != nil {
		return 0, 0, fmt.Errorf("the newest checkpoint (CHECKPOINTS seq %d): %w", st.Seq, err)
	}
	tree := NewMemoryTree()
	var picked []ExportedEvent
	err = events.WalkLog(ctx, js, true, func(e events.LogEntry, _ uint64) error {
		index := tree.Size()
		tree.Append(e.Leaf)
		if e.Undecodable != nil {
			return nil
		}
		r := e.Event.Raw()
		switch {
		case r.Tenant != opts.Tenant || r.Time.Before(opts.From) || !r.Time.Before(opts.To):
		case index >= cp.Size:
			after++
		default:
			picked = append(picked, ExportedEvent{Event: r.ToStructured(), StoredSubject: e.Subject, LeafIndex: index})
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("audit: %w", err)
	}
	if tree.Size() < cp.Size {
		return 0, 0, fmt.Errorf("the log holds %d messages, fewer than the newest checkpoint's %d: run ledgerdesk audit verify", tree.Size(), cp.Size)
	}
	if root, err := tree.RootAt(cp.Size); err != nil || !bytes.Equal(root, cp.Root) {
		return 0, 0, fmt.Errorf("the log's first %d messages do not match the newest checkpoint: run ledgerdesk audit verify", cp.Size)
	}
	out := bufio.NewWriter(w)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ExportHeader{Format: ExportFormat, Tenant: opts.Tenant, From: opts.From.UTC(), To: opts.To.UTC(),
		Checkpoint: string(cp.Note), Events: len(picked)}); err != nil {
		return 0, 0, err
	}
	for _, x := range picked {
		if x.Proof, err = InclusionProof(tree, x.LeafIndex, cp.Size); err != nil {
			return 0, 0, err
		}
		if !reencodes(x.Event.Data) {
			x.DataBase64 = x.Event.Data
		}
		if err := enc.Encode(x); err != nil {
			return 0, 0, err
		}
	}
	return len(picked), after, out.Flush()
}

// reencodes reports whether data comes back byte for byte from an export's data member.
func reencodes(data json.RawMessage) bool {
	var buf bytes.Buffer
	return json.Compact(&buf, data) == nil && bytes.Equal(buf.Bytes(), data)
}

// VerifyExport checks an export offline, with only the log's verifier key: the
// checkpoint's signature, and for every event that its content hashes to its hash, that
// it belongs to the export's tenant and period, and that its proof puts it at its place
// in the signed tree. It names every problem (Report.Problems). An export proves that each
// event it holds is in the log as the checkpoint signed it; it cannot prove that none was
// left out (audit verify over the log can).
func VerifyExport(r io.Reader, key note.Verifier) (Report, error) {
	start := time.Now()
	dec := json.NewDecoder(r)
	var h ExportHeader
	if err := dec.Decode(&h); err != nil {
		return Report{}, fmt.Errorf("audit: not an export: its first line: %w", err)
	}
	if h.Format != ExportFormat {
		return Report{}, fmt.Errorf("audit: export format %d, want %d", h.Format, ExportFormat)
	}
	var rep Report
	problem := func(p Problem) { rep.Problems = append(rep.Problems, p) }
	cp, err := OpenCheckpoint([]byte(h.Checkpoint), key)
	if err != nil {
		problem(Problem{Kind: ProblemSignature, From: "the export", Detail: fmt.Sprintf("the export's checkpoint is not signed by %s: %v", key.Name(), err)})
		return rep, nil
	}
	rep.TreeSize, rep.Root, rep.Checkpoints = cp.Size, cp.Root, 1
	tickets := map[string]bool{}
	for n := 0; ; n++ {
		var x ExportedEvent
		if err := dec.Decode(&x); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return rep, fmt.Errorf("audit: export line %d: %w", n+2, err)
		}
		rep.Messages++
		ev, err := x.Event.Envelope()
		if err == nil && x.DataBase64 != nil {
			ev.RawData = x.DataBase64
		}
		named := Problem{Seq: x.Event.Sequence, Tenant: x.Event.Tenant, TicketID: x.Event.Subject, EventID: x.Event.ID}
		if err != nil {
			p := named
			p.Kind, p.Detail = ProblemUndecodable, fmt.Sprintf("export line %d: %v", n+2, err)
			problem(p)
			continue
		}
		tickets[ev.TicketID] = true
		sum := events.ComputeHash(ev.Event, ev.RawData)
		if sum != ev.Hash {
			p := named
			p.Kind, p.Expected, p.Actual = ProblemAltered, ev.Hash, sum
			p.Detail = fmt.Sprintf("event seq %d (%s, ticket %s) was altered: its content hashes to %s, not to its hash %s", ev.Sequence, ev.Type, ev.TicketID, sum, ev.Hash)
			problem(p)
		}
		if ev.Tenant != h.Tenant || ev.Time.Before(h.From) || !ev.Time.Before(h.To) {
			p := named
			p.Kind = ProblemOutOfScope
			p.Detail = fmt.Sprintf("event seq %d (tenant %s, %s) is not of the export's tenant %s and period", ev.Sequence, ev.Tenant, x.Event.Time, h.Tenant)
			problem(p)
		}
		leaf := events.LeafHash(ev.Sequence, x.StoredSubject, sum)
		if x.LeafIndex != ev.Sequence-1 || VerifyInclusion(x.LeafIndex, cp.Size, leaf, x.Proof, cp.Root) != nil {
			p := named
			p.Kind = ProblemNotIncluded
			p.Detail = fmt.Sprintf("event seq %d (ticket %s) is not in the log the checkpoint of %d messages signed, as the export holds it: its proof fails", ev.Sequence, ev.TicketID, cp.Size)
			problem(p)
		}
	}
	if rep.Messages != uint64(h.Events) {
		problem(Problem{Kind: ProblemExportCount, Detail: fmt.Sprintf("the export's header says it holds %d events, but it holds %d: lines were removed or added", h.Events, rep.Messages)})
	}
	rep.Tickets, rep.Seconds = len(tickets), time.Since(start).Seconds()
	return rep, nil
}
