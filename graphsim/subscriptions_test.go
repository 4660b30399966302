package graphsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
)

const (
	subsPath   = "/v1.0/subscriptions"
	subTenant  = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	subSecret  = "s3cret state"
	notifyPath = "/notify"
	lifePath   = "/lifecycle"
)

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// validation is one validation request a receiver saw.
type validation struct {
	path, method, contentType, rawQuery, token string
}

// batch is one notification POST a receiver saw.
type batch struct {
	path        string
	contentType string
	items       []json.RawMessage
	status      int
}

// notification is a change or lifecycle notification as received.
type notification struct {
	SubscriptionID                 string  `json:"subscriptionId"`
	ClientState                    *string `json:"clientState"`
	ChangeType                     string  `json:"changeType"`
	Resource                       string  `json:"resource"`
	SubscriptionExpirationDateTime string  `json:"subscriptionExpirationDateTime"`
	ResourceData                   struct {
		Type  string `json:"@odata.type"`
		OData string `json:"@odata.id"`
		ID    string `json:"id"`
	} `json:"resourceData"`
	TenantID       string `json:"tenantId"`
	LifecycleEvent string `json:"lifecycleEvent"`
}

// receiver is a webhook endpoint on loopback. Its validation mode says how
// it answers the validation handshake: "echo" (correctly), "raw" (echoes
// the still-encoded token), "wrong", "json" (right token, wrong
// Content-Type), "accepted" (202), "slow" (never answers in time). It
// answers notifications 202, or 500 when failing, or not in time when
// stalling.
type receiver struct {
	srv *httptest.Server

	mu          sync.Mutex
	mode        string
	failing     bool
	stalling    bool
	validations []validation
	batches     []batch
}

func newReceiver(tb testing.TB) *receiver {
	tb.Helper()
	rv := &receiver{mode: "echo"}
	rv.srv = httptest.NewServer(rv)
	tb.Cleanup(rv.srv.Close)
	return rv
}

func (rv *receiver) set(f func(rv *receiver)) {
	rv.mu.Lock()
	f(rv)
	rv.mu.Unlock()
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if tok, ok := r.URL.Query()["validationToken"]; ok {
		raw := r.URL.RawQuery
		rv.mu.Lock()
		mode := rv.mode
		rv.validations = append(rv.validations, validation{r.URL.Path, r.Method, r.Header.Get("Content-Type"), raw, tok[0]})
		rv.mu.Unlock()
		answer, ct, status := tok[0], "text/plain; charset=utf-8", http.StatusOK
		switch mode {
		case "raw":
			answer = strings.TrimPrefix(raw, "validationToken=")
		case "wrong":
			answer += "x"
		case "json":
			ct = "application/json"
		case "accepted":
			status = http.StatusAccepted
		case "slow":
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
		return
	}
	var page struct {
		Value []json.RawMessage `json:"value"`
	}
	_ = json.Unmarshal(body, &page)
	rv.mu.Lock()
	status := http.StatusAccepted
	if rv.failing {
		status = http.StatusInternalServerError
	}
	stalling := rv.stalling
	rv.batches = append(rv.batches, batch{r.URL.Path, r.Header.Get("Content-Type"), page.Value, status})
	rv.mu.Unlock()
	if stalling {
		<-r.Context().Done()
		return
	}
	w.WriteHeader(status)
}

// take returns and forgets the batches received so far.
func (rv *receiver) take() []batch {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	out := rv.batches
	rv.batches = nil
	return out
}

// notes decodes the items of the batches posted to path.
func notes(tb testing.TB, bs []batch, path string) []notification {
	tb.Helper()
	var out []notification
	for _, b := range bs {
		if b.path != path {
			continue
		}
		for _, raw := range b.items {
			var n notification
			if err := json.Unmarshal(raw, &n); err != nil {
				tb.Fatalf("decode notification %s: %v", raw, err)
			}
			out = append(out, n)
		}
	}
	return out
}

// keyed renders notifications as "changeType id" strings, in order.
func keyed(ns []notification) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, n.ChangeType+" "+n.ResourceData.ID)
	}
	return out
}

// MustDo sends method url with a bearer token and an optional JSON body.
func MustDo(tb testing.TB, method, u string, body any) response {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		tb.Fatalf("new request %s %s: %v", method, u, err)
	}
	req.Header.Set("Authorization", "Bearer test-token")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read %s %s: %v", method, u, err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// subBody is a valid creation body for rv, expiring in a day.
func subBody(rv *receiver, now time.Time, changeType string) map[string]any {
	return map[string]any{
		"changeType":         changeType,
		"notificationUrl":    rv.srv.URL + notifyPath,
		"resource":           "/communications/callRecords",
		"expirationDateTime": now.Add(24 * time.Hour).Format(time.RFC3339Nano),
		"clientState":        subSecret,
	}
}

// MustSubscribe creates a subscription and returns its id.
func MustSubscribe(tb testing.TB, srv *httptest.Server, body map[string]any) string {
	tb.Helper()
	r := MustDo(tb, http.MethodPost, srv.URL+subsPath, body)
	if r.status != http.StatusCreated {
		tb.Fatalf("POST %s = %d, want 201; body %s", subsPath, r.status, r.body)
	}
	id, _ := MustDecode(tb, r.body)["id"].(string)
	return id
}

// visibleVersions returns the version of every record visible at Now.
func visibleVersions(sim *graphsim.Simulator, now time.Time) map[string]int64 {
	out := map[string]int64{}
	for _, id := range sim.Truth(time.Time{}, now.Add(time.Hour)).IDs {
		v, ok := sim.Version(id)
		if ok {
			out[id] = v
		}
	}
	return out
}

// newlyPublished lists the ids visible now that were not in before, sorted.
func newlyPublished(before, now map[string]int64) []string {
	var out []string
	for id := range now {
		if _, ok := before[id]; !ok {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func TestSubscriptions_Create(t *testing.T) {
	tests := []struct {
		name       string
		mode       string // validation mode of the notification endpoint
		lifeMode   string // validation mode of the lifecycle endpoint; "" for none
		edit       func(b map[string]any, now time.Time)
		wantStatus int
		wantCode   string
	}{
		{name: "valid", mode: "echo", wantStatus: 201},
		{name: "valid with lifecycle url", mode: "echo", lifeMode: "echo", wantStatus: 201},
		{name: "updated, no slash, max lifetime, 128-char state", mode: "echo", wantStatus: 201, edit: func(b map[string]any, now time.Time) {
			b["changeType"] = "updated"
			b["resource"] = "communications/callRecords"
			b["expirationDateTime"] = now.Add(4230 * time.Minute).Format(time.RFC3339)
			b["clientState"] = strings.Repeat("é", 128)
		}},
		{name: "participant filter", mode: "echo", wantStatus: 201, edit: func(b map[string]any, _ time.Time) {
			b["resource"] = "/communications/callRecords?$filter=participants/any(p:p/id eq '11111111-2222-4333-8444-555555555555')"
		}},
		{name: "wrong token", mode: "wrong", wantStatus: 400, wantCode: "ValidationError"},
		{name: "token not url-decoded", mode: "raw", wantStatus: 400, wantCode: "ValidationError"},
		{name: "not text/plain", mode: "json", wantStatus: 400, wantCode: "ValidationError"},
		{name: "202 instead of 200", mode: "accepted", wantStatus: 400, wantCode: "ValidationError"},
		{name: "slow endpoint", mode: "slow", wantStatus: 400, wantCode: "InvalidRequest"},
		{name: "lifecycle endpoint fails", mode: "echo", lifeMode: "wrong", wantStatus: 400, wantCode: "ValidationError"},
		{name: "expiration past 4230 minutes", mode: "echo", wantStatus: 400, wantCode: "InvalidRequest", edit: func(b map[string]any, now time.Time) {
			b["expirationDateTime"] = now.Add(4230*time.Minute + time.Second).Format(time.RFC3339)
		}},
		{name: "expiration in the past", mode: "echo", wantStatus: 400, wantCode: "InvalidRequest", edit: func(b map[string]any, now time.Time) {
			b["expirationDateTime"] = now.Add(-time.Minute).Format(time.RFC3339)
		}},
		{name: "clientState of 129 chars", mode: "echo", wantStatus: 400, wantCode: "InvalidRequest", edit: func(b map[string]any, _ time.Time) {
			b["clientState"] = strings.Repeat("x", 129)
		}},
		{name: "deleted changeType", mode: "echo", wantStatus: 400, wantCode: "InvalidRequest", edit: func(b map[string]any, _ time.Time) {
			b["changeType"] = "created,deleted"
		}},
		{name: "other resource", mode: "echo", wantStatus: 400, wantCode: "InvalidRequest", edit: func(b map[string]any, _ time.Time) {
			b["resource"] = "/communications/presences"
		}},
		{name: "unsupported filter", mode: "echo", wantStatus: 400, wantCode: "InvalidRequest", edit: func(b map[string]any, _ time.Time) {
			b["resource"] = "/communications/callRecords?$filter=type eq 'peerToPeer'"
		}},
		{name: "missing notificationUrl", mode: "echo", wantStatus: 400, wantCode: "InvalidRequest", edit: func(b map[string]any, _ time.Time) {
			delete(b, "notificationUrl")
		}},
		{name: "plain http off loopback", mode: "echo", wantStatus: 400, wantCode: "InvalidRequest", edit: func(b map[string]any, _ time.Time) {
			b["notificationUrl"] = "http://webhook.example.com/notify"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, srv := MustServe(t, graphsim.Config{Seed: 3, TenantID: subTenant})
			graphsim.SetSubscriptionTimeouts(sim, 200*time.Millisecond, 0)
			rv := newReceiver(t)
			rv.mode = tt.mode
			body := subBody(rv, testNow, "created")
			var life *receiver
			if tt.lifeMode != "" {
				life = newReceiver(t)
				life.mode = tt.lifeMode
				body["lifecycleNotificationUrl"] = life.srv.URL + lifePath
			}
			if tt.edit != nil {
				tt.edit(body, testNow)
			}
			r := MustDo(t, http.MethodPost, srv.URL+subsPath, body)
			if r.status != tt.wantStatus {
				t.Fatalf("POST subscriptions = %d, want %d; body %s", r.status, tt.wantStatus, r.body)
			}
			if tt.wantStatus != 201 {
				if code := graphError(t, r); code != tt.wantCode {
					t.Errorf("error code = %q, want %q", code, tt.wantCode)
				}
				if got := sim.Subscriptions(); len(got) != 0 {
					t.Errorf("Subscriptions() = %v after a failed create, want none", got)
				}
				if v := listSubscriptions(t, srv); len(v) != 0 {
					t.Errorf("GET subscriptions lists %d after a failed create, want 0", len(v))
				}
				return
			}
			got := MustDecode(t, r.body)
			for k, want := range map[string]any{
				"resource": body["resource"], "changeType": body["changeType"], "clientState": body["clientState"],
				"notificationUrl": body["notificationUrl"], "lifecycleNotificationUrl": body["lifecycleNotificationUrl"],
				"latestSupportedTlsVersion": "v1_2", "notificationUrlAppId": nil,
			} {
				if v, ok := got[k]; !ok || v != want {
					t.Errorf("subscription[%q] = %v (present %v), want %v", k, v, ok, want)
				}
			}
			id, _ := got["id"].(string)
			for _, k := range []string{"id", "applicationId", "creatorId"} {
				if v, _ := got[k].(string); !guidRE.MatchString(v) {
					t.Errorf("subscription[%q] = %v, want a GUID", k, got[k])
				}
			}
			wantExp, _ := time.Parse(time.RFC3339Nano, body["expirationDateTime"].(string))
			if exp := mustTime(t, got["expirationDateTime"]); !exp.Equal(wantExp) {
				t.Errorf("expirationDateTime = %v, want %v", exp, wantExp)
			}
			subs := sim.Subscriptions()
			want := graphsim.Subscription{
				ID: id, Resource: body["resource"].(string), ChangeType: body["changeType"].(string),
				NotificationURL: body["notificationUrl"].(string), ClientState: body["clientState"].(string), Expiration: wantExp,
			}
			if life != nil {
				want.LifecycleNotificationURL = life.srv.URL + lifePath
			}
			if len(subs) == 1 && subs[0].Expiration.Equal(want.Expiration) {
				want.Expiration = subs[0].Expiration
			}
			if len(subs) != 1 || subs[0] != want {
				t.Errorf("Subscriptions() = %+v, want [%+v]", subs, want)
			}
			// The handshake as documented: POST, text/plain, a token that
			// needs URL-decoding.
			vs := append(slices.Clone(rv.validations), validationsOf(life)...)
			if wantN := 1 + btoi(life != nil); len(vs) != wantN {
				t.Fatalf("validation requests = %d, want %d", len(vs), wantN)
			}
			for _, v := range vs {
				if v.method != http.MethodPost || !strings.HasPrefix(v.contentType, "text/plain") {
					t.Errorf("validation request %s with Content-Type %q, want POST text/plain", v.method, v.contentType)
				}
				if !strings.Contains(v.token, " ") || strings.Contains(v.rawQuery, " ") || v.rawQuery == "validationToken="+v.token {
					t.Errorf("validation token %q (raw query %q) is not an URL-encoded token with spaces", v.token, v.rawQuery)
				}
			}
		})
	}
}

func validationsOf(rv *receiver) []validation {
	if rv == nil {
		return nil
	}
	return rv.validations
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestSubscriptions_Quota(t *testing.T) {
	_, srv := MustServe(t, graphsim.Config{Seed: 3})
	rv := newReceiver(t)
	var first string
	for i := range 100 {
		id := MustSubscribe(t, srv, subBody(rv, testNow, "created"))
		if i == 0 {
			first = id
		}
	}
	r := MustDo(t, http.MethodPost, srv.URL+subsPath, subBody(rv, testNow, "created"))
	if r.status != http.StatusForbidden {
		t.Fatalf("101st subscription: status = %d, want 403; body %s", r.status, r.body)
	}
	graphError(t, r)
	if r := MustDo(t, http.MethodDelete, srv.URL+subsPath+"/"+first, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %d, want 204", r.status)
	}
	MustSubscribe(t, srv, subBody(rv, testNow, "created"))
}

func TestSubscriptions_Manage(t *testing.T) {
	clk := newClock(testNow)
	sim, srv := MustServe(t, graphsim.Config{Seed: 3, Now: clk.Now})
	rv := newReceiver(t)
	id := MustSubscribe(t, srv, subBody(rv, testNow, "created,updated"))
	other := MustSubscribe(t, srv, subBody(rv, testNow, "updated"))
	byID := srv.URL + subsPath + "/"

	var ids []string
	for _, v := range listSubscriptions(t, srv) {
		s, _ := obj(v)["id"].(string)
		ids = append(ids, s)
	}
	if want := []string{id, other}; !reflect.DeepEqual(ids, want) {
		t.Errorf("listed ids = %v, want %v", ids, want)
	}
	got := MustOK(t, MustGet(t, srv.Client(), byID+id), "get")
	if got["id"] != id || got["changeType"] != "created,updated" {
		t.Errorf("GET subscription = %v, want id %s changeType created,updated", got, id)
	}

	// Renew: the same 4230-minute rule as on create.
	renew := testNow.Add(4000 * time.Minute)
	r := MustDo(t, http.MethodPatch, byID+id, map[string]any{"expirationDateTime": renew.Format(time.RFC3339)})
	if r.status != http.StatusOK {
		t.Fatalf("PATCH = %d, want 200; body %s", r.status, r.body)
	}
	if exp := mustTime(t, MustDecode(t, r.body)["expirationDateTime"]); !exp.Equal(renew) {
		t.Errorf("renewed expirationDateTime = %v, want %v", exp, renew)
	}
	r = MustDo(t, http.MethodPatch, byID+id, map[string]any{"expirationDateTime": testNow.Add(4231 * time.Minute).Format(time.RFC3339)})
	if r.status != http.StatusBadRequest {
		t.Errorf("PATCH past 4230 minutes = %d, want 400", r.status)
	}
	if r := MustDo(t, http.MethodPost, byID+id+"/reauthorize", nil); r.status != http.StatusNoContent {
		t.Errorf("reauthorize = %d, want 204; body %s", r.status, r.body)
	}

	// Unknown ids are 404 everywhere.
	unknown := "00000000-0000-4000-8000-000000000000"
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, unknown, nil},
		{http.MethodPatch, unknown, map[string]any{"expirationDateTime": testNow.Add(time.Hour).Format(time.RFC3339)}},
		{http.MethodDelete, unknown, nil},
		{http.MethodPost, unknown + "/reauthorize", nil},
	} {
		if r := MustDo(t, c.method, byID+c.path, c.body); r.status != http.StatusNotFound {
			t.Errorf("%s %s = %d, want 404", c.method, c.path, r.status)
		} else if code := graphError(t, r); code == "" {
			t.Errorf("%s %s: error without a code", c.method, c.path)
		}
	}

	if r := MustDo(t, http.MethodDelete, byID+other, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %d, want 204", r.status)
	}
	if r := MustGet(t, srv.Client(), byID+other); r.status != http.StatusNotFound {
		t.Errorf("GET deleted subscription = %d, want 404", r.status)
	}

	// The renewed one outlives the original day; past its new expiration
	// it is gone.
	clk.Advance(30 * time.Hour)
	if got := sim.Subscriptions(); len(got) != 1 || got[0].ID != id {
		t.Errorf("Subscriptions() after 30 h = %+v, want only %s", got, id)
	}
	clk.Advance(4000*time.Minute - 30*time.Hour + time.Second)
	if got := sim.Subscriptions(); len(got) != 0 {
		t.Errorf("Subscriptions() after expiration = %+v, want none", got)
	}
	if r := MustGet(t, srv.Client(), byID+id); r.status != http.StatusNotFound {
		t.Errorf("GET expired subscription = %d, want 404", r.status)
	}
	if v := listSubscriptions(t, srv); len(v) != 0 {
		t.Errorf("list after expiration has %d subscriptions, want 0", len(v))
	}
}

func TestDeliver_NewlyPublished(t *testing.T) {
	clk := newClock(testNow)
	sim, srv := MustServe(t, graphsim.Config{Seed: 11, TenantID: subTenant, Now: clk.Now})
	rv := newReceiver(t)
	body := subBody(rv, testNow, "created")
	id := MustSubscribe(t, srv, body)
	before := visibleVersions(sim, clk.Now())

	// No backfill: records published before the subscription are not sent.
	if st := sim.Deliver(t.Context()); st != (graphsim.DeliveryStats{}) {
		t.Errorf("Deliver right after create = %+v, want nothing", st)
	}

	clk.Advance(12 * time.Hour)
	want := newlyPublished(before, visibleVersions(sim, clk.Now()))
	if len(want) < 11 {
		t.Fatalf("only %d records published in 12 h; the test needs more than one batch", len(want))
	}
	st := sim.Deliver(t.Context())
	bs := rv.take()
	ns := notes(t, bs, notifyPath)
	var got []string
	for _, n := range ns {
		if n.ChangeType != "created" {
			t.Errorf("changeType = %q, want created", n.ChangeType)
		}
		got = append(got, n.ResourceData.ID)
	}
	slices.Sort(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notified ids = %v, want the newly published %v", got, want)
	}
	if want := (graphsim.DeliveryStats{Posts: len(bs), Notifications: len(want)}); st != want {
		t.Errorf("Deliver = %+v, want %+v", st, want)
	}
	exp := testNow.Add(24 * time.Hour)
	for _, b := range bs {
		if len(b.items) == 0 || len(b.items) > 10 {
			t.Errorf("batch of %d notifications, want 1 to 10", len(b.items))
		}
		if !strings.HasPrefix(b.contentType, "application/json") {
			t.Errorf("notification Content-Type = %q, want application/json", b.contentType)
		}
		for _, raw := range b.items {
			wantKeys := []string{"subscriptionId", "clientState", "changeType", "resource", "subscriptionExpirationDateTime", "resourceData", "tenantId"}
			if keys := keysInOrder(t, raw); !reflect.DeepEqual(keys, wantKeys) {
				t.Errorf("notification keys = %v, want %v", keys, wantKeys)
			}
			var n notification
			_ = json.Unmarshal(raw, &n)
			var top struct {
				ResourceData json.RawMessage `json:"resourceData"`
			}
			_ = json.Unmarshal(raw, &top)
			rd := keysInOrder(t, top.ResourceData)
			if want := []string{"@odata.type", "@odata.id", "id"}; !reflect.DeepEqual(rd, want) {
				t.Errorf("resourceData keys = %v, want %v", rd, want)
			}
			res := "communications/callRecords/" + n.ResourceData.ID
			if n.SubscriptionID != id || n.ClientState == nil || *n.ClientState != subSecret || n.TenantID != subTenant ||
				n.Resource != res || n.ResourceData.OData != res || n.ResourceData.Type != "#Microsoft.Graph.callRecord" {
				t.Errorf("notification %s does not match subscription %s, tenant %s", raw, id, subTenant)
			}
			if e := mustTime(t, n.SubscriptionExpirationDateTime); !e.Equal(exp) {
				t.Errorf("subscriptionExpirationDateTime = %v, want %v", e, exp)
			}
		}
	}
	// Everything was acknowledged: nothing more until something changes.
	if st := sim.Deliver(t.Context()); st != (graphsim.DeliveryStats{}) {
		t.Errorf("second Deliver at the same Now = %+v, want nothing", st)
	}
}

func TestDeliver_UpdatesAndBumps(t *testing.T) {
	clk := newClock(testNow)
	sim, srv := MustServe(t, graphsim.Config{Seed: 5, Now: clk.Now})
	rv := newReceiver(t)
	types := []string{"created", "updated", "created,updated"}
	subOf := map[string]string{}
	for _, ct := range types {
		subOf[MustSubscribe(t, srv, subBody(rv, testNow, ct))] = ct
	}
	before := visibleVersions(sim, clk.Now())
	recent := sim.Truth(testNow.Add(-3*24*time.Hour), testNow).IDs
	bumped := recent[len(recent)-3:]
	for _, id := range append(slices.Clone(bumped), bumped[0]) {
		if !sim.Bump(id) {
			t.Fatalf("Bump(%s) = false", id)
		}
	}
	clk.Advance(12 * time.Hour)
	after := visibleVersions(sim, clk.Now())

	// The oracle: a subscription to created hears of each new record once;
	// one to updated hears of every version (the first included); both
	// hear created for the first and updated for the later ones.
	want := map[string]map[string]int{}
	for _, ct := range types {
		want[ct] = map[string]int{}
	}
	for id, v1 := range after {
		v0, seen := before[id]
		if !seen {
			want["created"]["created "+id]++
			want["created,updated"]["created "+id]++
		}
		for range v1 - v0 {
			want["updated"]["updated "+id]++
		}
		for range v1 - max(v0, 1) {
			want["created,updated"]["updated "+id]++
		}
	}
	if n := len(want["updated"]) - len(want["created"]); n <= len(bumped) {
		t.Fatalf("only %d records changed in 12 h besides the new ones; the test needs scheduled versions too", n)
	}

	st := sim.Deliver(t.Context())
	got := map[string]map[string]int{}
	for _, ct := range types {
		got[ct] = map[string]int{}
	}
	ns := notes(t, rv.take(), notifyPath)
	for _, n := range ns {
		got[subOf[n.SubscriptionID]][n.ChangeType+" "+n.ResourceData.ID]++
	}
	for _, ct := range types {
		if !reflect.DeepEqual(got[ct], want[ct]) {
			t.Errorf("changeType %s: notified %v, want %v", ct, got[ct], want[ct])
		}
	}
	if st.Notifications != len(ns) || st.Failed != 0 {
		t.Errorf("Deliver = %+v, want %d notifications and none failed", st, len(ns))
	}

	// A bump at an unchanged Now is still delivered, once.
	if !sim.Bump(bumped[1]) {
		t.Fatalf("Bump(%s) = false", bumped[1])
	}
	sim.Deliver(t.Context())
	got2 := map[string][]string{}
	for _, n := range notes(t, rv.take(), notifyPath) {
		got2[subOf[n.SubscriptionID]] = append(got2[subOf[n.SubscriptionID]], n.ChangeType+" "+n.ResourceData.ID)
	}
	want2 := map[string][]string{"updated": {"updated " + bumped[1]}, "created,updated": {"updated " + bumped[1]}}
	if !reflect.DeepEqual(got2, want2) {
		t.Errorf("after one more Bump: notified %v, want %v", got2, want2)
	}
	if st := sim.Deliver(t.Context()); st.Posts != 0 {
		t.Errorf("Deliver with nothing new = %+v, want no posts", st)
	}

	// A subscription made after a bump does not hear of it; older ones do.
	if !sim.Bump(bumped[2]) {
		t.Fatalf("Bump(%s) = false", bumped[2])
	}
	late := MustSubscribe(t, srv, subBody(rv, clk.Now(), "updated"))
	sim.Deliver(t.Context())
	got3 := map[string][]string{}
	for _, n := range notes(t, rv.take(), notifyPath) {
		ct := subOf[n.SubscriptionID]
		if n.SubscriptionID == late {
			ct = "late"
		}
		got3[ct] = append(got3[ct], n.ChangeType+" "+n.ResourceData.ID)
	}
	want3 := map[string][]string{"updated": {"updated " + bumped[2]}, "created,updated": {"updated " + bumped[2]}}
	if !reflect.DeepEqual(got3, want3) {
		t.Errorf("bump before a new subscription: notified %v, want %v", got3, want3)
	}
}

func TestDeliver_ParticipantFilter(t *testing.T) {
	cfg := graphsim.Config{Seed: 21}
	// Peek at what a twin tenant publishes in the next 12 hours to pick
	// users that took part in some of those calls.
	later := testNow.Add(12 * time.Hour)
	peek := graphsim.New(graphsim.Config{Seed: cfg.Seed, Now: func() time.Time { return later }})
	fresh := newlyPublished(visibleVersions(graphsim.New(graphsim.Config{Seed: cfg.Seed, Now: func() time.Time { return testNow }}), testNow), visibleVersions(peek, later))
	partsOf := map[string][]string{}
	count := map[string]int{}
	for _, id := range fresh {
		var rec struct {
			Participants []struct {
				ID       string `json:"id"`
				Identity struct {
					User *struct{} `json:"user"`
				} `json:"identity"`
			} `json:"participants_v2"`
		}
		raw, _ := peek.Record(id)
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		for _, p := range rec.Participants {
			if p.Identity.User != nil && guidRE.MatchString(p.ID) && !slices.Contains(partsOf[id], p.ID) {
				partsOf[id] = append(partsOf[id], p.ID)
				count[p.ID]++
			}
		}
	}
	var users []string
	for u, n := range count {
		if n < len(fresh)/2 {
			users = append(users, u)
		}
	}
	slices.Sort(users)
	if len(users) < 2 {
		t.Fatalf("found %d users in a minority of the %d new records, want 2", len(users), len(fresh))
	}
	u1, u2 := users[0], users[len(users)-1]
	wantFor := func(us ...string) []string {
		var out []string
		for _, id := range fresh {
			for _, u := range us {
				if slices.Contains(partsOf[id], u) {
					out = append(out, id)
					break
				}
			}
		}
		return out
	}
	tests := []struct {
		name, filter string
		want         []string
	}{
		{"eq", "participants/any(p:p/id eq '" + u1 + "')", wantFor(u1)},
		{"or", "participants/any(x:x/id eq '" + u1 + "' or x/id eq '" + strings.ToUpper(u2) + "')", wantFor(u1, u2)},
		{"in", "participants/any(p:p/id in ('" + u1 + "', '" + u2 + "'))", wantFor(u1, u2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(testNow)
			cfg := cfg
			cfg.Now = clk.Now
			sim, srv := MustServe(t, cfg)
			rv := newReceiver(t)
			body := subBody(rv, testNow, "created")
			body["resource"] = "/communications/callRecords?$filter=" + tt.filter
			MustSubscribe(t, srv, body)
			clk.Advance(12 * time.Hour)
			sim.Deliver(t.Context())
			var got []string
			for _, n := range notes(t, rv.take(), notifyPath) {
				got = append(got, n.ResourceData.ID)
			}
			slices.Sort(got)
			want := sortedCopy(tt.want)
			if len(want) == 0 || len(want) == len(fresh) {
				t.Fatalf("filter %s selects %d of %d records; the test needs a proper subset", tt.filter, len(want), len(fresh))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("filter %s: notified %v, want %v", tt.filter, got, want)
			}
		})
	}
}

func TestDeliver_RetriesUnacknowledged(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(rv *receiver)
	}{
		{"500", func(rv *receiver) { rv.failing = true }},
		{"no answer in time", func(rv *receiver) { rv.stalling = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(testNow)
			sim, srv := MustServe(t, graphsim.Config{Seed: 9, Now: clk.Now})
			graphsim.SetSubscriptionTimeouts(sim, 0, 100*time.Millisecond)
			rv := newReceiver(t)
			MustSubscribe(t, srv, subBody(rv, testNow, "created"))
			clk.Advance(6 * time.Hour)
			rv.set(tt.breakIt)
			st := sim.Deliver(t.Context())
			first := keyed(notes(t, rv.take(), notifyPath))
			if st.Failed == 0 || st.Notifications != 0 || st.Failed != len(first) {
				t.Fatalf("Deliver to a broken endpoint = %+v with %d sent, want all %d failed", st, len(first), len(first))
			}
			rv.set(func(rv *receiver) { rv.failing, rv.stalling = false, false })
			st = sim.Deliver(t.Context())
			second := keyed(notes(t, rv.take(), notifyPath))
			if !reflect.DeepEqual(sortedCopy(second), sortedCopy(first)) {
				t.Errorf("retried %v, want the failed %v", second, first)
			}
			if st.Notifications != len(first) || st.Failed != 0 {
				t.Errorf("retry Deliver = %+v, want %d notifications", st, len(first))
			}
			if st := sim.Deliver(t.Context()); st.Posts != 0 {
				t.Errorf("Deliver after the retry succeeded = %+v, want no posts", st)
			}
		})
	}
}

func TestDeliver_GivesUpAfterFourHours(t *testing.T) {
	clk := newClock(testNow)
	sim, srv := MustServe(t, graphsim.Config{Seed: 9, Now: clk.Now})
	rv := newReceiver(t)
	MustSubscribe(t, srv, subBody(rv, testNow, "created"))
	clk.Advance(6 * time.Hour)
	rv.set(func(rv *receiver) { rv.failing = true })
	sim.Deliver(t.Context())
	first := keyed(notes(t, rv.take(), notifyPath))
	if len(first) == 0 {
		t.Fatal("nothing published in 6 h")
	}
	rv.set(func(rv *receiver) { rv.failing = false })
	clk.Advance(4*time.Hour + time.Minute)
	sim.Deliver(t.Context())
	for _, k := range keyed(notes(t, rv.take(), notifyPath)) {
		if slices.Contains(first, k) {
			t.Errorf("%s retried more than 4 hours after its first try", k)
		}
	}
}

func TestDeliver_Quirks(t *testing.T) {
	tests := []struct {
		name   string
		quirks graphsim.DeliveryQuirks
	}{
		{"duplicates", graphsim.DeliveryQuirks{Duplicates: true}},
		{"shuffle", graphsim.DeliveryQuirks{Shuffle: true}},
		{"lifecycle", graphsim.DeliveryQuirks{Lifecycle: true}},
		{"all", graphsim.DeliveryQuirks{Duplicates: true, Shuffle: true, Lifecycle: true}},
	}
	// run delivers 12 hours of changes to a fresh tenant and returns the
	// received change notifications in order, the lifecycle events and the
	// stats.
	run := func(t *testing.T, q graphsim.DeliveryQuirks) ([]string, []notification, graphsim.DeliveryStats, string) {
		clk := newClock(testNow)
		sim, srv := MustServe(t, graphsim.Config{Seed: 13, TenantID: subTenant, Now: clk.Now})
		sim.SetDeliveryQuirks(q)
		rv := newReceiver(t)
		body := subBody(rv, testNow, "created,updated")
		body["lifecycleNotificationUrl"] = rv.srv.URL + lifePath
		id := MustSubscribe(t, srv, body)
		clk.Advance(12 * time.Hour)
		st := sim.Deliver(t.Context())
		bs := rv.take()
		for _, b := range bs {
			if len(b.items) > 10 {
				t.Errorf("batch of %d notifications, want at most 10", len(b.items))
			}
		}
		return keyed(notes(t, bs, notifyPath)), notes(t, bs, lifePath), st, id
	}
	plain, life, _, _ := run(t, graphsim.DeliveryQuirks{})
	if len(plain) < 2 || len(life) != 0 {
		t.Fatalf("without quirks: %d notifications and %d lifecycle events, want at least 2 and none", len(plain), len(life))
	}
	set := func(xs []string) []string { return slices.Compact(sortedCopy(xs)) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, life, st, id := run(t, tt.quirks)
			if !reflect.DeepEqual(set(got), set(plain)) {
				t.Errorf("distinct notifications %v, want %v", set(got), set(plain))
			}
			if tt.quirks.Duplicates != (len(got) > len(plain)) {
				t.Errorf("%d notifications for %d changes; duplicates on: %v", len(got), len(plain), tt.quirks.Duplicates)
			}
			if !tt.quirks.Duplicates && !tt.quirks.Shuffle && !reflect.DeepEqual(got, plain) {
				t.Errorf("order %v, want %v", got, plain)
			}
			if tt.quirks.Shuffle && slices.Equal(got[:len(plain)], plain) {
				t.Errorf("shuffled delivery kept the natural order %v", plain)
			}
			if !tt.quirks.Lifecycle {
				if len(life) != 0 {
					t.Errorf("%d lifecycle events without the quirk", len(life))
				}
				return
			}
			if len(life) != 1 || st.Lifecycle != 1 {
				t.Fatalf("lifecycle events = %d (stats %+v), want 1", len(life), st)
			}
			e := life[0]
			if e.LifecycleEvent != "reauthorizationRequired" || e.SubscriptionID != id || e.TenantID != subTenant ||
				e.ClientState == nil || *e.ClientState != subSecret || e.SubscriptionExpirationDateTime == "" {
				t.Errorf("lifecycle event %+v, want reauthorizationRequired for %s", e, id)
			}
		})
	}
}

func TestDeliver_ExpiredSubscription(t *testing.T) {
	clk := newClock(testNow)
	sim, srv := MustServe(t, graphsim.Config{Seed: 9, Now: clk.Now})
	rv := newReceiver(t)
	body := subBody(rv, testNow, "created,updated")
	body["expirationDateTime"] = testNow.Add(time.Hour).Format(time.RFC3339)
	MustSubscribe(t, srv, body)
	recent := sim.Truth(testNow.Add(-24*time.Hour), testNow).IDs
	sim.Bump(recent[len(recent)-1])
	clk.Advance(6 * time.Hour)
	if st := sim.Deliver(t.Context()); st != (graphsim.DeliveryStats{}) {
		t.Errorf("Deliver to an expired subscription = %+v, want nothing", st)
	}
	if bs := rv.take(); len(bs) != 0 {
		t.Errorf("expired subscription received %d posts", len(bs))
	}
	if got := sim.Subscriptions(); len(got) != 0 {
		t.Errorf("Subscriptions() = %+v, want none", got)
	}
}

// listSubscriptions GETs the subscriptions collection, following every
// @odata.nextLink, and returns its items.
func listSubscriptions(tb testing.TB, srv *httptest.Server) []any {
	tb.Helper()
	var items []any
	for u, pages := srv.URL+subsPath, 0; u != ""; pages++ {
		if pages == 100 {
			tb.Fatalf("GET subscriptions: still paging after %d pages", pages)
		}
		page := MustOK(tb, MustGet(tb, srv.Client(), u), "list subscriptions")
		items = append(items, arr(page["value"])...)
		u, _ = page["@odata.nextLink"].(string)
	}
	return items
}
