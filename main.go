// Command callrecords-etl copies Microsoft Teams call records out of Microsoft
// Graph into partitioned Parquet fact tables on S3-compatible storage or a local
// directory. See README.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/urfave/cli/v2"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// Exit codes. Stable: schedulers key retries on them.
const (
	exitOK           = 0
	exitFailed       = 1 // transient or unexpected: worth retrying
	exitUsage        = 2 // bad flags or configuration: fix, do not retry
	exitRetentionGap = 3 // completed, but some data had expired before it was read
	exitDataError    = 4 // completed, but some records could not be processed (kept under _etl/quarantine/)
	exitLocked       = 5 // another run holds the tenant's lock: nothing was done
	exitCancelled    = 130
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
	if err != nil && code != exitOK {
		var auth *extract.AuthError
		if errors.As(err, &auth) {
			// The one sentence that says what to fix comes first.
			fmt.Fprintln(os.Stderr, "callrecords-etl:", auth.Fix)
		}
		fmt.Fprintln(os.Stderr, "callrecords-etl:", err)
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
	onUsage := func(c *cli.Context, err error, _ bool) error { return usageError("%v", err) }
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

// exitCode maps an error to the process exit code; the one place that does.
func exitCode(err error) int {
	var ec cli.ExitCoder
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitCancelled
	case errors.Is(err, jobs.ErrConfig), errors.Is(err, errUsage), errors.Is(err, extract.ErrAuth):
		return exitUsage
	case errors.Is(err, jobs.ErrLocked):
		return exitLocked
	case errors.Is(err, jobs.ErrRetentionGap):
		return exitRetentionGap
	case errors.Is(err, jobs.ErrQuarantined):
		return exitDataError
	case errors.As(err, &ec):
		return ec.ExitCode()
	}
	return exitFailed
}

var errUsage = errors.New("usage")

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func env(names ...string) []string {
	return names
}

var (
	tenantFlag = &cli.StringFlag{Name: "tenant-id", Usage: "Entra tenant (directory) id", EnvVars: env("CALLRECORDS_TENANT_ID", "AZURE_TENANT_ID")}
	graphFlag  = &cli.StringFlag{Name: "graph-url", Value: "https://graph.microsoft.com", Usage: "Graph endpoint (default: the --cloud's)", EnvVars: env("CALLRECORDS_GRAPH_URL")}
	destFlag   = &cli.StringFlag{Name: "dest", Usage: "lake root: s3://bucket/prefix, file:///abs/path or a path", EnvVars: env("CALLRECORDS_DEST")}
	s3Flags    = []cli.Flag{
		&cli.StringFlag{Name: "s3-endpoint", Usage: "S3-compatible endpoint URL", EnvVars: env("CALLRECORDS_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3")},
		&cli.BoolFlag{Name: "s3-path-style", Usage: "path-style S3 addressing (MinIO, Ceph, versitygw)", EnvVars: env("CALLRECORDS_S3_PATH_STYLE")},
		&cli.StringFlag{Name: "s3-region", Usage: "S3 region", EnvVars: env("CALLRECORDS_S3_REGION", "AWS_REGION")},
	}
	logFlags = []cli.Flag{
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: env("CALLRECORDS_LOG_LEVEL")},
		&cli.StringFlag{Name: "log-format", Value: "auto", Usage: "text, json, or auto (text on a terminal, json otherwise)", EnvVars: env("CALLRECORDS_LOG_FORMAT")},
	}
	authFlags = []cli.Flag{
		&cli.StringFlag{Name: "client-id", Usage: "app registration (client) id; default: the azidentity default chain", EnvVars: env("CALLRECORDS_CLIENT_ID")},
		&cli.StringFlag{Name: "client-secret", Usage: "client secret (prefer the environment variable)", EnvVars: env("CALLRECORDS_CLIENT_SECRET")},
		&cli.StringFlag{Name: "client-certificate", Usage: "client certificate file (PEM or PFX)", EnvVars: env("CALLRECORDS_CLIENT_CERTIFICATE")},
		&cli.StringFlag{Name: "client-certificate-password", Usage: "password of the certificate file", EnvVars: env("CALLRECORDS_CLIENT_CERTIFICATE_PASSWORD")},
		&cli.StringFlag{Name: "authority-host", Usage: "Entra login endpoint (default: the --cloud's)", EnvVars: env("CALLRECORDS_AUTHORITY_HOST", "AZURE_AUTHORITY_HOST")},
		&cli.StringFlag{Name: "federated-token-file", Usage: "workload identity outside AKS's webhook: the projected service-account token (with --tenant-id and --client-id)", EnvVars: env("CALLRECORDS_FEDERATED_TOKEN_FILE")},
		&cli.StringFlag{Name: "cloud", Value: "global", Usage: "global, usgov (GCC High, L4), usgovdod (DoD, L5) or china: Graph and login endpoints", EnvVars: env("CALLRECORDS_CLOUD")},
	}
	// nowFlag pins the clock: the current time reads as this instant and runs
	// on from it. The simulator takes it to serve a tenant as of that instant
	// (tests pin it so that nothing depends on the hour they run at); the
	// other commands take it, hidden, so they agree with such a simulator.
	nowFlag       = &cli.StringFlag{Name: "now", Usage: "the clock starts at this instant (RFC 3339) and runs on from it (default: the real clock)", EnvVars: env("CALLRECORDS_NOW")}
	hiddenNowFlag = &cli.StringFlag{Name: nowFlag.Name, Usage: nowFlag.Usage, EnvVars: nowFlag.EnvVars, Hidden: true}
	graphTuning   = []cli.Flag{
		&cli.IntFlag{Name: "concurrency", Value: jobs.DefaultConfig().Concurrency, Usage: "parallel Graph detail requests", EnvVars: env("CALLRECORDS_CONCURRENCY")},
		&cli.Float64Flag{Name: "graph-max-rps", Value: jobs.DefaultConfig().MaxRPS, Usage: "client-side pacing of Graph requests per second (0: off)", EnvVars: env("CALLRECORDS_GRAPH_MAX_RPS")},
	}
	runFlags = []cli.Flag{
		&cli.StringFlag{Name: "datasets", Value: strings.Join(jobs.DefaultConfig().Datasets, ","), Usage: "datasets to run: " + strings.Join(jobs.KnownDatasets, ","), EnvVars: env("CALLRECORDS_DATASETS")},
		&cli.StringFlag{Name: "from", Usage: "explicit window start (RFC 3339); with --to, a backfill that never moves the watermark", EnvVars: env("CALLRECORDS_FROM")},
		&cli.StringFlag{Name: "to", Usage: "explicit window end (RFC 3339, exclusive)", EnvVars: env("CALLRECORDS_TO")},
		&cli.DurationFlag{Name: "lookback", Value: jobs.DefaultConfig().Lookback, Usage: "how far before the watermark a scheduled run re-lists call records", EnvVars: env("CALLRECORDS_LOOKBACK")},
		&cli.DurationFlag{Name: "usage-lookback", Value: jobs.DefaultConfig().UsageLookback, Usage: "how far before the watermark PSTN and Direct Routing runs re-read (rows arrive 24-48 h late)", EnvVars: env("CALLRECORDS_USAGE_LOOKBACK")},
		&cli.DurationFlag{Name: "usage-history", Value: jobs.DefaultConfig().UsageHistory, Usage: "how far back a first PSTN or Direct Routing run reads", EnvVars: env("CALLRECORDS_USAGE_HISTORY")},
		&cli.BoolFlag{Name: "single-writer", Usage: "skip the check that the destination enforces conditional writes (only when one run ever writes there)", EnvVars: env("CALLRECORDS_SINGLE_WRITER")},
		&cli.BoolFlag{Name: "dry-run", Usage: "plan the windows and report what would be fetched and rewritten, writing nothing", EnvVars: env("CALLRECORDS_DRY_RUN")},
		&cli.StringFlag{Name: "summary-file", Usage: "also write the run summary as JSON to this local file (e.g. for Airflow)", EnvVars: env("CALLRECORDS_SUMMARY_FILE")},
		&cli.StringFlag{Name: "pushgateway-url", Usage: "push run metrics to this Prometheus Pushgateway", EnvVars: env("CALLRECORDS_PUSHGATEWAY_URL")},
		&cli.DurationFlag{Name: "lock-ttl", Value: jobs.DefaultLockTTL, Usage: "how long the tenant's lease outlives its last renewal: a crashed run blocks the next for at most this", EnvVars: env("CALLRECORDS_LOCK_TTL")},
		&cli.StringFlag{Name: "temp-dir", Usage: "directory for temporary Parquet files (default: the system's)", EnvVars: env("CALLRECORDS_TEMP_DIR")},
	}
)

func flags(groups ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "callrecords-etl",
		Usage:   "copy Microsoft Teams call records from Microsoft Graph into a Parquet data lake",
		Version: Version,
		Commands: []*cli.Command{
			{
				Name:   "run",
				Usage:  "run the job: every enabled dataset from its checkpoint (or --from/--to) to now",
				Flags:  flags([]cli.Flag{tenantFlag, graphFlag, destFlag, hiddenNowFlag}, s3Flags, runFlags, graphTuning, authFlags, logFlags),
				Action: runAction,
			},
			{
				Name:  "demo",
				Usage: "start the built-in Graph simulator on loopback and run the whole job into a local lake",
				Flags: flags([]cli.Flag{
					&cli.StringFlag{Name: "dest", Value: "./lake", Usage: "lake root", EnvVars: env("CALLRECORDS_DEST")},
					&cli.IntFlag{Name: "records-per-day", Value: 48, Usage: "simulated call records per day"},
					&cli.Int64Flag{Name: "seed", Value: 1, Usage: "simulator seed"},
					&cli.IntFlag{Name: "concurrency", Value: 8, Usage: "parallel Graph detail requests"},
					nowFlag,
				}, logFlags),
				Action: demoAction,
			},
			{
				Name:  "simulate",
				Usage: "serve the simulated Graph tenant over HTTP",
				Flags: flags([]cli.Flag{
					&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", Usage: "address to listen on", EnvVars: env("CALLRECORDS_LISTEN")},
					&cli.IntFlag{Name: "records-per-day", Value: 48, Usage: "simulated call records per day"},
					&cli.Int64Flag{Name: "seed", Value: 1, Usage: "simulator seed"},
					&cli.BoolFlag{Name: "throttle", Usage: "enforce Graph's documented rate limits (429 + Retry-After)"},
					&cli.Float64Flag{Name: "fault-rate", Usage: "fraction of requests answered 503/504 or dropped"},
					&cli.StringFlag{Name: "tenant-id", Value: demoTenant, Usage: "simulated tenant id"},
					&cli.BoolFlag{Name: "dump", Usage: "write every retained call record as JSON lines to standard output (for import) instead of serving"},
					nowFlag,
				}, logFlags),
				Action: simulateAction,
			},
			{
				Name:      "import",
				Usage:     "load whole call records (JSON lines, as get prints them) into the lake, e.g. from a raw archive",
				ArgsUsage: "[FILE|-]",
				Flags: flags([]cli.Flag{tenantFlag, destFlag, hiddenNowFlag,
					&cli.BoolFlag{Name: "single-writer", Usage: "skip the check that the destination enforces conditional writes", EnvVars: env("CALLRECORDS_SINGLE_WRITER")},
					&cli.StringFlag{Name: "temp-dir", Usage: "directory for temporary files", EnvVars: env("CALLRECORDS_TEMP_DIR")},
				}, s3Flags, logFlags),
				Action: importAction,
			},
			{
				Name:  "subscribe",
				Usage: "create or renew (idempotent) the Graph change-notification subscription on call records; --delete removes it",
				Flags: flags([]cli.Flag{tenantFlag, graphFlag, hiddenNowFlag,
					&cli.StringFlag{Name: "notification-url", Usage: "public https URL of the notifications serve endpoint", EnvVars: env("CALLRECORDS_NOTIFICATION_URL")},
					&cli.StringFlag{Name: "lifecycle-url", Usage: "URL for lifecycle events (reauthorizationRequired); can only be set at creation", EnvVars: env("CALLRECORDS_LIFECYCLE_URL")},
					&cli.StringFlag{Name: "client-state", Usage: "secret Graph echoes in every notification (prefer the environment variable)", EnvVars: env("CALLRECORDS_CLIENT_STATE")},
					&cli.StringSliceFlag{Name: "participant-id", Usage: "only records with this participant (Entra object id); repeatable", EnvVars: env("CALLRECORDS_PARTICIPANT_ID")},
					&cli.BoolFlag{Name: "delete", Usage: "delete the subscription instead"},
				}, authFlags, logFlags),
				Action: subscribeAction,
			},
			{
				Name:  "notifications",
				Usage: "Graph change notifications",
				Subcommands: []*cli.Command{{
					Name:  "serve",
					Usage: "receive change notifications: answer the validation handshake, check clientState, record the ids in <dest>/_etl/inbox/ before acknowledging",
					Flags: flags([]cli.Flag{tenantFlag, graphFlag, destFlag, hiddenNowFlag,
						&cli.StringFlag{Name: "listen", Value: ":8080", Usage: "address to listen on", EnvVars: env("CALLRECORDS_LISTEN")},
						&cli.StringFlag{Name: "client-state", Usage: "the secret given to subscribe", EnvVars: env("CALLRECORDS_CLIENT_STATE")},
						&cli.StringFlag{Name: "tls-cert", Usage: "serve https with this certificate (else plain http behind an ingress)", EnvVars: env("CALLRECORDS_TLS_CERT")},
						&cli.StringFlag{Name: "tls-key", Usage: "key of --tls-cert", EnvVars: env("CALLRECORDS_TLS_KEY")},
					}, s3Flags, authFlags, logFlags),
					Action: serveNotificationsAction,
				}},
			},
			{
				Name:   "get",
				Usage:  "look up one call record by id (every session and participant page) and print it as JSON",
				Flags:  flags([]cli.Flag{&cli.StringFlag{Name: "id", Usage: "call record id (required)"}, tenantFlag, graphFlag, hiddenNowFlag}, authFlags, logFlags),
				Action: getAction,
			},
			{
				Name:  "schema",
				Usage: "print the tables' schemas: Athena DDL (partition projection on dt), Spark SQL, DuckDB views or JSON",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "format", Value: schemas.FormatAthena, Usage: "athena, spark, duckdb or json"},
					&cli.StringFlag{Name: "dest", Value: "s3://BUCKET/PREFIX", Usage: "lake root to put in LOCATION clauses", EnvVars: env("CALLRECORDS_DEST")},
					&cli.StringFlag{Name: "database", Value: "teams_lake", Usage: "database (schema) name"},
				},
				Action: func(c *cli.Context) error {
					switch f := c.String("format"); f {
					case schemas.FormatAthena, schemas.FormatSpark, schemas.FormatDuckDB, schemas.FormatJSON:
					default:
						return usageError("--format %q: want athena, spark, duckdb or json", f)
					}
					return schemas.WriteDDL(c.App.Writer, c.String("format"), c.String("dest"), c.String("database"))
				},
			},
			{
				Name:  "status",
				Usage: "checkpoints per tenant and dataset: watermark, lag and time left before unread data expires",
				Flags: flags([]cli.Flag{destFlag, hiddenNowFlag, &cli.StringFlag{Name: "tenant-id", Usage: "only this tenant", EnvVars: env("CALLRECORDS_TENANT_ID")},
					&cli.BoolFlag{Name: "json", Usage: "machine-readable output"}}, s3Flags),
				Action: statusAction,
			},
		},
	}
}

func newLogger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, usageError("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	opts := &slog.HandlerOptions{Level: level}
	format := c.String("log-format")
	if format == "auto" {
		format = "json"
		if isTerminal(w) || isTerminalWriter(w) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError("--log-format %q: want text, json or auto", c.String("log-format"))
}

// clock is the time source --now asks for: the real clock, or one that
// starts at the given instant and runs on from it.
func clock(c *cli.Context) (func() time.Time, error) {
	v := c.String("now")
	if v == "" {
		return time.Now, nil
	}
	t, err := parseTime("now", v)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	return func() time.Time { return t.Add(time.Since(start)) }, nil
}

func s3Config(c *cli.Context) load.S3Config {
	return load.S3Config{Endpoint: c.String("s3-endpoint"), ForcePathStyle: c.Bool("s3-path-style"), Region: c.String("s3-region")}
}

// graphCredential builds the Graph credential and the Graph URL from the flags:
// a static token from CALLRECORDS_GRAPH_TOKEN (tokens obtained elsewhere, the
// simulator), a client secret, a certificate, a federated token file, a managed
// identity, or azidentity's default chain; endpoints from --cloud unless
// --graph-url or --authority-host say otherwise. It logs which identity it uses,
// never a secret.
func graphCredential(c *cli.Context, log *slog.Logger) (azcore.TokenCredential, string, error) {
	cloud, err := extract.LookupCloud(c.String("cloud"))
	if err != nil {
		return nil, "", usageError("--cloud: %v", err)
	}
	graphURL, authority := cloud.GraphURL, cloud.AuthorityHost
	if c.IsSet("graph-url") || graphURL == "" {
		graphURL = c.String("graph-url")
	}
	if c.IsSet("authority-host") {
		authority = c.String("authority-host")
	}
	cc := extract.CredentialConfig{
		TenantID:            c.String("tenant-id"),
		ClientID:            c.String("client-id"),
		ClientSecret:        c.String("client-secret"),
		CertificatePath:     c.String("client-certificate"),
		CertificatePassword: c.String("client-certificate-password"),
		FederatedTokenFile:  c.String("federated-token-file"),
		AuthorityHost:       authority,
		Token:               os.Getenv("CALLRECORDS_GRAPH_TOKEN"),
	}
	cred, err := extract.NewCredential(cc)
	if err != nil {
		return nil, "", fmt.Errorf("%w: graph credential: %v", jobs.ErrConfig, err)
	}
	log.Info("graph credential", "identity", cc.Describe(), "cloud", cloud.Name, "graph_url", graphURL)
	return cred, graphURL, nil
}

// loggedJobConfig is jobConfig with the logger the flags ask for.
func loggedJobConfig(c *cli.Context) (jobs.Config, error) {
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return jobs.Config{}, err
	}
	return jobConfig(c, log)
}

func jobConfig(c *cli.Context, log *slog.Logger) (cfg jobs.Config, err error) {
	cfg = jobs.DefaultConfig()
	cfg.TenantID = c.String("tenant-id")
	cfg.Dest = c.String("dest")
	cfg.S3 = s3Config(c)
	cfg.Logger = log
	if c.IsSet("concurrency") || c.Int("concurrency") != 0 {
		cfg.Concurrency = c.Int("concurrency")
	}
	cfg.MaxRPS = c.Float64("graph-max-rps")
	if cfg.Now, err = clock(c); err != nil {
		return cfg, err
	}
	cred, graphURL, err := graphCredential(c, log)
	if err != nil {
		return cfg, err
	}
	cfg.Credential, cfg.GraphURL = cred, graphURL
	return cfg, nil
}

// loggerWithProgress builds the logger; on a terminal it also returns the
// progress line at the bottom that the log lines are written above (else nil).
func loggerWithProgress(c *cli.Context) (*slog.Logger, *terminal, error) {
	out := c.App.ErrWriter
	var term *terminal
	if isTerminal(out) {
		term = newTerminal(out)
		out = term
	}
	log, err := newLogger(c, out)
	return log, term, err
}

func runAction(c *cli.Context) error {
	log, term, err := loggerWithProgress(c)
	if err != nil {
		return err
	}
	if term != nil {
		defer term.Done()
	}
	cfg, err := jobConfig(c, log)
	if err != nil {
		return err
	}
	if term != nil {
		cfg.Progress = term.Progress
	}
	cfg.Datasets = splitList(c.String("datasets"))
	cfg.Lookback = c.Duration("lookback")
	cfg.UsageLookback = c.Duration("usage-lookback")
	cfg.UsageHistory = c.Duration("usage-history")
	cfg.TempDir = c.String("temp-dir")
	cfg.SingleWriter = c.Bool("single-writer")
	cfg.LockTTL = c.Duration("lock-ttl")
	cfg.DryRun = c.Bool("dry-run")
	if cfg.From, err = parseTime("from", c.String("from")); err != nil {
		return err
	}
	if cfg.To, err = parseTime("to", c.String("to")); err != nil {
		return err
	}
	sum, err := jobs.Run(c.Context, cfg)
	if term != nil {
		term.Done()
	}
	if sum == nil {
		return err
	}
	sum.Print(c.App.Writer)
	if path := c.String("summary-file"); path != "" {
		data, jerr := json.MarshalIndent(sum, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(path, append(data, '\n'), 0o644)
		}
		if jerr != nil {
			log.Error("summary file not written", "path", path, "err", jerr)
		}
	}
	if gw := c.String("pushgateway-url"); gw != "" && !cfg.DryRun {
		// Metrics are best effort: a failed push is logged, never the run's result.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), 30*time.Second)
		defer cancel()
		states, serr := jobs.ReadStatus(ctx, cfg.Dest, cfg.S3, cfg.TenantID, cfg.Now().UTC())
		if serr == nil {
			serr = jobs.PushMetrics(ctx, gw, sum, states, exitCode(err), cfg.Now().UTC(), nil)
		}
		if serr != nil {
			log.Error("metrics not pushed", "gateway", gw, "err", serr)
		}
	}
	return err
}

func isTerminalWriter(w io.Writer) bool {
	_, ok := w.(*terminal)
	return ok
}

func parseTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usageError("--%s %q: want RFC 3339, e.g. 2026-01-01T00:00:00Z", flag, v)
	}
	return t, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// demoTenant is the simulated tenant the demo and simulate commands serve.
const demoTenant = "11111111-2222-3333-4444-555555555555"

func demoAction(c *cli.Context) error {
	log, term, err := loggerWithProgress(c)
	if err != nil {
		return err
	}
	if term != nil {
		defer term.Done()
	}
	now, err := clock(c)
	if err != nil {
		return err
	}
	sim := graphsim.New(graphsim.Config{Seed: c.Int64("seed"), TenantID: demoTenant, RecordsPerDay: c.Int("records-per-day"), Token: "demo-token", Now: now})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	graphURL := "http://" + ln.Addr().String()
	fmt.Fprintf(c.App.Writer, "simulated Graph tenant %s on %s\n", demoTenant, graphURL)

	dest, err := filepath.Abs(c.String("dest"))
	if err != nil {
		return usageError("--dest: %v", err)
	}
	cfg := jobs.DefaultConfig()
	cfg.TenantID, cfg.GraphURL, cfg.Dest = demoTenant, graphURL, dest
	cfg.Credential = extract.StaticToken("demo-token")
	cfg.Concurrency = c.Int("concurrency")
	cfg.MaxRPS = 0 // the simulator is not Graph: no need to pace
	cfg.Logger = log
	cfg.Now = now
	if term != nil {
		cfg.Progress = term.Progress
	}
	start := time.Now()
	sum, err := jobs.Run(c.Context, cfg)
	if term != nil {
		term.Done()
	}
	if sum != nil {
		sum.Print(c.App.Writer)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "\nwrote the lake to %s in %.1fs. Try it with DuckDB:\n\n", dest, time.Since(start).Seconds())
	fmt.Fprintf(c.App.Writer, "  duckdb -c \"SELECT dt, count(*) AS calls, round(avg(duration_seconds)) AS avg_s FROM read_parquet('%s/call_records/*/*.parquet', hive_partitioning=true) GROUP BY dt ORDER BY dt\"\n", dest)
	fmt.Fprintf(c.App.Writer, "  duckdb -c \"SELECT stream_direction, round(avg(average_jitter_ms),1) AS jitter_ms, round(avg(average_packet_loss_rate),4) AS loss FROM read_parquet('%s/media_streams/*/*.parquet') GROUP BY 1\"\n", dest)
	return nil
}

func simulateAction(c *cli.Context) error {
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	now, err := clock(c)
	if err != nil {
		return err
	}
	sim := graphsim.New(graphsim.Config{
		Seed: c.Int64("seed"), TenantID: c.String("tenant-id"), RecordsPerDay: c.Int("records-per-day"),
		Token: os.Getenv("CALLRECORDS_GRAPH_TOKEN"), Throttle: c.Bool("throttle"), FaultRate: c.Float64("fault-rate"), Now: now,
	})
	if c.Bool("dump") {
		return dumpRecords(c, sim, now().UTC())
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return usageError("--listen %s: %v", c.String("listen"), err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	log.Info("serving simulated Graph", "url", "http://"+ln.Addr().String(), "tenant", c.String("tenant-id"))
	go func() {
		<-c.Context.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// dumpRecords writes the simulated tenant's records, day by day, one compact JSON
// object per line.
func dumpRecords(c *cli.Context, sim *graphsim.Simulator, now time.Time) error {
	w := bufio.NewWriterSize(c.App.Writer, 1<<20)
	day := now.Add(-jobs.Retention).Truncate(24 * time.Hour)
	for ; day.Before(now); day = day.Add(24 * time.Hour) {
		for _, id := range sim.Truth(day, day.Add(24*time.Hour)).IDs {
			raw, ok := sim.Record(id)
			if !ok {
				continue
			}
			var line bytes.Buffer
			if err := json.Compact(&line, raw); err != nil {
				return fmt.Errorf("dump %s: %w", id, err)
			}
			line.WriteByte('\n')
			if _, err := w.Write(line.Bytes()); err != nil {
				return fmt.Errorf("dump: %w", err)
			}
		}
		if err := c.Context.Err(); err != nil {
			return err
		}
	}
	return w.Flush()
}

func importAction(c *cli.Context) error {
	log, err := newLogger(c, c.App.ErrWriter)
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
	cfg := jobs.DefaultConfig()
	cfg.TenantID, cfg.Dest, cfg.S3, cfg.Logger = c.String("tenant-id"), c.String("dest"), s3Config(c), log
	cfg.SingleWriter, cfg.TempDir = c.Bool("single-writer"), c.String("temp-dir")
	if cfg.Now, err = clock(c); err != nil {
		return err
	}
	sum, err := jobs.Import(c.Context, cfg, bufio.NewReaderSize(src, 1<<20))
	if sum != nil {
		sum.Print(c.App.Writer)
	}
	return err
}

func subscribeAction(c *cli.Context) error {
	cfg, err := loggedJobConfig(c)
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
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	if c.String("tenant-id") == "" || c.String("dest") == "" || c.String("client-state") == "" {
		return usageError("--tenant-id, --dest and --client-state are required")
	}
	store, err := load.OpenStore(c.Context, c.String("dest"), s3Config(c))
	if err != nil {
		return fmt.Errorf("open destination %s: %w", c.String("dest"), err)
	}
	now, err := clock(c)
	if err != nil {
		return err
	}
	rc := jobs.ReceiverConfig{TenantID: c.String("tenant-id"), ClientState: c.String("client-state"), Store: store, Logger: log, Now: now}
	if cfg, err := jobConfig(c, log); err == nil {
		if reauth, err := jobs.Reauthorizer(cfg); err == nil {
			rc.Reauthorize = reauth
		}
	}
	receiver := jobs.NewReceiver(rc)
	srv := &http.Server{Addr: c.String("listen"), Handler: receiver,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-c.Context.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	// ListenAndServe returns as soon as Shutdown begins: wait for the
	// notifications being recorded, then for reauthorizations under way.
	defer func() {
		if c.Context.Err() != nil {
			<-stopped
		}
		if bg, ok := receiver.(interface{ Wait() }); ok {
			bg.Wait()
		}
	}()
	log.Info("receiving change notifications", "listen", srv.Addr, "tenant", rc.TenantID)
	if cert := c.String("tls-cert"); cert != "" {
		err = srv.ListenAndServeTLS(cert, c.String("tls-key"))
	} else {
		err = srv.ListenAndServe()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve notifications: %w", err)
	}
	return nil
}

func getAction(c *cli.Context) error {
	if c.String("id") == "" {
		return usageError("get: --id is required (the id of the call record to look up)")
	}
	cfg, err := loggedJobConfig(c)
	if err != nil {
		return err
	}
	raw, err := jobs.GetCallRecord(c.Context, cfg, c.String("id"))
	if err != nil {
		return err
	}
	var pretty any
	if err := json.Unmarshal(raw, &pretty); err != nil {
		return fmt.Errorf("get call record %s: %w", c.String("id"), err)
	}
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(json.RawMessage(raw))
}

func statusAction(c *cli.Context) error {
	if c.String("dest") == "" {
		return usageError("--dest is required")
	}
	now, err := clock(c)
	if err != nil {
		return err
	}
	st, err := jobs.ReadStatus(c.Context, c.String("dest"), s3Config(c), c.String("tenant-id"), now().UTC())
	if err != nil {
		return err
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	if len(st) == 0 {
		fmt.Fprintln(c.App.Writer, "no checkpoints yet")
		return nil
	}
	for _, s := range st {
		fmt.Fprintf(c.App.Writer, "%s %s: watermark %s (lag %s), last success %s, unread data starts expiring in %s\n",
			s.Tenant, s.Dataset, s.Watermark.Format(time.RFC3339), time.Duration(s.LagSeconds*float64(time.Second)).Round(time.Second),
			s.LastSuccess.Format(time.RFC3339), time.Duration(s.ExpiresInSeconds*float64(time.Second)).Round(time.Minute))
		for _, g := range s.Gaps {
			fmt.Fprintf(c.App.Writer, "  RETENTION GAP %s .. %s (found by run %s)\n", g.From.Format(time.RFC3339), g.To.Format(time.RFC3339), g.RunID)
		}
	}
	return nil
}
