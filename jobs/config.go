// Package jobs is the only package that wires extract, transform and load together:
// it plans windows from checkpoints, runs the extraction concurrently, writes the
// partitions and commits manifests and checkpoints, in that order.
package jobs

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// ErrConfig marks a configuration error (exit code 2).
var ErrConfig = errors.New("invalid configuration")

// ConfigError is a configuration error about some settings, named as the
// fields that hold them (Config's, SubscribeOptions', ServeOptions'): a
// caller names them as its user sets them (Describe). It unwraps to ErrConfig.
type ConfigError struct {
	Fields  []string // e.g. "TenantID"
	Problem string   // follows the names, e.g. "is required"
}

func configError(problem string, fields ...string) error {
	return &ConfigError{Fields: fields, Problem: problem}
}

func (e *ConfigError) Error() string { return e.Describe(func(f string) string { return f }) }

// Describe is the error with each field called what name returns.
func (e *ConfigError) Describe(name func(field string) string) string {
	names := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		names[i] = name(f)
	}
	sep := " "
	if strings.HasPrefix(e.Problem, ":") {
		sep = ""
	}
	return ErrConfig.Error() + ": " + strings.Join(names, " and ") + sep + e.Problem
}

func (e *ConfigError) Unwrap() error { return ErrConfig }

// Config is everything a run needs. Build it with DefaultConfig and check it with
// Validate; main fills it from flags and the environment.
type Config struct {
	TenantID string
	// Cloud is the Graph national cloud (extract.LookupCloud): its Graph
	// and login endpoints are the defaults of GraphURL and
	// Auth.AuthorityHost. Empty: the global service.
	Cloud    string
	GraphURL string // default: the cloud's, e.g. https://graph.microsoft.com
	// Auth builds the Graph credential, unless Credential is set.
	Auth       extract.CredentialConfig
	Credential azcore.TokenCredential // Graph credential (never logged)
	Dest       string                 // s3://bucket/prefix, abfss://container@account.dfs.core.windows.net/prefix, file:///abs/path or a plain path
	S3         load.S3Config
	// Azure authenticates an abfss:// destination; with none of its
	// secrets or credential set, the store gets an Entra credential built
	// from Auth (see storeConfig).
	Azure load.AzureConfig
	// AzureTenantID is the tenant of that Entra credential when the storage
	// account is not in TenantID's.
	AzureTenantID string
	// Store, when set, is used instead of opening Dest (embedding, fault injection).
	Store    load.Store
	Datasets []string
	// From and To set an explicit window (backfill, Airflow's data interval). Both
	// or neither. An explicit window never moves the scheduled watermark.
	From, To time.Time
	// Lookback is how far before the watermark a scheduled run re-lists, for records
	// published late and for later versions of records already stored.
	Lookback time.Duration
	// UsageLookback is how far before the watermark PSTN and Direct Routing
	// runs re-read: their rows arrive 24-48 h after the call.
	UsageLookback time.Duration
	// UsageHistory is how far back a first PSTN or Direct Routing run reads.
	UsageHistory time.Duration
	Concurrency  int     // parallel Graph detail requests
	MaxRPS       float64 // client-side pacing of Graph requests; 0 = off
	TempDir      string
	// SingleWriter skips the start-up check that the destination enforces
	// conditional writes, for stores that do not and have one writer only.
	SingleWriter bool
	// Progress, when set, is told each time a dataset commits a partition:
	// done of total partitions (for a progress bar on a terminal). It may be
	// called from several goroutines, never concurrently for one dataset.
	Progress func(dataset string, done, total int)
	// DryRun plans the windows, lists what Graph has and compares it with the
	// lake, and reports what a run would fetch and rewrite, writing nothing.
	DryRun bool
	// LockTTL is how long the tenant's lease outlives its last renewal (renewed
	// every third of it).
	LockTTL time.Duration
	RunID   string // default: derived from the start time
	Now     func() time.Time
	Logger  *slog.Logger
	// SummaryFile, when set, also gets the run summary as JSON (for
	// Airflow's XCom, say); a failure to write it is logged, not returned.
	SummaryFile string
	// PushgatewayURL, when set, gets the run's metrics (PushMetrics); a
	// failed push is logged, not returned.
	PushgatewayURL string
	// NoRawArchive turns the raw archive off: the payloads Graph (or an
	// import) gave are no longer kept under raw/ (what is there stays), and
	// replay can only rebuild what was archived.
	NoRawArchive bool
	// SettleRuns is how many runs in a row must list a call record at the
	// same version before the completeness ledger counts it settled
	// (default DefaultSettleRuns).
	SettleRuns int
	// TableFormat is how the tables are committed: TableFormatHive (the
	// default, "" too) or TableFormatIceberg, which also commits each
	// table's changed partitions as one Iceberg snapshot per run.
	TableFormat string
	// IcebergCatalog is the Iceberg catalog (iceberg.Open): default, a
	// SQLite file at <dest>/_etl/iceberg.db for a local destination.
	IcebergCatalog string
	// IcebergREST is what a REST IcebergCatalog needs besides its URI.
	IcebergREST IcebergREST
	// IcebergOpener opens the Iceberg catalog in this process
	// (iceberg.OpenCatalog). Nil: the catalog runs in a process of the
	// callrecords-etl-iceberg binary (see package icebergproc), so that a
	// program that does not link package iceberg can still commit Iceberg
	// tables; that process opens the lake's store from Dest and the
	// settings (not Store).
	IcebergOpener IcebergOpener
	// PrivacyPolicyFile, when set, is the privacy policy (YAML or JSON,
	// transform.ParsePolicy) that everything written follows: the tables,
	// the raw archive, the quarantine, the summaries and the logs. Unset:
	// every personal value is kept.
	PrivacyPolicyFile string
	// PrivacyKey is the key of a policy's hashed pseudonyms (never
	// logged); PrivacyKeyFile a file that holds it, read when PrivacyKey
	// is empty (a Kubernetes Secret mounted as a file).
	PrivacyKey     []byte
	PrivacyKeyFile string

	// Memory bounds; zero is the default. They trade memory for speed and
	// exist as settings so that tests can make them small.

	// SpillRecords is the size of a partition (records stored plus new) from
	// which its Parquet pages wait in temporary files instead of memory and
	// its writing is not overlapped with another partition's, so that memory
	// stays flat however large a day grows (default 1,500). Below it,
	// in-memory pages are faster (no file per column chunk).
	SpillRecords int
	// ImportSpoolBytes bounds an import's local spool: past it, every date
	// spooled so far is loaded and the spool starts again (default 256 MiB).
	ImportSpoolBytes int64
	// ImportDayBytes bounds the spool instead while the input is sorted by
	// date and only the current date is spooled: a date up to this size (a
	// day of a tenant with a few million calls a month) is loaded once, whole
	// (default 4 GiB). Loading it in parts would rewrite its partition once
	// per part, carrying the rows of the parts before over each time.
	ImportDayBytes int64
	// ImportRecordBytes bounds one record of an import's input, a line or a
	// value (default 256 MiB): a longer one is read past, not held, and
	// quarantined with its bytes in an object of their own.
	ImportRecordBytes int
}

// Defaults of the memory bounds.
const (
	defaultSpillRecords     = 1500
	defaultImportSpoolBytes = 256 << 20
	defaultImportDayBytes   = 4 << 30
	defaultImportRecord     = 256 << 20
)

func (c Config) settleRuns() int {
	if c.SettleRuns <= 0 {
		return DefaultSettleRuns
	}
	return c.SettleRuns
}

func (c Config) spillRecords() int {
	return orDefault(c.SpillRecords, defaultSpillRecords)
}

func (c Config) importSpoolBytes() int64 {
	return orDefault(c.ImportSpoolBytes, defaultImportSpoolBytes)
}

func (c Config) importRecordBytes() int {
	return orDefault(c.ImportRecordBytes, defaultImportRecord)
}

func (c Config) importDayBytes() int64 {
	return orDefault(c.ImportDayBytes, defaultImportDayBytes)
}

// orDefault is v, or def when v is not positive.
func orDefault[T int | int64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// DefaultConfig returns a Config with the documented defaults.
func DefaultConfig() Config {
	return Config{
		Datasets:      []string{schemas.DatasetCallRecords, schemas.DatasetPstn, schemas.DatasetDirectRouting},
		Lookback:      48 * time.Hour,
		UsageLookback: 72 * time.Hour,
		UsageHistory:  Retention,
		Concurrency:   8,
		MaxRPS:        75, // Graph's 1,500 requests / 20 s per app per tenant
		LockTTL:       DefaultLockTTL,
		Now:           time.Now,
		Logger:        slog.Default(),
	}
}

// clock is c.Now, or time.Now when unset.
func (c Config) clock() func() time.Time {
	if c.Now != nil {
		return c.Now
	}
	return time.Now
}

// MaxConcurrency bounds Concurrency. Each request in flight holds its call
// record in memory, and Graph throttles a tenant's application at a few
// hundred requests a minute: more requests at once buy nothing but memory.
const MaxConcurrency = 64

// KnownDatasets lists the datasets Datasets may name.
var KnownDatasets = []string{schemas.DatasetCallRecords, schemas.DatasetPstn, schemas.DatasetDirectRouting, DatasetNotifications}

// DatasetNotifications drains the change-notification inbox only: a cheap run
// to schedule every few minutes. The callrecords dataset drains it too.
const DatasetNotifications = "notifications"

// Validate reports the first configuration error, wrapped in ErrConfig.
func (c Config) Validate() error { return c.validate(true) }

func (c Config) validate(needGraph bool) error {
	switch {
	case c.TenantID == "":
		return configError("is required", "TenantID")
	case c.Dest == "":
		return configError("is required", "Dest")
	}
	if err := checkTenantID(c.TenantID); err != nil {
		return err
	}
	switch {
	case needGraph && c.Concurrency < 1:
		return configError(fmt.Sprintf("must be at least 1, got %d", c.Concurrency), "Concurrency")
	case needGraph && c.Concurrency > MaxConcurrency:
		return configError(fmt.Sprintf("must be at most %d, got %d", MaxConcurrency, c.Concurrency), "Concurrency")
	case c.LockTTL < 3*time.Second:
		return configError(fmt.Sprintf("must be at least 3s, got %s", c.LockTTL), "LockTTL")
	case c.MaxRPS < 0:
		return configError("must not be negative", "MaxRPS")
	case c.Lookback < 0:
		return configError("must not be negative", "Lookback")
	case c.SettleRuns < 0:
		return configError("must not be negative", "SettleRuns")
	case c.UsageLookback < 0:
		return configError("must not be negative", "UsageLookback")
	case c.UsageHistory <= 0 && (slices.Contains(c.Datasets, schemas.DatasetPstn) || slices.Contains(c.Datasets, schemas.DatasetDirectRouting)):
		return configError("must be positive", "UsageHistory")
	case c.From.IsZero() != c.To.IsZero():
		return configError("go together", "From", "To")
	case !c.From.IsZero() && !c.From.Before(c.To):
		return configError(fmt.Sprintf(": %s is not before %s", c.From.Format(time.RFC3339), c.To.Format(time.RFC3339)), "From", "To")
	case len(c.Datasets) == 0:
		return configError("is empty", "Datasets")
	case c.TableFormat != "" && !slices.Contains(TableFormats, c.TableFormat):
		return configError(fmt.Sprintf(": unknown table format %q (known: %v)", c.TableFormat, TableFormats), "TableFormat")
	}
	if c.TableFormat == TableFormatIceberg {
		uri, err := c.icebergCatalogURI()
		if err != nil {
			return err
		}
		if err := c.IcebergREST.onlyForREST(uri); err != nil {
			return err
		}
	} else if err := c.icebergSettingsUnused(); err != nil {
		return err
	}
	for i, d := range c.Datasets {
		if !slices.Contains(KnownDatasets, d) {
			return configError(fmt.Sprintf(": unknown dataset %q (known: %v)", d, KnownDatasets), "Datasets")
		}
		if slices.Contains(c.Datasets[:i], d) {
			// Two runs of one dataset at once would race for its partitions.
			return configError(fmt.Sprintf(": %q is named twice", d), "Datasets")
		}
	}
	return nil
}

// tenantIDForm is a directory (tenant) ID as Entra and Graph write it, and
// a call record's id.
var tenantIDForm = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// checkTenantID is an error unless id is a tenant's GUID in lowercase. The
// lake names a tenant's files and rows by it, so one tenant given two ways
// (its domain name, or the GUID in capitals) would be stored twice, and an
// id with a slash would leave the layout.
func checkTenantID(id string) error {
	if tenantIDForm.MatchString(id) {
		return nil
	}
	if lower := strings.ToLower(id); tenantIDForm.MatchString(lower) {
		return configError(fmt.Sprintf(": %q: give it in lowercase, %s: the lake names a tenant's files by it, one way only", id, lower), "TenantID")
	}
	return configError(fmt.Sprintf(": %q is not a directory (tenant) ID: give its GUID, such as 72f988bf-86f1-41af-91ab-2d7cd011db47 "+
		"(Entra admin center, Overview; az account show --query tenantId), not a domain name: the lake names a tenant's files by it, one way only", id), "TenantID")
}

// withGraph returns c with its Graph URL and credential resolved: the
// cloud's endpoints unless GraphURL or Auth.AuthorityHost say otherwise, and
// the credential Auth describes unless Credential is set. It logs which
// identity it uses, never a secret.
func (c Config) withGraph() (Config, error) {
	cloud, err := extract.LookupCloud(c.Cloud)
	if err != nil {
		return c, configError(": "+err.Error(), "Cloud")
	}
	if c.GraphURL == "" {
		c.GraphURL = cloud.GraphURL
	}
	if c.Credential != nil {
		return c, nil
	}
	auth := c.Auth
	if auth.AuthorityHost == "" {
		auth.AuthorityHost = cloud.AuthorityHost
	}
	if c.Credential, err = extract.NewCredential(auth); err != nil {
		return c, fmt.Errorf("%w: graph credential: %v", ErrConfig, err)
	}
	c.logger().Info("graph credential", "identity", auth.Describe(), "cloud", cloud.Name, "graph_url", c.GraphURL)
	return c, nil
}

// logger is c.Logger, or the default one when unset.
func (c Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}
