package decoders

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// edgeCases mutate one small corpus record into inputs whose encoding/json
// semantics are subtle. The hand-written decoder hands all of these to
// encoding/json (or matches it), so it is the reference.
func edgeCases(base []byte) []struct {
	name string
	raw  []byte
} {
	type tc = struct {
		name string
		raw  []byte
	}
	rep := func(old, new string) []byte {
		if !bytes.Contains(base, []byte(old)) {
			panic("edge case: no " + old)
		}
		return bytes.Replace(base, []byte(old), []byte(new), 1)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, base, "", "  "); err != nil {
		panic("edge case: base record: " + err.Error())
	}
	deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	return []tc{
		{"as is", base},
		{"indented (pretty-printed)", indented.Bytes()},
		{"key differs in case: \"Type\"", rep(`"type":`, `"Type":`)},
		{"duplicate key \"type\" (last wins in v1)", rep(`{`, `{"type":"peerToPeer",`)},
		{"escaped key \"\\u0074ype\"", rep(`"type":`, `"\u0074ype":`)},
		{"escaped string value \\u0043", rep(`"type":"groupCall"`, `"type":"group\u0043all"`)},
		{"invalid UTF-8 in a string", rep(`"type":"groupCall"`, "\"type\":\"group\xffCall\"")},
		{"lone surrogate \\ud800 in a string", rep(`"type":"groupCall"`, `"type":"group\ud800Call"`)},
		{"raw control character in a string", rep(`"type":"groupCall"`, "\"type\":\"group\tCall\"")},
		{"null for a string field", rep(`"type":"groupCall"`, `"type":null`)},
		{"number for a string field", rep(`"type":"groupCall"`, `"type":5`)},
		{"string for an int64 field", rep(`"version":3`, `"version":"3"`)},
		{"float for an int64 field", rep(`"version":3`, `"version":3.0`)},
		{"exponent for an int64 field", rep(`"version":3`, `"version":3e0`)},
		{"null for a Time field", rep(`"endDateTime":"`, `"endDateTime":null,"x":"`)},
		{"Time without zone", rep(`Z","id"`, `","id"`)},
		{"null modalities", rep(`"modalities":["audio","video"]`, `"modalities":null`)},
		{"empty modalities", rep(`"modalities":["audio","video"]`, `"modalities":[]`)},
		{"trailing garbage after the record", append(append([]byte(nil), base...), 'x')},
		{"trailing second value", append(append([]byte(nil), base...), []byte(" {}")...)},
		{"unknown member nested 10001 deep", rep(`{`, `{"x":`+deep+`,`)},
		{"truncated record", base[:len(base)/2]},
	}
}

func outcome(rec schemas.CallRecord, err error) string {
	if err != nil {
		s := err.Error()
		if len(s) > 60 {
			s = s[:60] + "…"
		}
		return "error: " + s
	}
	return fmt.Sprintf("ok type=%q modalities=%#v", rec.Type, rec.Modalities)
}

// TestEdgeCases prints, for each mutation, each decoder's outcome where it
// differs from the hand-written decoder's (encoding/json semantics). A
// library that differs is only logged: that documents its semantics. The
// hand-written decoder itself must agree with encoding/json (its fast path
// falls back to json.Unmarshal for anything it does not match exactly), so
// the test fails if hand rejects an input that encoding/json accepts, or
// otherwise disagrees with it — except that by design (field-level
// tolerance) it stores a value of the wrong type as NULL where
// encoding/json refuses the record with an UnmarshalTypeError.
func TestEdgeCases(t *testing.T) {
	recs := loadTestCorpus(t)
	var base []byte
	for _, r := range recs { // the smallest groupCall record with the fields the cases edit
		if bytes.Contains(r, []byte(`"version":3,"type":"groupCall","modalities":["audio","video"]`)) &&
			bytes.Contains(r, []byte(`Z","id"`)) && (base == nil || len(r) < len(base)) {
			base = r
		}
	}
	if base == nil {
		t.Fatal("no base record")
	}
	stdDec, ok := Lookup("std")
	if !ok {
		t.Fatal("no std decoder")
	}
	for _, c := range edgeCases(base) {
		want, werr := Decoders[0].Decode(c.raw)
		t.Logf("%-40s hand: %s", c.name, outcome(want, werr))
		std, serr := stdDec.Decode(c.raw)
		switch {
		case werr != nil && serr == nil:
			t.Errorf("%s: hand rejects what encoding/json accepts: %v", c.name, werr)
		case werr == nil && serr != nil:
			var typeErr *json.UnmarshalTypeError
			if !errors.As(serr, &typeErr) {
				t.Errorf("%s: hand accepts what encoding/json rejects (%v)", c.name, serr)
			}
		case werr == nil && !reflect.DeepEqual(want, std):
			t.Errorf("%s: hand and encoding/json decode different values: %s, %s", c.name, outcome(want, werr), outcome(std, serr))
		}
		for _, dec := range Decoders[1:] {
			got, err := func() (rec schemas.CallRecord, err error) {
				defer func() {
					if p := recover(); p != nil {
						err = fmt.Errorf("PANIC: %v", p)
					}
				}()
				return dec.Decode(c.raw)
			}()
			switch {
			case (err == nil) != (werr == nil):
				t.Logf("%-40s   %-9s DIFFERS: %s", "", dec.Name, outcome(got, err))
			case err == nil && !reflect.DeepEqual(got, want):
				t.Logf("%-40s   %-9s DIFFERS: %s", "", dec.Name, outcome(got, err))
			}
		}
	}
}
