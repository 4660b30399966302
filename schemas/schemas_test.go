package schemas_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

var update = flag.Bool("update", false, "rewrite golden files")

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; rerun with -update and review the diff.\ngot:\n%s", path, got)
	}
}

// TestParquetSchema_Golden pins each table's Parquet schema (names, physical and
// logical types, repetition) as parquet-go derives it from the row structs.
func TestParquetSchema_Golden(t *testing.T) {
	for _, tb := range schemas.Tables {
		t.Run(tb.Name, func(t *testing.T) {
			s := parquet.SchemaOf(tb.Row)
			checkGolden(t, filepath.Join("testdata", tb.Name+".schema.golden"), []byte(s.String()+"\n"))
		})
	}
}

// TestParquetSchema_Contract checks the lake contract on every leaf column:
// instants are TIMESTAMP(MICROS, UTC), no unsigned integers, lists are LIST-annotated.
func TestParquetSchema_Contract(t *testing.T) {
	for _, tb := range schemas.Tables {
		s := parquet.SchemaOf(tb.Row).String()
		for _, line := range strings.Split(s, "\n") {
			l := strings.TrimSpace(line)
			if strings.Contains(l, "TIMESTAMP") && !strings.Contains(l, "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)") {
				t.Errorf("%s: %q: instants must be TIMESTAMP(MICROS, UTC)", tb.Name, l)
			}
			if strings.Contains(l, "isSigned=false") || strings.Contains(l, "UINT") {
				t.Errorf("%s: %q: unsigned integers are not allowed", tb.Name, l)
			}
			// A repeated node must be the middle level of a LIST or MAP: a bare
			// repeated field breaks Athena's Hive SerDe.
			if strings.HasPrefix(l, "repeated") && !strings.HasPrefix(l, "repeated group list {") && !strings.HasPrefix(l, "repeated group key_value {") {
				t.Errorf("%s: %q: repeated field outside a LIST or MAP", tb.Name, l)
			}
		}
		for _, c := range schemas.Columns(tb.Row) {
			if c.Name == "" || strings.ToLower(c.Name) != c.Name {
				t.Errorf("%s: column %q is not snake_case", tb.Name, c.Name)
			}
		}
		if cols := schemas.Columns(tb.Row); cols[0].Name != "tenant_id" {
			t.Errorf("%s: first column = %s, want tenant_id", tb.Name, cols[0].Name)
		}
	}
}

// TestKey_RequiredColumns checks that every table names its key (its grain,
// and the Iceberg tables' sort order) by top-level columns that can never be
// NULL: a key column that may be NULL identifies nothing.
func TestKey_RequiredColumns(t *testing.T) {
	for _, tb := range slices.Concat(schemas.Tables, schemas.RawTables, schemas.LedgerTables) {
		if len(tb.Key) == 0 || tb.Key[0] != "tenant_id" {
			t.Errorf("%s: key %v, want tenant_id first", tb.Name, tb.Key)
		}
		fields := map[string]parquet.Field{}
		for _, f := range parquet.SchemaOf(tb.Row).Fields() {
			fields[f.Name()] = f
		}
		seen := map[string]bool{}
		for _, col := range tb.Key {
			f, ok := fields[col]
			switch {
			case !ok:
				t.Errorf("%s: key column %q is not a column of the table", tb.Name, col)
			case !f.Leaf() || f.Optional() || f.Repeated():
				t.Errorf("%s: key column %q is not a required value (leaf %v, optional %v, repeated %v)", tb.Name, col, f.Leaf(), f.Optional(), f.Repeated())
			case seen[col]:
				t.Errorf("%s: key column %q named twice", tb.Name, col)
			}
			seen[col] = true
		}
	}
}

// TestColumns_MatchParquet checks that the column list behind the DDL names exactly
// the top-level fields of the Parquet schema, in order.
func TestColumns_MatchParquet(t *testing.T) {
	for _, tb := range schemas.Tables {
		var want []string
		for _, f := range parquet.SchemaOf(tb.Row).Fields() {
			want = append(want, f.Name())
		}
		var got []string
		for _, c := range schemas.Columns(tb.Row) {
			got = append(got, c.Name)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("Columns(%s) = %v, want %v", tb.Name, got, want)
		}
	}
}

func TestWriteDDL_Golden(t *testing.T) {
	for _, format := range []string{schemas.FormatAthena, schemas.FormatSpark, schemas.FormatDuckDB, schemas.FormatJSON} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			if err := schemas.WriteDDL(&b, format, "s3://example-bucket/lake", "teams_lake"); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "ddl."+format+".golden"), b.Bytes())
		})
	}
	if err := schemas.WriteDDL(&bytes.Buffer{}, "oracle", "x", "y"); err == nil {
		t.Error("WriteDDL(oracle) = nil, want an error naming the format")
	}
}

// TestWriteDDL_QuotesAndNames: a quote or a backslash in the lake's location
// stays inside its string literal, in each dialect's escaping (DuckDB's is
// also run by the e2e views, on a lake whose path has quotes); a database
// name Athena would refuse is an error.
func TestWriteDDL_QuotesAndNames(t *testing.T) {
	for format, want := range map[string]string{
		schemas.FormatAthena: `LOCATION 's3://b/o\'brien\\x/call_records/'`,
		schemas.FormatSpark:  `LOCATION 's3://b/o\'brien\\x/call_records/'`,
		schemas.FormatDuckDB: `read_parquet('s3://b/o''brien\x/call_records/*/*.parquet'`,
	} {
		var b bytes.Buffer
		if err := schemas.WriteDDL(&b, format, `s3://b/o'brien\x`, "teams_lake"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("%s: the location is not written %s:\n%.400s", format, want, b.String())
		}
	}
	for _, name := range []string{"my-db", "1lake", "lake; DROP TABLE x", ""} {
		if err := schemas.WriteDDL(&bytes.Buffer{}, schemas.FormatAthena, "s3://b/l", name); !errors.Is(err, schemas.ErrDatabaseName) {
			t.Errorf("database %q: %v, want ErrDatabaseName", name, err)
		}
	}
}

// TestDocs_NoSemicolon: table and column docs are printed inside the DDL,
// which readers (and e2e's TestBIQueries) split into statements at semicolons.
func TestDocs_NoSemicolon(t *testing.T) {
	for _, tb := range schemas.Tables {
		if strings.Contains(tb.Doc, ";") {
			t.Errorf("table %s doc %q holds a semicolon", tb.Name, tb.Doc)
		}
		for _, c := range schemas.Columns(tb.Row) {
			if strings.Contains(c.Doc, ";") {
				t.Errorf("column %s.%s doc %q holds a semicolon", tb.Name, c.Name, c.Doc)
			}
		}
	}
}

func TestParseISODuration(t *testing.T) {
	tests := []struct {
		in     string
		want   int64
		wantOK bool
	}{
		{"PT0.016S", 16000, true},
		{"PT1S", 1_000_000, true},
		{"PT1M2.5S", 62_500_000, true},
		{"P0DT0H0M0.002S", 2000, true},
		{"P1DT1H", 25 * 3600 * 1_000_000, true},
		{"PT0S", 0, true},
		{"-PT1S", -1_000_000, true},
		{"P1W", 7 * 24 * 3600 * 1_000_000, true},
		{"PT0,5S", 500_000, true},
		{"P1Y", 0, false},
		{"P1M", 0, false},
		{"1.5", 0, false},
		{"PT", 0, false},
		{"P", 0, false},
		{"PTS", 0, false},
		{"P100000D", 8_640_000_000_000_000, true},
		{"P2562047788015D", 0, false},   // past int64 microseconds: no wrap-around
		{"PT10000000000000S", 0, false}, // the same on the fast path of UnmarshalJSON
		{"-P2562047788015D", 0, false},
		{"PT2562047788H", 2562047788 * 3600 * 1_000_000, true}, // the last whole hour that fits
		{"PT2562047789H", 0, false},
		{"P106751991DT24H", 0, false}, // each part fits, their sum does not
	}
	for _, tt := range tests {
		got, err := schemas.ParseISODuration(tt.in)
		if (err == nil) != tt.wantOK || (tt.wantOK && got != tt.want) {
			t.Errorf("ParseISODuration(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.wantOK)
		}
		var d schemas.Duration
		err = d.UnmarshalJSON([]byte(`"` + tt.in + `"`))
		if (err == nil) != tt.wantOK || (tt.wantOK && d.Micros != tt.want) {
			t.Errorf("Duration.UnmarshalJSON(%q) = %d, %v; want %d, ok=%v", tt.in, d.Micros, err, tt.want, tt.wantOK)
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2020-02-25T18:52:21.2169889Z", "2020-02-25T18:52:21.216988Z"},
		{"2023-09-25T10:36:40Z", "2023-09-25T10:36:40Z"},
		{"2023-09-25T12:36:40+02:00", "2023-09-25T10:36:40Z"},
		{"2023-09-25T10:36:40.5", "2023-09-25T10:36:40.5Z"},
		{"0001-01-01T00:00:00Z", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := schemas.ParseTime(tt.in)
		if err != nil {
			t.Fatalf("ParseTime(%q) = %v", tt.in, err)
		}
		s := ""
		if !got.IsZero() {
			s = got.Format("2006-01-02T15:04:05.999999Z07:00")
		}
		if s != tt.want {
			t.Errorf("ParseTime(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
	if _, err := schemas.ParseTime("yesterday"); err == nil {
		t.Error(`ParseTime("yesterday") = nil error`)
	}
}

// TestListElementsNullable: an optional field of a LIST element is a pointer.
// parquet-go writes a list's elements as a batch, and its batch path can
// write the zero value of an optional non-pointer field ("" that must be
// NULL) as a value, depending on the elements around it.
func TestListElementsNullable(t *testing.T) {
	var walk func(path string, rt reflect.Type, inList bool)
	walk = func(path string, rt reflect.Type, inList bool) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			name := path + "." + f.Name
			switch {
			case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}):
				walk(name, f.Type, inList)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				walk(name, f.Type.Elem(), true)
			case inList && strings.Contains(f.Tag.Get("parquet"), "optional") && f.Type.Kind() != reflect.Pointer:
				t.Errorf("%s is optional but not a pointer", name)
			}
		}
	}
	lists := 0
	for _, tb := range schemas.Tables {
		walk(tb.Name, reflect.TypeOf(tb.Row), false)
		lists += strings.Count(parquet.SchemaOf(tb.Row).String(), "(LIST)")
	}
	if lists == 0 {
		t.Fatal("no LIST column found: the walk checks nothing")
	}
}

func TestRawPieces(t *testing.T) {
	// Multi-byte characters across every piece boundary.
	raw := []byte(strings.Repeat("aé€😀", schemas.RawPieceBytes/3))
	pieces := schemas.RawPieces(raw)
	if len(pieces) < 3 {
		t.Fatalf("%d pieces of %d bytes, want several", len(pieces), len(raw))
	}
	var joined []byte
	for i, p := range pieces {
		if !utf8.Valid(p) {
			t.Errorf("piece %d is not valid UTF-8", i)
		}
		if len(p) > schemas.RawPieceBytes || len(p) < schemas.RawPieceBytes-4 && i < len(pieces)-1 {
			t.Errorf("piece %d has %d bytes", i, len(p))
		}
		joined = append(joined, p...)
	}
	if !bytes.Equal(joined, raw) {
		t.Error("the pieces concatenated differ from the input")
	}
	if n := len(schemas.RawPieces([]byte("{}"))); n != 1 {
		t.Errorf("a small record in %d pieces", n)
	}
}
