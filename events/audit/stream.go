package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"
)

// The checkpoints' stream: every signed checkpoint on one subject, in the order they were
// signed, nothing deleted or purged. NB: wire names; never rename.
const (
	StreamName = "CHECKPOINTS"
	Subject    = "checkpoints"
	// HeaderVerifierKey carries the signer's verifier key beside each checkpoint, for an
	// auditor to note once (trust on first use); keep it apart from the log's operator.
	HeaderVerifierKey = "Ledgerdesk-Verifier-Key"
)

// StreamConfig is the CHECKPOINTS stream: file storage, deny delete and purge, direct gets.
func StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: StreamName, Description: "ledgerdesk: signed checkpoints of the ticket log's Merkle tree (C2SP tlog-checkpoint)",
		Subjects: []string{Subject}, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
		DenyDelete: true, DenyPurge: true, Duplicates: 2 * time.Minute, AllowDirect: true, MaxMsgSize: 64 << 10}
}

// Stored is a checkpoint as CHECKPOINTS holds it.
type Stored struct {
	Seq  uint64 // its stream sequence in CHECKPOINTS
	Note []byte // the signed note
	// VKey is the verifier key it was published with (HeaderVerifierKey): a claim, not a
	// proof, until compared with the operator's out of band.
	VKey string
}

// ErrNoCheckpoint is returned when CHECKPOINTS holds none yet.
var ErrNoCheckpoint = errors.New("audit: no checkpoint yet")

// Latest reads the newest checkpoint stored (ErrNoCheckpoint when there is none).
func Latest(ctx context.Context, js jetstream.JetStream) (Stored, error) {
	s, err := js.Stream(ctx, StreamName)
	if err != nil {
		return Stored{}, fmt.Errorf("audit: stream %s: %w", StreamName, err)
	}
	m, err := s.GetLastMsgForSubject(ctx, Subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Stored{}, ErrNoCheckpoint
	}
	if err != nil {
		return Stored{}, fmt.Errorf("audit: the latest checkpoint: %w", err)
	}
	return Stored{Seq: m.Sequence, Note: m.Data, VKey: m.Header.Get(HeaderVerifierKey)}, nil
}

// Publish appends a signed checkpoint after the one at stream sequence after (0: none
// yet), so that checkpoints are stored in the order of their sizes even when two signers
// race: the loser's publish fails with a wrong last sequence (events.IsWrongLastSequence). Signing the
// same size twice is harmless: its id dedupes it.
func Publish(ctx context.Context, js jetstream.JetStream, key *Key, cp Checkpoint, after uint64) (uint64, error) {
	m := nats.NewMsg(Subject)
	m.Data = cp.Note
	m.Header.Set(HeaderVerifierKey, key.VKey)
	m.Header.Set(jetstream.MsgIDHeader, key.Origin()+":"+strconv.FormatUint(cp.Size, 10))
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(after, 10))
	ack, err := js.PublishMsg(ctx, m, jetstream.WithExpectStream(StreamName))
	if err != nil {
		return 0, fmt.Errorf("audit: publish checkpoint %d: %w", cp.Size, err)
	}
	return ack.Sequence, nil
}

// ReadAll reads every checkpoint stored, oldest first.
func ReadAll(ctx context.Context, js jetstream.JetStream) ([]Stored, error) {
	var out []Stored
	err := EachStored(ctx, js, func(s Stored) error { out = append(out, s); return nil })
	return out, err
}

// EachStored hands every checkpoint stored to each, oldest first, reading them in
// batches: a year's log holds millions.
func EachStored(ctx context.Context, js jetstream.JetStream, each func(Stored) error) error {
	s, err := js.Stream(ctx, StreamName)
	if err != nil {
		return fmt.Errorf("audit: stream %s: %w", StreamName, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		return err
	}
	defer msgs.Stop()
	for {
		m, err := msgs.Next()
		if err != nil {
			return fmt.Errorf("audit: read checkpoints: %w", err)
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if err := each(Stored{Seq: md.Sequence.Stream, Note: m.Data(), VKey: m.Headers().Get(HeaderVerifierKey)}); err != nil {
			return err
		}
		if md.Sequence.Stream >= info.State.LastSeq {
			return nil
		}
	}
}

// Open checks a stored checkpoint's signature with v.
func (s Stored) Open(v note.Verifier) (Checkpoint, error) { return OpenCheckpoint(s.Note, v) }
