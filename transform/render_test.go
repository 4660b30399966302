package transform_test

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// renderRow writes a row as "column: value" lines, naming columns as the Parquet
// schema does (embedded structs inlined), so a golden file shows what lands in
// each column.
func renderRow(b *strings.Builder, v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			renderRow(b, v.Field(i))
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
		fmt.Fprintf(b, "  %s: %s\n", name, renderValue(v.Field(i)))
	}
}

func renderValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return "NULL"
		}
		return renderValue(v.Elem())
	case reflect.String:
		if v.String() == "" {
			return "NULL"
		}
		return fmt.Sprintf("%q", v.String())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = renderValue(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		if v.IsNil() {
			return "NULL"
		}
		var keys []string
		for _, k := range v.MapKeys() {
			keys = append(keys, fmt.Sprintf("%s=%v", k, v.MapIndex(k)))
		}
		sort.Strings(keys)
		return "{" + strings.Join(keys, ", ") + "}"
	case reflect.Struct:
		if tm, ok := v.Interface().(time.Time); ok {
			if tm.IsZero() {
				return "NULL"
			}
			return tm.Format(time.RFC3339Nano)
		}
		var b strings.Builder
		renderRow(&b, v)
		return "{" + strings.ReplaceAll(strings.TrimSpace(b.String()), "\n  ", "; ") + "}"
	}
	return fmt.Sprint(v.Interface())
}

// renderRows renders every row of every table of a flattened record.
func renderRows(tables map[string]any) string {
	var names []string
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		rv := reflect.ValueOf(tables[n])
		for i := 0; i < rv.Len(); i++ {
			fmt.Fprintf(&b, "%s[%d]\n", n, i)
			renderRow(&b, rv.Index(i))
		}
	}
	return b.String()
}
