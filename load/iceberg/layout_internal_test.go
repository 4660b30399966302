package iceberg

import (
	"testing"
	"time"
)

// TestParseDataFile: a data file's day, tenant and write order are read
// from both layouts, as keys and as locations, whatever the run id holds;
// what is neither layout is not a data file.
func TestParseDataFile(t *testing.T) {
	stamp := time.Date(2026, 12, 6, 13, 4, 5, 123456789, time.UTC)
	for _, c := range []struct {
		loc                  string
		ok                   bool
		day, tenant, written string
	}{
		{dataKey("call_records", "2026-11-05", "t-1", "run_1-a", stamp), true, "2026-11-05", "t-1", "20261206T130405.123456789-run_1-a.parquet"},
		{dataName("s3://b/lake/iceberg/raw/call_records/", "2026-11-05", "t-1", "r", stamp), true, "2026-11-05", "t-1", "20261206T130405.123456789-r.parquet"},
		{"file:///lake/iceberg/sessions/data/dt=2026-11-05/t-1/20261101T000000.000000000-r.parquet", true, "2026-11-05", "t-1", "20261101T000000.000000000-r.parquet"},
		{"iceberg/sessions/data/t-1/2026-13-05_20261101T000000.000000000-r.parquet", false, "", "", ""},
		{"iceberg/sessions/data/t-1/20261101T000000.000000000-r.parquet", false, "", "", ""},
		{"iceberg/sessions/data/t-1/2026-11-05_x.json", false, "", "", ""},
		{"iceberg/sessions/metadata/snap-1.avro", false, "", "", ""},
		{"iceberg/sessions/data/dt=yesterday/t-1/x.parquet", false, "", "", ""},
	} {
		got, ok := parseDataFile(c.loc)
		if ok != c.ok || got.day != c.day || got.tenant != c.tenant || got.written != c.written {
			t.Errorf("parseDataFile(%s) = %+v, %v; want day %q tenant %q written %q, %v", c.loc, got, ok, c.day, c.tenant, c.written, c.ok)
		}
	}
	// Within a day, written sorts as the files were written, across layouts.
	older, _ := parseDataFile("iceberg/t/data/dt=2026-11-05/a/20261205T000000.000000000-r.parquet")
	newer, _ := parseDataFile(dataKey("t", "2026-11-05", "a", "r", stamp))
	if !(older.written < newer.written) {
		t.Errorf("an earlier layout's file (%s) does not sort before a newer one (%s)", older.written, newer.written)
	}
}
