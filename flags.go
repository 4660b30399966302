package main

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// The command line: every flag, and the command each belongs to. Each flag
// also reads CALLRECORDS_<FLAG_IN_UPPER_SNAKE_CASE> (and the usual Azure and
// AWS variables where one exists).

var (
	tenantFlag = &cli.StringFlag{Name: "tenant-id", Usage: "Entra tenant (directory) id", EnvVars: []string{"CALLRECORDS_TENANT_ID", "AZURE_TENANT_ID"}}
	graphFlag  = &cli.StringFlag{Name: "graph-url", Usage: "Graph endpoint (default: the --cloud's)", EnvVars: []string{"CALLRECORDS_GRAPH_URL"}}
	destFlag   = &cli.StringFlag{Name: "dest", Usage: "lake root: s3://bucket/prefix, abfss://container@account.dfs.core.windows.net/prefix, file:///abs/path or a path", EnvVars: []string{"CALLRECORDS_DEST"}}
	// storeFlags: how to reach an s3:// or abfss:// destination.
	storeFlags = []cli.Flag{
		&cli.StringFlag{Name: "s3-endpoint", Usage: "S3-compatible endpoint URL", EnvVars: []string{"CALLRECORDS_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3"}},
		&cli.BoolFlag{Name: "s3-path-style", Usage: "path-style S3 addressing (MinIO, Ceph, versitygw)", EnvVars: []string{"CALLRECORDS_S3_PATH_STYLE"}},
		&cli.StringFlag{Name: "s3-region", Usage: "S3 region", EnvVars: []string{"CALLRECORDS_S3_REGION", "AWS_REGION"}},
		&cli.StringFlag{Name: "azure-storage-key", Usage: "abfss:// with the storage account's shared key instead of Entra (prefer the environment variable)", EnvVars: []string{"CALLRECORDS_AZURE_STORAGE_KEY", "AZURE_STORAGE_KEY"}},
		&cli.StringFlag{Name: "azure-storage-sas-token", Usage: "abfss:// with a SAS token (read, write, delete, list) instead of Entra (prefer the environment variable)", EnvVars: []string{"CALLRECORDS_AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_SAS_TOKEN"}},
		&cli.StringFlag{Name: "azure-storage-connection-string", Usage: "abfss:// with a connection string (development, Azurite; its BlobEndpoint wins) (prefer the environment variable)", EnvVars: []string{"CALLRECORDS_AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_CONNECTION_STRING"}},
		&cli.StringFlag{Name: "azure-storage-tenant-id", Usage: "tenant of the storage account, for its Entra token (default: --tenant-id)", EnvVars: []string{"CALLRECORDS_AZURE_STORAGE_TENANT_ID"}},
		&cli.StringFlag{Name: "azure-blob-endpoint", Usage: "blob service URL for abfss:// instead of the account's (a private endpoint, Azurite)", EnvVars: []string{"CALLRECORDS_AZURE_BLOB_ENDPOINT"}},
	}
	logFlags = []cli.Flag{
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"CALLRECORDS_LOG_LEVEL"}},
		&cli.StringFlag{Name: "log-format", Value: "auto", Usage: "text, json, or auto (text on a terminal, json otherwise)", EnvVars: []string{"CALLRECORDS_LOG_FORMAT"}},
	}
	authFlags = []cli.Flag{
		&cli.StringFlag{Name: "client-id", Usage: "app registration (client) id; default: the azidentity default chain", EnvVars: []string{"CALLRECORDS_CLIENT_ID"}},
		&cli.StringFlag{Name: "client-secret", Usage: "client secret (prefer the environment variable)", EnvVars: []string{"CALLRECORDS_CLIENT_SECRET"}},
		&cli.StringFlag{Name: "client-certificate", Usage: "client certificate file (PEM or PFX)", EnvVars: []string{"CALLRECORDS_CLIENT_CERTIFICATE"}},
		&cli.StringFlag{Name: "client-certificate-password", Usage: "password of the certificate file", EnvVars: []string{"CALLRECORDS_CLIENT_CERTIFICATE_PASSWORD"}},
		&cli.StringFlag{Name: "authority-host", Usage: "Entra login endpoint (default: the --cloud's)", EnvVars: []string{"CALLRECORDS_AUTHORITY_HOST", "AZURE_AUTHORITY_HOST"}},
		&cli.StringFlag{Name: "federated-token-file", Usage: "workload identity outside AKS's webhook: the projected service-account token (with --tenant-id and --client-id)", EnvVars: []string{"CALLRECORDS_FEDERATED_TOKEN_FILE"}},
		&cli.StringFlag{Name: "cloud", Value: "global", Usage: "global, usgov (GCC High, L4), usgovdod (DoD, L5) or china: Graph and login endpoints", EnvVars: []string{"CALLRECORDS_CLOUD"}},
	}
	// nowFlag pins the clock: the current time reads as this instant and runs
	// on from it. The simulator takes it to serve a tenant as of that instant
	// (tests pin it so that nothing depends on the hour they run at); the
	// other commands take it, hidden, so they agree with such a simulator.
	nowFlag = &cli.StringFlag{Name: "now", Usage: "the clock starts at this instant (RFC 3339) and runs on from it (default: the real clock)", EnvVars: []string{"CALLRECORDS_NOW"}}
	// rawArchiveFlag keeps what Graph sent under raw/, for replay.
	rawArchiveFlag = &cli.BoolFlag{Name: "raw-archive", Value: true, Usage: "keep every call record version and report row as Graph sent it under <dest>/raw/ (replay rebuilds the tables from it); --raw-archive=false turns it off", EnvVars: []string{"CALLRECORDS_RAW_ARCHIVE"}}
	// privacyFlags choose the privacy policy; its key is never a flag value
	// (it would show in ps and shell history): privacyKeyEnv or a file.
	privacyFlags = []cli.Flag{
		&cli.StringFlag{Name: "privacy-policy", Usage: "privacy policy file (YAML or JSON; see deploy/privacy-policy.yaml): keep, hash or drop each class of personal data in everything written (default: keep all)", EnvVars: []string{"CALLRECORDS_PRIVACY_POLICY"}},
		&cli.StringFlag{Name: "privacy-key-file", Usage: "file holding the key of the policy's hashed pseudonyms (or set " + privacyKeyEnv + ")", EnvVars: []string{"CALLRECORDS_PRIVACY_KEY_FILE"}},
	}
	hiddenNowFlag = &cli.StringFlag{Name: nowFlag.Name, Usage: nowFlag.Usage, EnvVars: nowFlag.EnvVars, Hidden: true}
	graphTuning   = []cli.Flag{
		&cli.IntFlag{Name: "concurrency", Value: jobs.DefaultConfig().Concurrency, Usage: fmt.Sprintf("parallel Graph detail requests (1 to %d)", jobs.MaxConcurrency), EnvVars: []string{"CALLRECORDS_CONCURRENCY"}},
		&cli.Float64Flag{Name: "graph-max-rps", Value: jobs.DefaultConfig().MaxRPS, Usage: "client-side pacing of Graph requests per second (0: off)", EnvVars: []string{"CALLRECORDS_GRAPH_MAX_RPS"}},
	}
	// tableFormatFlags: run, import and replay commit in either format.
	tableFormatFlags = []cli.Flag{
		&cli.StringFlag{Name: "table-format", Value: jobs.TableFormatHive, Usage: "how tables are committed: " + strings.Join(jobs.TableFormats, ",") + " (iceberg also commits each changed table as one Apache Iceberg snapshot per run; see README, Iceberg tables)", EnvVars: []string{"CALLRECORDS_TABLE_FORMAT"}},
		&cli.StringFlag{Name: "iceberg-catalog", Usage: "with --table-format iceberg: a SQLite file's path (an SQL catalog), http(s):// or rest:// (a REST catalog), glue or glue://?region=R&catalog-id=ACCOUNT (AWS Glue) (default: <dest>/_etl/iceberg.db; required for an object-store --dest)", EnvVars: []string{"CALLRECORDS_ICEBERG_CATALOG"}},
	}
	// icebergRESTFlags: what a REST --iceberg-catalog needs besides its URI.
	// Its secrets are never flag values: the environment or a file.
	icebergRESTFlags = []cli.Flag{
		&cli.StringFlag{Name: "iceberg-warehouse", Usage: "with a REST --iceberg-catalog: the warehouse to ask it for (Polaris' catalog, Lakekeeper's warehouse; default: <dest>/iceberg)", EnvVars: []string{"CALLRECORDS_ICEBERG_WAREHOUSE"}},
		&cli.StringFlag{Name: "iceberg-credential-file", Usage: "with a REST --iceberg-catalog: file holding OAuth2 client credentials, client_id:client_secret (or set " + icebergCredentialEnv + ")", EnvVars: []string{"CALLRECORDS_ICEBERG_CREDENTIAL_FILE"}},
		&cli.StringFlag{Name: "iceberg-oauth2-server-uri", Usage: "with --iceberg-credential-file: the OAuth2 token endpoint (default: the catalog's /v1/oauth/tokens)", EnvVars: []string{"CALLRECORDS_ICEBERG_OAUTH2_SERVER_URI"}},
		&cli.StringFlag{Name: "iceberg-scope", Usage: "with --iceberg-credential-file: the OAuth2 scope to ask for (default: catalog)", EnvVars: []string{"CALLRECORDS_ICEBERG_SCOPE"}},
		&cli.StringFlag{Name: "iceberg-token-file", Usage: "with a REST --iceberg-catalog: file holding a bearer token, used as is (or set " + icebergTokenEnv + ")", EnvVars: []string{"CALLRECORDS_ICEBERG_TOKEN_FILE"}},
		&cli.StringFlag{Name: "iceberg-sigv4-service", Usage: "with a REST --iceberg-catalog: sign its requests with AWS Signature Version 4 for this service (s3tables for S3 Tables), with the AWS credentials of the environment", EnvVars: []string{"CALLRECORDS_ICEBERG_SIGV4_SERVICE"}},
		&cli.StringFlag{Name: "iceberg-sigv4-region", Usage: "with --iceberg-sigv4-service: the region to sign for (default: the AWS environment's)", EnvVars: []string{"CALLRECORDS_ICEBERG_SIGV4_REGION"}},
	}
	runFlags = []cli.Flag{
		&cli.StringFlag{Name: "datasets", Value: strings.Join(jobs.DefaultConfig().Datasets, ","), Usage: "datasets to run: " + strings.Join(jobs.KnownDatasets, ","), EnvVars: []string{"CALLRECORDS_DATASETS"}},
		&cli.StringFlag{Name: "from", Usage: "explicit window start (RFC 3339); with --to, a backfill that never moves the watermark", EnvVars: []string{"CALLRECORDS_FROM"}},
		&cli.StringFlag{Name: "to", Usage: "explicit window end (RFC 3339, exclusive)", EnvVars: []string{"CALLRECORDS_TO"}},
		&cli.DurationFlag{Name: "lookback", Value: jobs.DefaultConfig().Lookback, Usage: "how far before the watermark a scheduled run re-lists call records", EnvVars: []string{"CALLRECORDS_LOOKBACK"}},
		&cli.IntFlag{Name: "settle-runs", Value: jobs.DefaultSettleRuns, Usage: "completeness ledger: runs in a row that must list a call record at the same version before it counts as settled", EnvVars: []string{"CALLRECORDS_SETTLE_RUNS"}},
		&cli.DurationFlag{Name: "usage-lookback", Value: jobs.DefaultConfig().UsageLookback, Usage: "how far before the watermark PSTN and Direct Routing runs re-read (rows arrive 24-48 h late)", EnvVars: []string{"CALLRECORDS_USAGE_LOOKBACK"}},
		&cli.DurationFlag{Name: "usage-history", Value: jobs.DefaultConfig().UsageHistory, Usage: "how far back a first PSTN or Direct Routing run reads", EnvVars: []string{"CALLRECORDS_USAGE_HISTORY"}},
		&cli.BoolFlag{Name: "single-writer", Usage: "skip the check that the destination enforces conditional writes (only when one run ever writes there)", EnvVars: []string{"CALLRECORDS_SINGLE_WRITER"}},
		&cli.BoolFlag{Name: "dry-run", Usage: "plan the windows and report what would be fetched and rewritten, writing nothing", EnvVars: []string{"CALLRECORDS_DRY_RUN"}},
		rawArchiveFlag,
		tableFormatFlags[0], tableFormatFlags[1],
		&cli.StringFlag{Name: "summary-file", Usage: "also write the run summary as JSON to this local file (e.g. for Airflow)", EnvVars: []string{"CALLRECORDS_SUMMARY_FILE"}},
		&cli.StringFlag{Name: "pushgateway-url", Usage: "push run metrics to this Prometheus Pushgateway", EnvVars: []string{"CALLRECORDS_PUSHGATEWAY_URL"}},
		&cli.DurationFlag{Name: "lock-ttl", Value: jobs.DefaultLockTTL, Usage: "how long the tenant's lease outlives its last renewal: a crashed run blocks the next for at most this", EnvVars: []string{"CALLRECORDS_LOCK_TTL"}},
		&cli.StringFlag{Name: "temp-dir", Usage: "directory for temporary Parquet files (default: the system's)", EnvVars: []string{"CALLRECORDS_TEMP_DIR"}},
	}
)

// privacyKeyEnv holds the privacy policy's key, when --privacy-key-file does not.
const privacyKeyEnv = "CALLRECORDS_PRIVACY_KEY"

// A REST Iceberg catalog's secrets, when --iceberg-credential-file and
// --iceberg-token-file do not hold them.
const (
	icebergCredentialEnv = "CALLRECORDS_ICEBERG_CREDENTIAL"
	icebergTokenEnv      = "CALLRECORDS_ICEBERG_TOKEN"
)

func flags(groups ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// envName is the environment variable of a flag: CALLRECORDS_ and its name in
// upper snake case.
func envName(flag string) string {
	return "CALLRECORDS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// honourEnvironment gives every flag of every command its CALLRECORDS_<FLAG>
// variable, first (before the usual Azure and AWS ones a flag may also read),
// so that no flag can be added without one. Each command gets its own copy
// of its flags: urfave/cli stores what it parses in the flag, and the flag
// variables above are shared by commands and by every newApp.
func honourEnvironment(cmds []*cli.Command) {
	for _, cmd := range cmds {
		for i, f := range cmd.Flags {
			// Every flag type of urfave/cli is a struct with an EnvVars field.
			v := reflect.ValueOf(f)
			if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct || !v.Elem().FieldByName("EnvVars").CanSet() {
				panic(fmt.Sprintf("flag --%s: type %T has no EnvVars", f.Names()[0], f))
			}
			c := reflect.New(v.Elem().Type())
			c.Elem().Set(v.Elem())
			vars := c.Elem().FieldByName("EnvVars")
			vars.Set(reflect.ValueOf(withEnv(vars.Interface().([]string), envName(f.Names()[0]))))
			if sf, ok := c.Interface().(*cli.StringSliceFlag); ok && sf.Value != nil {
				sf.Value = cli.NewStringSlice(sf.Value.Value()...) // its own, not the shared one's
			}
			cmd.Flags[i] = c.Interface().(cli.Flag)
		}
		honourEnvironment(cmd.Subcommands)
	}
}

func withEnv(vars []string, env string) []string {
	if slices.Contains(vars, env) {
		return slices.Clone(vars)
	}
	return append([]string{env}, vars...)
}

func newApp() *cli.App {
	app := newCommands()
	app.EnableBashCompletion = true
	app.Commands = append(app.Commands, completionCommand())
	honourEnvironment(app.Commands)
	return app
}

func newCommands() *cli.App {
	return &cli.App{
		Name:    "callrecords-etl",
		Usage:   "copy Microsoft Teams call records from Microsoft Graph into a Parquet data lake",
		Version: version(),
		Commands: []*cli.Command{
			{
				Name:   "run",
				Usage:  "run the job: every enabled dataset from its checkpoint (or --from/--to) to now",
				Flags:  flags([]cli.Flag{tenantFlag, graphFlag, destFlag, hiddenNowFlag}, storeFlags, runFlags, icebergRESTFlags, privacyFlags, graphTuning, authFlags, logFlags),
				Action: runAction,
			},
			{
				Name:  "demo",
				Usage: "start the built-in Graph simulator on loopback and run the whole job into a local lake",
				Flags: flags([]cli.Flag{
					&cli.StringFlag{Name: "dest", Value: "./lake", Usage: "lake root", EnvVars: []string{"CALLRECORDS_DEST"}},
					&cli.IntFlag{Name: "records-per-day", Value: 48, Usage: "simulated call records per day"},
					&cli.Int64Flag{Name: "seed", Value: 1, Usage: "simulator seed"},
					badNetworkDayFlag,
					&cli.IntFlag{Name: "concurrency", Value: 8, Usage: fmt.Sprintf("parallel Graph detail requests (1 to %d)", jobs.MaxConcurrency)},
					nowFlag,
				}, logFlags),
				Action: demoAction,
			},
			{
				Name:  "simulate",
				Usage: "serve the simulated Graph tenant over HTTP",
				Flags: flags([]cli.Flag{
					&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", Usage: "address to listen on", EnvVars: []string{"CALLRECORDS_LISTEN"}},
					&cli.IntFlag{Name: "records-per-day", Value: 48, Usage: "simulated call records per day"},
					&cli.Int64Flag{Name: "seed", Value: 1, Usage: "simulator seed"},
					badNetworkDayFlag,
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
				Flags: flags([]cli.Flag{tenantFlag, destFlag, hiddenNowFlag, rawArchiveFlag, tableFormatFlags[0], tableFormatFlags[1],
					&cli.BoolFlag{Name: "single-writer", Usage: "skip the check that the destination enforces conditional writes", EnvVars: []string{"CALLRECORDS_SINGLE_WRITER"}},
					&cli.StringFlag{Name: "temp-dir", Usage: "directory for temporary files", EnvVars: []string{"CALLRECORDS_TEMP_DIR"}},
				}, storeFlags, icebergRESTFlags, privacyFlags, logFlags),
				Action: importAction,
			},
			{
				Name:  "replay",
				Usage: "rebuild the tables from the raw archive alone (no Graph): after an upgrade, for data Graph no longer has",
				Flags: flags([]cli.Flag{tenantFlag, destFlag, hiddenNowFlag, tableFormatFlags[0], tableFormatFlags[1],
					&cli.StringFlag{Name: "from", Usage: "first day to rebuild (YYYY-MM-DD or RFC 3339; default: every archived day)", EnvVars: []string{"CALLRECORDS_FROM"}},
					&cli.StringFlag{Name: "to", Usage: "end of the days to rebuild (exclusive)", EnvVars: []string{"CALLRECORDS_TO"}},
					&cli.StringFlag{Name: "tables", Usage: "tables to rebuild (default: all): " + strings.Join(schemas.TableNames(), ","), EnvVars: []string{"CALLRECORDS_TABLES"}},
					&cli.BoolFlag{Name: "single-writer", Usage: "skip the check that the destination enforces conditional writes", EnvVars: []string{"CALLRECORDS_SINGLE_WRITER"}},
					&cli.StringFlag{Name: "temp-dir", Usage: "directory for temporary files", EnvVars: []string{"CALLRECORDS_TEMP_DIR"}},
				}, storeFlags, icebergRESTFlags, privacyFlags, logFlags),
				Action: replayAction,
			},
			{
				Name:  "subscribe",
				Usage: "create or renew (idempotent) the Graph change-notification subscription on call records; --delete removes it",
				Flags: flags([]cli.Flag{tenantFlag, graphFlag, hiddenNowFlag,
					&cli.StringFlag{Name: "notification-url", Usage: "public https URL of the notifications serve endpoint", EnvVars: []string{"CALLRECORDS_NOTIFICATION_URL"}},
					&cli.StringFlag{Name: "lifecycle-url", Usage: "URL for lifecycle events (reauthorizationRequired); can only be set at creation", EnvVars: []string{"CALLRECORDS_LIFECYCLE_URL"}},
					&cli.StringFlag{Name: "client-state", Usage: "secret Graph echoes in every notification (prefer the environment variable)", EnvVars: []string{"CALLRECORDS_CLIENT_STATE"}},
					&cli.StringSliceFlag{Name: "participant-id", Usage: "only records with this participant (Entra object id); repeatable", EnvVars: []string{"CALLRECORDS_PARTICIPANT_ID"}},
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
						&cli.StringFlag{Name: "listen", Value: ":8080", Usage: "address to listen on", EnvVars: []string{"CALLRECORDS_LISTEN"}},
						&cli.StringFlag{Name: "client-state", Usage: "the secret given to subscribe", EnvVars: []string{"CALLRECORDS_CLIENT_STATE"}},
						&cli.StringFlag{Name: "tls-cert", Usage: "serve https with this certificate (else plain http behind an ingress)", EnvVars: []string{"CALLRECORDS_TLS_CERT"}},
						&cli.StringFlag{Name: "tls-key", Usage: "key of --tls-cert", EnvVars: []string{"CALLRECORDS_TLS_KEY"}},
					}, storeFlags, authFlags, logFlags),
					Action: serveNotificationsAction,
				}},
			},
			{
				Name:   "get",
				Usage:  "look up one call record by id (every session and participant page) and print it as JSON",
				Flags:  flags([]cli.Flag{&cli.StringFlag{Name: "id", Usage: "call record id (required)"}, tenantFlag, graphFlag, hiddenNowFlag}, privacyFlags, authFlags, logFlags),
				Action: getAction,
			},
			{
				Name:  "schema",
				Usage: "print the tables' schemas: Athena DDL (partition projection on dt), Spark SQL, DuckDB views or JSON",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "format", Value: schemas.FormatAthena, Usage: "athena, spark, duckdb or json"},
					&cli.StringFlag{Name: "dest", Value: "s3://BUCKET/PREFIX", Usage: "lake root to put in LOCATION clauses", EnvVars: []string{"CALLRECORDS_DEST"}},
					&cli.StringFlag{Name: "database", Value: "teams_lake", Usage: "database (schema) name"},
				},
				Action: schemaAction,
			},
			{
				Name:  "report",
				Usage: "write one self-contained HTML page from the lake: cost per month and currency, minutes by call type, poor-stream rate per day and its causes",
				Flags: flags([]cli.Flag{tenantFlag, destFlag, hiddenNowFlag,
					&cli.StringFlag{Name: "from", Usage: "first day to report (YYYY-MM-DD or RFC 3339; default: every day in the lake)", EnvVars: []string{"CALLRECORDS_FROM"}},
					&cli.StringFlag{Name: "to", Usage: "end of the days to report (exclusive)", EnvVars: []string{"CALLRECORDS_TO"}},
					&cli.StringFlag{Name: "out", Usage: "HTML file to write (required)"},
					&cli.StringFlag{Name: "temp-dir", Usage: "directory for temporary files", EnvVars: []string{"CALLRECORDS_TEMP_DIR"}},
				}, storeFlags, logFlags),
				Action: reportAction,
			},
			{
				Name:  "maintain",
				Usage: "Iceberg tables (--table-format iceberg): expire old snapshots and delete files no snapshot references",
				Flags: flags([]cli.Flag{destFlag, tableFormatFlags[1],
					&cli.DurationFlag{Name: "older-than", Value: 7 * 24 * time.Hour, Usage: "expire snapshots older than this..."},
					&cli.IntFlag{Name: "retain-last", Value: 10, Usage: "...but keep the last N of each table whatever their age"},
					&cli.DurationFlag{Name: "orphans-older-than", Value: 72 * time.Hour, Usage: "delete unreferenced files once this old (at least 1h, and longer than any run: a run's files are unreferenced until it commits)"},
					&cli.BoolFlag{Name: "json", Usage: "machine-readable output"}}, storeFlags, icebergRESTFlags, logFlags),
				Action: maintainAction,
			},
			{
				Name:  "status",
				Usage: "checkpoints per tenant and dataset: watermark, lag and time left before unread data expires",
				Flags: flags([]cli.Flag{destFlag, hiddenNowFlag, &cli.StringFlag{Name: "tenant-id", Usage: "only this tenant", EnvVars: []string{"CALLRECORDS_TENANT_ID"}},
					&cli.BoolFlag{Name: "json", Usage: "machine-readable output"}}, storeFlags, logFlags),
				Action: statusAction,
			},
		},
	}
}

// jobConfig is the jobs.Config the flags of c's command describe; a flag the
// command does not have leaves the default.
func jobConfig(c *cli.Context, log *slog.Logger) (jobs.Config, error) {
	cfg := jobs.DefaultConfig()
	cfg.Logger = log
	has := func(name string) bool {
		for _, f := range c.Command.Flags {
			if f.Names()[0] == name {
				return true
			}
		}
		return false
	}
	var err error
	if cfg.Now, err = clock(c); err != nil {
		return cfg, err
	}
	if cfg.From, err = parseTime("from", c.String("from")); err != nil {
		return cfg, err
	}
	if cfg.To, err = parseTime("to", c.String("to")); err != nil {
		return cfg, err
	}
	// The lake names a tenant's files by its id: one way only, however it
	// is typed (a GUID copied in capitals, a Secret's trailing newline).
	cfg.TenantID = strings.ToLower(strings.TrimSpace(c.String("tenant-id")))
	cfg.Dest, cfg.Cloud = c.String("dest"), c.String("cloud")
	cfg.S3.Endpoint, cfg.S3.ForcePathStyle, cfg.S3.Region = c.String("s3-endpoint"), c.Bool("s3-path-style"), c.String("s3-region")
	cfg.Azure.AccountKey, cfg.Azure.SASToken = c.String("azure-storage-key"), c.String("azure-storage-sas-token")
	cfg.Azure.ConnectionString, cfg.Azure.Endpoint = c.String("azure-storage-connection-string"), c.String("azure-blob-endpoint")
	cfg.AzureTenantID = c.String("azure-storage-tenant-id")
	if c.IsSet("graph-url") { // else the --cloud's
		cfg.GraphURL = c.String("graph-url")
	}
	cfg.Auth.TenantID, cfg.Auth.ClientID = c.String("tenant-id"), c.String("client-id")
	cfg.Auth.ClientSecret, cfg.Auth.FederatedTokenFile = c.String("client-secret"), c.String("federated-token-file")
	cfg.Auth.CertificatePath, cfg.Auth.CertificatePassword = c.String("client-certificate"), c.String("client-certificate-password")
	if c.IsSet("authority-host") { // else the --cloud's
		cfg.Auth.AuthorityHost = c.String("authority-host")
	}
	cfg.Auth.Token = os.Getenv("CALLRECORDS_GRAPH_TOKEN")
	if has("concurrency") {
		cfg.Concurrency = c.Int("concurrency")
	}
	if has("graph-max-rps") {
		cfg.MaxRPS = c.Float64("graph-max-rps")
	}
	if has("datasets") {
		cfg.Datasets = splitList(c.String("datasets"))
		cfg.Lookback, cfg.UsageLookback, cfg.UsageHistory = c.Duration("lookback"), c.Duration("usage-lookback"), c.Duration("usage-history")
		cfg.LockTTL = c.Duration("lock-ttl")
		cfg.SettleRuns = c.Int("settle-runs")
	}
	if has("table-format") {
		cfg.TableFormat = c.String("table-format")
	}
	if has("iceberg-catalog") { // maintain has it without a table format
		cfg.IcebergCatalog = c.String("iceberg-catalog")
	}
	if has("iceberg-warehouse") {
		cfg.IcebergREST = jobs.IcebergREST{
			Warehouse:  c.String("iceberg-warehouse"),
			Credential: os.Getenv(icebergCredentialEnv), CredentialFile: c.String("iceberg-credential-file"),
			OAuth2ServerURI: c.String("iceberg-oauth2-server-uri"), Scope: c.String("iceberg-scope"),
			Token: os.Getenv(icebergTokenEnv), TokenFile: c.String("iceberg-token-file"),
			SigV4Service: c.String("iceberg-sigv4-service"), SigV4Region: c.String("iceberg-sigv4-region"),
		}
	}
	cfg.TempDir, cfg.SingleWriter, cfg.DryRun = c.String("temp-dir"), c.Bool("single-writer"), c.Bool("dry-run")
	if has("raw-archive") {
		cfg.NoRawArchive = !c.Bool("raw-archive")
	}
	cfg.SummaryFile, cfg.PushgatewayURL = c.String("summary-file"), c.String("pushgateway-url")
	if has("privacy-policy") {
		cfg.PrivacyPolicyFile, cfg.PrivacyKeyFile = c.String("privacy-policy"), c.String("privacy-key-file")
		cfg.PrivacyKey = []byte(os.Getenv(privacyKeyEnv))
	}
	return cfg, nil
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

// simulator is the simulated Graph tenant the flags of c describe, taking
// token (any token when empty).
func simulator(c *cli.Context, tenant, token string) (*graphsim.Simulator, func() time.Time, error) {
	now, err := clock(c)
	if err != nil {
		return nil, nil, err
	}
	var bad []time.Time
	for _, v := range c.StringSlice("bad-network-day") {
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return nil, nil, usageError("--bad-network-day %q: want a date, YYYY-MM-DD", v)
		}
		bad = append(bad, d)
	}
	return graphsim.New(graphsim.Config{
		Seed: c.Int64("seed"), TenantID: tenant, RecordsPerDay: c.Int("records-per-day"), Now: now,
		Token: token, Throttle: c.Bool("throttle"), FaultRate: c.Float64("fault-rate"), BadNetworkDays: bad,
	}), now, nil
}

// badNetworkDayFlag makes the simulator's networks bad on some days, to see
// what a bad day looks like in the lake and the report.
var badNetworkDayFlag = &cli.StringSliceFlag{Name: "bad-network-day", Usage: "a UTC day (YYYY-MM-DD, repeatable) on which about a third of the simulated audio streams are poor"}

// parseTime reads an instant: RFC 3339, or a date (its midnight UTC).
func parseTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		if t, derr := time.Parse(time.DateOnly, v); derr == nil {
			return t, nil
		}
		return time.Time{}, usageError("--%s %q: want RFC 3339 or a date, e.g. 2026-01-01T00:00:00Z or 2026-01-01", flag, v)
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
