package transform

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// Pseudonymiser applies a Policy to what the job writes: the fact rows and
// the record JSON of the raw archive and the quarantine. A
// hashed value is the hex of the first 12 bytes of HMAC-SHA-256(key,
// value): the same person has the same pseudonym in every table, run and
// tenant that share the key. A phone number keeps its country calling code
// ("+44~<hash>"), an IP address its network prefix ("10.1.2.0/24~<hash>").
// A nil *Pseudonymiser keeps everything. It is safe for concurrent use.
type Pseudonymiser struct {
	policy Policy
	keyID  string
	macs   sync.Pool // *macState
	ops    sync.Map  // reflect.Type of a row -> []fieldOp

	mu sync.Mutex
	// Pseudonyms already made, by the form they take: a phone number's,
	// an IP address's, any other value's (the same whatever its class).
	// People recur in every row of their calls.
	cache [3]map[string]*string
}

// The forms of pseudonym, indexing Pseudonymiser.cache.
const (
	formPlain = iota
	formPhone
	formIP
)

// pseudonymCacheSize bounds each cache: it is emptied when full.
const pseudonymCacheSize = 1 << 16

// ErrNoKey: the policy hashes a class and no key was given.
var ErrNoKey = errors.New("the privacy policy hashes personal data and no pseudonymisation key was given")

// NewPseudonymiser returns the Pseudonymiser of policy with key, or nil
// when the policy keeps everything. A policy that hashes needs a key of
// at least 16 bytes.
func NewPseudonymiser(policy Policy, key []byte) (*Pseudonymiser, error) {
	if policy.KeepsAll() {
		return nil, nil
	}
	if policy.Hashes() {
		if len(key) == 0 {
			return nil, ErrNoKey
		}
		if len(key) < 16 {
			return nil, fmt.Errorf("the pseudonymisation key has %d bytes, want at least 16", len(key))
		}
	}
	key = bytes.Clone(key)
	var keyID string
	if len(key) > 0 {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte("callrecords-etl key id"))
		keyID = hex.EncodeToString(mac.Sum(nil)[:8])
	}
	return &Pseudonymiser{
		policy: policy,
		keyID:  keyID,
		macs:   sync.Pool{New: func() any { return &macState{mac: hmac.New(sha256.New, key)} }},
		cache:  [3]map[string]*string{{}, {}, {}},
	}, nil
}

// KeyID names the key (it reveals nothing of it): files written with the
// same policy and key ID have the same pseudonyms. "" without a key.
func (p *Pseudonymiser) KeyID() string {
	if p == nil {
		return ""
	}
	return p.keyID
}

// Value is s as the policy writes a value of class: as is, its pseudonym,
// or "" (NULL) when dropped.
func (p *Pseudonymiser) Value(class schemas.PersonalClass, s string) string {
	if p == nil || s == "" {
		return s
	}
	switch p.policy.Action(class) {
	case Drop:
		return ""
	case Hash:
		return *p.pseudonym(class, s, false)
	}
	return s
}

// ref is what the policy writes of s, of a class it does not keep: its
// pseudonym, shared by every row that holds it, or nil (NULL).
func (p *Pseudonymiser) ref(class schemas.PersonalClass, s string) *string {
	if s == "" || p.policy.Action(class) == Drop {
		return nil
	}
	return p.pseudonym(class, s, false)
}

// formOf is the form of a pseudonym of class.
func formOf(class schemas.PersonalClass) int {
	switch class {
	case schemas.ClassPhoneNumber:
		return formPhone
	case schemas.ClassIPAddress:
		return formIP
	}
	return formPlain
}

// pseudonym is the pseudonym of s, of class. view: s is a view of memory that
// changes (a record's JSON): the cache keeps a copy of it.
func (p *Pseudonymiser) pseudonym(class schemas.PersonalClass, s string, view bool) *string {
	form := formOf(class)
	cache := p.cache[form]
	p.mu.Lock()
	ref, ok := cache[s]
	p.mu.Unlock()
	if ok {
		return ref
	}
	var b [64]byte // room for the longest: an IPv6 prefix, "~" and the hash
	v := string(p.appendForm(b[:0], form, s))
	if view {
		s = strings.Clone(s)
	}
	p.mu.Lock()
	if len(cache) >= pseudonymCacheSize {
		clear(cache)
	}
	cache[s] = &v
	p.mu.Unlock()
	return &v
}

// appendPseudonym appends the pseudonym of s, of class, to dst. An IP
// address's is made afresh each time, with no allocation: most addresses
// occur in one call only, so caching them costs more (a copy, a map entry,
// the cache emptied early) than the hash it saves.
func (p *Pseudonymiser) appendPseudonym(dst []byte, class schemas.PersonalClass, s string) []byte {
	if form := formOf(class); form == formIP {
		return p.appendForm(dst, form, s)
	}
	return append(dst, *p.pseudonym(class, s, true)...)
}

// appendForm appends the pseudonym of s in form to dst.
func (p *Pseudonymiser) appendForm(dst []byte, form int, s string) []byte {
	switch form {
	case formPhone:
		return p.appendPhone(dst, s)
	case formIP:
		return p.appendIP(dst, s)
	}
	return p.appendHash(dst, s)
}

// macState is a keyed HMAC with its input and output memory.
type macState struct {
	mac hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// appendHash appends the keyed hash of s to dst.
func (p *Pseudonymiser) appendHash(dst []byte, s string) []byte {
	st := p.macs.Get().(*macState)
	st.mac.Reset()
	st.in = append(st.in[:0], s...)
	st.mac.Write(st.in)
	dst = hex.AppendEncode(dst, st.mac.Sum(st.sum[:0])[:12])
	p.macs.Put(st)
	return dst
}

// appendPhone keeps the country calling code of an E.164 number (or of a
// pseudonym under another key, which a rewrite hashes again).
func (p *Pseudonymiser) appendPhone(dst []byte, s string) []byte {
	if cc, _, ok := strings.Cut(s, "~"); ok && countryCode(cc+"000") != "" {
		return p.appendHash(append(append(dst, cc...), '~'), s)
	}
	if cc := countryCode(s); cc != "" {
		return p.appendHash(append(append(append(dst, '+'), cc...), '~'), s)
	}
	return p.appendHash(dst, s)
}

// appendIP keeps the policy's network prefix of an address (or of a
// pseudonym under another key, which a rewrite hashes again).
func (p *Pseudonymiser) appendIP(dst []byte, s string) []byte {
	if pre, _, ok := strings.Cut(s, "~"); ok {
		if _, err := netip.ParsePrefix(pre); err == nil {
			return p.appendHash(append(append(dst, pre...), '~'), s)
		}
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return p.appendHash(dst, s)
	}
	bits := p.policy.IPv6Prefix
	if addr.Is4() || addr.Is4In6() {
		addr, bits = addr.Unmap(), p.policy.IPv4Prefix
	}
	if bits == 0 {
		return p.appendHash(dst, s)
	}
	pre, err := addr.Prefix(bits)
	if err != nil {
		return p.appendHash(dst, s)
	}
	return p.appendHash(append(pre.AppendTo(dst), '~'), s)
}

// twoDigitCodes are the ITU country calling codes of two digits; the
// others are 1 (NANP), 7, or three digits (the codes are prefix-free).
var twoDigitCodes = map[string]bool{
	"20": true, "27": true, "30": true, "31": true, "32": true, "33": true, "34": true, "36": true, "39": true,
	"40": true, "41": true, "43": true, "44": true, "45": true, "46": true, "47": true, "48": true, "49": true,
	"51": true, "52": true, "53": true, "54": true, "55": true, "56": true, "57": true, "58": true,
	"60": true, "61": true, "62": true, "63": true, "64": true, "65": true, "66": true,
	"81": true, "82": true, "84": true, "86": true, "90": true, "91": true, "92": true, "93": true, "94": true, "95": true, "98": true,
}

// countryCode is the country calling code of an E.164 number, or "".
func countryCode(s string) string {
	digits, ok := strings.CutPrefix(s, "+")
	if !ok || len(digits) < 4 || strings.Trim(digits[:3], "0123456789") != "" {
		return ""
	}
	switch {
	case digits[0] == '1' || digits[0] == '7':
		return digits[:1]
	case twoDigitCodes[digits[:2]]:
		return digits[:2]
	}
	return digits[:3]
}

// Rows applies the policy to rows (a slice of a fact table's row struct)
// in place. Nested lists are copied before they change: flattening shares
// them between rows.
func Rows[T any](p *Pseudonymiser, rows []T) {
	if p == nil || len(rows) == 0 {
		return
	}
	ops := p.opsOf(reflect.TypeFor[T]())
	if len(ops) == 0 {
		return
	}
	size := unsafe.Sizeof(rows[0])
	base := unsafe.Pointer(unsafe.SliceData(rows))
	for i := range rows {
		p.apply(ops, unsafe.Add(base, uintptr(i)*size))
	}
}

// CallRecordRows applies the policy to every row of a call record: each
// table of schemas.CallRecordRows, a table added to it too.
func (p *Pseudonymiser) CallRecordRows(rows *schemas.CallRecordRows) {
	if p == nil {
		return
	}
	v := reflect.ValueOf(rows).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Struct: // the parent row
			p.apply(p.opsOf(f.Type()), f.Addr().UnsafePointer())
		case reflect.Slice: // a child table's rows
			if f.Type().Elem().Kind() != reflect.Struct {
				continue
			}
			ops := p.opsOf(f.Type().Elem())
			if len(ops) == 0 || f.Len() == 0 {
				continue
			}
			base, size := f.UnsafePointer(), f.Type().Elem().Size()
			for j := range f.Len() {
				p.apply(ops, unsafe.Add(base, uintptr(j)*size))
			}
		}
	}
}

// fieldOp rewrites one string field of a row struct (at off from the
// row's start) that the policy does not keep.
type fieldOp struct {
	off    uintptr
	kind   opKind
	class  schemas.PersonalClass
	action Action
	typ    reflect.Type // of a list
	elem   []fieldOp    // of a list of structs: its element's fields
}

type opKind int

const (
	opString        opKind = iota // string
	opStringPointer               // *string
	opStrings                     // []string
	opStructs                     // []struct
)

// opsOf compiles, once per row type, the fields of t the policy changes
// (from schemas.ColumnClasses), so that a row costs no reflection and a
// kept class costs nothing.
func (p *Pseudonymiser) opsOf(t reflect.Type) []fieldOp {
	if ops, ok := p.ops.Load(t); ok {
		return ops.([]fieldOp)
	}
	ops := p.compile(t, "", 0)
	p.ops.Store(t, ops)
	return ops
}

func (p *Pseudonymiser) compile(t reflect.Type, prefix string, base uintptr) []fieldOp {
	var ops []fieldOp
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			ops = append(ops, p.compile(f.Type, prefix, base+f.Offset)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		path := prefix + name
		op := fieldOp{off: base + f.Offset, typ: f.Type}
		switch {
		case f.Type.Kind() == reflect.String:
			op.kind = opString
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.String:
			op.kind = opStringPointer
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			op.kind = opStrings
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			op.kind, op.elem = opStructs, p.compile(f.Type.Elem(), path+".", 0)
			if len(op.elem) > 0 {
				ops = append(ops, op)
			}
			continue
		default:
			continue
		}
		class, ok := schemas.ColumnClass(path)
		if !ok {
			panic(fmt.Sprintf("transform: column %s of %s has no personal data class (schemas.ColumnClasses)", path, t))
		}
		if op.class, op.action = class, p.policy.Action(class); class != schemas.NotPersonal && op.action != Keep {
			ops = append(ops, op)
		}
	}
	return ops
}

func (p *Pseudonymiser) apply(ops []fieldOp, row unsafe.Pointer) {
	for i := range ops {
		op := &ops[i]
		field := unsafe.Add(row, op.off)
		switch op.kind {
		case opString:
			s := (*string)(field)
			if v := p.ref(op.class, *s); v != nil {
				*s = *v
			} else {
				*s = ""
			}
		case opStringPointer:
			s := (**string)(field)
			if *s == nil {
				continue
			}
			*s = p.ref(op.class, **s)
		case opStrings:
			list := (*[]string)(field)
			if len(*list) == 0 {
				continue
			}
			if op.action == Drop {
				*list = nil
				continue
			}
			out := make([]string, len(*list))
			for j, s := range *list {
				out[j] = p.Value(op.class, s)
			}
			*list = out
		case opStructs:
			v := reflect.NewAt(op.typ, field).Elem()
			n := v.Len()
			if n == 0 {
				continue
			}
			out := reflect.MakeSlice(op.typ, n, n)
			reflect.Copy(out, v)
			v.Set(out)
			elems, size := out.UnsafePointer(), op.typ.Elem().Size()
			for j := range n {
				p.apply(op.elem, unsafe.Add(elems, uintptr(j)*size))
			}
		}
	}
}

// SameRowsFromJSON reports whether flattening a record's JSON as p
// pseudonymised it gives the rows p makes of the record: so when the policy
// hashes user ids or keeps them. Flattening compares user ids (whose call
// queue answered, which hops a caller made) and a pseudonym compares as its
// value does; a dropped id does not. No other class is compared
// (TestPseudonymiser_JSON checks each).
func (p *Pseudonymiser) SameRowsFromJSON() bool {
	return p == nil || p.policy.Action(schemas.ClassUserID) != Drop
}

// JSON applies the policy to a record as Graph sent it (a call record with
// its sessions and participants, or a report row): each personal property
// (jsonClass) follows its class; everything else, the order of the
// properties and the spacing included, is copied as it is.
func (p *Pseudonymiser) JSON(raw []byte) ([]byte, error) {
	return p.JSONTo(nil, raw)
}

// JSONTo is JSON writing into dst's memory, from dst[:0], so that a caller
// can reuse it. It returns raw itself when nothing in it changes.
func (p *Pseudonymiser) JSONTo(dst, raw []byte) ([]byte, error) {
	if p == nil {
		return raw, nil
	}
	w := jsonRewriter{p: p, in: raw, buf: dst[:0]}
	if err := w.value("", ""); err != nil {
		return nil, fmt.Errorf("pseudonymise record JSON: %w", err)
	}
	w.space()
	if w.i != len(raw) {
		return nil, fmt.Errorf("pseudonymise record JSON: unexpected %q at byte %d", raw[w.i], w.i)
	}
	if w.out == nil {
		return raw, nil // nothing personal in it
	}
	return append(w.out, raw[w.copied:]...), nil
}

// jsonRewriter copies a JSON document, rewriting the personal strings.
// It is a scanner, not a decoder: it only reads until a string must be
// rewritten, then copies what lies before it in one go, so a record is
// copied at memory speed.
type jsonRewriter struct {
	p      *Pseudonymiser
	in     []byte
	i      int
	out    []byte // nil until the first rewrite
	copied int    // in[:copied] is in out (rewritten)
	buf    []byte // memory for out
}

var errTruncated = errors.New("unexpected end of JSON")

// space skips whitespace.
func (w *jsonRewriter) space() {
	for w.i < len(w.in) {
		switch w.in[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// replace puts what the policy writes of s, of class, in place of
// in[start:w.i]: its pseudonym, or null.
func (w *jsonRewriter) replace(start int, class schemas.PersonalClass, s string) {
	if w.out == nil {
		w.out = w.buf[:0]
		if size := len(w.in) + len(w.in)/8; cap(w.out) < size { // pseudonyms are longer than most values
			w.out = make([]byte, 0, size)
		}
	}
	w.out = append(w.out, w.in[w.copied:start]...)
	if s == "" || w.p.policy.Action(class) == Drop {
		w.out = append(w.out, "null"...)
	} else {
		w.out = append(w.out, '"')
		w.out = w.p.appendPseudonym(w.out, class, s) // hex digits, +, ~, ., :, /
		w.out = append(w.out, '"')
	}
	w.copied = w.i
}

// value reads the value of property key of an object that is the value
// (or an element of the value) of property container.
func (w *jsonRewriter) value(container, key string) error {
	w.space()
	if w.i >= len(w.in) {
		return errTruncated
	}
	switch w.in[w.i] {
	case '{':
		w.i++
		for first := true; ; first = false {
			w.space()
			if w.i >= len(w.in) {
				return errTruncated
			}
			if w.in[w.i] == '}' {
				w.i++
				return nil
			}
			if !first {
				if w.in[w.i] != ',' {
					return fmt.Errorf("want , at byte %d", w.i)
				}
				w.i++
				w.space()
			}
			tok, err := w.stringToken()
			if err != nil {
				return err
			}
			name, err := w.name(tok)
			if err != nil {
				return err
			}
			w.space()
			if w.i >= len(w.in) || w.in[w.i] != ':' {
				return fmt.Errorf("want : at byte %d", w.i)
			}
			w.i++
			if err := w.value(key, name); err != nil {
				return err
			}
		}
	case '[':
		w.i++
		for first := true; ; first = false {
			w.space()
			if w.i >= len(w.in) {
				return errTruncated
			}
			if w.in[w.i] == ']' {
				w.i++
				return nil
			}
			if !first {
				if w.in[w.i] != ',' {
					return fmt.Errorf("want , at byte %d", w.i)
				}
				w.i++
			}
			if err := w.value(container, key); err != nil {
				return err
			}
		}
	case '"':
		start := w.i
		tok, err := w.stringToken()
		if err != nil {
			return err
		}
		class := jsonClass(container, key)
		if class == schemas.NotPersonal || w.p.policy.Action(class) == Keep {
			return nil
		}
		s, err := w.name(tok) // a view: the cache copies what it keeps
		if err != nil {
			return err
		}
		w.replace(start, class, s)
	default: // a number, true, false, null
		start := w.i
	scalar:
		for ; w.i < len(w.in); w.i++ {
			switch w.in[w.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				break scalar
			}
		}
		if w.i == start {
			return fmt.Errorf("unexpected %q at byte %d", w.in[w.i], w.i)
		}
	}
	return nil
}

// stringToken reads a string's token, quotes included.
func (w *jsonRewriter) stringToken() ([]byte, error) {
	if w.i >= len(w.in) || w.in[w.i] != '"' {
		return nil, fmt.Errorf("want a string at byte %d", w.i)
	}
	start := w.i
	for w.i++; ; {
		n := bytes.IndexByte(w.in[w.i:], '"')
		if n < 0 {
			w.i = len(w.in)
			return nil, errTruncated
		}
		w.i += n + 1
		// The quote ends the string unless an odd number of
		// backslashes escapes it.
		escapes := 0
		for k := w.i - 2; k > start && w.in[k] == '\\'; k-- {
			escapes++
		}
		if escapes%2 == 0 {
			return w.in[start:w.i], nil
		}
	}
}

// name is the string a token holds (a property name, a value to rewrite),
// without a copy when it has no escapes: a view of w.in, used while it
// lives.
func (w *jsonRewriter) name(tok []byte) (string, error) {
	if len(tok) > 2 && bytes.IndexByte(tok, '\\') < 0 {
		return unsafe.String(&tok[1], len(tok)-2), nil
	}
	return unquote(tok)
}

// unquote is the string a token holds.
func unquote(tok []byte) (string, error) {
	if bytes.IndexByte(tok, '\\') < 0 {
		return string(tok[1 : len(tok)-1]), nil
	}
	var s string
	err := json.Unmarshal(tok, &s)
	return s, err
}

// jsonClass is the class of a string property key of an object under
// container, as schemas.ColumnClasses classes the columns made of it.
func jsonClass(container, key string) schemas.PersonalClass {
	switch key {
	case "id":
		switch container {
		case "", "sessions", "segments":
			return schemas.NotPersonal // the record's, a session's, a segment's, a report row's
		}
		// An identity's (a phone identity's is its number, hashed whole
		// as in identities.id), a participant's, an administrative unit's.
		return schemas.ClassUserID
	case "userId", "joinWebUrl":
		return schemas.ClassUserID
	case "displayName", "userDisplayName":
		return schemas.ClassDisplayName
	case "userPrincipalName", "email":
		return schemas.ClassUPNEmail
	case "callerNumber", "calleeNumber":
		return schemas.ClassPhoneNumber
	case "ipAddress", "reflexiveIPAddress", "relayIPAddress":
		return schemas.ClassIPAddress
	case "subnet":
		return schemas.ClassSubnet
	case "name", "captureDeviceName", "renderDeviceName", "macAddress", "basicServiceSetIdentifier":
		return schemas.ClassDeviceName
	case "text":
		return schemas.ClassFeedbackText
	}
	return schemas.NotPersonal
}
