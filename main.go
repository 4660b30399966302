// Command callrecords-etl copies Microsoft Teams call records out of Microsoft
// Graph into partitioned Parquet fact tables on S3-compatible storage or a local
// directory. See README.md.
//
// main turns flags into a jobs.Config, makes one jobs call and turns its
// error into an exit code; the wiring is in package jobs.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// defaultMemoryLimit is the Go runtime's soft memory limit when GOMEMLIMIT is
// not set: the job's working set is about 100 MiB, and one very large call
// record (hundreds of MiB of JSON) briefly needs about twice its size; without
// a limit the garbage collector would let the heap grow to twice that again.
const defaultMemoryLimit = 256 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout)
	stop()
	code := exitCode(err)
	if err != nil && code != jobs.ExitOK {
		for _, line := range explain(err) {
			fmt.Fprintln(os.Stderr, "callrecords-etl:", line)
		}
	}
	os.Exit(code)
}

// run runs the command line, turning urfave's own usage failures (an unknown
// flag or command) into usage errors, so they exit 2 like every other one.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	app := newApp()
	app.Writer = stdout
	var unknown error
	app.CommandNotFound = func(c *cli.Context, name string) {
		unknown = usageError("unknown command %q (see `callrecords-etl help`)", name)
	}
	onUsage := func(c *cli.Context, err error, _ bool) error { return usageError("%v%s", err, example(app, err)) }
	app.OnUsageError = onUsage
	var setOnUsage func([]*cli.Command)
	setOnUsage = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			cmd.OnUsageError = onUsage
			setOnUsage(cmd.Subcommands)
		}
	}
	setOnUsage(app.Commands)
	if err := app.RunContext(ctx, args); err != nil {
		return err
	}
	return unknown
}

var errUsage = errors.New("usage")

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// exitCode maps an error to the process exit code (jobs.ExitCode, and
// usage errors of the command line).
func exitCode(err error) int {
	var ec cli.ExitCoder
	switch {
	case errors.Is(err, errUsage):
		return jobs.ExitConfig
	case err != nil && jobs.ExitCode(err) == jobs.ExitFailed && errors.As(err, &ec):
		return ec.ExitCode()
	}
	return jobs.ExitCode(err)
}

func runAction(c *cli.Context) error { return summarised(c, jobs.Run) }

func replayAction(c *cli.Context) error {
	return summarised(c, func(ctx context.Context, cfg jobs.Config) (*jobs.Summary, error) {
		return jobs.Replay(ctx, cfg, splitList(c.String("tables")))
	})
}

// summarised runs job with the command's configuration and prints its summary.
func summarised(c *cli.Context, job func(context.Context, jobs.Config) (*jobs.Summary, error)) error {
	cfg, done, err := configured(c)
	defer done()
	if err != nil {
		return err
	}
	sum, err := job(c.Context, cfg)
	done()
	if sum != nil {
		sum.Print(c.App.Writer)
	}
	return err
}

func importAction(c *cli.Context) error {
	cfg, done, err := configured(c)
	defer done()
	if err != nil {
		return err
	}
	var src io.Reader = os.Stdin
	if name := c.Args().First(); name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return usageError("import %s: %v", name, err)
		}
		defer f.Close()
		src = f
	}
	sum, err := jobs.Import(c.Context, cfg, src)
	if sum != nil {
		sum.Print(c.App.Writer)
	}
	return err
}

// demoTenant is the simulated tenant the demo and simulate commands serve.
const demoTenant = "11111111-2222-3333-4444-555555555555"

// demoToken is the bearer token the demo's simulator takes.
const demoToken = "demo-token"

func demoAction(c *cli.Context) error {
	cfg, done, err := configured(c)
	defer done()
	if err != nil {
		return err
	}
	sim, _, err := simulator(c, demoTenant, demoToken)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	go sim.Serve(c.Context, ln)
	cfg.GraphURL = "http://" + ln.Addr().String()
	fmt.Fprintf(c.App.Writer, "simulated Graph tenant %s on %s\n", demoTenant, cfg.GraphURL)
	if cfg.Dest, err = filepath.Abs(cfg.Dest); err != nil {
		return usageError("--dest: %v", err)
	}
	cfg.TenantID, cfg.Auth = demoTenant, extract.CredentialConfig{}
	cfg.Credential = extract.StaticToken(demoToken)
	cfg.MaxRPS = 0 // the simulator is not Graph: no need to pace
	start := time.Now()
	sum, err := jobs.Run(c.Context, cfg)
	done()
	if sum != nil {
		sum.Print(c.App.Writer)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "\nwrote the lake to %s in %.1fs.\n", cfg.Dest, time.Since(start).Seconds())
	return finishDemo(c, cfg)
}

func simulateAction(c *cli.Context) error {
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	sim, now, err := simulator(c, c.String("tenant-id"), os.Getenv("CALLRECORDS_GRAPH_TOKEN"))
	if err != nil {
		return err
	}
	if c.Bool("dump") {
		to := now().UTC()
		return sim.WriteRecords(c.Context, c.App.Writer, to.Add(-jobs.Retention).Truncate(24*time.Hour), to)
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return usageError("--listen %s: %v", c.String("listen"), err)
	}
	log.Info("serving simulated Graph", "url", "http://"+ln.Addr().String(), "tenant", c.String("tenant-id"))
	return sim.Serve(c.Context, ln)
}

func subscribeAction(c *cli.Context) error {
	cfg, done, err := configured(c)
	defer done()
	if err != nil {
		return err
	}
	subs, err := jobs.Subscribe(c.Context, cfg, jobs.SubscribeOptions{
		NotificationURL: c.String("notification-url"), LifecycleURL: c.String("lifecycle-url"),
		ClientState: c.String("client-state"), ParticipantIDs: c.StringSlice("participant-id"), Delete: c.Bool("delete"),
	})
	for _, s := range subs {
		fmt.Fprintf(c.App.Writer, "subscription %s on %s -> %s, expires %s\n", s.ID, s.Resource, s.NotificationURL, s.ExpirationDateTime.Format(time.RFC3339))
	}
	return err
}

func serveNotificationsAction(c *cli.Context) error {
	cfg, done, err := configured(c)
	defer done()
	if err != nil {
		return err
	}
	return jobs.ServeNotifications(c.Context, cfg, jobs.ServeOptions{
		Listen: c.String("listen"), ClientState: c.String("client-state"), TLSCert: c.String("tls-cert"), TLSKey: c.String("tls-key"),
	})
}

func getAction(c *cli.Context) error {
	if c.String("id") == "" {
		return usageError("get: --id is required (the id of the call record to look up)")
	}
	id, err := jobs.CallRecordID(c.String("id"))
	if err != nil {
		return usageError("get: --id: %v", err)
	}
	cfg, done, err := configured(c)
	defer done()
	if err != nil {
		return err
	}
	raw, err := jobs.GetCallRecord(c.Context, cfg, id)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(raw); err != nil {
		return fmt.Errorf("get call record %s: %w", id, err)
	}
	return nil
}

func schemaAction(c *cli.Context) error {
	switch f := c.String("format"); f {
	case schemas.FormatAthena, schemas.FormatSpark, schemas.FormatDuckDB, schemas.FormatJSON:
	default:
		return usageError("--format %q: want athena, spark, duckdb or json", f)
	}
	err := schemas.WriteDDL(c.App.Writer, c.String("format"), c.String("dest"), c.String("database"))
	if errors.Is(err, schemas.ErrDatabaseName) {
		return usageError("--database: %v", err)
	}
	return err
}

func statusAction(c *cli.Context) error {
	if c.String("dest") == "" {
		return usageError("--dest is required")
	}
	cfg, done, err := configured(c)
	defer done()
	if err != nil {
		return err
	}
	st, err := jobs.ReadStatus(c.Context, cfg, cfg.TenantID, cfg.Now().UTC())
	if err != nil {
		return err
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	jobs.PrintStatus(c.App.Writer, st)
	return nil
}
