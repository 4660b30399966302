package schemas

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Kind is the logical type of a column, independent of any engine.
type Kind string

// Column kinds.
const (
	KindString    Kind = "string"
	KindInt32     Kind = "int32"
	KindInt64     Kind = "int64"
	KindDouble    Kind = "double"
	KindBool      Kind = "bool"
	KindTimestamp Kind = "timestamp" // INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true)
	KindList      Kind = "list"
	KindStruct    Kind = "struct"
	KindMap       Kind = "map"
	KindDecimal   Kind = "decimal" // DECIMAL(Precision, Scale), see Column
	KindJSON      Kind = "json"    // BYTE_ARRAY with the JSON logical type
)

// Column describes one column of a table, as the Parquet files hold it.
type Column struct {
	Name     string   `json:"name"`
	Kind     Kind     `json:"type"`
	Nullable bool     `json:"nullable"`
	Elem     *Column  `json:"element,omitempty"` // list element, map value
	Key      *Column  `json:"key,omitempty"`     // map key
	Fields   []Column `json:"fields,omitempty"`  // struct fields
	// Precision and Scale are set for KindDecimal.
	Precision int `json:"precision,omitempty"`
	Scale     int `json:"scale,omitempty"`
	// Doc is a note for readers (a deprecation), from the field's doc tag.
	Doc string `json:"doc,omitempty"`
}

var timeType = reflect.TypeOf(time.Time{})

// Columns lists the columns of a row struct in file order, reading the parquet
// struct tags the writer uses (embedded structs are inlined, as parquet-go does).
func Columns(row any) []Column {
	return structColumns(reflect.TypeOf(row))
}

func structColumns(t reflect.Type) []Column {
	var cols []Column
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			cols = append(cols, structColumns(f.Type)...)
			continue
		}
		tag := f.Tag.Get("parquet")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		c := columnOf(f.Type, opts)
		c.Name, c.Doc = name, f.Tag.Get("doc")
		cols = append(cols, c)
	}
	return cols
}

func columnOf(t reflect.Type, opts string) Column {
	c := Column{Nullable: strings.Contains(opts, "optional")}
	if t.Kind() == reflect.Pointer {
		c.Nullable = true
		t = t.Elem()
	}
	if d := decimalTag(opts); d != nil {
		c.Kind, c.Precision, c.Scale = KindDecimal, d[1], d[0]
		return c
	}
	switch {
	case t == timeType:
		c.Kind = KindTimestamp
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && hasOpt(opts, "json"):
		c.Kind = KindJSON
	case t.Kind() == reflect.String:
		c.Kind = KindString
	case t.Kind() == reflect.Int32:
		c.Kind = KindInt32
	case t.Kind() == reflect.Int64:
		c.Kind = KindInt64
	case t.Kind() == reflect.Float64:
		c.Kind = KindDouble
	case t.Kind() == reflect.Bool:
		c.Kind = KindBool
	case t.Kind() == reflect.Slice:
		e := columnOf(t.Elem(), "")
		c.Kind, c.Elem, c.Nullable = KindList, &e, true
	case t.Kind() == reflect.Map:
		k, v := columnOf(t.Key(), ""), columnOf(t.Elem(), "")
		c.Kind, c.Key, c.Elem = KindMap, &k, &v
	case t.Kind() == reflect.Struct:
		c.Kind, c.Fields = KindStruct, structColumns(t)
	default:
		panic(fmt.Sprintf("schemas: no column kind for Go type %s", t))
	}
	return c
}

// hasOpt reports whether the tag options list opt.
func hasOpt(opts, opt string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// decimalTag reads a decimal(scale,precision) tag option as parquet-go spells it.
func decimalTag(opts string) []int {
	i := strings.Index(opts, "decimal(")
	if i < 0 {
		return nil
	}
	var scale, prec int
	if _, err := fmt.Sscanf(opts[i:], "decimal(%d:%d)", &scale, &prec); err != nil {
		return nil
	}
	return []int{scale, prec}
}
