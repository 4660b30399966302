// Command callrecords-etl copies Microsoft Teams call records out of Microsoft
// Graph into partitioned Parquet fact tables on S3-compatible storage or a local
// directory. See README.md.
//
// main turns flags into a jobs.Config, makes one jobs call and turns its
// error into an exit code; the wiring is in package jobs.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// semver is the release version, from the file VERSION (see CHANGELOG.md).
//
//go:embed VERSION
var semver string

// commit is the commit the binary was built from, set at build time with
// -ldflags "-X main.commit=..." (make build, the Dockerfile); when it is not,
// the VCS revision the Go toolchain recorded.
var commit string

// version is what --version prints: the semantic version and the commit,
// e.g. "0.2.0 (commit 5c5379a)", "(commit 5c5379a-dirty)" for a build from a
// modified tree.
func version() string {
	c := commit
	if info, ok := debug.ReadBuildInfo(); ok && c == "" {
		modified := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				c = s.Value[:min(len(s.Value), 7)]
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if c != "" && modified {
			c += "-dirty"
		}
	}
	if c == "" {
		c = "unknown"
	}
	return strings.TrimSpace(semver) + " (commit " + c + ")"
}

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

// flagInError finds the flag urfave/cli names in a parse error, for flag
// values ("for flag -lookback") and environment variables ("for flag lookback").
var flagInError = regexp.MustCompile(`for flag -{0,2}([a-z0-9-]+)`)

// example returns, for an error about a flag's value, what a good value of
// that flag's type looks like; "" when the error names no flag.
func example(app *cli.App, err error) string {
	m := flagInError.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	var kind cli.Flag
	var find func([]*cli.Command)
	find = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			for _, f := range cmd.Flags {
				if slices.Contains(f.Names(), m[1]) {
					kind = f
				}
			}
			find(cmd.Subcommands)
		}
	}
	find(app.Commands)
	switch kind.(type) {
	case *cli.DurationFlag:
		return " (want a duration such as 48h, 90m or 1h30m: units h, m, s, ms; no d for days, 72h is three)"
	case *cli.IntFlag, *cli.Int64Flag:
		return " (want a whole number such as 8)"
	case *cli.Float64Flag:
		return " (want a number such as 2.5 or 0)"
	case *cli.BoolFlag:
		return " (want true or false)"
	}
	return ""
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

func runAction(c *cli.Context) error {
	cfg, done, err := configured(c)
	defer done()
	if err != nil {
		return err
	}
	sum, err := jobs.Run(c.Context, cfg)
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

// simulator is the simulated Graph tenant the flags of c describe, taking
// token (any token when empty).
func simulator(c *cli.Context, tenant, token string) (*graphsim.Simulator, func() time.Time, error) {
	now, err := clock(c)
	if err != nil {
		return nil, nil, err
	}
	return graphsim.New(graphsim.Config{
		Seed: c.Int64("seed"), TenantID: tenant, RecordsPerDay: c.Int("records-per-day"), Now: now,
		Token: token, Throttle: c.Bool("throttle"), FaultRate: c.Float64("fault-rate"),
	}), now, nil
}

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
	printNextSteps(c.App.Writer, cfg.Dest)
	return nil
}

// printNextSteps shows queries of the demo lake that run with what this
// machine has: the DuckDB CLI if it is on the PATH, else the query helper
// that make demo builds next to this binary (DuckDB through its Go driver),
// else the DuckDB CLI's commands with where to get it.
func printNextSteps(w io.Writer, dest string) {
	queries := []string{
		fmt.Sprintf("SELECT dt, count(*) AS calls, round(avg(duration_seconds)) AS avg_s FROM read_parquet('%s/call_records/*/*.parquet', hive_partitioning=true) GROUP BY dt ORDER BY dt", dest),
		fmt.Sprintf("SELECT stream_direction, round(avg(average_jitter_ms),1) AS jitter_ms, round(avg(average_packet_loss_rate),4) AS loss FROM read_parquet('%s/media_streams/*/*.parquet') GROUP BY 1", dest),
	}
	command, how := "duckdb -c", "with the DuckDB CLI"
	if _, err := exec.LookPath("duckdb"); err != nil {
		if helper := queryHelper(); helper != "" {
			command, how = helper, "with DuckDB (the query helper make demo built)"
		} else {
			how = "with the DuckDB CLI (https://duckdb.org/docs/installation/; or run make demo, which builds bin/query)"
		}
	}
	fmt.Fprintf(w, "Query it %s:\n\n", how)
	for _, q := range queries {
		fmt.Fprintf(w, "  %s \"%s\"\n", command, q)
	}
}

// queryHelper is the path of the query helper beside this executable (as
// the shell would take it from the working directory), or "".
func queryHelper() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	helper := filepath.Join(filepath.Dir(self), "query")
	if _, err := os.Stat(helper); err != nil {
		return ""
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, helper); err == nil && !strings.HasPrefix(rel, "..") {
			return "./" + rel
		}
	}
	return helper
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
	cfg, done, err := configured(c)
	defer done()
	if err != nil {
		return err
	}
	raw, err := jobs.GetCallRecord(c.Context, cfg, c.String("id"))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(raw); err != nil {
		return fmt.Errorf("get call record %s: %w", c.String("id"), err)
	}
	return nil
}

func schemaAction(c *cli.Context) error {
	switch f := c.String("format"); f {
	case schemas.FormatAthena, schemas.FormatSpark, schemas.FormatDuckDB, schemas.FormatJSON:
	default:
		return usageError("--format %q: want athena, spark, duckdb or json", f)
	}
	return schemas.WriteDDL(c.App.Writer, c.String("format"), c.String("dest"), c.String("database"))
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
