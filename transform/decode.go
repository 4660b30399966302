package transform

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/callrecords-etl/callrecords-etl/jsonscan"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// A schema-specific JSON decoder for whole call records. encoding/json spent
// most of the flatten-and-write path's time on them (a validating pre-pass
// over the whole record, reflection, a second scan of every value handed to
// an UnmarshalJSON method). This one reads the record in one pass straight
// into the schemas types.
//
// It is deliberately conservative: it handles the JSON Graph sends and gives
// up (ok = false) on anything whose encoding/json semantics are subtle — an
// error of any kind, a duplicate key, a key that matches a field only
// case-insensitively, an escaped or non-ASCII key, a number where a string is
// expected and so on. The callers then decode with decodeTolerant, which is
// encoding/json for input without a bad value, so results and error messages
// are exactly encoding/json's; the tests compare them on real and mutated
// records.
//
// Keys it does not know are skipped and, when count is set, counted by path:
// the path stack is pushed once per nested object or array, not per key, so
// that a record of known keys costs next to nothing more.

// maxDepth is encoding/json's nesting limit; deeper input goes to it.
const maxDepth = jsonscan.MaxDepth

type decoder struct {
	b     []byte
	i     int
	bad   bool
	depth int

	// lazySessions, when set, receives the raw elements of a record's
	// "sessions" (validated) instead of their decoding.
	lazySessions *[]json.RawMessage

	// report counts the unknown keys met when count is set (not for the open
	// identity types); path[:npath] holds the keys of the objects and arrays
	// from the record down to the cursor (no indices). The schema nests six
	// deep at most. An array, not a slice of it: a pointer into the decoder
	// itself would move it to the heap.
	count  bool
	report Report
	path   [8]string
	npath  int

	// The pointers of optional values come from these slabs, one allocation
	// for many (a slab is never grown in place, so pointers stay valid).
	strs  []string
	i32s  []int32
	i64s  []int64
	bools []bool
}

func newIn[T any](slab *[]T, v T, n int) *T {
	if len(*slab) == cap(*slab) {
		*slab = make([]T, 0, n)
	}
	*slab = append(*slab, v)
	return &(*slab)[len(*slab)-1]
}

// fail abandons the fast path; every loop checks d.bad.
func (d *decoder) fail() {
	d.bad = true
	d.i = len(d.b)
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next returns the byte at the cursor, 0 at the end.
func (d *decoder) next() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) consume(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	d.fail()
	return false
}

// null consumes a null literal if one is at the cursor.
func (d *decoder) null() bool {
	if d.i+4 <= len(d.b) && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// object calls field with each key of the object at the cursor; field
// consumes the value.
func (d *decoder) object(field func(key []byte)) {
	if !d.consume('{') {
		return
	}
	if d.depth++; d.depth > maxDepth {
		d.fail()
		return
	}
	d.ws()
	if d.next() == '}' {
		d.i++
		d.depth--
		return
	}
	for !d.bad {
		d.ws()
		key := d.key()
		d.ws()
		if !d.consume(':') {
			return
		}
		d.ws()
		field(key)
		if d.bad {
			return
		}
		d.ws()
		switch d.next() {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return
		default:
			d.fail()
		}
	}
}

// array calls elem for each element of the array at the cursor; elem
// consumes the element.
func (d *decoder) array(elem func()) {
	if !d.consume('[') {
		return
	}
	if d.depth++; d.depth > maxDepth {
		d.fail()
		return
	}
	d.ws()
	if d.next() == ']' {
		d.i++
		d.depth--
		return
	}
	for !d.bad {
		d.ws()
		elem()
		if d.bad {
			return
		}
		d.ws()
		switch d.next() {
		case ',':
			d.i++
		case ']':
			d.i++
			d.depth--
			return
		default:
			d.fail()
		}
	}
}

// key reads an object key; escaped and non-ASCII keys take the slow path
// (encoding/json unquotes and case-folds them).
func (d *decoder) key() []byte {
	if !d.consume('"') {
		return nil
	}
	start := d.i
	if j := jsonscan.PlainUntil(d.b, start); j < len(d.b) && d.b[j] == '"' {
		d.i = j + 1
		return d.b[start:j]
	}
	d.fail()
	return nil
}

// unknown skips the value of a key the type has no field for, and counts it
// unless it is an OData annotation ("@odata.context", "x@odata.type"): those
// are protocol, not properties. A key that matches a field
// case-insensitively, or a second occurrence of a key, is left to
// encoding/json (which folds case and merges duplicates).
func (d *decoder) unknown(key []byte, known []string) {
	for _, k := range known {
		if len(k) == len(key) && strings.EqualFold(k, string(key)) {
			d.fail()
			return
		}
	}
	if d.count && !containsByte(key, '@') {
		d.report.unknown(joinPath(strings.Join(d.path[:d.npath], "."), string(key)))
	}
	d.skip()
}

// push enters the value of key (an object or array); pop leaves it.
func (d *decoder) push(key string) {
	d.path[d.npath] = key
	d.npath++
}

func (d *decoder) pop() { d.npath-- }

// seen marks field bit of an object as decoded; a duplicate key fails.
func (d *decoder) seen(mask *uint64, bit uint) {
	if *mask&(1<<bit) != 0 {
		d.fail()
	}
	*mask |= 1 << bit
}

// str reads a string value into dst (null leaves it alone, like encoding/json).
func (d *decoder) str(dst *string) {
	if d.null() {
		return
	}
	if s, ok := d.stringValue(); ok {
		*dst = s
	}
}

func (d *decoder) strPtr(dst **string) {
	if d.null() {
		*dst = nil
		return
	}
	if s, ok := d.stringValue(); ok {
		*dst = newIn(&d.strs, s, 128)
	}
}

// stringValue reads a string token. Strings with escapes or non-ASCII bytes
// are unquoted by encoding/json itself (it replaces invalid UTF-8).
func (d *decoder) stringValue() (string, bool) {
	if d.next() != '"' {
		d.fail()
		return "", false
	}
	start := d.i + 1
	if j := jsonscan.PlainUntil(d.b, start); j < len(d.b) && d.b[j] == '"' {
		d.i = j + 1
		return string(d.b[start:j]), true
	}
	tokStart := d.i
	d.skipString()
	if d.bad {
		return "", false
	}
	tok := d.b[tokStart:d.i]
	content := tok[1 : len(tok)-1]
	if !containsByte(content, '\\') && utf8.Valid(content) {
		return string(content), true
	}
	var s string
	if json.Unmarshal(tok, &s) != nil {
		d.fail()
		return "", false
	}
	return s, true
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// integer reads an integer token within [lo, hi]; a fraction, an exponent or
// an out-of-range value is left to encoding/json (which reports it).
func (d *decoder) integer(lo, hi int64) (int64, bool) {
	start := d.i
	if d.next() == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	n := d.i - digits
	if n == 0 || n > 1 && d.b[digits] == '0' || n > 19 {
		d.fail()
		return 0, false
	}
	switch d.next() {
	case '.', 'e', 'E':
		d.fail()
		return 0, false
	}
	v, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
	if err != nil || v < lo || v > hi {
		d.fail()
		return 0, false
	}
	return v, true
}

func (d *decoder) i64(dst *int64) {
	if d.null() {
		return
	}
	if v, ok := d.integer(math.MinInt64, math.MaxInt64); ok {
		*dst = v
	}
}

func (d *decoder) i64Ptr(dst **int64) {
	if d.null() {
		*dst = nil
		return
	}
	if v, ok := d.integer(math.MinInt64, math.MaxInt64); ok {
		*dst = newIn(&d.i64s, v, 32)
	}
}

func (d *decoder) i32Ptr(dst **int32) {
	if d.null() {
		*dst = nil
		return
	}
	if v, ok := d.integer(math.MinInt32, math.MaxInt32); ok {
		*dst = newIn(&d.i32s, int32(v), 64)
	}
}

func (d *decoder) boolPtr(dst **bool) {
	if d.null() {
		*dst = nil
		return
	}
	var v bool
	switch {
	case d.i+4 <= len(d.b) && string(d.b[d.i:d.i+4]) == "true":
		v, d.i = true, d.i+4
	case d.i+5 <= len(d.b) && string(d.b[d.i:d.i+5]) == "false":
		v, d.i = false, d.i+5
	default:
		d.fail()
		return
	}
	*dst = newIn(&d.bools, v, 32)
}

// rawElements keeps the raw bytes of each element of the array (or null) at
// the cursor, validated.
func (d *decoder) rawElements(dst *[]json.RawMessage) {
	if d.null() {
		*dst = nil
		return
	}
	out := []json.RawMessage{}
	d.array(func() { out = append(out, d.raw()) })
	*dst = out
}

// raw returns the next value's bytes, validated.
func (d *decoder) raw() []byte {
	start := d.i
	d.skip()
	return d.b[start:d.i]
}

// unmarshaler hands the next value to v's UnmarshalJSON, as encoding/json
// does (with null too).
func (d *decoder) unmarshaler(v json.Unmarshaler) {
	b := d.raw()
	if d.bad {
		return
	}
	if v.UnmarshalJSON(b) != nil {
		d.fail()
	}
}

// slice decodes the array of T at key with elem (null elements stay zero).
func slice[T any](d *decoder, key string, dst *[]T, elem func(*T)) {
	if d.null() {
		*dst = nil
		return
	}
	out := []T{}
	d.push(key)
	d.array(func() {
		var zero T
		out = append(out, zero)
		if !d.null() {
			elem(&out[len(out)-1])
		}
	})
	d.pop()
	*dst = out
}

// ptr decodes the object at key into a new T (null gives nil).
func ptr[T any](d *decoder, key string, dst **T, decode func(*T)) {
	if d.null() {
		*dst = nil
		return
	}
	v := new(T)
	d.push(key)
	decode(v)
	d.pop()
	*dst = v
}

// skip consumes one value of any type, checking that it is valid JSON
// (nested as deep as encoding/json allows, counting where it is).
func (d *decoder) skip() {
	end, err := jsonscan.Skip(d.b, d.i, d.depth)
	if err != nil {
		d.fail()
		return
	}
	d.i = end
}

// skipString consumes a string token, checking its escapes.
func (d *decoder) skipString() {
	end, err := jsonscan.SkipString(d.b, d.i)
	if err != nil {
		d.fail()
		return
	}
	d.i = end
}

// whole decodes the single top-level object of the input with obj and
// checks that only whitespace follows.
func (d *decoder) whole(obj func()) bool {
	d.ws()
	if d.next() != '{' {
		return false
	}
	obj()
	d.ws()
	return !d.bad && d.i == len(d.b)
}

// jsonNames lists the JSON names of t's fields, for the case-insensitive
// check of unknown keys.
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name // as encoding/json names an untagged field
		}
		out = append(out, name)
	}
	return out
}

var (
	namesCallRecord    = jsonNames(reflect.TypeFor[schemas.CallRecord]())
	namesParticipant   = jsonNames(reflect.TypeFor[schemas.Participant]())
	namesAdminUnit     = jsonNames(reflect.TypeFor[schemas.AdministrativeUnitInfo]())
	namesSession       = jsonNames(reflect.TypeFor[schemas.Session]())
	namesSegment       = jsonNames(reflect.TypeFor[schemas.Segment]())
	namesFailureInfo   = jsonNames(reflect.TypeFor[schemas.FailureInfo]())
	namesEndpoint      = jsonNames(reflect.TypeFor[schemas.Endpoint]())
	namesUserAgent     = jsonNames(reflect.TypeFor[schemas.UserAgent]())
	namesUserIdentity  = jsonNames(reflect.TypeFor[schemas.UserIdentity]())
	namesIdentity      = jsonNames(reflect.TypeFor[schemas.Identity]())
	namesUserFeedback  = jsonNames(reflect.TypeFor[schemas.UserFeedback]())
	namesMedia         = jsonNames(reflect.TypeFor[schemas.Media]())
	namesMediaStream   = jsonNames(reflect.TypeFor[schemas.MediaStream]())
	namesNetworkInfo   = jsonNames(reflect.TypeFor[schemas.NetworkInfo]())
	namesTraceRouteHop = jsonNames(reflect.TypeFor[schemas.TraceRouteHop]())
	namesDeviceInfo    = jsonNames(reflect.TypeFor[schemas.DeviceInfo]())
	namesHead          = jsonNames(reflect.TypeFor[CallRecordHead]())
)

// decodeCallRecordFast decodes raw into rec and reports its unknown keys; ok
// is false when raw must be decoded by encoding/json instead (rec and rep are
// then to be discarded).
func decodeCallRecordFast(raw []byte, rec *schemas.CallRecord) (rep Report, ok bool) {
	d := &decoder{b: raw, count: true}
	ok = d.whole(func() { d.callRecord(rec) })
	return d.report, ok
}

// decodeBigCallRecordFast decodes raw into head, every property but the
// sessions, whose raw elements go to sessions; rep and ok as for
// decodeCallRecordFast.
func decodeBigCallRecordFast(raw []byte, head *schemas.CallRecord, sessions *[]json.RawMessage) (rep Report, ok bool) {
	d := &decoder{b: raw, lazySessions: sessions, count: true}
	ok = d.whole(func() { d.callRecord(head) })
	return d.report, ok
}

// decodeSessionFast decodes one session of a record; rep and ok as for
// decodeCallRecordFast.
func decodeSessionFast(raw []byte, s *schemas.Session) (rep Report, ok bool) {
	d := &decoder{b: raw, count: true}
	d.push("sessions")
	ok = d.whole(func() { d.session(s) })
	return d.report, ok
}

// peekCallRecordFast decodes the head fields of raw, checking that the rest
// is valid JSON; ok as for decodeCallRecordFast.
func peekCallRecordFast(raw []byte, h *CallRecordHead) (ok bool) {
	d := &decoder{b: raw}
	return d.whole(func() {
		var seen uint64
		d.object(func(key []byte) {
			switch string(key) {
			case "id":
				d.seen(&seen, 0)
				d.str(&h.ID)
			case "version":
				d.seen(&seen, 1)
				d.i64(&h.Version)
			case "startDateTime":
				d.seen(&seen, 2)
				d.unmarshaler(&h.Start)
			default:
				d.unknown(key, namesHead)
			}
		})
	})
}

func (d *decoder) callRecord(v *schemas.CallRecord) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "id":
			d.seen(&seen, 0)
			d.str(&v.ID)
		case "version":
			d.seen(&seen, 1)
			d.i64(&v.Version)
		case "type":
			d.seen(&seen, 2)
			d.str(&v.Type)
		case "modalities":
			d.seen(&seen, 3)
			slice(d, "modalities", &v.Modalities, d.str)
		case "startDateTime":
			d.seen(&seen, 4)
			d.unmarshaler(&v.StartDateTime)
		case "endDateTime":
			d.seen(&seen, 5)
			d.unmarshaler(&v.EndDateTime)
		case "lastModifiedDateTime":
			d.seen(&seen, 6)
			d.unmarshaler(&v.LastModifiedDateTime)
		case "joinWebUrl":
			d.seen(&seen, 7)
			d.strPtr(&v.JoinWebURL)
		case "organizer":
			d.seen(&seen, 8)
			d.identitySet(&v.Organizer)
		case "organizer_v2":
			d.seen(&seen, 9)
			ptr(d, "organizer_v2", &v.OrganizerV2, d.participant)
		case "participants":
			d.seen(&seen, 10)
			slice(d, "participants", &v.Participants, d.identitySet)
		case "participants_v2":
			d.seen(&seen, 11)
			slice(d, "participants_v2", &v.ParticipantsV2, d.participant)
		case "sessions":
			d.seen(&seen, 12)
			if d.lazySessions != nil {
				d.rawElements(d.lazySessions)
			} else {
				slice(d, "sessions", &v.Sessions, d.session)
			}
		default:
			d.unknown(key, namesCallRecord)
		}
	})
}

var rawNull = json.RawMessage("null")

// identitySet keeps every key's raw value, as json.RawMessage does.
func (d *decoder) identitySet(dst *schemas.IdentitySet) {
	if d.null() {
		*dst = nil
		return
	}
	m := schemas.IdentitySet{}
	d.object(func(key []byte) {
		b := d.raw()
		if d.bad {
			return
		}
		if string(b) == "null" {
			m[string(key)] = rawNull[:4:4] // most kinds are null: share one (never written to)
			return
		}
		m[string(key)] = append(json.RawMessage(nil), b...)
	})
	*dst = m
}

func (d *decoder) participant(v *schemas.Participant) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "id":
			d.seen(&seen, 0)
			d.str(&v.ID)
		case "identity":
			d.seen(&seen, 1)
			d.identitySet(&v.Identity)
		case "administrativeUnitInfos":
			d.seen(&seen, 2)
			slice(d, "administrativeUnitInfos", &v.AdministrativeUnitInfos, d.adminUnit)
		default:
			d.unknown(key, namesParticipant)
		}
	})
}

func (d *decoder) adminUnit(v *schemas.AdministrativeUnitInfo) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "id":
			d.seen(&seen, 0)
			d.str(&v.ID)
		default:
			d.unknown(key, namesAdminUnit)
		}
	})
}

func (d *decoder) session(v *schemas.Session) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "id":
			d.seen(&seen, 0)
			d.str(&v.ID)
		case "modalities":
			d.seen(&seen, 1)
			slice(d, "modalities", &v.Modalities, d.str)
		case "startDateTime":
			d.seen(&seen, 2)
			d.unmarshaler(&v.StartDateTime)
		case "endDateTime":
			d.seen(&seen, 3)
			d.unmarshaler(&v.EndDateTime)
		case "isTest":
			d.seen(&seen, 4)
			d.boolPtr(&v.IsTest)
		case "failureInfo":
			d.seen(&seen, 5)
			ptr(d, "failureInfo", &v.FailureInfo, d.failureInfo)
		case "caller":
			d.seen(&seen, 6)
			ptr(d, "caller", &v.Caller, d.endpoint)
		case "callee":
			d.seen(&seen, 7)
			ptr(d, "callee", &v.Callee, d.endpoint)
		case "segments":
			d.seen(&seen, 8)
			slice(d, "segments", &v.Segments, d.segment)
		default:
			d.unknown(key, namesSession)
		}
	})
}

func (d *decoder) segment(v *schemas.Segment) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "id":
			d.seen(&seen, 0)
			d.str(&v.ID)
		case "startDateTime":
			d.seen(&seen, 1)
			d.unmarshaler(&v.StartDateTime)
		case "endDateTime":
			d.seen(&seen, 2)
			d.unmarshaler(&v.EndDateTime)
		case "failureInfo":
			d.seen(&seen, 3)
			ptr(d, "failureInfo", &v.FailureInfo, d.failureInfo)
		case "caller":
			d.seen(&seen, 4)
			ptr(d, "caller", &v.Caller, d.endpoint)
		case "callee":
			d.seen(&seen, 5)
			ptr(d, "callee", &v.Callee, d.endpoint)
		case "media":
			d.seen(&seen, 6)
			slice(d, "media", &v.Media, d.media)
		default:
			d.unknown(key, namesSegment)
		}
	})
}

func (d *decoder) failureInfo(v *schemas.FailureInfo) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "reason":
			d.seen(&seen, 0)
			d.strPtr(&v.Reason)
		case "stage":
			d.seen(&seen, 1)
			d.strPtr(&v.Stage)
		default:
			d.unknown(key, namesFailureInfo)
		}
	})
}

func (d *decoder) endpoint(v *schemas.Endpoint) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "@odata.type":
			d.seen(&seen, 0)
			d.str(&v.ODataType)
		case "userAgent":
			d.seen(&seen, 1)
			ptr(d, "userAgent", &v.UserAgent, d.userAgent)
		case "associatedIdentity":
			d.seen(&seen, 2)
			ptr(d, "associatedIdentity", &v.AssociatedIdentity, d.userIdentity)
		case "identity":
			d.seen(&seen, 3)
			d.identitySet(&v.Identity)
		case "name":
			d.seen(&seen, 4)
			d.strPtr(&v.Name)
		case "cpuName":
			d.seen(&seen, 5)
			d.strPtr(&v.CPUName)
		case "cpuCoresCount":
			d.seen(&seen, 6)
			d.i32Ptr(&v.CPUCoresCount)
		case "cpuProcessorSpeedInMhz":
			d.seen(&seen, 7)
			d.i32Ptr(&v.CPUProcessorSpeedInMhz)
		case "feedback":
			d.seen(&seen, 8)
			ptr(d, "feedback", &v.Feedback, d.userFeedback)
		default:
			d.unknown(key, namesEndpoint)
		}
	})
}

func (d *decoder) userAgent(v *schemas.UserAgent) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "@odata.type":
			d.seen(&seen, 0)
			d.str(&v.ODataType)
		case "applicationVersion":
			d.seen(&seen, 1)
			d.strPtr(&v.ApplicationVersion)
		case "headerValue":
			d.seen(&seen, 2)
			d.strPtr(&v.HeaderValue)
		case "platform":
			d.seen(&seen, 3)
			d.strPtr(&v.Platform)
		case "productFamily":
			d.seen(&seen, 4)
			d.strPtr(&v.ProductFamily)
		case "communicationServiceId":
			d.seen(&seen, 5)
			d.strPtr(&v.CommunicationServiceID)
		case "azureADAppId":
			d.seen(&seen, 6)
			d.strPtr(&v.AzureADAppID)
		case "role":
			d.seen(&seen, 7)
			d.strPtr(&v.Role)
		default:
			d.unknown(key, namesUserAgent)
		}
	})
}

func (d *decoder) userIdentity(v *schemas.UserIdentity) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "id":
			d.seen(&seen, 0)
			d.strPtr(&v.ID)
		case "displayName":
			d.seen(&seen, 1)
			d.strPtr(&v.DisplayName)
		case "tenantId":
			d.seen(&seen, 2)
			d.strPtr(&v.TenantID)
		case "userPrincipalName":
			d.seen(&seen, 3)
			d.strPtr(&v.UserPrincipalName)
		default:
			d.unknown(key, namesUserIdentity)
		}
	})
}

// decodeIdentity is json.Unmarshal of one identity of an identity set, by the
// fast decoder when it can (flattening reads ~10 identities per record).
func decodeIdentity(raw []byte, id *schemas.Identity) error {
	d := &decoder{b: raw, strs: make([]string, 0, 8)} // its eight string fields
	var v schemas.Identity
	if d.whole(func() { d.identity(&v) }) {
		*id = v
		return nil
	}
	return json.Unmarshal(raw, id)
}

func (d *decoder) identity(v *schemas.Identity) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "id":
			d.seen(&seen, 0)
			d.strPtr(&v.ID)
		case "displayName":
			d.seen(&seen, 1)
			d.strPtr(&v.DisplayName)
		case "tenantId":
			d.seen(&seen, 2)
			d.strPtr(&v.TenantID)
		case "userPrincipalName":
			d.seen(&seen, 3)
			d.strPtr(&v.UserPrincipalName)
		case "email":
			d.seen(&seen, 4)
			d.strPtr(&v.Email)
		case "@odata.type":
			d.seen(&seen, 5)
			d.strPtr(&v.ODataType)
		case "azureCommunicationServicesResourceId":
			d.seen(&seen, 6)
			d.strPtr(&v.AzureCommunicationServicesResourceID)
		case "applicationType":
			d.seen(&seen, 7)
			d.strPtr(&v.ApplicationType)
		case "hidden":
			d.seen(&seen, 8)
			d.boolPtr(&v.Hidden)
		default:
			d.unknown(key, namesIdentity)
		}
	})
}

func (d *decoder) userFeedback(v *schemas.UserFeedback) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "rating":
			d.seen(&seen, 0)
			d.strPtr(&v.Rating)
		case "text":
			d.seen(&seen, 1)
			d.strPtr(&v.Text)
		case "tokens":
			d.seen(&seen, 2)
			if d.null() {
				v.Tokens = nil
				return
			}
			m := map[string]*bool{}
			d.object(func(key []byte) {
				var b *bool
				d.boolPtr(&b)
				m[string(key)] = b
			})
			v.Tokens = m
		default:
			d.unknown(key, namesUserFeedback)
		}
	})
}

func (d *decoder) media(v *schemas.Media) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "label":
			d.seen(&seen, 0)
			d.strPtr(&v.Label)
		case "callerNetwork":
			d.seen(&seen, 1)
			ptr(d, "callerNetwork", &v.CallerNetwork, d.networkInfo)
		case "calleeNetwork":
			d.seen(&seen, 2)
			ptr(d, "calleeNetwork", &v.CalleeNetwork, d.networkInfo)
		case "callerDevice":
			d.seen(&seen, 3)
			ptr(d, "callerDevice", &v.CallerDevice, d.deviceInfo)
		case "calleeDevice":
			d.seen(&seen, 4)
			ptr(d, "calleeDevice", &v.CalleeDevice, d.deviceInfo)
		case "streams":
			d.seen(&seen, 5)
			slice(d, "streams", &v.Streams, d.mediaStream)
		default:
			d.unknown(key, namesMedia)
		}
	})
}

func (d *decoder) mediaStream(v *schemas.MediaStream) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "streamId":
			d.seen(&seen, 0)
			d.strPtr(&v.StreamID)
		case "streamDirection":
			d.seen(&seen, 1)
			d.strPtr(&v.StreamDirection)
		case "startDateTime":
			d.seen(&seen, 2)
			d.unmarshaler(&v.StartDateTime)
		case "endDateTime":
			d.seen(&seen, 3)
			d.unmarshaler(&v.EndDateTime)
		case "audioCodec":
			d.seen(&seen, 4)
			d.strPtr(&v.AudioCodec)
		case "videoCodec":
			d.seen(&seen, 5)
			d.strPtr(&v.VideoCodec)
		case "averageAudioDegradation":
			d.seen(&seen, 6)
			d.unmarshaler(&v.AverageAudioDegradation)
		case "averageAudioNetworkJitter":
			d.seen(&seen, 7)
			d.unmarshaler(&v.AverageAudioNetworkJitter)
		case "maxAudioNetworkJitter":
			d.seen(&seen, 8)
			d.unmarshaler(&v.MaxAudioNetworkJitter)
		case "averageBandwidthEstimate":
			d.seen(&seen, 9)
			d.i64Ptr(&v.AverageBandwidthEstimate)
		case "averageFreezeDuration":
			d.seen(&seen, 10)
			d.unmarshaler(&v.AverageFreezeDuration)
		case "rmsFreezeDuration":
			d.seen(&seen, 11)
			d.unmarshaler(&v.RmsFreezeDuration)
		case "averageJitter":
			d.seen(&seen, 12)
			d.unmarshaler(&v.AverageJitter)
		case "maxJitter":
			d.seen(&seen, 13)
			d.unmarshaler(&v.MaxJitter)
		case "averagePacketLossRate":
			d.seen(&seen, 14)
			d.unmarshaler(&v.AveragePacketLossRate)
		case "maxPacketLossRate":
			d.seen(&seen, 15)
			d.unmarshaler(&v.MaxPacketLossRate)
		case "averageRatioOfConcealedSamples":
			d.seen(&seen, 16)
			d.unmarshaler(&v.AverageRatioOfConcealedSamples)
		case "maxRatioOfConcealedSamples":
			d.seen(&seen, 17)
			d.unmarshaler(&v.MaxRatioOfConcealedSamples)
		case "averageReceivedFrameRate":
			d.seen(&seen, 18)
			d.unmarshaler(&v.AverageReceivedFrameRate)
		case "averageRoundTripTime":
			d.seen(&seen, 19)
			d.unmarshaler(&v.AverageRoundTripTime)
		case "maxRoundTripTime":
			d.seen(&seen, 20)
			d.unmarshaler(&v.MaxRoundTripTime)
		case "averageVideoFrameLossPercentage":
			d.seen(&seen, 21)
			d.unmarshaler(&v.AverageVideoFrameLossPercentage)
		case "averageVideoFrameRate":
			d.seen(&seen, 22)
			d.unmarshaler(&v.AverageVideoFrameRate)
		case "averageVideoPacketLossRate":
			d.seen(&seen, 23)
			d.unmarshaler(&v.AverageVideoPacketLossRate)
		case "isAudioForwardErrorCorrectionUsed":
			d.seen(&seen, 24)
			d.boolPtr(&v.IsAudioForwardErrorCorrectionUsed)
		case "lowFrameRateRatio":
			d.seen(&seen, 25)
			d.unmarshaler(&v.LowFrameRateRatio)
		case "lowVideoProcessingCapabilityRatio":
			d.seen(&seen, 26)
			d.unmarshaler(&v.LowVideoProcessingCapabilityRatio)
		case "packetUtilization":
			d.seen(&seen, 27)
			d.i64Ptr(&v.PacketUtilization)
		case "postForwardErrorCorrectionPacketLossRate":
			d.seen(&seen, 28)
			d.unmarshaler(&v.PostForwardErrorCorrectionPacketLossRate)
		case "wasMediaBypassed":
			d.seen(&seen, 29)
			d.boolPtr(&v.WasMediaBypassed)
		default:
			d.unknown(key, namesMediaStream)
		}
	})
}

func (d *decoder) networkInfo(v *schemas.NetworkInfo) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "bandwidthLowEventRatio":
			d.seen(&seen, 0)
			d.unmarshaler(&v.BandwidthLowEventRatio)
		case "basicServiceSetIdentifier":
			d.seen(&seen, 1)
			d.strPtr(&v.BasicServiceSetIdentifier)
		case "connectionType":
			d.seen(&seen, 2)
			d.strPtr(&v.ConnectionType)
		case "delayEventRatio":
			d.seen(&seen, 3)
			d.unmarshaler(&v.DelayEventRatio)
		case "dnsSuffix":
			d.seen(&seen, 4)
			d.strPtr(&v.DNSSuffix)
		case "ipAddress":
			d.seen(&seen, 5)
			d.strPtr(&v.IPAddress)
		case "linkSpeed":
			d.seen(&seen, 6)
			d.i64Ptr(&v.LinkSpeed)
		case "macAddress":
			d.seen(&seen, 7)
			d.strPtr(&v.MACAddress)
		case "networkTransportProtocol":
			d.seen(&seen, 8)
			d.strPtr(&v.NetworkTransportProtocol)
		case "port":
			d.seen(&seen, 9)
			d.i32Ptr(&v.Port)
		case "receivedQualityEventRatio":
			d.seen(&seen, 10)
			d.unmarshaler(&v.ReceivedQualityEventRatio)
		case "reflexiveIPAddress":
			d.seen(&seen, 11)
			d.strPtr(&v.ReflexiveIPAddress)
		case "relayIPAddress":
			d.seen(&seen, 12)
			d.strPtr(&v.RelayIPAddress)
		case "relayPort":
			d.seen(&seen, 13)
			d.i32Ptr(&v.RelayPort)
		case "sentQualityEventRatio":
			d.seen(&seen, 14)
			d.unmarshaler(&v.SentQualityEventRatio)
		case "subnet":
			d.seen(&seen, 15)
			d.strPtr(&v.Subnet)
		case "traceRouteHops":
			d.seen(&seen, 16)
			slice(d, "traceRouteHops", &v.TraceRouteHops, d.traceRouteHop)
		case "wifiBand":
			d.seen(&seen, 17)
			d.strPtr(&v.WifiBand)
		case "wifiBatteryCharge":
			d.seen(&seen, 18)
			d.i32Ptr(&v.WifiBatteryCharge)
		case "wifiChannel":
			d.seen(&seen, 19)
			d.i32Ptr(&v.WifiChannel)
		case "wifiMicrosoftDriver":
			d.seen(&seen, 20)
			d.strPtr(&v.WifiMicrosoftDriver)
		case "wifiMicrosoftDriverVersion":
			d.seen(&seen, 21)
			d.strPtr(&v.WifiMicrosoftDriverVersion)
		case "wifiRadioType":
			d.seen(&seen, 22)
			d.strPtr(&v.WifiRadioType)
		case "wifiSignalStrength":
			d.seen(&seen, 23)
			d.i32Ptr(&v.WifiSignalStrength)
		case "wifiVendorDriver":
			d.seen(&seen, 24)
			d.strPtr(&v.WifiVendorDriver)
		case "wifiVendorDriverVersion":
			d.seen(&seen, 25)
			d.strPtr(&v.WifiVendorDriverVersion)
		default:
			d.unknown(key, namesNetworkInfo)
		}
	})
}

func (d *decoder) traceRouteHop(v *schemas.TraceRouteHop) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "hopCount":
			d.seen(&seen, 0)
			d.i32Ptr(&v.HopCount)
		case "ipAddress":
			d.seen(&seen, 1)
			d.strPtr(&v.IPAddress)
		case "roundTripTime":
			d.seen(&seen, 2)
			d.unmarshaler(&v.RoundTripTime)
		default:
			d.unknown(key, namesTraceRouteHop)
		}
	})
}

func (d *decoder) deviceInfo(v *schemas.DeviceInfo) {
	var seen uint64
	d.object(func(key []byte) {
		switch string(key) {
		case "captureDeviceDriver":
			d.seen(&seen, 0)
			d.strPtr(&v.CaptureDeviceDriver)
		case "captureDeviceName":
			d.seen(&seen, 1)
			d.strPtr(&v.CaptureDeviceName)
		case "captureNotFunctioningEventRatio":
			d.seen(&seen, 2)
			d.unmarshaler(&v.CaptureNotFunctioningEventRatio)
		case "cpuInsufficentEventRatio":
			d.seen(&seen, 3)
			d.unmarshaler(&v.CPUInsufficentEventRatio)
		case "deviceClippingEventRatio":
			d.seen(&seen, 4)
			d.unmarshaler(&v.DeviceClippingEventRatio)
		case "deviceGlitchEventRatio":
			d.seen(&seen, 5)
			d.unmarshaler(&v.DeviceGlitchEventRatio)
		case "howlingEventCount":
			d.seen(&seen, 6)
			d.i32Ptr(&v.HowlingEventCount)
		case "initialSignalLevelRootMeanSquare":
			d.seen(&seen, 7)
			d.unmarshaler(&v.InitialSignalLevelRootMeanSquare)
		case "lowSpeechLevelEventRatio":
			d.seen(&seen, 8)
			d.unmarshaler(&v.LowSpeechLevelEventRatio)
		case "lowSpeechToNoiseEventRatio":
			d.seen(&seen, 9)
			d.unmarshaler(&v.LowSpeechToNoiseEventRatio)
		case "micGlitchRate":
			d.seen(&seen, 10)
			d.unmarshaler(&v.MicGlitchRate)
		case "receivedNoiseLevel":
			d.seen(&seen, 11)
			d.i32Ptr(&v.ReceivedNoiseLevel)
		case "receivedSignalLevel":
			d.seen(&seen, 12)
			d.i32Ptr(&v.ReceivedSignalLevel)
		case "renderDeviceDriver":
			d.seen(&seen, 13)
			d.strPtr(&v.RenderDeviceDriver)
		case "renderDeviceName":
			d.seen(&seen, 14)
			d.strPtr(&v.RenderDeviceName)
		case "renderMuteEventRatio":
			d.seen(&seen, 15)
			d.unmarshaler(&v.RenderMuteEventRatio)
		case "renderNotFunctioningEventRatio":
			d.seen(&seen, 16)
			d.unmarshaler(&v.RenderNotFunctioningEventRatio)
		case "renderZeroVolumeEventRatio":
			d.seen(&seen, 17)
			d.unmarshaler(&v.RenderZeroVolumeEventRatio)
		case "sentNoiseLevel":
			d.seen(&seen, 18)
			d.i32Ptr(&v.SentNoiseLevel)
		case "sentSignalLevel":
			d.seen(&seen, 19)
			d.i32Ptr(&v.SentSignalLevel)
		case "speakerGlitchRate":
			d.seen(&seen, 20)
			d.unmarshaler(&v.SpeakerGlitchRate)
		default:
			d.unknown(key, namesDeviceInfo)
		}
	})
}
