package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/icebergproc"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// Table formats (Config.TableFormat).
const (
	TableFormatHive    = "hive"
	TableFormatIceberg = "iceberg"
)

// TableFormats lists what Config.TableFormat may be.
var TableFormats = []string{TableFormatHive, TableFormatIceberg}

// icebergCatalogURI is the catalog an Iceberg run commits to: IcebergCatalog,
// or a SQLite file in the lake's _etl/ for a local destination.
func (c Config) icebergCatalogURI() (string, error) {
	if c.IcebergCatalog != "" {
		return c.IcebergCatalog, nil
	}
	if strings.Contains(c.Dest, "://") && !strings.HasPrefix(c.Dest, "file://") {
		return "", configError("is required with an object-store destination (a SQLite file's path, http(s):// or rest:// for a REST catalog, or glue)", "IcebergCatalog")
	}
	return filepath.Join(strings.TrimPrefix(c.Dest, "file://"), "_etl", "iceberg.db"), nil
}

// IcebergREST is a REST Iceberg catalog's warehouse and credentials. The
// secrets come from the environment or files (a Kubernetes Secret mounted),
// never from flags, and are never logged.
type IcebergREST struct {
	Warehouse string
	// Credential is OAuth2 client credentials, "client_id:client_secret";
	// CredentialFile a file that holds them, read when Credential is empty.
	Credential, CredentialFile string
	// OAuth2ServerURI is the token endpoint (default: the catalog's
	// /v1/oauth/tokens); Scope the scope asked for (default "catalog").
	OAuth2ServerURI, Scope string
	// Token is a bearer token used as is; TokenFile a file that holds it.
	Token, TokenFile string
	// SigV4Service, when set, signs every request with AWS Signature
	// Version 4 for that service (s3tables for S3 Tables), with the AWS
	// credentials of the environment, in SigV4Region (default: the
	// environment's region).
	SigV4Service, SigV4Region string
}

// isRESTCatalog reports whether an Iceberg catalog URI names a REST catalog.
func isRESTCatalog(uri string) bool {
	return strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") || strings.HasPrefix(uri, "rest://")
}

// firstSet names the first of the settings that is given
// ("IcebergREST.<field>", as configuration errors name it), "" if none is.
func (c IcebergREST) firstSet() string {
	for _, f := range []struct{ field, value string }{{"Warehouse", c.Warehouse}, {"Credential", c.Credential},
		{"CredentialFile", c.CredentialFile}, {"OAuth2ServerURI", c.OAuth2ServerURI}, {"Scope", c.Scope},
		{"Token", c.Token}, {"TokenFile", c.TokenFile}, {"SigV4Service", c.SigV4Service}, {"SigV4Region", c.SigV4Region}} {
		if f.value != "" {
			return "IcebergREST." + f.field
		}
	}
	return ""
}

// onlyForREST is an error if a setting is given for a catalog at uri that
// is not a REST catalog.
func (c IcebergREST) onlyForREST(uri string) error {
	if field := c.firstSet(); field != "" && !isRESTCatalog(uri) {
		return configError(fmt.Sprintf("is only for a REST catalog (http://, https:// or rest://), not %q", uri), field)
	}
	return nil
}

// icebergSettingsUnused is an error if an Iceberg setting is given to a run
// of the Hive table format, which would ignore it: the user who sets a
// catalog and forgets the format should hear of it before a run that writes
// no Iceberg table.
func (c Config) icebergSettingsUnused() error {
	field := c.IcebergREST.firstSet()
	if c.IcebergCatalog != "" {
		field = "IcebergCatalog"
	}
	if field != "" {
		return configError(fmt.Sprintf("is only for the iceberg table format, and the table format is %s", cmp.Or(c.TableFormat, TableFormatHive)), field)
	}
	return nil
}

// rest resolves the settings of a REST catalog at uri, reading the files.
func (c IcebergREST) rest(uri string) (icebergproc.REST, error) {
	if err := c.onlyForREST(uri); err != nil || !isRESTCatalog(uri) {
		return icebergproc.REST{}, err
	}
	if c.SigV4Region != "" && c.SigV4Service == "" {
		return icebergproc.REST{}, configError("is set without a service to sign for", "IcebergREST.SigV4Region")
	}
	r := icebergproc.REST{Warehouse: c.Warehouse, Credential: c.Credential, OAuth2ServerURI: c.OAuth2ServerURI, Scope: c.Scope, Token: c.Token,
		SigV4Service: c.SigV4Service, SigV4Region: c.SigV4Region}
	for _, f := range []struct {
		value *string
		file  string
		field string
	}{{&r.Credential, c.CredentialFile, "IcebergREST.CredentialFile"}, {&r.Token, c.TokenFile, "IcebergREST.TokenFile"}} {
		if *f.value != "" || f.file == "" {
			continue
		}
		data, err := os.ReadFile(f.file)
		if err != nil {
			return icebergproc.REST{}, configError(": "+err.Error(), f.field)
		}
		if *f.value = strings.TrimSpace(string(data)); *f.value == "" {
			return icebergproc.REST{}, configError(fmt.Sprintf(": %s is empty", f.file), f.field)
		}
	}
	return r, nil
}

// IcebergOpener opens the Iceberg catalog of a run: iceberg.OpenCatalog in
// the job's process (tests, programs that link package iceberg anyway).
type IcebergOpener func(ctx context.Context, o icebergproc.Options) (icebergproc.Catalog, error)

// openIceberg begins to open the Iceberg catalog of an Iceberg run (nothing
// otherwise): with Config.IcebergOpener, else in the Iceberg binary's
// process, which takes a few tenths of a second to start and open it. The
// run goes on meanwhile; it waits for the catalog (icebergReady) before it
// commits a partition, so that a catalog that cannot be opened still fails
// the run before it writes any table. Its settings are checked at once.
func (r *runner) openIceberg(ctx context.Context) error {
	if r.cfg.TableFormat != TableFormatIceberg || r.cfg.DryRun {
		return nil
	}
	o, err := icebergOptions(ctx, r.cfg)
	if err != nil {
		return err
	}
	opened := make(chan struct{})
	r.iceOpened = opened
	go func() {
		defer close(opened)
		var ice icebergproc.Catalog
		var err error
		if r.cfg.IcebergOpener != nil {
			ice, err = r.cfg.IcebergOpener(ctx, o)
		} else {
			ice, err = startIceberg(ctx, r.cfg, o)
		}
		if err != nil {
			r.iceErr = fmt.Errorf("%w: %v", ErrConfig, err)
			return
		}
		r.ice = ice
	}()
	return nil
}

// icebergReady waits for the catalog openIceberg began to open, and
// returns it (nil in the Hive table format), or why it could not be opened.
func (r *runner) icebergReady(ctx context.Context) (icebergproc.Catalog, error) {
	if r.iceOpened == nil {
		return nil, nil
	}
	select {
	case <-r.iceOpened:
		return r.ice, r.iceErr
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// errIcebergNotOpen is what a commit returns when the catalog could not be
// opened: the run's publish says why.
var errIcebergNotOpen = fmt.Errorf("%w: the Iceberg catalog could not be opened; nothing committed", ErrConfig)

// icebergCommittable is nil when the run may commit a partition: in the
// Hive table format, or once the Iceberg catalog is open.
func (r *runner) icebergCommittable(ctx context.Context) error {
	if _, err := r.icebergReady(ctx); err != nil {
		if errors.Is(err, ErrConfig) {
			return errIcebergNotOpen
		}
		return err
	}
	return nil
}

// closeIceberg closes the catalog, once its opening has ended (whatever
// the run's context).
func (r *runner) closeIceberg() {
	if r.iceOpened == nil {
		return
	}
	<-r.iceOpened
	if r.ice != nil {
		r.ice.Close()
	}
}

// icebergOptions are the catalog's options for cfg, its settings checked.
func icebergOptions(ctx context.Context, cfg Config) (icebergproc.Options, error) {
	uri, err := cfg.icebergCatalogURI()
	if err != nil {
		return icebergproc.Options{}, err
	}
	rest, err := cfg.IcebergREST.rest(uri)
	if err != nil {
		return icebergproc.Options{}, err
	}
	root, err := icebergproc.RootURI(cfg.Dest)
	if err != nil {
		return icebergproc.Options{}, fmt.Errorf("%w: destination %s: %v", ErrConfig, cfg.Dest, err)
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return icebergproc.Options{}, err
	}
	// The store's own settings; an Entra credential it builds cannot be
	// passed to the tables' IO.
	return icebergproc.Options{CatalogURI: uri, RootURI: root, Dest: cfg.Dest, StoreConfig: load.StoreConfig{S3: cfg.S3, Azure: cfg.Azure},
		Store: store, REST: rest}, nil
}

// icebergSetup is what the Iceberg binary opens its catalog and store
// from: the settings of Config they need, secrets included (it goes over
// the process's stdin only).
type icebergSetup struct {
	Dest, CatalogURI string
	REST             icebergproc.REST
	S3               load.S3Config
	Azure            struct {
		ConnectionString, AccountKey, SASToken, Endpoint string
		MaxRetries                                       int
	}
	// Auth, AzureTenantID and Cloud build an abfss:// store's Microsoft
	// Entra credential (storeConfig).
	Auth                 extract.CredentialConfig
	AzureTenantID, Cloud string
}

// startIceberg starts the Iceberg binary's process for the catalog o names.
// The process opens the lake's store itself, from Dest and the settings.
func startIceberg(ctx context.Context, cfg Config, o icebergproc.Options) (icebergproc.Catalog, error) {
	if cfg.Azure.Credential != nil || cfg.Azure.HTTPClient != nil {
		return nil, errors.New("an Azure credential or HTTP client given as an object cannot reach the Iceberg binary's process: set Config.IcebergOpener")
	}
	bin, err := icebergproc.Find()
	if err != nil {
		return nil, err
	}
	s := icebergSetup{Dest: cfg.Dest, CatalogURI: o.CatalogURI, REST: o.REST, S3: cfg.S3, Auth: cfg.Auth, AzureTenantID: cfg.AzureTenantID, Cloud: cfg.Cloud}
	s.Azure.ConnectionString, s.Azure.AccountKey, s.Azure.SASToken = cfg.Azure.ConnectionString, cfg.Azure.AccountKey, cfg.Azure.SASToken
	s.Azure.Endpoint, s.Azure.MaxRetries = cfg.Azure.Endpoint, cfg.Azure.MaxRetries
	return icebergproc.Start(ctx, bin, s, cfg.Logger)
}

// ServeIceberg is the Iceberg binary's work: it reads the setup a run's
// startIceberg sends on in, opens the catalog with open, and serves it over
// in and out until in closes.
func ServeIceberg(ctx context.Context, in io.Reader, out io.Writer, open IcebergOpener) error {
	return icebergproc.Serve(ctx, in, out, func(ctx context.Context, raw json.RawMessage) (icebergproc.Catalog, error) {
		var s icebergSetup
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		cfg := Config{Dest: s.Dest, IcebergCatalog: s.CatalogURI, S3: s.S3, Auth: s.Auth, AzureTenantID: s.AzureTenantID, Cloud: s.Cloud,
			Azure: load.AzureConfig{ConnectionString: s.Azure.ConnectionString, AccountKey: s.Azure.AccountKey, SASToken: s.Azure.SASToken,
				Endpoint: s.Azure.Endpoint, MaxRetries: s.Azure.MaxRetries}}
		o, err := icebergOptions(ctx, cfg)
		if err != nil {
			return nil, err
		}
		o.REST = s.REST // resolved by the run: its files may not be readable here
		return open(ctx, o)
	})
}

// stageIceberg copies the files a partition just committed to new Iceberg
// data files, which the run's publish then commits. A copy that fails costs
// only time: publish copies the committed object instead.
func (r *runner) stageIceberg(ctx context.Context, date string, files map[string]load.LocalFile) {
	ice, err := r.icebergReady(ctx)
	if ice == nil || err != nil {
		return
	}
	var wg sync.WaitGroup
	for table, f := range files {
		if f.Path == "" {
			continue
		}
		wg.Go(func() {
			if err := ice.Stage(ctx, table, date, r.cfg.TenantID, r.cfg.RunID, f); err != nil {
				r.cfg.Logger.Warn("iceberg data file not staged; the publish copies the partition instead", "table", table, "dt", date, "err", err)
			}
		})
	}
	wg.Wait()
}

// publishIceberg commits, per table of datasets, one Iceberg
// snapshot that brings the table to the tenant's committed partitions; the
// children tables first, the parent (call_records) last, as in the Hive
// layout. It runs after the datasets, whether they all succeeded or not:
// what they committed is published, and what a killed or failed run left
// unpublished is published by the next.
func (r *runner) publishIceberg(ctx context.Context, datasets []string) error {
	if r.iceOpened == nil {
		return nil
	}
	defer r.closeIceberg()
	if _, err := r.icebergReady(ctx); err != nil {
		return err
	}
	var errs []error
	for _, ds := range datasets {
		tables := schemas.TablesOf(ds)
		if len(tables) == 0 {
			continue // notifications: no table of its own
		}
		children := tables[1:]
		if !r.cfg.NoRawArchive {
			children = append(children, schemas.RawTableOf(ds))
		}
		childErrs := make([]error, len(children))
		var wg sync.WaitGroup
		for i, table := range children {
			wg.Go(func() { childErrs[i] = r.publishTable(ctx, table) })
		}
		wg.Wait()
		if err := errors.Join(childErrs...); err != nil {
			// The parent waits for its children: publishing it alone
			// would show records without their sessions.
			errs = append(errs, err)
			continue
		}
		if err := r.publishTable(ctx, tables[0]); err != nil {
			errs = append(errs, err)
			continue
		}
		if ds == schemas.DatasetCallRecords {
			// After the records it counts, as in the Hive layout. Runs
			// write it; import and replay publish what a run left.
			errs = append(errs, r.publishTable(ctx, schemas.TableCallRecordLedger))
		}
	}
	return errors.Join(errs...)
}

// publishTable commits one table's snapshot, if it changed.
func (r *runner) publishTable(ctx context.Context, table string) error {
	pub, err := r.ice.Publish(ctx, table, r.cfg.TenantID, r.cfg.RunID)
	if err != nil {
		return fmt.Errorf("publish %s as Iceberg: %w", table, err)
	}
	if pub.Snapshot != 0 {
		r.cfg.Logger.Info("iceberg snapshot committed", "table", table, "snapshot", pub.Snapshot, "days", pub.Days, "rows", pub.Rows)
		r.sum.update(func() { r.sum.IcebergSnapshots++ })
	}
	return nil
}

// catalogExists is an error when cfg names a SQLite catalog that does not
// exist: opening it would create an empty one, and maintenance of a
// mistyped destination would report nothing to do instead of failing.
func catalogExists(cfg Config) error {
	uri, err := cfg.icebergCatalogURI()
	if err != nil {
		return err
	}
	file, ok := icebergproc.SQLiteFile(uri)
	if !ok || file == "" {
		return nil // a REST or Glue catalog; a bad URI is told when opened
	}
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		field := "IcebergCatalog"
		if cfg.IcebergCatalog == "" {
			field = "Dest"
		}
		return configError(fmt.Sprintf(": no Iceberg catalog at %s (no run of the iceberg table format committed there)", file), field)
	}
	return nil
}

// IcebergMaintenance says what MaintainIceberg removes: snapshots older
// than OlderThan except the last RetainLast of each table, and files no
// snapshot references once OrphansOlderThan old (which must outlast a run,
// whose data files are unreferenced until it publishes them).
type IcebergMaintenance = icebergproc.Maintenance

// MaintainedTable is what MaintainIceberg did to one table.
type MaintainedTable = icebergproc.Maintained

// MaintainIceberg expires old snapshots and deletes orphan files in every
// Iceberg table of the lake at cfg.Dest (catalog: cfg.IcebergCatalog).
func MaintainIceberg(ctx context.Context, cfg Config, m IcebergMaintenance) ([]MaintainedTable, error) {
	switch {
	case m.RetainLast < 1:
		return nil, configError(fmt.Sprintf("must be at least 1, got %d", m.RetainLast), "RetainLast")
	case m.OlderThan < 0:
		return nil, configError("must not be negative", "OlderThan")
	case m.OrphansOlderThan < time.Hour:
		return nil, configError(fmt.Sprintf("must be at least 1h (longer than a run), got %s", m.OrphansOlderThan), "OrphansOlderThan")
	}
	cfg.TableFormat = TableFormatIceberg
	if err := catalogExists(cfg); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg}
	if err := r.openIceberg(ctx); err != nil {
		return nil, err
	}
	defer r.closeIceberg()
	if _, err := r.icebergReady(ctx); err != nil {
		return nil, err
	}
	var out []MaintainedTable
	for _, tb := range slices.Concat(schemas.Tables, schemas.RawTables, schemas.LedgerTables) {
		done, err := r.ice.Maintain(ctx, tb.Name, m)
		if err != nil {
			return out, err
		}
		out = append(out, done)
	}
	return out, nil
}
