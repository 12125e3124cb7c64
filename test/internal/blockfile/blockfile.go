// Package blockfile changes a stopped nats-server's JetStream message block files as an
// attacker with file access would: it rewrites message records and fixes each record's
// own checksum, so that the server loads the changed store without a complaint. The
// audit tests use it to show that `ledgerdesk audit verify` names what was changed.
//
// The record layout is nats-server's (server/filestore.go, v2.15): total length (4 bytes,
// the high bit set when the record has headers), sequence (8), timestamp (8), subject
// length (2), subject, header length (4) and headers when present, the message, and a
// HighwayHash-64 of sequence, timestamp, subject, headers and message keyed with SHA-256
// of "<stream>-<block index>". Nothing here is copied from it; it is written from that
// description for these tests.
package blockfile

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/minio/highwayhash"
)

const (
	headerSize   = 22
	checksumSize = 8
	hasHeaders   = 1 << 31
	erased       = 1 << 63
	tombstone    = 1 << 62
)

// Record is one message of a block.
type Record struct {
	Seq     uint64
	TS      int64
	Subject string
	Header  []byte // the NATS header block as stored ("NATS/1.0\r\n..."), nil if none
	Data    []byte
}

// StreamDir is the directory of a stream's files in a store (StoreDir), for the one
// account that holds streams.
func StreamDir(storeDir, stream string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(storeDir, "jetstream", "*", "streams", stream))
	if err != nil {
		return "", err
	}
	if len(matches) != 1 {
		return "", fmt.Errorf("blockfile: %d directories of stream %s under %s", len(matches), stream, storeDir)
	}
	return matches[0], nil
}

// Read returns every record of the stream's blocks, in order.
func Read(storeDir, stream string) ([]Record, error) {
	var out []Record
	err := eachBlock(storeDir, stream, func(_ string, _ uint32, records []Record) error {
		out = append(out, records...)
		return nil
	})
	return out, err
}

// eachBlock parses each block of the stream and hands its path, index and records on.
func eachBlock(storeDir, stream string, each func(path string, index uint32, records []Record) error) error {
	dir, err := StreamDir(storeDir, stream)
	if err != nil {
		return err
	}
	blocks, err := filepath.Glob(filepath.Join(dir, "msgs", "*.blk"))
	if err != nil {
		return err
	}
	if len(blocks) == 0 {
		return fmt.Errorf("blockfile: no blocks in %s", dir)
	}
	for _, path := range blocks {
		index, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(path), ".blk"), 10, 32)
		if err != nil {
			return fmt.Errorf("blockfile: %s: %w", path, err)
		}
		buf, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		records, err := parse(buf)
		if err != nil {
			return fmt.Errorf("blockfile: %s: %w", path, err)
		}
		if err := each(path, uint32(index), records); err != nil {
			return err
		}
	}
	return nil
}

// Rewrite passes every record of the stream's blocks to change, in order, and writes the
// blocks back with what it returns (drop false) and each record's checksum fixed. It
// removes the stream's index (index.db), as a careful attacker would, so that the server
// rebuilds its state from the blocks. The server must be stopped.
func Rewrite(storeDir, stream string, change func(r *Record) (keep bool)) error {
	err := eachBlock(storeDir, stream, func(path string, index uint32, records []Record) error {
		var out []byte
		for _, r := range records {
			if !change(&r) {
				continue
			}
			var err error
			if out, err = appendRecord(out, stream, index, r); err != nil {
				return err
			}
		}
		return os.WriteFile(path, out, 0o640)
	})
	if err != nil {
		return err
	}
	dir, err := StreamDir(storeDir, stream)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, "msgs", "index.db")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func parse(buf []byte) ([]Record, error) {
	le := binary.LittleEndian
	var out []Record
	for i := 0; i < len(buf); {
		if len(buf)-i < headerSize+checksumSize {
			return nil, fmt.Errorf("a record at offset %d is cut short", i)
		}
		rl := le.Uint32(buf[i:])
		withHeaders := rl&hasHeaders != 0
		rl &^= hasHeaders
		if int(rl) > len(buf)-i || rl < headerSize+checksumSize {
			return nil, fmt.Errorf("record at offset %d: length %d", i, rl)
		}
		rec := buf[i : i+int(rl)]
		seq := le.Uint64(rec[4:])
		if seq&(erased|tombstone) != 0 {
			return nil, fmt.Errorf("record at offset %d is erased or a tombstone: not handled", i)
		}
		r := Record{Seq: seq, TS: int64(le.Uint64(rec[12:]))}
		p := headerSize
		slen := int(le.Uint16(rec[20:]))
		r.Subject = string(rec[p : p+slen])
		p += slen
		if withHeaders {
			hlen := int(le.Uint32(rec[p:]))
			p += 4
			r.Header = append([]byte(nil), rec[p:p+hlen]...)
			p += hlen
		}
		r.Data = append([]byte(nil), rec[p:len(rec)-checksumSize]...)
		out = append(out, r)
		i += int(rl)
	}
	return out, nil
}

func appendRecord(out []byte, stream string, index uint32, r Record) ([]byte, error) {
	le := binary.LittleEndian
	rl := headerSize + len(r.Subject) + len(r.Data) + checksumSize
	if r.Header != nil {
		rl += 4 + len(r.Header)
	}
	start := len(out)
	l := uint32(rl)
	if r.Header != nil {
		l |= hasHeaders
	}
	out = le.AppendUint32(out, l)
	out = le.AppendUint64(out, r.Seq)
	out = le.AppendUint64(out, uint64(r.TS))
	out = le.AppendUint16(out, uint16(len(r.Subject)))
	out = append(out, r.Subject...)
	if r.Header != nil {
		out = le.AppendUint32(out, uint32(len(r.Header)))
		out = append(out, r.Header...)
	}
	out = append(out, r.Data...)
	key := sha256.Sum256(fmt.Appendf(nil, "%s-%d", stream, index))
	hh, err := highwayhash.New64(key[:])
	if err != nil {
		return nil, err
	}
	hh.Write(out[start+4 : start+20])
	hh.Write([]byte(r.Subject))
	if r.Header != nil {
		hh.Write(r.Header)
	}
	hh.Write(r.Data)
	return hh.Sum(out), nil
}
