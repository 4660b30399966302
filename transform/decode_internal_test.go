package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// checkSameAsEncodingJSON decodes raw with the fast decoder and with
// encoding/json: whenever the fast one accepts raw, encoding/json must accept
// it too and give the same value, and the tolerant decoder must give that
// value and count the same unknown properties. It reports whether the fast
// one accepted.
func checkSameAsEncodingJSON(t *testing.T, name string, raw []byte) bool {
	t.Helper()
	var fast, slow, tolerant schemas.CallRecord
	fastRep, ok := decodeCallRecordFast(raw, &fast)
	err := json.Unmarshal(raw, &slow)
	if ok {
		if err != nil {
			t.Errorf("%s: fast decoder accepted what encoding/json refuses (%v):\n%s", name, err, raw)
		} else if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: fast decoder = %+v, encoding/json = %+v\n%s", name, fast, slow, raw)
		}
		tolerantRep, err := decodeTolerant(raw, &tolerant, "", callRecordKeys)
		if err != nil || !reflect.DeepEqual(fast, tolerant) {
			t.Errorf("%s: tolerant decoder = %+v, %v; fast decoder = %+v\n%s", name, tolerant, err, fast, raw)
		}
		if !reflect.DeepEqual(fastRep, tolerantRep) {
			t.Errorf("%s: fast decoder reports %+v, tolerant decoder %+v\n%s", name, fastRep, tolerantRep, raw)
		}
	}
	var fh, sh CallRecordHead
	hok := peekCallRecordFast(raw, &fh)
	herr := json.Unmarshal(raw, &sh)
	if hok {
		if herr != nil {
			t.Errorf("%s: fast head accepted what encoding/json refuses (%v):\n%s", name, herr, raw)
		} else if fh != sh {
			t.Errorf("%s: fast head = %+v, encoding/json = %+v", name, fh, sh)
		}
	}
	return ok && hok
}

// checkTolerant: where encoding/json accepts raw, the tolerant decoder gives
// the same value and sets nothing to NULL; where encoding/json refuses it,
// the tolerant decoder refuses it too or names what it set to NULL.
func checkTolerant(t *testing.T, name string, raw []byte) {
	t.Helper()
	var slow, tolerant schemas.CallRecord
	err := json.Unmarshal(raw, &slow)
	rep, terr := decodeTolerant(raw, &tolerant, "", callRecordKeys)
	switch {
	case err == nil && (terr != nil || rep.Invalid != nil || !reflect.DeepEqual(slow, tolerant)):
		t.Errorf("%s: encoding/json accepts, the tolerant decoder gives %v, %+v:\n%s", name, terr, rep, raw)
	case err != nil && terr == nil && rep.Invalid == nil:
		t.Errorf("%s: encoding/json refuses (%v), the tolerant decoder accepts without a NULL:\n%s", name, err, raw)
	}
}

func fixtures(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = b
	}
	return out
}

// simulatorRecords gives a month of the simulator's records at perDay calls
// a day, with at most bigMeetings of its big meetings (records over 1 MiB,
// one every other day, alike in shape and nine tenths of the bytes): the
// tests need one, the benchmark takes them all.
func simulatorRecords(t testing.TB, perDay, bigMeetings int) map[string][]byte {
	t.Helper()
	now := time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)
	sim := graphsim.New(graphsim.Config{Seed: 11, Now: func() time.Time { return now }, RecordsPerDay: perDay})
	out := map[string][]byte{}
	for _, id := range sim.Truth(now.Add(-30*24*time.Hour), now).IDs {
		raw, _ := sim.Record(id)
		if len(raw) > 1<<20 {
			if bigMeetings == 0 {
				continue
			}
			bigMeetings--
		}
		out[id] = raw
	}
	return out
}

// TestDecodeFast_SameAsEncodingJSON: on the fixtures and the simulator's
// records (Graph's shapes and quirks) the fast decoder gives exactly what
// encoding/json gives, and it does not leave them to the slow path.
func TestDecodeFast_SameAsEncodingJSON(t *testing.T) {
	inputs := fixtures(t)
	for id, raw := range simulatorRecords(t, 4, 1) {
		inputs[id] = raw
		var compact bytes.Buffer
		json.Compact(&compact, raw)
		inputs[id+" compact"] = compact.Bytes()
	}
	for name, raw := range inputs {
		if !checkSameAsEncodingJSON(t, name, raw) {
			t.Errorf("%s: fast decoder left a well-formed record to encoding/json", name)
		}
	}
}

// TestDecodeFast_Cases pins the encoding/json semantics the fast decoder must
// keep or leave to encoding/json.
func TestDecodeFast_Cases(t *testing.T) {
	const head = `"id":"a","version":2,"startDateTime":"2026-01-01T00:00:00Z"`
	endpoint := func(field string) string {
		return `{` + head + `,"sessions":[{"caller":{` + field + `}}]}`
	}
	tests := []struct {
		name string
		raw  string
		fast bool // whether the fast decoder handles it itself
	}{
		{"minimal", `{` + head + `}`, true},
		{"whitespace", " \t\n{ " + head + " ,\r\n\"sessions\" : [ ] } \n", true},
		{"empty lists and maps", `{` + head + `,"modalities":[],"sessions":[{"segments":[],"caller":{"identity":{}}}],"organizer":{}}`, true},
		{"null elements", `{` + head + `,"modalities":[null,"audio"],"sessions":[null,{"segments":[null]}],"participants":[null]}`, true},
		{"nulls everywhere", `{"id":null,"version":null,"type":null,"modalities":null,"startDateTime":null,"organizer":null,"organizer_v2":null,"sessions":null}`, true},
		{"identity nulls kept raw", `{` + head + `,"organizer":{"user":null,"phone":{ "id" : "+1" }}}`, true},
		{"feedback tokens", endpoint(`"feedback":{"tokens":{"Echo":true,"NoSound":null,"X":false}}`), true},
		{"escaped value", `{` + head + `,"type":"gr\u006fup\n\"call\""}`, true},
		{"unicode value", `{` + head + `,"type":"café 李娜"}`, true},
		{"invalid utf8 value", "{" + head + ",\"type\":\"a\xffb\"}", true},
		{"lone surrogate", `{` + head + `,"type":"\ud800"}`, true},
		{"unknown keys skipped", `{` + head + `,"@odata.context":"x","new":{"a":[1,-2.5e-3,true,false,null,{"b":"\""}]}}`, true},
		{"int32 max", endpoint(`"cpuCoresCount":2147483647`), true},
		{"int32 overflow", endpoint(`"cpuCoresCount":2147483648`), false},
		{"int64 overflow", `{"id":"a","version":9223372036854775808}`, false},
		{"negative zero", `{"id":"a","version":-0}`, true},
		{"fraction in int", `{"id":"a","version":1.0}`, false},
		{"exponent in int", `{"id":"a","version":1e2}`, false},
		{"string in int", `{"id":"a","version":"1"}`, false},
		{"number in string", `{"id":5}`, false},
		{"bool in string", `{"id":true}`, false},
		{"object in list of strings", `{` + head + `,"modalities":[{}]}`, false},
		{"duplicate key", `{` + head + `,"id":"b"}`, false},
		{"duplicate nested key", endpoint(`"name":"a","name":"b"`), false},
		{"case-folded key", `{"ID":"a","version":2}`, false},
		{"case-folded nested key", endpoint(`"Name":"a"`), false},
		{"escaped key", `{"\u0069d":"a"}`, false},
		{"non-ASCII key", `{` + head + `,"café":1}`, false},
		{"kelvin key", "{\"\u212a\":1}", false},
		{"top-level null", `null`, false},
		{"top-level array", `[]`, false},
		{"trailing garbage", `{` + head + `} x`, false},
		{"two values", `{` + head + `}{}`, false},
		{"truncated", `{` + head, false},
		{"bad literal", `{` + head + `,"x":nul}`, false},
		{"bad number", `{` + head + `,"x":01}`, false},
		{"bad escape", `{` + head + `,"x":"\q"}`, false},
		{"control character", "{" + head + ",\"x\":\"a\tb\"}", false},
		{"trailing comma", `{` + head + `,}`, false},
		{"NaN float", `{` + head + `,"sessions":[{"segments":[{"media":[{"streams":[{"averagePacketLossRate":"NaN","maxPacketLossRate":"0.5","averageJitter":"PT0.016S"}]}]}]}]}`, true},
		{"bad duration", `{` + head + `,"sessions":[{"segments":[{"media":[{"streams":[{"averageJitter":"1 second"}]}]}]}]}`, false},
		{"bad timestamp", `{"id":"a","startDateTime":"yesterday"}`, false},
		{"deep unknown", `{"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec schemas.CallRecord
			if _, got := decodeCallRecordFast([]byte(tt.raw), &rec); got != tt.fast {
				t.Errorf("decodeCallRecordFast(%s) ok = %v, want %v", tt.raw, got, tt.fast)
			}
			checkSameAsEncodingJSON(t, tt.name, []byte(tt.raw))
		})
	}
}

// TestDecodeFast_EveryField builds a record in which every property of every
// Graph type has a value and checks that the fast decoder reads every one of
// them (a property it did not know would send it to the slow path).
func TestDecodeFast_EveryField(t *testing.T) {
	raw, err := json.Marshal(fullValue(reflect.TypeFor[schemas.CallRecord]()))
	if err != nil {
		t.Fatal(err)
	}
	if !checkSameAsEncodingJSON(t, "full record", raw) {
		t.Fatalf("fast decoder left the full record to encoding/json:\n%s", raw)
	}
	var rec schemas.CallRecord
	decodeCallRecordFast(raw, &rec)
	if path := zeroField(reflect.ValueOf(rec), "CallRecord"); path != "" {
		t.Errorf("%s is empty after decoding the full record", path)
	}
}

// fullValue is a JSON-able value for Graph type t with every field set.
func fullValue(t reflect.Type) any {
	switch t {
	case reflect.TypeFor[schemas.Time]():
		return "2026-11-19T23:59:59.1234567Z"
	case reflect.TypeFor[schemas.Float]():
		return 0.25
	case reflect.TypeFor[schemas.Duration]():
		return "PT1M2.5S"
	case reflect.TypeFor[schemas.IdentitySet]():
		return map[string]any{"user": map[string]any{"id": "u", "displayName": "Zoë"}, "endpointType": "default"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return fullValue(t.Elem())
	case reflect.String:
		return "s-" + t.Name()
	case reflect.Bool:
		return true
	case reflect.Int32, reflect.Int64:
		return 42
	case reflect.Slice:
		return []any{fullValue(t.Elem())}
	case reflect.Map:
		return map[string]any{"Echo": fullValue(t.Elem())}
	case reflect.Struct:
		m := map[string]any{}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			m[name] = fullValue(t.Field(i).Type)
		}
		return m
	}
	panic("no value for " + t.String())
}

// zeroField returns the path of the first zero field under v, "" if none.
func zeroField(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return path
		}
		return zeroField(v.Elem(), path)
	case reflect.Slice:
		if v.Len() == 0 {
			return path
		}
		return zeroField(v.Index(0), path+"[0]")
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if v.Interface().(time.Time).IsZero() {
				return path
			}
			return ""
		}
		for i := range v.NumField() {
			if p := zeroField(v.Field(i), path+"."+v.Type().Field(i).Name); p != "" {
				return p
			}
		}
		return ""
	default:
		if v.IsZero() {
			return path
		}
		return ""
	}
}

// TestDecodeFast_Mutations damages records in many small ways (syntax errors,
// wrong types, nulls, escapes, case-folded and duplicate keys, odd numbers):
// whatever the fast decoder accepts must decode exactly as encoding/json
// decodes it, and what encoding/json refuses the fast decoder must refuse.
func TestDecodeFast_Mutations(t *testing.T) {
	var seeds [][]byte
	for _, raw := range fixtures(t) {
		seeds = append(seeds, raw)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	n := 3000
	if testing.Short() {
		n = 300
	}
	accepted := 0
	for i := range n {
		seed := seeds[i%len(seeds)]
		raw := mutate(rng, seed)
		if checkSameAsEncodingJSON(t, fmt.Sprintf("mutation %d", i), raw) {
			accepted++
		}
		checkTolerant(t, fmt.Sprintf("mutation %d", i), raw)
	}
	if accepted == 0 || accepted == n {
		t.Errorf("fast decoder accepted %d of %d mutations: the mutations do not exercise both paths", accepted, n)
	}
}

// replacements are values substituted for a value of the record.
var replacements = []string{
	`null`, `0`, `-1`, `1.5`, `1e3`, `-0`, `9223372036854775808`, `2147483648`, `"x"`, `""`, `true`, `false`,
	`[]`, `{}`, `[null]`, `"NaN"`, `"-INF"`, `"PT1S"`, `"P1Y"`, `"\u00e9\n"`, `"caf\u00e9"`, `"\ud800"`,
	`"2026-01-01T00:00:00"`, `"0001-01-01T00:00:00Z"`, `{"user": null}`, `[1, 2]`, `"\/"`, "\"\xff\"",
}

func mutate(rng *rand.Rand, raw []byte) []byte {
	b := append([]byte(nil), raw...)
	switch rng.IntN(7) {
	case 0: // delete a byte
		i := rng.IntN(len(b))
		return append(b[:i], b[i+1:]...)
	case 1: // insert a byte
		i := rng.IntN(len(b))
		c := `"\{}[],:0-.e n` + "\xc3"
		return append(b[:i], append([]byte{c[rng.IntN(len(c))]}, b[i:]...)...)
	case 2, 3: // replace the value after a key
		i := valueStart(rng, b)
		if i < 0 {
			return b
		}
		end := i + valueLen(b[i:])
		return append(b[:i], append([]byte(replacements[rng.IntN(len(replacements))]), b[end:]...)...)
	case 4: // change the case of a key
		i := keyStart(rng, b)
		if i < 0 || b[i] < 'a' || b[i] > 'z' {
			return b
		}
		b[i] -= 'a' - 'A'
		return b
	case 5: // duplicate a key/value pair
		i := keyStart(rng, b)
		if i < 0 {
			return b
		}
		v := valueStart(rng, b[i:])
		if v < 0 {
			return b
		}
		end := i + v + valueLen(b[i+v:])
		pair := append([]byte(nil), b[i-1:end]...)
		return append(b[:end], append(append([]byte(","), pair...), b[end:]...)...)
	default: // escape a key's first letter
		i := keyStart(rng, b)
		if i < 0 {
			return b
		}
		esc := fmt.Sprintf(`\u%04x`, b[i])
		return append(b[:i], append([]byte(esc), b[i+1:]...)...)
	}
}

// keyStart returns the index of the first character of a random key.
func keyStart(rng *rand.Rand, b []byte) int {
	var starts []int
	for i := 1; i < len(b); i++ {
		if b[i] == ':' {
			j := i - 1
			for j > 0 && b[j] == ' ' {
				j--
			}
			if b[j] != '"' {
				continue
			}
			k := bytes.LastIndexByte(b[:j], '"')
			if k >= 0 && k+1 < j {
				starts = append(starts, k+1)
			}
		}
	}
	if len(starts) == 0 {
		return -1
	}
	return starts[rng.IntN(len(starts))]
}

// valueStart returns the index of a random value (after a colon).
func valueStart(rng *rand.Rand, b []byte) int {
	var starts []int
	for i := range b {
		if b[i] == ':' {
			j := i + 1
			for j < len(b) && b[j] == ' ' {
				j++
			}
			starts = append(starts, j)
		}
	}
	if len(starts) == 0 {
		return -1
	}
	return starts[rng.IntN(len(starts))]
}

// valueLen is the length of the JSON value at the start of b (best effort on
// damaged input).
func valueLen(b []byte) int {
	d := &decoder{b: b}
	d.skip()
	if d.bad {
		return 0
	}
	return d.i
}

// FuzzDecodeCallRecord checks the same properties on fuzzed input.
func FuzzDecodeCallRecord(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.json")
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"id":"a","version":1,"startDateTime":"2026-01-01T00:00:00Z","sessions":[null,{"segments":[]}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkSameAsEncodingJSON(t, "fuzz", raw)
		checkTolerant(t, "fuzz", raw)
	})
}

// TestScalarFastPaths: the allocation-free paths of Duration and Time
// decoding give what ParseISODuration and ParseTime give.
func TestScalarFastPaths(t *testing.T) {
	durations := []string{"PT0S", "PT0.016S", "PT0.0000005S", "PT0.0000015S", "PT1.5S", "PT59.999999S", "PT123456789.123456S",
		"PT.5S", "PT5.S", "PT1.2.3S", "PT1M2.5S", "P0DT0H0M0.002S", "-PT1S", "PT1,5S", "PTS", "PT", "P1Y", "pt1s", "PT1e3S", "PT 1S"}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		durations = append(durations, fmt.Sprintf("PT%.*fS", rng.IntN(8), rng.Float64()*float64(rng.IntN(100000))))
	}
	for _, s := range durations {
		var got schemas.Duration
		gerr := got.UnmarshalJSON([]byte(`"` + s + `"`))
		us, werr := schemas.ParseISODuration(s)
		want := schemas.Duration{Micros: us, Valid: werr == nil}
		if (gerr != nil) != (werr != nil) || gerr == nil && got != want {
			t.Errorf("Duration.UnmarshalJSON(%q) = %+v, %v; ParseISODuration = %d, %v", s, got, gerr, us, werr)
		}
	}
	times := []string{"", "2026-11-19T23:59:59.9999999Z", "2026-11-19T23:59:59Z", "2026-11-19T23:59:59.1234567+02:00",
		"2026-11-19T23:59:59.123", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.0000001Z", "0002-01-01T00:00:00Z",
		"2026-02-30T00:00:00Z", "yesterday", "2026-11-19 23:59:59Z", "2026-11-19T23:59:59.1234567z"}
	for _, s := range times {
		var got schemas.Time
		gerr := got.UnmarshalJSON([]byte(`"` + s + `"`))
		want, werr := schemas.ParseTime(s)
		if (gerr != nil) != (werr != nil) || gerr == nil && !got.Time.Equal(want) || got.Time.Location() != want.Location() {
			t.Errorf("Time.UnmarshalJSON(%q) = %v, %v; ParseTime = %v, %v", s, got.Time, gerr, want, werr)
		}
	}
}

// TestDecodeIdentity_SameAsEncodingJSON: every identity of every identity set
// in the simulator's records, and edge cases, decode as json.Unmarshal
// decodes them; the simulator's take the fast path.
func TestDecodeIdentity_SameAsEncodingJSON(t *testing.T) {
	var sets []schemas.IdentitySet
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			if set, ok := v.Interface().(schemas.IdentitySet); ok {
				sets = append(sets, set)
			}
		}
	}
	for _, raw := range simulatorRecords(t, 4, 1) {
		rec, err := DecodeCallRecord(raw)
		if err != nil {
			t.Fatal(err)
		}
		walk(reflect.ValueOf(rec))
	}
	var inputs [][]byte
	for _, set := range sets {
		for _, raw := range set {
			if len(raw) > 0 && raw[0] == '{' {
				inputs = append(inputs, raw)
			}
		}
	}
	if len(inputs) < 100 {
		t.Fatalf("only %d identities in the simulator's records", len(inputs))
	}
	// Every property of every identity type (reference §6.13).
	inputs = append(inputs,
		[]byte(`{"@odata.type":"#microsoft.graph.azureCommunicationServicesUserIdentity","id":"8:acs:1","displayName":"A","tenantId":"t","azureCommunicationServicesResourceId":"r-1"}`),
		[]byte(`{"@odata.type":"#microsoft.graph.communicationsApplicationIdentity","id":"app","applicationType":"bot","hidden":true}`),
		[]byte(`{"id":"inst","hidden":false,"tenantId":"t","userPrincipalName":"u@x","email":"e@x"}`),
		[]byte(`{"hidden":null,"applicationType":null,"azureCommunicationServicesResourceId":null,"@odata.type":null}`),
	)
	fast := len(inputs)
	inputs = append(inputs,
		[]byte(`{"hidden":"yes"}`),
		[]byte(`{"hidden":1}`),
		[]byte(`{"Hidden":true,"APPLICATIONTYPE":"folded"}`),
		[]byte(`{"applicationType":7}`),
		[]byte(`{"hidden":true,"hidden":false}`),
		[]byte(`{"id":"a","id":"b"}`), // duplicate key: the last wins
		[]byte(`{"Kind":"user","displayName":"x"}`),
		[]byte(`{"DisplayName":"folded"}`),
		[]byte(`{"displayName":"caf\u00e9 \"q\""}`),
		[]byte(`{"displayName":null,"email":"e@x","@odata.type":"#microsoft.graph.identity"}`),
		[]byte(`{"id":1}`),
		[]byte(`{"id":"a"} x`),
		[]byte(`{}`),
	)
	for i, raw := range inputs {
		var got, want schemas.Identity
		gerr := decodeIdentity(raw, &got)
		werr := json.Unmarshal(raw, &want)
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decodeIdentity = %+v, %v; json.Unmarshal = %+v, %v", raw, got, gerr, want, werr)
		}
		if i < fast {
			var v schemas.Identity
			if d := (&decoder{b: raw}); !d.whole(func() { d.identity(&v) }) {
				t.Errorf("%s: left to encoding/json", raw)
			}
		}
	}
}

// TestBigCallRecord: a record decoded a session at a time gives, batch after
// batch, FlattenCallRecord's rows (the call_records row and the participants
// in the last batch only), and is refused exactly when DecodeCallRecord
// refuses it.
func TestBigCallRecord(t *testing.T) {
	inputs := fixtures(t)
	for id, raw := range simulatorRecords(t, 2, 1) {
		inputs[id] = raw
	}
	decoded := 0
	defer func() {
		if decoded < len(inputs)/2 {
			t.Errorf("only %d of %d records decoded a session at a time: the test checks little", decoded, len(inputs))
		}
	}()
	for id, raw := range inputs {
		rec, rep, err := DecodeCallRecordWithReport(raw)
		big, ok, berr := DecodeBigCallRecord(raw)
		if !ok {
			continue // left to encoding/json, like DecodeCallRecord's fast path
		}
		decoded++
		if (err == nil) != (berr == nil) {
			t.Errorf("%s: DecodeCallRecord err %v, DecodeBigCallRecord err %v", id, err, berr)
			continue
		}
		if err != nil {
			continue
		}
		if !reflect.DeepEqual(big.Report(), rep) {
			t.Errorf("%s: DecodeBigCallRecord report %+v, DecodeCallRecordWithReport %+v", id, big.Report(), rep)
		}
		want := FlattenCallRecord("t", rec)
		for _, batch := range []int{1, 3, 1 << 20} {
			var got schemas.CallRecordRows
			batches, lasts := 0, 0
			err := big.Rows("t", batch, func(rows schemas.CallRecordRows, last bool) error {
				batches++
				if last {
					lasts++
					got.CallRecord = rows.CallRecord
				} else if len(rows.Participants)+len(rows.JourneyHops) != 0 || rows.CallRecord.CallRecordID != "" || len(rows.Media)+len(rows.MediaStreams) < batch {
					t.Errorf("%s: a batch before the last holds the call record, participants, journey hops or fewer than %d media and stream rows", id, batch)
				}
				got.Sessions = append(got.Sessions, rows.Sessions...)
				got.Segments = append(got.Segments, rows.Segments...)
				got.Media = append(got.Media, rows.Media...)
				got.MediaStreams = append(got.MediaStreams, rows.MediaStreams...)
				got.Participants = append(got.Participants, rows.Participants...)
				got.JourneyHops = append(got.JourneyHops, rows.JourneyHops...)
				return nil
			})
			if err != nil || lasts != 1 {
				t.Fatalf("%s: err %v, %d last batches", id, err, lasts)
			}
			if batches > max(1, len(rec.Sessions)) || (batch == 1 && len(rec.Sessions) > 2 && batches < 2) {
				t.Errorf("%s: %d batches of %d streams for %d sessions", id, batches, batch, len(rec.Sessions))
			}
			if !reflect.DeepEqual(normal(got), normal(want)) {
				t.Errorf("%s, batches of %d: rows differ from FlattenCallRecord's", id, batch)
			}
		}
	}
	// A session with a bad value is stored with it NULL and counted, a
	// session that is no object as an empty one, as DecodeCallRecord does.
	bad := []byte(`{"id":"r","version":1,"startDateTime":"2026-11-01T00:00:00Z","sessions":[{"id":"s1"},{"id":7},5]}`)
	want := Report{Invalid: map[string]int{"sessions.id": 1, "sessions": 1}}
	big, ok, err := DecodeBigCallRecord(bad)
	if !ok || err != nil || !reflect.DeepEqual(big.Report(), want) {
		t.Errorf("DecodeBigCallRecord(a session with a number id) = %v, %v, report %+v, want %+v", ok, err, big.Report(), want)
	}
	rec, rep, err := DecodeCallRecordWithReport(bad)
	if err != nil || len(rec.Sessions) != 3 || rec.Sessions[1].ID != "" || !reflect.DeepEqual(rep, want) {
		t.Errorf("DecodeCallRecordWithReport(the same) = %d sessions, %v, report %+v, want %+v", len(rec.Sessions), err, rep, want)
	}
}

// normal makes empty slices nil, for comparing rows built in batches.
func normal(r schemas.CallRecordRows) schemas.CallRecordRows {
	if len(r.Sessions) == 0 {
		r.Sessions = nil
	}
	if len(r.Segments) == 0 {
		r.Segments = nil
	}
	if len(r.Media) == 0 {
		r.Media = nil
	}
	if len(r.MediaStreams) == 0 {
		r.MediaStreams = nil
	}
	if len(r.Participants) == 0 {
		r.Participants = nil
	}
	return r
}
