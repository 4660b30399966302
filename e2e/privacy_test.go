package e2e_test

import (
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
)

// lakeDB is a DuckDB with the views `schema --format duckdb` prints for
// the lake at dest.
func lakeDB(t *testing.T, dest string) *sql.DB {
	t.Helper()
	db := openDuckDB(t)
	createViews(t, db, dest)
	return db
}

// rowsOf is the result of query, one string per row, sorted.
func rowsOf(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestPrivacy_SameAggregates: a lake written under a policy that hashes
// every class (IP addresses keeping their /24) answers the BI and quality
// questions as the clear lake does: the same counts, sums and distinct
// people, and the same poor-stream rates per /24 subnet (from the kept
// prefix) and per subnet (grouped by its pseudonym); every documented query
// runs and returns as many rows.
func TestPrivacy_SameAggregates(t *testing.T) {
	t.Parallel()
	_, url := newSim(t)
	clearDest, hashedDest := t.TempDir(), t.TempDir()
	runJob(t, url, clearDest, load.S3Config{})
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte("default: hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runJobAt(t, now, url, hashedDest, load.S3Config{}, func(c *jobs.Config) {
		c.PrivacyPolicyFile, c.PrivacyKey = policy, []byte("an e2e key of at least 16 bytes")
	})
	clear, hashed := lakeDB(t, clearDest), lakeDB(t, hashedDest)

	for name, query := range map[string]string{
		"counts": `SELECT (SELECT count(*) FROM call_records), (SELECT count(*) FROM sessions), (SELECT count(*) FROM segments),
			(SELECT count(*) FROM media), (SELECT count(*) FROM media_streams), (SELECT count(*) FROM participants),
			(SELECT count(*) FROM pstn_calls), (SELECT count(*) FROM direct_routing_calls)`,
		"sums": `SELECT (SELECT CAST(sum(charge) AS VARCHAR) FROM pstn_calls), (SELECT sum(duration_seconds) FROM pstn_calls),
			(SELECT sum(duration_seconds) FROM direct_routing_calls), (SELECT round(sum(duration_seconds), 3) FROM call_records),
			(SELECT sum(audio_poor_streams) FROM call_records)`,
		"distinct people": `SELECT (SELECT count(DISTINCT caller_associated_identity_id) FROM sessions),
			(SELECT count(DISTINCT identity_id) FROM participants), (SELECT count(DISTINCT user_id) FROM pstn_calls),
			(SELECT count(DISTINCT caller_number) FROM pstn_calls), (SELECT count(DISTINCT caller_network_ip_address) FROM media_streams)`,
		"poor-stream rate per /24": `SELECT regexp_extract(caller_network_ip_address, '^(\d+\.\d+\.\d+)\.', 1) AS net24,
			count(*) AS streams, count(*) FILTER (WHERE quality = 'poor') AS poor,
			round(count(*) FILTER (WHERE quality = 'poor') / count(*), 6) AS rate
			FROM media_streams GROUP BY net24`,
		"poor-stream rate per subnet (values only)": `SELECT count(*) AS streams, count(*) FILTER (WHERE quality = 'poor') AS poor
			FROM media_streams GROUP BY caller_network_subnet`,
		// The country calling code: kept before the pseudonym, or read
		// from the clear number (codes are prefix-free: 1 and 7, the
		// two-digit ones, else three digits).
		"per country of the caller's number": `SELECT CASE WHEN contains(caller_number, '~') THEN split_part(caller_number, '~', 1)
			WHEN regexp_matches(caller_number, '^\+[17]') THEN left(caller_number, 2)
			WHEN substr(caller_number, 2, 2) IN ('20','27','30','31','32','33','34','36','39','40','41','43','44','45','46','47','48','49',
				'51','52','53','54','55','56','57','58','60','61','62','63','64','65','66','81','82','84','86','90','91','92','93','94','95','98') THEN left(caller_number, 3)
			ELSE left(caller_number, 4) END AS cc, count(*) FROM pstn_calls GROUP BY cc`,
	} {
		c, h := rowsOf(t, clear, query), rowsOf(t, hashed, query)
		if len(c) < 1 || !slices.Equal(c, h) {
			t.Errorf("%s: clear lake %v, hashed lake %v: want the same", name, c, h)
		}
	}
	if n := len(rowsOf(t, clear, `SELECT DISTINCT regexp_extract(caller_network_ip_address, '^(\d+\.\d+\.\d+)\.', 1) FROM media_streams`)); n < 3 {
		t.Errorf("only %d /24 networks: the per-site comparison proves little", n)
	}
	if leaked := rowsOf(t, hashed, `SELECT caller_associated_identity_display_name FROM sessions WHERE caller_associated_identity_display_name IS NOT NULL
		AND NOT regexp_matches(caller_associated_identity_display_name, '^[0-9a-f]{24}$') LIMIT 3`); len(leaked) > 0 {
		t.Errorf("display names not pseudonymised: %v", leaked)
	}

	queries := docQueries(t, "bi-queries.md")
	maps.Copy(queries, docQueries(t, "quality-queries.md"))
	for name, query := range queries {
		c, h := rowsOf(t, clear, query), rowsOf(t, hashed, query)
		if len(c) != len(h) {
			t.Errorf("documented query %s: %d rows on the clear lake, %d on the hashed one", name, len(c), len(h))
		}
	}
}
