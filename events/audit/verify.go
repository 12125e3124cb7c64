package audit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// The kinds of Problem. NB: `audit verify --json` prints them: never rename one.
const (
	ProblemAltered         = "altered"          // an event's content does not hash to its ce-hash
	ProblemBrokenLink      = "broken_link"      // an event's prevhash is not its ticket's previous event's hash
	ProblemMissingStart    = "missing_start"    // a ticket's first event in the log names a previous one
	ProblemSecondStart     = "second_start"     // an event with no prevhash in a ticket that has events
	ProblemTenantChanged   = "tenant_changed"   // an event claims another tenant than its ticket's
	ProblemUndecodable     = "undecodable"      // a message of the log that is not a ledgerdesk event
	ProblemGap             = "gap"              // stream sequences missing from the log
	ProblemSignature       = "signature"        // a checkpoint that the verifier key did not sign
	ProblemCheckpoint      = "checkpoint"       // the log's tree of a checkpoint's size has another root
	ProblemTruncated       = "truncated"        // a checkpoint covers more messages than the log holds
	ProblemCheckpointOrder = "checkpoint_order" // a checkpoint stored after a larger one
	ProblemNotIncluded     = "not_included"     // an exported event whose inclusion proof fails
	ProblemOutOfScope      = "out_of_scope"     // an exported event of another tenant or period
	ProblemExportCount     = "export_count"     // an export holds another number of events than its header says
)

// Problem is one thing a verification found wrong, with what names it.
type Problem struct {
	Kind string `json:"kind"`
	// Seq is the message's stream sequence; with LastSeq, a range: of missing messages, or
	// the messages a checkpoint that fails has a change among.
	Seq      uint64 `json:"seq,omitempty"`
	LastSeq  uint64 `json:"last_seq,omitempty"`
	Tenant   string `json:"tenant,omitempty"`
	TicketID string `json:"ticket_id,omitempty"`
	EventID  string `json:"event_id,omitempty"`
	// Expected and Actual are hashes (hex, or base64 for a tree root): what the event's
	// ce-hash, its ticket's chain or a checkpoint says, and what the log holds.
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
	// Checkpoint names the checkpoint a problem is about: its size and where it is from
	// (CHECKPOINTS seq N, or the file the auditor kept).
	CheckpointSize uint64 `json:"checkpoint_size,omitempty"`
	From           string `json:"from,omitempty"`
	Detail         string `json:"detail"`
}

func (p Problem) String() string { return p.Kind + ": " + p.Detail }

// Report is what a verification found.
type Report struct {
	Messages    uint64    `json:"messages"`    // messages of the log read
	Tickets     int       `json:"tickets"`     // tickets whose chains were checked
	Checkpoints int       `json:"checkpoints"` // checkpoints whose signature verified and whose root the log's tree matched
	TreeSize    uint64    `json:"tree_size"`
	Root        []byte    `json:"root"`
	Problems    []Problem `json:"problems"`
	// Seconds is how long reading and checking the log took (VerifyLog).
	Seconds float64 `json:"seconds"`
}

// OK reports whether everything held.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Claim is a signed checkpoint an auditor kept, to check the log against, with where it
// comes from (e.g. the file's path).
type Claim struct {
	Note []byte
	From string
}

// VerifyOptions configure a Verifier.
type VerifyOptions struct {
	// Key is the log's verifier key: only checkpoints it signed are believed.
	Key note.Verifier
	// Tenant, when set, limits the chain checks (and problems of events) to its tickets;
	// the tree and the checkpoints always cover the whole log.
	Tenant string
	// Kept are the checkpoints the auditor kept apart from the server. The log is checked
	// against them and against every checkpoint of CHECKPOINTS (AddStored).
	Kept []Claim
}

// Verifier checks the log message by message, in stream order (Add), then against
// every checkpoint (Finish). It is not safe for concurrent use.
type Verifier struct {
	opts     VerifyOptions
	rng      *compact.Range
	chains   map[string]*chain
	next     uint64              // the sequence the next message should have
	bySize   map[uint64][]signed // the believed checkpoints by size
	matched  int
	lastGood uint64 // the largest checkpoint size matched so far
	last     signed // the stored checkpoint added last
	report   Report
}

type chain struct {
	tenant string
	head   string // the hash its last event claims: what the next must name
	seq    uint64
}

// signed is what a believed checkpoint says of the tree (its size is its key in bySize),
// and where it is from: CHECKPOINTS seq, or the file it was kept in. It holds no note:
// a log's CHECKPOINTS may hold millions.
type signed struct {
	size uint64
	root []byte
	seq  uint64
	file string
}

func (s signed) from() string {
	if s.file != "" {
		return s.file
	}
	return fmt.Sprintf("CHECKPOINTS seq %d", s.seq)
}

// NewVerifier opens every kept checkpoint with the key (naming those that fail) before
// the log is read; AddStored adds the stored ones.
func NewVerifier(opts VerifyOptions) (*Verifier, error) {
	if opts.Key == nil {
		return nil, errors.New("audit: a verifier key is required")
	}
	v := &Verifier{opts: opts, rng: Ranges.NewEmptyRange(0), chains: map[string]*chain{}, next: 1, bySize: map[uint64][]signed{}}
	for _, c := range opts.Kept {
		v.believe(c.Note, signed{file: c.From})
	}
	return v, nil
}

// AddStored adds a checkpoint of CHECKPOINTS, in the order they were stored, before the
// log is read: its signature is checked, and that it does not shrink the log.
func (v *Verifier) AddStored(s Stored) {
	cp, ok := v.believe(s.Note, signed{seq: s.Seq})
	if !ok {
		return
	}
	if cp.size < v.last.size {
		v.problem(Problem{Kind: ProblemCheckpointOrder, CheckpointSize: cp.size, From: cp.from(),
			Detail: fmt.Sprintf("the checkpoint of %d messages (%s) is stored after one of %d (%s): checkpoints only grow", cp.size, cp.from(), v.last.size, v.last.from())})
	}
	v.last = cp
}

// believe opens a signed checkpoint from where: named when its signature fails, else
// kept by its size.
func (v *Verifier) believe(note []byte, where signed) (signed, bool) {
	cp, err := OpenCheckpoint(note, v.opts.Key)
	if err != nil {
		v.problem(Problem{Kind: ProblemSignature, From: where.from(), Detail: fmt.Sprintf("the checkpoint from %s is not signed by %s: %v", where.from(), v.opts.Key.Name(), err)})
		return signed{}, false
	}
	where.size, where.root = cp.Size, cp.Root
	v.bySize[cp.Size] = append(v.bySize[cp.Size], where)
	return where, true
}

func (v *Verifier) problem(p Problem) { v.report.Problems = append(v.report.Problems, p) }

// Add checks the next message of the log.
func (v *Verifier) Add(e events.LogEntry) {
	seq := e.Seq()
	if seq > v.next {
		v.problem(Problem{Kind: ProblemGap, Seq: v.next, LastSeq: seq - 1,
			Detail: fmt.Sprintf("messages seq %d to %d are missing from the log (it denies deletes: they were removed from its files)", v.next, seq-1)})
	}
	v.next = seq + 1
	v.report.Messages++
	// A range's Append fails only for a leaf of another range's factory.
	_ = v.rng.Append(e.Leaf, nil)
	if claims := v.bySize[v.rng.End()]; len(claims) > 0 {
		v.checkRoot(claims)
	}
	if e.Undecodable != nil {
		_, tenant, ticket, _ := events.ParseStoredSubject(e.Subject)
		if v.opts.Tenant == "" || tenant == v.opts.Tenant {
			v.problem(Problem{Kind: ProblemUndecodable, Seq: seq, Tenant: tenant, TicketID: ticket,
				Detail: fmt.Sprintf("message seq %d on %s is not a ledgerdesk event: %v", seq, e.Subject, e.Undecodable.Err)})
		}
		return
	}
	v.link(seq, e.Event)
}

// link checks an event against its ticket's chain. The chain goes on from the hash the
// event claims, so that one altered event is named once, not with every event after it.
func (v *Verifier) link(seq uint64, c events.Checked) {
	r := c.Raw()
	if v.opts.Tenant != "" && r.Tenant != v.opts.Tenant {
		return
	}
	named := Problem{Seq: seq, Tenant: r.Tenant, TicketID: r.TicketID, EventID: r.ID}
	if sum := c.ContentHash(); sum != r.Hash {
		p := named
		p.Kind, p.Expected, p.Actual = ProblemAltered, r.Hash, sum
		p.Detail = fmt.Sprintf("event seq %d (%s, ticket %s) was altered: its content hashes to %s, not to its ce-hash %s", seq, r.Type, r.TicketID, sum, r.Hash)
		v.problem(p)
	}
	ch := v.chains[r.TicketID]
	if ch == nil {
		ch = &chain{tenant: r.Tenant}
		v.chains[r.TicketID] = ch
		v.report.Tickets++
		if r.PrevHash != "" {
			p := named
			p.Kind, p.Expected = ProblemMissingStart, r.PrevHash
			p.Detail = fmt.Sprintf("ticket %s's first event in the log (seq %d) names a previous event %s the log does not hold: its earlier events are missing", r.TicketID, seq, r.PrevHash)
			v.problem(p)
		}
	} else {
		switch {
		case r.PrevHash == "":
			p := named
			p.Kind = ProblemSecondStart
			p.Detail = fmt.Sprintf("event seq %d starts ticket %s again (no prevhash) after its event seq %d: inserted", seq, r.TicketID, ch.seq)
			v.problem(p)
		case r.PrevHash != ch.head:
			p := named
			p.Kind, p.Expected, p.Actual = ProblemBrokenLink, ch.head, r.PrevHash
			p.Detail = fmt.Sprintf("event seq %d of ticket %s names previous event %s, but the ticket's previous event in the log (seq %d) is %s: "+
				"an event between them is missing, or this one was inserted or reordered", seq, r.TicketID, r.PrevHash, ch.seq, ch.head)
			v.problem(p)
		}
		if r.Tenant != ch.tenant {
			p := named
			p.Kind, p.Expected, p.Actual = ProblemTenantChanged, ch.tenant, r.Tenant
			p.Detail = fmt.Sprintf("event seq %d of ticket %s claims tenant %s, but the ticket belongs to %s", seq, r.TicketID, r.Tenant, ch.tenant)
			v.problem(p)
		}
	}
	ch.head, ch.seq = r.Hash, seq
}

// checkRoot compares the tree's root with the checkpoints of its size.
func (v *Verifier) checkRoot(claims []signed) {
	root, err := Root(v.rng)
	if err != nil {
		return // a range that starts at 0 always has a root
	}
	size := v.rng.End()
	for _, c := range claims {
		if bytes.Equal(root, c.root) {
			v.matched++
			v.lastGood = max(v.lastGood, size)
			continue
		}
		v.problem(Problem{Kind: ProblemCheckpoint, Seq: v.lastGood + 1, LastSeq: size, CheckpointSize: size, From: c.from(), Expected: b64(c.root), Actual: b64(root),
			Detail: fmt.Sprintf("the log's first %d messages do not hash to the checkpoint of that size (%s): a message after seq %d and up to seq %d "+
				"was altered, inserted or removed since it was signed", size, c.from(), v.lastGood, size)})
	}
}

// Finish checks the checkpoints the log did not reach and returns the report.
func (v *Verifier) Finish() Report {
	sizes := slices.Sorted(func(yield func(uint64) bool) {
		for s := range v.bySize {
			if !yield(s) {
				return
			}
		}
	})
	for _, size := range sizes {
		if size <= v.rng.End() {
			continue
		}
		for _, c := range v.bySize[size] {
			v.problem(Problem{Kind: ProblemTruncated, Seq: v.rng.End() + 1, LastSeq: size, CheckpointSize: size, From: c.from(),
				Detail: fmt.Sprintf("the checkpoint of %d messages (%s) covers more than the %d the log holds: messages were removed from it (see the gaps named) "+
					"or its tail was cut, e.g. an older copy of the store restored", size, c.from(), v.rng.End())})
		}
	}
	v.report.TreeSize = v.rng.End()
	v.report.Root, _ = Root(v.rng)
	v.report.Checkpoints = v.matched
	slices.SortStableFunc(v.report.Problems, func(a, b Problem) int { return cmp.Compare(a.Seq, b.Seq) })
	return v.report
}

// VerifyLog reads the whole ticket log from js and checks it (see Verifier); progress,
// when set, is told of every message read and of the log's last sequence. The log read
// is the one at the start: events appended meanwhile are left for the next run.
func VerifyLog(ctx context.Context, js jetstream.JetStream, opts VerifyOptions, progress func(seq, last uint64)) (Report, error) {
	v, err := NewVerifier(opts)
	if err != nil {
		return Report{}, err
	}
	if err := EachStored(ctx, js, func(s Stored) error { v.AddStored(s); return nil }); err != nil {
		return Report{}, err
	}
	start := time.Now()
	err = events.WalkLog(ctx, js, true, func(e events.LogEntry, last uint64) error {
		v.Add(e)
		if progress != nil {
			progress(e.Seq(), last)
		}
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("audit: %w", err)
	}
	r := v.Finish()
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}
