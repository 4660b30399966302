package e2e_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
)

// biQueries reads the named SQL blocks of docs/bi-queries.md.
func biQueries(t *testing.T) map[string]string {
	t.Helper()
	out := docQueries(t, "bi-queries.md")
	if len(out) < 6 {
		t.Fatalf("found %d named queries in docs/bi-queries.md, want 6", len(out))
	}
	return out
}

// TestBIQueries writes a lake from the simulator, creates the DuckDB views that
// `schema --format duckdb` prints, runs every documented query, and checks the
// totals against the simulator's.
func TestBIQueries(t *testing.T) {
	t.Parallel()
	sim, url := newSim(t)
	// A quote in the lake's path: the views' literals must escape it.
	dest := filepath.Join(t.TempDir(), "o'brien's lake")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	runJob(t, url, dest, load.S3Config{})
	db := openDuckDB(t)

	createViews(t, db, dest)

	from, to := now.Add(-jobs.DefaultConfig().UsageHistory), now
	pstn, dr := sim.PstnTruth(from, to), sim.DirectRoutingTruth(from, to)
	if pstn.Rows == 0 || dr.Rows == 0 || dr.Failed == 0 {
		t.Fatalf("simulator data too thin: %d PSTN rows, %d DR rows, %d failed", pstn.Rows, dr.Rows, dr.Failed)
	}
	q := biQueries(t)
	for name, query := range q {
		rows, err := db.Query(query)
		if err != nil {
			t.Errorf("query %s: %v", name, err)
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil || n == 0 {
			t.Errorf("query %s: %d rows, err %v", name, n, err)
		}
		rows.Close()
	}

	// Cost per month per currency adds up, exactly, to the server's sums.
	got := map[string]string{}
	rows, err := db.Query("SELECT currency, CAST(sum(charge) AS VARCHAR), CAST(sum(calls) AS BIGINT) FROM (" + strings.TrimSuffix(strings.TrimSpace(q["cost_per_month_per_currency"]), ";") + ") GROUP BY currency")
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for rows.Next() {
		var cur, sum string
		var n int
		if err := rows.Scan(&cur, &sum, &n); err != nil {
			t.Fatal(err)
		}
		got[cur] = strings.TrimSuffix(sum, "000000000000") // DECIMAL(38,18); the simulator bills in millionths
		calls += n
	}
	rows.Close()
	for cur, want := range pstn.ChargeByCurrency {
		if got[cur] != want {
			t.Errorf("charge %s = %s, want %s (exact)", cur, got[cur], want)
		}
	}
	if calls != pstn.Rows {
		t.Errorf("calls per month add up to %d, want %d", calls, pstn.Rows)
	}
	failed := scan[int](t, db, "SELECT CAST(sum(failed_calls) AS INTEGER) FROM ("+strings.TrimSuffix(strings.TrimSpace(q["direct_routing_per_trunk"]), ";")+")")
	if failed != dr.Failed {
		t.Errorf("failed Direct Routing calls over trunks = %d, want %d", failed, dr.Failed)
	}
	minutes := scan[sql.NullFloat64](t, db, "SELECT sum(minutes) FROM ("+strings.TrimSuffix(strings.TrimSpace(q["minutes_by_call_type_and_licence"]), ";")+")")
	if want := float64(pstn.DurationSeconds) / 60; !minutes.Valid || minutes.Float64 < want-1e-6 || minutes.Float64 > want+1e-6 {
		t.Errorf("PSTN minutes = %v, want %.4f", minutes, want)
	}
	if typ := scan[string](t, db, "SELECT typeof(charge) FROM pstn_calls LIMIT 1"); typ != "DECIMAL(38,18)" {
		t.Errorf("charge is %s, want DECIMAL(38,18)", typ)
	}
}
