package e2e_test

import (
	"bytes"
	"database/sql"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// docQueries reads the named SQL blocks of a document under docs/: each is a
// ```sql block whose first line is "-- name: <name>". The tests run the
// queries as the document prints them, so the document cannot drift.
func docQueries(t *testing.T, doc string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../docs/" + doc)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)```sql\n-- name: (\\w+)\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// createViews creates the DuckDB views `schema --format duckdb` prints.
func createViews(t *testing.T, db *sql.DB, dest string) {
	t.Helper()
	var ddl bytes.Buffer
	if err := schemas.WriteDDL(&ddl, schemas.FormatDuckDB, dest, "unused"); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(ddl.String(), ";") {
		if strings.Contains(stmt, "CREATE") {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("DuckDB DDL from `schema --format duckdb`: %v\n%s", err, stmt)
			}
		}
	}
}
