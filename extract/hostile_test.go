package extract_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
)

// A Graph that misbehaves in the ways outside testing found: every case is
// one record's (or one page's) problem and names it, and no paging loop runs
// for ever.

var day = [2]time.Time{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}

// TestList_BadItemDoesNotStopThePage: an item whose fields have the wrong
// types, or no id, is handed over with its error and raw bytes; the items
// around it are listed as usual.
func TestList_BadItemDoesNotStopThePage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"value":[{"id":"a","version":1},{"id":"b","version":"abc"},{"version":3},{"id":7},{"id":"c","version":2}]}`)
	}))
	defer srv.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	var good, bad []string
	err := c.ListCallRecords(context.Background(), day[0], day[1], func(r extract.ListedRecord) error {
		if r.Err != nil {
			if len(r.Raw) == 0 {
				t.Errorf("bad item %q without its raw bytes", r.ID)
			}
			bad = append(bad, fmt.Sprintf("%q", r.ID))
			return nil
		}
		good = append(good, r.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("ListCallRecords = %v", err)
	}
	if strings.Join(good, ",") != "a,c" || strings.Join(bad, ",") != `"b","",""` {
		t.Errorf("listed %v and bad %v, want [a c] and [b, no id, a number id]", good, bad)
	}
}

// TestList_UnreadablePage: a page whose body does not parse (an HTML error
// page with 200, cut JSON) is fetched again, then fails naming the page.
func TestList_UnreadablePage(t *testing.T) {
	for _, body := range []string{"<html><body>Service unavailable</body></html>", `{"value":[{"id":"a"`} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			fmt.Fprint(w, body)
		}))
		c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
		err := c.ListCallRecords(context.Background(), day[0], day[1], func(extract.ListedRecord) error { return nil })
		if !errors.Is(err, extract.ErrBadPage) || !strings.Contains(err.Error(), "/communications/callRecords") {
			t.Errorf("body %.20q: ListCallRecords = %v, want ErrBadPage naming the page", body, err)
		}
		if n.Load() != 3 {
			t.Errorf("body %.20q: %d requests, want the page fetched 3 times", body, n.Load())
		}
		srv.Close()
	}
}

// TestList_EndlessPaging: empty pages whose nextLinks always differ, or pages
// that repeat the same items under new links, stop after a few requests
// with an error naming the endpoint.
func TestList_EndlessPaging(t *testing.T) {
	for name, items := range map[string]string{"empty": ``, "repeated": `{"id":"a","version":1}`} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := n.Add(1)
			fmt.Fprintf(w, `{"value":[%s],"@odata.nextLink":"http://%s/v1.0/communications/callRecords?$skiptoken=%d"}`, items, r.Host, k)
		}))
		c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
		err := c.ListCallRecords(context.Background(), day[0], day[1], func(extract.ListedRecord) error { return nil })
		if !errors.Is(err, extract.ErrPaging) || !strings.Contains(err.Error(), "list") {
			t.Errorf("%s pages: ListCallRecords = %v, want ErrPaging naming the endpoint", name, err)
		}
		if got := n.Load(); got > 10 {
			t.Errorf("%s pages: %d requests before giving up, want at most 10", name, got)
		}
		srv.Close()
	}
}

// TestGetCallRecords_BadRecordsIsolated: records Graph serves but that cannot
// be read — malformed JSON, HTML with 200, sessions not an array, a sessions
// page that cannot be read, a nextLink to another host, a 400 for the id —
// reach Bad with what Graph sent; the others reach Record; none fails the
// batch.
func TestGetCallRecords_BadRecordsIsolated(t *testing.T) {
	bodies := map[string]string{
		"good":        `{"id":"good","version":1,"sessions":[{"id":"s1"}]}`,
		"malformed":   `{"id":"malformed","version":1,"sessions":[`,
		"html":        `<!DOCTYPE html><html><body>Bad gateway</body></html>`,
		"notarray":    `{"id":"notarray","sessions":"not-an-array"}`,
		"badpage":     `{"id":"badpage","sessions":[],"sessions@odata.nextLink":"http://HOST/v1.0/communications/callRecords/badpage/sessions?$skiptoken=1"}`,
		"foreignlink": `{"id":"foreignlink","sessions":[],"sessions@odata.nextLink":"https://evil.example/steal"}`,
	}
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch parts := strings.Split(r.URL.Path, "/"); {
		case strings.HasSuffix(r.URL.Path, "/participants_v2"):
			fmt.Fprint(w, `{"value":[]}`)
		case strings.HasSuffix(r.URL.Path, "/sessions"):
			fmt.Fprint(w, `{"value":[{"id":`) // cut short
		case strings.HasSuffix(r.URL.Path, "/refused"):
			gets.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"code":"BadRequest","message":"Invalid id."}}`)
		default:
			gets.Add(1)
			fmt.Fprint(w, strings.ReplaceAll(bodies[parts[len(parts)-1]], "HOST", r.Host))
		}
	}))
	defer srv.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	var good []string
	bad := map[string]*extract.RecordError{}
	err := c.GetCallRecords(context.Background(), []string{"good", "malformed", "html", "notarray", "badpage", "foreignlink", "refused"}, 2, extract.Fetched{
		Record: func(id string, raw json.RawMessage) error { good = append(good, id); return nil },
		Bad:    func(e *extract.RecordError) error { bad[e.ID] = e; return nil },
	})
	if err != nil {
		t.Fatalf("GetCallRecords = %v, want the bad records isolated", err)
	}
	if len(good) != 1 || good[0] != "good" {
		t.Errorf("records = %v, want [good]", good)
	}
	for _, id := range []string{"malformed", "html", "notarray", "badpage", "foreignlink", "refused"} {
		e := bad[id]
		if e == nil {
			t.Errorf("%s: not reported bad", id)
			continue
		}
		if !errors.Is(e, extract.ErrBadRecord) || !strings.Contains(e.Error(), id) || len(e.Raw) == 0 {
			t.Errorf("%s: %v (raw %d bytes), want ErrBadRecord naming it, with what Graph sent", id, e, len(e.Raw))
		}
	}
	// good, notarray, badpage, foreignlink once each; refused twice (its
	// 400 asked again with sessions alone expanded); malformed and html 3
	// times each.
	if n := gets.Load(); n != 12 {
		t.Errorf("%d detail requests, want 12 (an unparsable body is fetched 3 times, a refused one twice)", n)
	}
}

// TestGetCallRecord_PagedPartsAssembled: a record whose sessions,
// participants_v2 and one session's segments continue on nextLinks comes out
// whole, without the links; a record served whole is handed on byte for
// byte, as Graph sent it.
func TestGetCallRecord_PagedPartsAssembled(t *testing.T) {
	const base = "http://HOST/v1.0/communications/callRecords/paged"
	paged := `{"id":"paged","version":1,"sessions":[{"id":"s1","segments":[{"id":"g1"}],"segments@odata.nextLink":"` + base + `/sessions/s1/segments?$skiptoken=1"}],` +
		`"sessions@odata.nextLink":"` + base + `/sessions?$skiptoken=1","participants_v2":[{"id":"p1"}],"participants_v2@odata.nextLink":"` + base + `/participants_v2?$skiptoken=1"}`
	whole := " {\"id\" : \"whole\", \"version\":1,\n \"sessions\": [ {\"id\":\"s1\",\"segments\":[{\"id\":\"g1\", \"note\":\"@odata.nextLink\"}]} ], \"participants_v2\" :[] } "
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch p := r.URL.Path; {
		case strings.HasSuffix(p, "/paged/sessions/s1/segments"):
			fmt.Fprint(w, `{"value":[{"id":"g2"}]}`)
		case strings.HasSuffix(p, "/paged/sessions"):
			fmt.Fprint(w, `{"value":[{"id":"s2","segments":[{"id":"g3"}]}]}`)
		case strings.HasSuffix(p, "/paged/participants_v2"):
			fmt.Fprint(w, `{"value":[{"id":"p2"}]}`)
		case strings.HasSuffix(p, "/paged"):
			fmt.Fprint(w, strings.ReplaceAll(paged, "HOST", r.Host))
		case strings.HasSuffix(p, "/whole"):
			fmt.Fprint(w, whole)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})

	raw, err := c.GetCallRecord(context.Background(), "paged")
	if err != nil {
		t.Fatalf("GetCallRecord(paged) = %v", err)
	}
	var rec struct {
		Sessions []struct {
			ID       string
			Segments []struct{ ID string }
		}
		Participants []struct{ ID string } `json:"participants_v2"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("assembled record %s: %v", raw, err)
	}
	got := fmt.Sprint(rec)
	if want := "{[{s1 [{g1} {g2}]} {s2 [{g3}]}] [{p1} {p2}]}"; got != want {
		t.Errorf("assembled record = %s, want %s", got, want)
	}
	if strings.Contains(string(raw), "nextLink") {
		t.Errorf("assembled record keeps a nextLink: %s", raw)
	}

	raw, err = c.GetCallRecord(context.Background(), "whole")
	if err != nil {
		t.Fatalf("GetCallRecord(whole) = %v", err)
	}
	if string(raw) != whole {
		t.Errorf("a record served whole came out as %q, want it as served: %q", raw, whole)
	}
}
