package icebergtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load/iceberg/icebergtest"
)

// TestServer_Wire: what the server answers on the wire, as the REST spec
// says: /v1/config gives the warehouse's prefix and the endpoints; a missing
// table or namespace is a 404 with the IcebergErrorResponse of type
// NoSuchTableException or NoSuchNamespaceException (loading a table of a
// missing namespace is NoSuchTableException, as the spec lists); a commit whose
// requirement fails is a 409 CommitFailedException; a request without the
// bearer token is a 401.
func TestServer_Wire(t *testing.T) {
	srv := icebergtest.Start(t, t.TempDir(), icebergtest.Options{Warehouse: "lake", Token: "tok-1"})
	do := func(method, path, body string, token bool) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token {
			req.Header.Set("Authorization", "Bearer tok-1")
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		data, _ := io.ReadAll(rsp.Body)
		var out map[string]any
		if len(data) > 0 {
			if err := json.Unmarshal(data, &out); err != nil {
				t.Fatalf("%s %s: %d, not JSON: %s", method, path, rsp.StatusCode, data)
			}
		}
		return rsp.StatusCode, out
	}
	errorType := func(body map[string]any) string {
		e, _ := body["error"].(map[string]any)
		return fmt.Sprint(e["type"], " ", e["code"])
	}

	code, cfg := do("GET", "/v1/config?warehouse=lake", "", true)
	if code != 200 || cfg["overrides"].(map[string]any)["prefix"] != "lake" || len(cfg["endpoints"].([]any)) == 0 {
		t.Fatalf("config: %d %v", code, cfg)
	}
	if code, body := do("GET", "/v1/config?warehouse=lake", "", false); code != 401 || errorType(body) != "NotAuthorizedException 401" {
		t.Errorf("config without the token: %d %v, want 401 NotAuthorizedException", code, body)
	}
	if code, body := do("GET", "/v1/lake/namespaces/nope/tables", "", true); code != 404 || errorType(body) != "NoSuchNamespaceException 404" {
		t.Errorf("tables of a missing namespace: %d %v, want 404 NoSuchNamespaceException", code, body)
	}
	if code, body := do("GET", "/v1/lake/namespaces/nope/tables/t", "", true); code != 404 || errorType(body) != "NoSuchTableException 404" {
		t.Errorf("table of a missing namespace: %d %v, want 404 NoSuchTableException", code, body)
	}
	if code, body := do("POST", "/v1/lake/namespaces", `{"namespace":["ns"]}`, true); code != 200 {
		t.Fatalf("create namespace: %d %v", code, body)
	}
	if code, body := do("POST", "/v1/lake/namespaces", `{"namespace":["ns"]}`, true); code != 409 || errorType(body) != "AlreadyExistsException 409" {
		t.Errorf("create namespace again: %d %v, want 409 AlreadyExistsException", code, body)
	}
	if code, body := do("GET", "/v1/lake/namespaces/ns/tables/t", "", true); code != 404 || errorType(body) != "NoSuchTableException 404" {
		t.Errorf("missing table: %d %v, want 404 NoSuchTableException", code, body)
	}
	if code, _ := do("HEAD", "/v1/lake/namespaces/ns/tables/t", "", true); code != 404 {
		t.Errorf("HEAD missing table: %d, want 404", code)
	}
	loc := "file://" + t.TempDir() + "/t"
	create := `{"name":"t","location":"` + loc + `","schema":{"type":"struct","schema-id":0,"fields":[{"id":1,"name":"id","type":"string","required":false}]}}`
	code, created := do("POST", "/v1/lake/namespaces/ns/tables", create, true)
	if code != 200 || created["metadata-location"] == nil {
		t.Fatalf("create table: %d %v", code, created)
	}
	if code, _ := do("HEAD", "/v1/lake/namespaces/ns/tables/t", "", true); code != 204 {
		t.Errorf("HEAD table: %d, want 204", code)
	}
	if code, body := do("GET", "/v1/other/namespaces/ns/tables/t", "", true); code != 404 {
		t.Errorf("another prefix: %d %v, want 404", code, body)
	}

	// A commit that asserts main is at a snapshot it is not at.
	stale := `{"identifier":{"namespace":["ns"],"name":"t"},
		"requirements":[{"type":"assert-ref-snapshot-id","ref":"main","snapshot-id":42}],
		"updates":[{"action":"set-properties","updates":{"k":"v"}}]}`
	if code, body := do("POST", "/v1/lake/namespaces/ns/tables/t", stale, true); code != 409 || errorType(body) != "CommitFailedException 409" {
		t.Errorf("stale commit: %d %v, want 409 CommitFailedException", code, body)
	}
	uuid := created["metadata"].(map[string]any)["table-uuid"].(string)
	ok := `{"identifier":{"namespace":["ns"],"name":"t"},
		"requirements":[{"type":"assert-table-uuid","uuid":"` + uuid + `"}],
		"updates":[{"action":"set-properties","updates":{"k":"v"}}]}`
	code, committed := do("POST", "/v1/lake/namespaces/ns/tables/t", ok, true)
	if code != 200 || committed["metadata"].(map[string]any)["properties"].(map[string]any)["k"] != "v" ||
		committed["metadata-location"] == created["metadata-location"] {
		t.Errorf("commit: %d %v, want the property set in new metadata", code, committed)
	}
	if code, body := do("POST", "/v1/lake/namespaces/ns/tables/gone", strings.Replace(ok, `"t"}`, `"gone"}`, 1), true); code != 404 || errorType(body) != "NoSuchTableException 404" {
		t.Errorf("commit to a missing table: %d %v, want 404 NoSuchTableException", code, body)
	}
}
