package events_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// The payload decoder (segmentio/encoding's json, for speed) decodes exactly as
// encoding/json: every golden payload of the contracts, and whatever the fuzzer makes of
// them, decodes to the same value under either, or fails under both.
func FuzzPayloadDecodingMatchesEncodingJSON(f *testing.F) {
	types := events.PayloadTypes()
	paths, err := filepath.Glob("../contracts/golden/*.json")
	if err != nil || len(paths) == 0 {
		f.Fatalf("no golden payloads in ../contracts/golden: %v", err)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		for i, pt := range types {
			if pt.EventType == strings.TrimSuffix(filepath.Base(path), ".json") {
				f.Add(uint8(i), data)
			}
		}
	}
	f.Add(uint8(0), []byte(`{"Title":"case","TITLE":"insensitive","title":"last"}`))
	f.Add(uint8(0), []byte("{\"title\":\"\xff\xfe\",\"labels\":null}"))
	f.Add(uint8(1), []byte(`{"unknown":{"nested":[1,2,{"x":null}]},"group":7}`))
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		pt := types[int(typ)%len(types)]
		got, gotErr := events.DecodePayload(pt.EventType, data)
		want := reflect.New(pt.Go)
		wantErr := json.Unmarshal(data, want.Interface())
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%s %q: decoded with error %v, encoding/json's %v", pt.EventType, data, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want.Elem().Interface()) {
			t.Fatalf("%s %q: decoded to %#v, encoding/json to %#v", pt.EventType, data, got, want.Elem().Interface())
		}
	})
}
