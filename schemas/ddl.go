package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// DDL formats accepted by WriteDDL.
const (
	FormatAthena = "athena"
	FormatSpark  = "spark"
	FormatDuckDB = "duckdb"
	FormatJSON   = "json"
)

// ErrDatabaseName: WriteDDL was given a database name the engines would not
// take unquoted.
var ErrDatabaseName = errors.New("database name")

// databaseName is a database name Athena and Spark take unquoted.
var databaseName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// WriteDDL prints, for every table, what an engine needs to read the lake rooted at
// location (an s3:// URL or a local path): Athena DDL with partition projection on
// dt, Spark SQL, DuckDB views, or a JSON description of the columns.
func WriteDDL(w io.Writer, format, location, database string) error {
	location = strings.TrimRight(location, "/")
	switch format {
	case FormatJSON:
		type table struct {
			Name      string   `json:"name"`
			Doc       string   `json:"doc"`
			Partition string   `json:"partition_column"`
			Columns   []Column `json:"columns"`
		}
		var out []table
		for _, t := range slices.Concat(Tables, RawTables, LedgerTables) {
			out = append(out, table{t.Name, t.Doc, PartitionColumn, Columns(t.Row)})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case FormatAthena, FormatSpark, FormatDuckDB:
	default:
		return fmt.Errorf("unknown schema format %q (want athena, spark, duckdb or json)", format)
	}
	if format != FormatDuckDB && !databaseName.MatchString(database) {
		return fmt.Errorf("%w %q: want letters, digits and underscores, not starting with a digit (Athena's rule)", ErrDatabaseName, database)
	}
	// Locations are SQL string literals: a quote in a path ends one. Hive's
	// dialect (Athena's DDL, Spark SQL) escapes with a backslash, DuckDB
	// doubles the quote.
	literal := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace
	if format == FormatDuckDB {
		literal = strings.NewReplacer(`'`, `''`).Replace
	}
	var b strings.Builder
	for _, t := range slices.Concat(Tables, RawTables, LedgerTables) {
		loc := literal(location + "/" + t.Name)
		name := t.SQLName()
		fmt.Fprintf(&b, "-- %s: %s\n", t.Name, t.Doc)
		switch format {
		case FormatAthena:
			fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS %s.%s (\n%s\n)\n", database, name, columnList(t.Row, athenaType, "`"))
			fmt.Fprintf(&b, "PARTITIONED BY (%s string)\nSTORED AS PARQUET\nLOCATION '%s/'\nTBLPROPERTIES (\n", PartitionColumn, loc)
			fmt.Fprintf(&b, "  'parquet.compression' = 'ZSTD',\n  'projection.enabled' = 'true',\n")
			fmt.Fprintf(&b, "  'projection.dt.type' = 'date',\n  'projection.dt.format' = 'yyyy-MM-dd',\n")
			fmt.Fprintf(&b, "  'projection.dt.range' = '2020-01-01,NOW',\n  'projection.dt.interval' = '1',\n  'projection.dt.interval.unit' = 'DAYS',\n")
			fmt.Fprintf(&b, "  'storage.location.template' = '%s/dt=${dt}/'\n);\n\n", loc)
		case FormatSpark:
			fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s (\n%s,\n  %s DATE\n)\nUSING PARQUET\nPARTITIONED BY (%s)\nLOCATION '%s/';\n", database, name, columnList(t.Row, sparkType, "`"), PartitionColumn, PartitionColumn, loc)
			fmt.Fprintf(&b, "MSCK REPAIR TABLE %s.%s; -- or ALTER TABLE ... RECOVER PARTITIONS after each run\n\n", database, name)
		case FormatDuckDB:
			fmt.Fprintf(&b, "CREATE OR REPLACE VIEW %s AS\n  SELECT * FROM read_parquet('%s/*/*.parquet', hive_partitioning = true, hive_types = {'dt': DATE}, union_by_name = true);\n", name, loc)
			fmt.Fprintf(&b, "-- columns:\n%s\n\n", columnList(t.Row, duckdbType, "-- "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// columnList renders "  name type" lines, with a COMMENT for a column with a
// Doc; quote is the identifier quote (or a comment prefix for DuckDB, whose
// views take their columns from the files).
func columnList(row any, typ func(Column) string, quote string) string {
	var lines []string
	for _, c := range Columns(row) {
		if quote == "-- " {
			line := fmt.Sprintf("--   %s %s", c.Name, typ(c))
			if c.Doc != "" {
				line += " -- " + c.Doc
			}
			lines = append(lines, line)
			continue
		}
		line := fmt.Sprintf("  %s%s%s %s", quote, c.Name, quote, typ(c))
		if c.Doc != "" {
			line += " COMMENT '" + strings.ReplaceAll(c.Doc, "'", "\\'") + "'"
		}
		lines = append(lines, line)
	}
	sep := ",\n"
	if quote == "-- " {
		sep = "\n"
	}
	return strings.Join(lines, sep)
}

func athenaType(c Column) string {
	switch c.Kind {
	case KindString, KindJSON:
		return "string"
	case KindInt32:
		return "int"
	case KindInt64:
		return "bigint"
	case KindDouble:
		return "double"
	case KindBool:
		return "boolean"
	case KindTimestamp:
		return "timestamp"
	case KindDecimal:
		return fmt.Sprintf("decimal(%d,%d)", c.Precision, c.Scale)
	case KindList:
		return "array<" + athenaType(*c.Elem) + ">"
	case KindMap:
		return "map<" + athenaType(*c.Key) + "," + athenaType(*c.Elem) + ">"
	case KindStruct:
		var f []string
		for _, s := range c.Fields {
			f = append(f, s.Name+":"+athenaType(s))
		}
		return "struct<" + strings.Join(f, ",") + ">"
	}
	panic("schemas: unhandled kind " + c.Kind)
}

func sparkType(c Column) string {
	switch c.Kind {
	case KindList:
		return "ARRAY<" + sparkType(*c.Elem) + ">"
	case KindMap:
		return "MAP<" + sparkType(*c.Key) + ", " + sparkType(*c.Elem) + ">"
	case KindStruct:
		var f []string
		for _, s := range c.Fields {
			f = append(f, s.Name+": "+sparkType(s))
		}
		return "STRUCT<" + strings.Join(f, ", ") + ">"
	}
	return strings.ToUpper(athenaType(c))
}

func duckdbType(c Column) string {
	switch c.Kind {
	case KindString:
		return "VARCHAR"
	case KindJSON:
		return "JSON"
	case KindInt32:
		return "INTEGER"
	case KindInt64:
		return "BIGINT"
	case KindDouble:
		return "DOUBLE"
	case KindBool:
		return "BOOLEAN"
	case KindTimestamp:
		return "TIMESTAMP WITH TIME ZONE"
	case KindDecimal:
		return fmt.Sprintf("DECIMAL(%d,%d)", c.Precision, c.Scale)
	case KindList:
		return duckdbType(*c.Elem) + "[]"
	case KindMap:
		return "MAP(" + duckdbType(*c.Key) + ", " + duckdbType(*c.Elem) + ")"
	case KindStruct:
		var f []string
		for _, s := range c.Fields {
			f = append(f, s.Name+" "+duckdbType(s))
		}
		return "STRUCT(" + strings.Join(f, ", ") + ")"
	}
	panic("schemas: unhandled kind " + c.Kind)
}
