package icebergtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load/iceberg/icebergtest"
)

// TestGlueServer_Wire: what the Glue server answers on the wire, as Glue's
// AWS JSON 1.1 API does: a missing database or table is a 400
// EntityNotFoundException, a second create an AlreadyExistsException, an
// UpdateTable naming a VersionId that is not the table's current one a
// ConcurrentModificationException (and the right one moves the version on),
// another account's catalog an AccessDeniedException, and a request without
// an Authorization header is refused.
func TestGlueServer_Wire(t *testing.T) {
	srv := icebergtest.StartGlue(t, icebergtest.GlueOptions{CatalogID: "111122223333"})
	do := func(op, body string, signed bool) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest("POST", srv.URL+"/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", "AWSGlue."+op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if signed {
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261205/eu-west-1/glue/aws4_request, SignedHeaders=host, Signature=0")
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		data, _ := io.ReadAll(rsp.Body)
		var out map[string]any
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s: %d, not JSON: %s", op, rsp.StatusCode, data)
		}
		return rsp.StatusCode, out
	}
	expect := func(what string, code int, body map[string]any, wantType string) {
		t.Helper()
		if code != 400 || body["__type"] != wantType || body["message"] == "" {
			t.Errorf("%s: %d %v, want 400 %s", what, code, body, wantType)
		}
	}
	const acct = `"CatalogId":"111122223333",`
	code, body := do("GetTable", `{`+acct+`"DatabaseName":"db","Name":"t"}`, false)
	if code != 400 || body["__type"] != "MissingAuthenticationTokenException" || srv.Unsigned.Load() != 1 {
		t.Errorf("unsigned request: %d %v, want it refused", code, body)
	}
	code, body = do("GetTable", `{`+acct+`"DatabaseName":"db","Name":"t"}`, true)
	expect("table of a missing database", code, body, "EntityNotFoundException")
	code, body = do("GetTable", `{"CatalogId":"999999999999","DatabaseName":"db","Name":"t"}`, true)
	expect("another account's catalog", code, body, "AccessDeniedException")
	if code, body := do("CreateDatabase", `{`+acct+`"DatabaseInput":{"Name":"db"}}`, true); code != 200 {
		t.Fatalf("create database: %d %v", code, body)
	}
	code, body = do("CreateDatabase", `{`+acct+`"DatabaseInput":{"Name":"db"}}`, true)
	expect("create database again", code, body, "AlreadyExistsException")
	code, body = do("GetTable", `{`+acct+`"DatabaseName":"db","Name":"t"}`, true)
	expect("missing table", code, body, "EntityNotFoundException")
	input := func(loc string) string {
		return `"TableInput":{"Name":"t","TableType":"EXTERNAL_TABLE","Parameters":{"table_type":"ICEBERG","metadata_location":"` + loc + `"}}`
	}
	if code, body := do("CreateTable", `{`+acct+`"DatabaseName":"db",`+input("m1")+`}`, true); code != 200 {
		t.Fatalf("create table: %d %v", code, body)
	}
	code, body = do("CreateTable", `{`+acct+`"DatabaseName":"db",`+input("m1")+`}`, true)
	expect("create table again", code, body, "AlreadyExistsException")
	code, got := do("GetTable", `{`+acct+`"DatabaseName":"db","Name":"t"}`, true)
	tbl, _ := got["Table"].(map[string]any)
	if code != 200 || tbl["DatabaseName"] != "db" || tbl["VersionId"] != "1" || tbl["TableType"] != "EXTERNAL_TABLE" {
		t.Fatalf("get table: %d %v", code, got)
	}

	code, body = do("UpdateTable", `{`+acct+`"DatabaseName":"db","VersionId":"7",`+input("m2")+`}`, true)
	expect("update naming a stale version", code, body, "ConcurrentModificationException")
	if srv.Conflicts.Load() != 1 {
		t.Errorf("conflicts counted: %d, want 1", srv.Conflicts.Load())
	}
	if code, body := do("UpdateTable", `{`+acct+`"DatabaseName":"db","VersionId":"1",`+input("m2")+`}`, true); code != 200 {
		t.Fatalf("update: %d %v", code, body)
	}
	_, got = do("GetTable", `{`+acct+`"DatabaseName":"db","Name":"t"}`, true)
	tbl, _ = got["Table"].(map[string]any)
	params, _ := tbl["Parameters"].(map[string]any)
	if tbl["VersionId"] != "2" || params["metadata_location"] != "m2" {
		t.Errorf("after the update: %v, want version 2 at m2", got)
	}
	code, body = do("UpdateTable", `{`+acct+`"DatabaseName":"db","VersionId":"1",`+input("m3")+`}`, true)
	expect("update naming the replaced version", code, body, "ConcurrentModificationException")
	code, body = do("DeleteTable", `{`+acct+`"DatabaseName":"db","Name":"t"}`, true)
	expect("an operation not served", code, body, "UnknownOperationException")
}
