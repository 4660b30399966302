package main

import (
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/callrecords-etl/callrecords-etl/jobs"
)

// reportAction writes the HTML report of the lake (a file, whole or not at all).
func reportAction(c *cli.Context) error {
	if c.String("out") == "" {
		return usageError("report: --out is required (the HTML file to write)")
	}
	cfg, done, err := configured(c)
	defer done()
	if err != nil {
		return err
	}
	rep, err := jobs.ReadReport(c.Context, cfg)
	if err != nil {
		return err
	}
	if err := rep.WriteFile(c.String("out"), cfg.Now()); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "wrote the report to %s\n", c.String("out"))
	return nil
}

// finishDemo shows what to do with the demo's lake, then writes its report
// beside the lake and says where.
func finishDemo(c *cli.Context, cfg jobs.Config) error {
	printNextSteps(c.App.Writer, cfg.Dest)
	rep, err := jobs.ReadReport(c.Context, cfg)
	if err != nil {
		return err
	}
	out := filepath.Join(filepath.Dir(cfg.Dest), "report.html")
	if err := rep.WriteFile(out, cfg.Now()); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "\nOpen the report in a browser: %s\n", out)
	return nil
}
