package e2e_test

import (
	"os"
	"regexp"
	"testing"
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
