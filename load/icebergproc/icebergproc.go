// Package icebergproc is the seam between the job and its Iceberg catalog
// (package iceberg), which can run in a process of its own.
//
// Package iceberg links iceberg-go, Arrow, three catalogs' clients and
// their cloud SDKs: 75 MB of binary whose package initialisation alone
// keeps about 57 MiB resident in every process that links it, whatever it
// does. The job's own binary therefore does not: an Iceberg run starts the
// callrecords-etl-iceberg binary, which serves a [Catalog] over its stdin
// and stdout ([Start], [Serve]), and Hive runs never pay for it.
//
// This package imports neither iceberg-go nor package iceberg.
package icebergproc

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// Catalog is the lake's Iceberg catalog, as the job uses it.
type Catalog interface {
	// Stage copies the tenant's Hive object of lakeTable's day, just
	// committed from local, to a new data file for the next Publish.
	Stage(ctx context.Context, lakeTable, day, tenant, runID string, local load.LocalFile) error
	// Publish commits one snapshot of lakeTable's Iceberg table that brings
	// it to the tenant's committed Hive objects.
	Publish(ctx context.Context, lakeTable, tenant, runID string) (Published, error)
	// Maintain expires old snapshots of lakeTable's table and deletes its
	// orphan files.
	Maintain(ctx context.Context, lakeTable string, m Maintenance) (Maintained, error)
	// Close releases the catalog.
	Close() error
}

// Options say which catalog to open, for which lake.
type Options struct {
	// CatalogURI names the catalog: a SQLite file's path, sqlite://path,
	// http(s):// or rest:// (REST), glue.
	CatalogURI string
	// RootURI is the lake root's URI ([RootURI]).
	RootURI string
	// Dest is the lake's destination and StoreConfig its store's settings
	// (which configure the tables' own IO); Store the store opened.
	Dest        string
	StoreConfig load.StoreConfig
	Store       load.Store
	// REST is what a REST catalog needs besides its URI.
	REST REST
}

// REST is what a REST catalog may need besides its URI. The secrets are
// never logged.
type REST struct {
	// Warehouse is the warehouse the server is asked for (Polaris' catalog,
	// Lakekeeper's warehouse); default: the lake's iceberg/ location. The
	// server's answer may set a prefix for every later route.
	Warehouse string `json:"warehouse,omitempty"`
	// Credential is OAuth2 client credentials, "client_id:client_secret",
	// exchanged for a bearer token at OAuth2ServerURI (default: the
	// catalog's /v1/oauth/tokens) with Scope (default "catalog").
	Credential      string `json:"credential,omitempty"`
	OAuth2ServerURI string `json:"oauth2_server_uri,omitempty"`
	Scope           string `json:"scope,omitempty"`
	// Token is a bearer token, used as is (instead of Credential).
	Token string `json:"token,omitempty"`
	// SigV4Service, when set, signs every request with AWS Signature
	// Version 4 for that service ("s3tables" for S3 Tables, "glue" for
	// Glue's Iceberg endpoint), the AWS credentials from the environment, in
	// SigV4Region (default: the environment's region).
	SigV4Service string `json:"sigv4_service,omitempty"`
	SigV4Region  string `json:"sigv4_region,omitempty"`
}

// Published is what one publish of a table did.
type Published struct {
	Snapshot int64 `json:"snapshot"` // the snapshot committed, 0 if nothing changed
	Days     int   `json:"days"`     // days overwritten or removed
	Rows     int64 `json:"rows"`     // rows of the data files added
}

// Maintenance says what Maintain removes.
type Maintenance struct {
	// OlderThan: snapshots older than this expire...
	OlderThan time.Duration `json:"older_than"`
	// RetainLast: ...except the last RetainLast.
	RetainLast int `json:"retain_last"`
	// OrphansOlderThan: files no snapshot references are deleted once this
	// old.
	OrphansOlderThan time.Duration `json:"orphans_older_than"`
}

// Maintained is what Maintain did to one table.
type Maintained struct {
	Table            string `json:"table"`
	SnapshotsExpired int    `json:"snapshots_expired"`
	OrphansDeleted   int    `json:"orphan_files_deleted"`
}

// SQLiteFile is the file of a catalog URI that names a SQLite catalog (a
// path, or sqlite://path), and whether it names one: not glue, not a REST
// catalog's http://, https:// or rest://. The path is "" for a URI that
// names nothing usable ("sqlite://", another scheme).
func SQLiteFile(uri string) (path string, ok bool) {
	switch {
	case uri == "glue", strings.HasPrefix(uri, "glue://"), strings.HasPrefix(uri, "rest://"),
		strings.HasPrefix(uri, "http://"), strings.HasPrefix(uri, "https://"):
		return "", false
	}
	file := strings.TrimPrefix(uri, "sqlite://")
	if strings.Contains(file, "://") {
		return "", true
	}
	return file, true
}

// RootURI is the URI of a lake destination for Iceberg: file:// for a local
// path, as is for the others.
func RootURI(dest string) (string, error) {
	if strings.Contains(dest, "://") && !strings.HasPrefix(dest, "file://") {
		return dest, nil
	}
	p, err := filepath.Abs(strings.TrimPrefix(dest, "file://"))
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: p}).String(), nil
}
