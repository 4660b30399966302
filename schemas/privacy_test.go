package schemas_test

import (
	"slices"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// stringColumns lists the paths (as ColumnClass takes them) of the string
// and JSON columns under c.
func stringColumns(path string, c schemas.Column) []string {
	switch c.Kind {
	case schemas.KindString, schemas.KindJSON:
		return []string{path}
	case schemas.KindList:
		if c.Elem.Kind == schemas.KindStruct {
			var out []string
			for _, f := range c.Elem.Fields {
				out = append(out, stringColumns(path+"."+f.Name, f)...)
			}
			return out
		}
		return stringColumns(path, *c.Elem)
	case schemas.KindMap:
		return stringColumns(path+".key", *c.Key)
	case schemas.KindStruct:
		var out []string
		for _, f := range c.Fields {
			out = append(out, stringColumns(path+"."+f.Name, f)...)
		}
		return out
	}
	return nil
}

// TestColumnClasses: every string column of every table, the raw archive's
// and the ledger's included, has a personal data class, so that a privacy policy covers it.
// A table added later fails here until its columns are in
// schemas.ColumnClasses.
func TestColumnClasses(t *testing.T) {
	used := map[string]bool{}
	for _, tb := range slices.Concat(schemas.Tables, schemas.RawTables, schemas.LedgerTables) {
		for _, c := range schemas.Columns(tb.Row) {
			for _, path := range stringColumns(c.Name, c) {
				class, ok := schemas.ColumnClass(path)
				if !ok {
					t.Errorf("table %s: string column %s has no personal data class: add it to schemas.ColumnClasses (schemas.NotPersonal when it holds no personal data)", tb.Name, path)
					continue
				}
				used[path] = true
				if class != schemas.NotPersonal && class != schemas.RecordJSON && !slices.Contains(schemas.PersonalClasses, class) {
					t.Errorf("table %s: column %s has class %q, which is not one of %v", tb.Name, path, class, schemas.PersonalClasses)
				}
			}
		}
	}
	for path := range schemas.ColumnClasses {
		if !used[path] {
			t.Errorf("schemas.ColumnClasses names %s, which no table has: remove it", path)
		}
	}
}
