package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/callrecords-etl/callrecords-etl/jobs"
)

func maintainAction(c *cli.Context) error {
	if c.String("dest") == "" {
		return usageError("--dest is required")
	}
	cfg, done, err := configured(c)
	defer done()
	if err != nil {
		return err
	}
	tables, err := jobs.MaintainIceberg(c.Context, cfg, jobs.IcebergMaintenance{
		OlderThan: c.Duration("older-than"), RetainLast: c.Int("retain-last"), OrphansOlderThan: c.Duration("orphans-older-than")})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(tables)
	}
	for _, t := range tables {
		fmt.Fprintf(c.App.Writer, "%-26s %4d snapshots expired %6d orphan files deleted\n", t.Table, t.SnapshotsExpired, t.OrphansDeleted)
	}
	return nil
}
