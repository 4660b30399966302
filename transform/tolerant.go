package transform

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// decodeTolerant decodes raw into v (a pointer) as json.Unmarshal does,
// except that a value which does not convert to its field's type (a duration
// "P1Y", 12.0 for an integer, a number for a string, an object for an array)
// is replaced by null, which leaves the field zero (NULL in the tables), and
// counted in the report; unknown properties are counted too. One bad value
// no longer costs the whole record. prefix is the path of v in its record.
//
// An error is returned for input that is not JSON, and for an invalid value
// at one of the paths in keys: the properties without which the record
// cannot be stored ("" for v itself).
//
// It is the slow path: a tree of the whole payload, walked against v's type
// by reflection, then encoding/json on the repaired tree (or on raw itself
// when nothing needed repair, so that valid input decodes exactly as before).
func decodeTolerant(raw []byte, v any, prefix string, keys []string) (Report, error) {
	if !json.Valid(raw) {
		return Report{}, json.Unmarshal(raw, v) // for its syntax error
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers keep their text: 12.0 and 1e400 stay what they were
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return Report{}, err
	}
	w := repairer{keys: keys}
	tree = w.value(tree, reflect.TypeOf(v).Elem(), prefix)
	if w.keyErr != nil {
		return Report{}, w.keyErr
	}
	if w.report.Invalid == nil {
		return w.report, json.Unmarshal(raw, v)
	}
	fixed, err := json.Marshal(tree)
	if err == nil {
		err = json.Unmarshal(fixed, v)
	}
	return w.report, err
}

// repairer walks a JSON tree against a Go type.
type repairer struct {
	report Report
	keys   []string
	keyErr error // the first invalid value at a key path
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// value returns v, repaired, or nil when v does not convert to t.
func (w *repairer) value(v any, t reflect.Type, path string) any {
	if v == nil {
		return nil // null converts to anything: the field stays zero
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return w.leaf(v, t, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.value(v, t.Elem(), path)
	case reflect.String:
		if _, ok := v.(string); ok {
			return v // the common case, without a round trip
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return w.invalid(v, t, path, nil)
		}
		for i, e := range arr {
			arr[i] = w.value(e, t.Elem(), path)
		}
		return arr
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return w.invalid(v, t, path, nil)
		}
		for k, e := range obj {
			obj[k] = w.value(e, t.Elem(), path) // open keys are not part of the path
		}
		return obj
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return w.invalid(v, t, path, nil)
		}
		for k, e := range obj {
			name, ft, ok := field(t, k)
			if !ok {
				if !strings.Contains(k, "@") { // annotations are protocol, not properties
					w.report.unknown(joinPath(path, k))
				}
				continue
			}
			obj[k] = w.value(e, ft, joinPath(path, name))
		}
		return obj
	}
	return w.leaf(v, t, path)
}

// leaf checks a scalar (or a type that decodes itself) by decoding it, so
// that the rules are encoding/json's and the types' own.
func (w *repairer) leaf(v any, t reflect.Type, path string) any {
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, reflect.New(t).Interface())
	}
	if err != nil {
		return w.invalid(v, t, path, err)
	}
	return v
}

// invalid counts the value at path and returns its replacement, null; err
// says why (nil: v is the wrong kind of JSON value for t).
func (w *repairer) invalid(v any, t reflect.Type, path string, err error) any {
	if err == nil {
		err = &json.UnmarshalTypeError{Value: jsonKind(v), Type: t}
	}
	for _, k := range w.keys {
		if k == path && w.keyErr == nil {
			w.keyErr = fmt.Errorf("%s: %w", cmp.Or(path, "record"), err)
		}
	}
	w.report.invalid(path)
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "bool"
	}
	return fmt.Sprintf("%T", v)
}

// field finds the field of struct t that JSON key k sets, as encoding/json
// does: the exact name first, else a case-insensitive match.
func field(t reflect.Type, k string) (name string, typ reflect.Type, ok bool) {
	for _, f := range jsonFieldsOf(t) {
		if f.name == k {
			return f.name, f.typ, true
		}
		if !ok && strings.EqualFold(f.name, k) {
			name, typ, ok = f.name, f.typ, true
		}
	}
	return name, typ, ok
}

// jsonField is a struct field as encoding/json names it.
type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields caches jsonFieldsOf: reading struct tags for every key of every
// object was a quarter of the tolerant decoder's time.
var jsonFields sync.Map // reflect.Type → []jsonField

// jsonFieldsOf lists the exported fields of struct t that JSON can set, in
// order, under their JSON names.
func jsonFieldsOf(t reflect.Type) []jsonField {
	if fs, ok := jsonFields.Load(t); ok {
		return fs.([]jsonField)
	}
	var fs []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch n {
		case "-":
			continue
		case "":
			n = f.Name
		}
		fs = append(fs, jsonField{n, f.Type})
	}
	jsonFields.Store(t, fs)
	return fs
}
