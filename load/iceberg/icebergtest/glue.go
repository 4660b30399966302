package icebergtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// GlueOptions configures a GlueServer.
type GlueOptions struct {
	// CatalogID, when set, is the AWS account whose catalog the server is:
	// a request naming another CatalogId is refused (AccessDeniedException).
	CatalogID string
	// BeforeUpdate, when set, runs before an UpdateTable is served (outside
	// the server's lock: it may commit through the server), to make a race.
	BeforeUpdate func(database, table string)
}

// GlueServer is an AWS Glue Data Catalog API for tests: the AWS JSON 1.1
// protocol (POST /, X-Amz-Target: AWSGlue.<Operation>, errors as
// {"__type","message"} with status 400) for the operations iceberg-go's Glue
// catalog calls for us (CreateDatabase, GetTable, CreateTable, UpdateTable
// with VersionId's optimistic locking) and no others.
//
// It is not Glue: SigV4 signatures are not checked (a request must carry an
// Authorization header, no more), nor Lake Formation permissions, and it
// keeps tables in memory as iceberg-go sent them (Iceberg's metadata files
// are iceberg-go's, at the locations it chose).
type GlueServer struct {
	URL string // the endpoint, for glue.endpoint or AWS_ENDPOINT_URL_GLUE

	opts GlueOptions

	mu     sync.Mutex
	tables map[string]map[string]map[string]any // by database, name: the Table

	// Conflicts counts the UpdateTable requests refused for a stale VersionId.
	Conflicts atomic.Int64
	// Unsigned counts the requests refused for a missing Authorization header.
	Unsigned atomic.Int64
}

// StartGlue starts a Glue server, stopped when the test ends.
func StartGlue(t testing.TB, opts GlueOptions) *GlueServer {
	t.Helper()
	s := &GlueServer{opts: opts, tables: map[string]map[string]map[string]any{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// GlueEnv points the AWS SDK of this process at srv with static test
// credentials and no shared config files, so that nothing reaches AWS (nor
// the instance metadata service). It sets the environment: not for
// parallel tests.
func GlueEnv(t testing.TB, srv *GlueServer) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_GLUE":       srv.URL,
		"AWS_REGION":                  "eu-west-1",
		"AWS_ACCESS_KEY_ID":           "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY":       "test-secret",
		"AWS_CONFIG_FILE":             "/nonexistent/aws-config",
		"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	// No CA bundle either (the server speaks http): the SDK then keeps its
	// default HTTP client, as for most users.
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
}

// glueError is an error answer: its __type and message.
type glueError struct{ typ, msg string }

func (e *glueError) Error() string { return e.typ + ": " + e.msg }

func notFound(format string, args ...any) *glueError {
	return &glueError{"EntityNotFoundException", fmt.Sprintf(format, args...)}
}

func (s *GlueServer) serve(w http.ResponseWriter, r *http.Request) {
	answer := func(code int, v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(e *glueError) {
		answer(http.StatusBadRequest, map[string]string{"__type": e.typ, "message": e.msg})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		fail(&glueError{"UnknownOperationException", r.Method + " " + r.URL.Path})
		return
	}
	if r.Header.Get("Authorization") == "" {
		s.Unsigned.Add(1)
		fail(&glueError{"MissingAuthenticationTokenException", "Missing Authentication Token"})
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSGlue.")
	if !ok {
		fail(&glueError{"UnknownOperationException", "X-Amz-Target " + r.Header.Get("X-Amz-Target")})
		return
	}
	var in struct {
		CatalogID     string         `json:"CatalogId"`
		Name          string         `json:"Name"`
		DatabaseName  string         `json:"DatabaseName"`
		DatabaseInput map[string]any `json:"DatabaseInput"`
		TableInput    map[string]any `json:"TableInput"`
		VersionID     string         `json:"VersionId"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(&glueError{"InvalidInputException", err.Error()})
		return
	}
	if s.opts.CatalogID != "" && in.CatalogID != s.opts.CatalogID {
		fail(&glueError{"AccessDeniedException", fmt.Sprintf("catalog %q is not %s's", in.CatalogID, s.opts.CatalogID)})
		return
	}
	if op == "UpdateTable" && s.opts.BeforeUpdate != nil {
		s.opts.BeforeUpdate(in.DatabaseName, name(in.TableInput))
	}
	s.mu.Lock()
	out, gerr := s.do(op, in.Name, in.DatabaseName, in.DatabaseInput, in.TableInput, in.VersionID)
	s.mu.Unlock()
	if gerr != nil {
		fail(gerr)
		return
	}
	answer(http.StatusOK, out)
}

func name(input map[string]any) string {
	n, _ := input["Name"].(string)
	return n
}

// do serves one operation under s.mu.
func (s *GlueServer) do(op, objName, database string, dbInput, tblInput map[string]any, versionID string) (map[string]any, *glueError) {
	if op == "CreateDatabase" {
		n := name(dbInput)
		if _, ok := s.tables[n]; ok {
			return nil, &glueError{"AlreadyExistsException", "Database already exists."}
		}
		s.tables[n] = map[string]map[string]any{}
		return map[string]any{}, nil
	}
	tables, ok := s.tables[database]
	if !ok {
		return nil, notFound("Database %s not found.", database)
	}
	switch op {
	case "GetTable":
		tbl, ok := tables[objName]
		if !ok {
			return nil, notFound("Table %s not found.", objName)
		}
		return map[string]any{"Table": tbl}, nil
	case "CreateTable":
		n := name(tblInput)
		if _, ok := tables[n]; ok {
			return nil, &glueError{"AlreadyExistsException", "Table already exists."}
		}
		tables[n] = stored(database, tblInput, 1)
		return map[string]any{}, nil
	case "UpdateTable":
		n := name(tblInput)
		tbl, ok := tables[n]
		if !ok {
			return nil, notFound("Table %s not found.", n)
		}
		// Glue's optimistic locking: the update names the version it read.
		if versionID != "" && versionID != tbl["VersionId"] {
			s.Conflicts.Add(1)
			return nil, &glueError{"ConcurrentModificationException", fmt.Sprintf("Update table failed due to concurrent modifications: version %s is not the current %s.", versionID, tbl["VersionId"])}
		}
		v, _ := strconv.Atoi(tbl["VersionId"].(string))
		tables[n] = stored(database, tblInput, v+1)
		return map[string]any{}, nil
	}
	return nil, &glueError{"UnknownOperationException", "AWSGlue." + op + " is not served by this test server"}
}

// stored is the Table that GetTable answers for a TableInput.
func stored(database string, input map[string]any, version int) map[string]any {
	tbl := maps.Clone(input)
	tbl["DatabaseName"], tbl["VersionId"] = database, strconv.Itoa(version)
	return tbl
}
