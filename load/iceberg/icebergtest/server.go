// Package icebergtest is an Apache Iceberg REST catalog server for tests: it
// follows the REST catalog's OpenAPI spec for the routes a client of ours
// calls (config, OAuth2 client credentials, namespaces, tables, commits)
// and keeps its tables in iceberg-go's own SQL catalog (SQLite), so that
// the metadata a commit writes is iceberg-go's work, not this package's.
//
// It is not Polaris, Nessie or Lakekeeper: what it checks is that our
// client speaks the protocol (paths, prefix, bearer token, requirements
// and updates in iceberg-go's JSON, 409 on a lost race), not how a real
// server stores, authorises or vends credentials.
package icebergtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	icego "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	_ "github.com/apache/iceberg-go/io/gocloud" // file:// table locations
	"github.com/apache/iceberg-go/table"
	_ "modernc.org/sqlite" // the SQL catalog's SQLite, without cgo
)

// Options configures a Server.
type Options struct {
	// Warehouse is the warehouse name a client must ask /v1/config for;
	// the server answers with it as the prefix of every other route.
	// Empty: any warehouse (or none), prefix "default".
	Warehouse string
	// ClientID and ClientSecret, when set, are the OAuth2 client
	// credentials /v1/oauth/tokens exchanges for the bearer token.
	ClientID, ClientSecret string
	// Token, when set, is the bearer token every request but the token
	// exchange must carry.
	Token string
	// SigV4, when set, is the key every request must be signed with (AWS
	// Signature Version 4, its signature recomputed), instead of a token.
	SigV4 *SigV4Key
	// BeforeCommit, when set, runs before a commit is served (outside the
	// commit lock: it may commit through the server), to make a race.
	BeforeCommit func(ident table.Identifier)
	// LoseResponse, when it returns true for a commit that succeeded, makes
	// the server answer 503 instead, as a gateway that lost the response
	// does: the client cannot tell whether its commit landed.
	LoseResponse func(ident table.Identifier) bool
	// Locations, when set, is the URI under which the server places every
	// new table itself, whatever location the client asks for (as S3
	// Tables and managed warehouses do): <Locations>/<table>-<n>.
	Locations string
	// RefuseLocation makes the server answer 400 to a create that names a
	// location, as a catalog that only places tables itself may.
	RefuseLocation bool
	// IO configures the server's own writes of metadata files (its
	// storage's endpoint and credentials), besides file:// locations.
	IO icego.Properties
}

// Server is a running REST catalog.
type Server struct {
	URL string // the catalog's URI, to which clients append /v1/...

	opts   Options
	prefix string
	cat    catalog.Catalog
	http   *httptest.Server

	// commitMu makes a commit's check of its requirements and its write
	// one step, as a real catalog's compare-and-swap does.
	commitMu sync.Mutex
	// Conflicts counts the commits answered 409 (a requirement failed).
	Conflicts atomic.Int64
	// Unauthorized counts the requests answered 401.
	Unauthorized atomic.Int64
	// created numbers the tables created, for the locations it chooses.
	created atomic.Int64
}

// Start starts a server whose SQL catalog is a SQLite file in dir, stopped
// when the test ends.
func Start(t testing.TB, dir string, opts Options) *Server {
	t.Helper()
	props := icego.Properties{
		"type":                "sql",
		sqlcat.DriverKey:      "sqlite",
		sqlcat.DialectKey:     string(sqlcat.SQLite),
		"uri":                 "file:" + filepath.Join(dir, "rest-catalog.db") + "?_txlock=immediate&_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)",
		"init_catalog_tables": "true",
	}
	maps.Copy(props, opts.IO)
	cat, err := catalog.Load(context.Background(), "rest-backing", props)
	if err != nil {
		t.Fatalf("icebergtest: SQL catalog: %v", err)
	}
	s := &Server{opts: opts, prefix: "default", cat: cat}
	if opts.Warehouse != "" {
		s.prefix = opts.Warehouse
	}
	s.http = httptest.NewServer(s.handler())
	s.URL = s.http.URL
	t.Cleanup(func() {
		s.http.Close()
		if c, ok := cat.(interface{ Close() error }); ok {
			c.Close()
		}
	})
	return s
}

// routes are the spec's routes served under /v1/{prefix}, as /v1/config
// advertises them.
func (s *Server) routes() []route {
	return []route{
		{"GET /v1/{prefix}/namespaces", s.listNamespaces},
		{"POST /v1/{prefix}/namespaces", s.createNamespace},
		{"GET /v1/{prefix}/namespaces/{namespace}", s.loadNamespace},
		{"HEAD /v1/{prefix}/namespaces/{namespace}", s.namespaceExists},
		{"GET /v1/{prefix}/namespaces/{namespace}/tables", s.listTables},
		{"POST /v1/{prefix}/namespaces/{namespace}/tables", s.createTable},
		{"GET /v1/{prefix}/namespaces/{namespace}/tables/{table}", s.loadTable},
		{"HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}", s.tableExists},
		{"POST /v1/{prefix}/namespaces/{namespace}/tables/{table}", s.commitTable},
	}
}

type route struct {
	pattern string // as the spec's endpoints name it, and http.ServeMux's
	serve   http.HandlerFunc
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/oauth/tokens", s.token)
	mux.HandleFunc("GET /v1/config", s.authorized(s.config))
	for _, r := range s.routes() {
		mux.HandleFunc(r.pattern, s.authorized(s.prefixed(r.serve)))
	}
	return mux
}

// errorJSON writes the spec's ErrorModel, in its IcebergErrorResponse.
func errorJSON(w http.ResponseWriter, code int, typ string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": err.Error(), "type": typ, "code": code}})
}

func writeJSON(w http.ResponseWriter, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		errorJSON(w, http.StatusInternalServerError, "ServerError", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

// authorized answers 401 to a request without the bearer token, when one is
// required.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if want := s.opts.Token; want != "" && r.Header.Get("Authorization") != "Bearer "+want {
			s.Unauthorized.Add(1)
			errorJSON(w, http.StatusUnauthorized, "NotAuthorizedException", errors.New("missing or wrong bearer token"))
			return
		}
		if s.opts.SigV4 != nil {
			if err := s.opts.SigV4.verify(r); err != nil {
				s.Unauthorized.Add(1)
				errorJSON(w, http.StatusForbidden, "ForbiddenException", err)
				return
			}
		}
		h(w, r)
	}
}

// prefixed answers 404 to a route under another prefix than /v1/config gave.
func (s *Server) prefixed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := r.PathValue("prefix"); p != s.prefix {
			errorJSON(w, http.StatusNotFound, "NotFoundException", fmt.Errorf("no prefix %q", p))
			return
		}
		h(w, r)
	}
}

// token is the OAuth2 client-credentials exchange (OAuthTokenRequest).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		errorJSON(w, http.StatusBadRequest, "BadRequestException", err)
		return
	}
	if s.opts.ClientID == "" || r.PostForm.Get("grant_type") != "client_credentials" ||
		r.PostForm.Get("client_id") != s.opts.ClientID || r.PostForm.Get("client_secret") != s.opts.ClientSecret {
		s.Unauthorized.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
		return
	}
	writeJSON(w, map[string]any{
		"access_token": s.opts.Token, "token_type": "bearer", "expires_in": 3600,
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token"})
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	if wh := r.URL.Query().Get("warehouse"); s.opts.Warehouse != "" && wh != s.opts.Warehouse {
		errorJSON(w, http.StatusNotFound, "NotFoundException", fmt.Errorf("no warehouse %q", wh))
		return
	}
	var endpoints []string
	for _, r := range s.routes() {
		endpoints = append(endpoints, r.pattern)
	}
	writeJSON(w, map[string]any{
		"defaults":  map[string]string{},
		"overrides": map[string]string{"prefix": s.prefix},
		"endpoints": endpoints,
	})
}

// namespace is the {namespace} path parameter: levels joined by the unit
// separator (the spec's default), each escaped.
func namespace(r *http.Request) table.Identifier {
	return strings.Split(r.PathValue("namespace"), "\x1f")
}

func (s *Server) ident(r *http.Request) table.Identifier {
	return append(namespace(r), r.PathValue("table"))
}

// catalogError answers err as the spec says: 404 with the NoSuch* type,
// 409 with the AlreadyExists type, else 500.
func catalogError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, catalog.ErrNoSuchNamespace):
		errorJSON(w, http.StatusNotFound, "NoSuchNamespaceException", err)
	case errors.Is(err, catalog.ErrNoSuchTable):
		errorJSON(w, http.StatusNotFound, "NoSuchTableException", err)
	case errors.Is(err, catalog.ErrNamespaceAlreadyExists):
		errorJSON(w, http.StatusConflict, "AlreadyExistsException", err)
	case errors.Is(err, catalog.ErrTableAlreadyExists):
		errorJSON(w, http.StatusConflict, "AlreadyExistsException", err)
	default:
		errorJSON(w, http.StatusInternalServerError, "ServerError", err)
	}
}

func (s *Server) listNamespaces(w http.ResponseWriter, r *http.Request) {
	var parent table.Identifier
	if p := r.URL.Query().Get("parent"); p != "" {
		parent = strings.Split(p, "\x1f")
	}
	nss, err := s.cat.ListNamespaces(r.Context(), parent)
	if err != nil {
		catalogError(w, err)
		return
	}
	writeJSON(w, map[string]any{"namespaces": append([]table.Identifier{}, nss...)})
}

func (s *Server) createNamespace(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Namespace  table.Identifier `json:"namespace"`
		Properties icego.Properties `json:"properties"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Namespace) == 0 {
		errorJSON(w, http.StatusBadRequest, "BadRequestException", fmt.Errorf("create namespace: %v", err))
		return
	}
	if err := s.cat.CreateNamespace(r.Context(), req.Namespace, req.Properties); err != nil {
		catalogError(w, err)
		return
	}
	writeJSON(w, map[string]any{"namespace": req.Namespace, "properties": req.Properties})
}

func (s *Server) loadNamespace(w http.ResponseWriter, r *http.Request) {
	props, err := s.cat.LoadNamespaceProperties(r.Context(), namespace(r))
	if err != nil {
		catalogError(w, err)
		return
	}
	writeJSON(w, map[string]any{"namespace": namespace(r), "properties": props})
}

// existsStatus answers a HEAD request: 204 if it exists, 404 if not.
func existsStatus(w http.ResponseWriter, ok bool, err error) {
	switch {
	case err != nil:
		w.WriteHeader(http.StatusInternalServerError)
	case !ok:
		w.WriteHeader(http.StatusNotFound)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) namespaceExists(w http.ResponseWriter, r *http.Request) {
	ok, err := s.cat.CheckNamespaceExists(r.Context(), namespace(r))
	existsStatus(w, ok, err)
}

func (s *Server) listTables(w http.ResponseWriter, r *http.Request) {
	type identifier struct {
		Namespace []string `json:"namespace"`
		Name      string   `json:"name"`
	}
	ids := []identifier{}
	for id, err := range s.cat.ListTables(r.Context(), namespace(r)) {
		if err != nil {
			catalogError(w, err)
			return
		}
		ids = append(ids, identifier{Namespace: catalog.NamespaceFromIdent(id), Name: catalog.TableNameFromIdent(id)})
	}
	writeJSON(w, map[string]any{"identifiers": ids})
}

// loadResult is the spec's LoadTableResult.
func loadResult(tbl *table.Table) map[string]any {
	return map[string]any{
		"metadata-location": tbl.MetadataLocation(),
		"metadata":          tbl.Metadata(),
		"config":            map[string]string{},
	}
}

// createTable serves CreateTableRequest. A staged create is not served (our
// client does not stage).
func (s *Server) createTable(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name          string               `json:"name"`
		Location      string               `json:"location"`
		Schema        *icego.Schema        `json:"schema"`
		PartitionSpec *icego.PartitionSpec `json:"partition-spec"`
		WriteOrder    *table.SortOrder     `json:"write-order"`
		StageCreate   bool                 `json:"stage-create"`
		Properties    icego.Properties     `json:"properties"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" || req.Schema == nil {
		errorJSON(w, http.StatusBadRequest, "BadRequestException", fmt.Errorf("create table: name and schema required (%v)", err))
		return
	}
	if req.StageCreate {
		errorJSON(w, http.StatusNotImplemented, "NotImplementedException", errors.New("staged create"))
		return
	}
	if s.opts.RefuseLocation && req.Location != "" {
		errorJSON(w, http.StatusBadRequest, "BadRequestException", errors.New("create table: this catalog chooses the location"))
		return
	}
	opts := []catalog.CreateTableOpt{catalog.WithProperties(req.Properties)}
	if s.opts.Locations != "" {
		req.Location = fmt.Sprintf("%s/%s-%d", strings.TrimSuffix(s.opts.Locations, "/"), req.Name, s.created.Add(1))
	}
	if req.Location != "" {
		opts = append(opts, catalog.WithLocation(req.Location))
	}
	if req.PartitionSpec != nil {
		opts = append(opts, catalog.WithPartitionSpec(req.PartitionSpec))
	}
	if req.WriteOrder != nil {
		opts = append(opts, catalog.WithSortOrder(*req.WriteOrder))
	}
	tbl, err := s.cat.CreateTable(r.Context(), append(namespace(r), req.Name), req.Schema, opts...)
	if err != nil {
		catalogError(w, err)
		return
	}
	writeJSON(w, loadResult(tbl))
}

func (s *Server) loadTable(w http.ResponseWriter, r *http.Request) {
	tbl, err := s.cat.LoadTable(r.Context(), s.ident(r))
	if err != nil {
		catalogError(w, err)
		return
	}
	writeJSON(w, loadResult(tbl))
}

func (s *Server) tableExists(w http.ResponseWriter, r *http.Request) {
	ok, err := s.cat.CheckTableExists(r.Context(), s.ident(r))
	existsStatus(w, ok, err)
}

// commitTable serves CommitTableRequest: its requirements and updates are
// decoded by iceberg-go's own JSON types, the requirements checked against
// the table's current metadata (409 CommitFailedException if one fails) and
// the updates applied by the SQL catalog.
func (s *Server) commitTable(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Identifier *struct {
			Namespace []string `json:"namespace"`
			Name      string   `json:"name"`
		} `json:"identifier"`
		Requirements table.Requirements `json:"requirements"`
		Updates      table.Updates      `json:"updates"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		errorJSON(w, http.StatusBadRequest, "BadRequestException", fmt.Errorf("commit: %w", err))
		return
	}
	ident := s.ident(r)
	if id := req.Identifier; id != nil && strings.Join(append(id.Namespace, id.Name), "\x1f") != strings.Join(ident, "\x1f") {
		errorJSON(w, http.StatusBadRequest, "BadRequestException", fmt.Errorf("commit: identifier %v is not the path's %v", id, ident))
		return
	}
	if s.opts.BeforeCommit != nil {
		s.opts.BeforeCommit(ident)
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	current, err := s.cat.LoadTable(r.Context(), ident)
	if err != nil {
		catalogError(w, err)
		return
	}
	for _, req := range req.Requirements {
		if err := req.Validate(current.Metadata()); err != nil {
			s.Conflicts.Add(1)
			errorJSON(w, http.StatusConflict, "CommitFailedException", err)
			return
		}
	}
	meta, loc, err := s.cat.CommitTable(r.Context(), ident, req.Requirements, req.Updates)
	if errors.Is(err, table.ErrCommitFailed) {
		s.Conflicts.Add(1)
		errorJSON(w, http.StatusConflict, "CommitFailedException", err)
		return
	}
	if err != nil {
		catalogError(w, err)
		return
	}
	if s.opts.LoseResponse != nil && s.opts.LoseResponse(ident) {
		errorJSON(w, http.StatusServiceUnavailable, "ServiceUnavailableException", errors.New("the commit's response was lost"))
		return
	}
	writeJSON(w, map[string]any{"metadata-location": loc, "metadata": meta})
}
