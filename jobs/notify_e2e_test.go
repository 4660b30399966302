package jobs_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/notify"
)

// TestNotifications_EndToEnd: subscribe against the simulator (which runs the
// validation handshake against our receiver), let it deliver notifications for
// new and updated records (with duplicates, reordering and a lifecycle event),
// and drain them with a run: the lake has each record once, at its newest
// version. A forged notification is rejected and records nothing.
func TestNotifications_EndToEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	// The receiver as `notifications serve` runs it, on a port of its own.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	receiverURL := "http://" + ln.Addr().String()
	ln.Close()
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- jobs.ServeNotifications(ctx, f.config(), jobs.ServeOptions{Listen: strings.TrimPrefix(receiverURL, "http://"), ClientState: clientState})
	}()
	stopped := false
	stopServing := func() {
		if !stopped {
			stopped = true
			stop()
			if err := <-served; err != nil {
				t.Errorf("ServeNotifications = %v", err)
			}
		}
	}
	defer stopServing()
	waitListening(t, receiverURL)

	cfg := f.config()
	subs, err := jobs.Subscribe(context.Background(), cfg, jobs.SubscribeOptions{
		NotificationURL: receiverURL + "/notifications", LifecycleURL: receiverURL + "/lifecycle", ClientState: clientState,
	})
	if err != nil || len(subs) != 1 {
		t.Fatalf("Subscribe = %v, %v", subs, err)
	}
	// Idempotent: a second call renews the same subscription.
	again, err := jobs.Subscribe(context.Background(), cfg, jobs.SubscribeOptions{
		NotificationURL: receiverURL + "/notifications", LifecycleURL: receiverURL + "/lifecycle", ClientState: clientState,
	})
	if err != nil || len(again) != 1 || again[0].ID != subs[0].ID || len(f.sim.Subscriptions()) != 1 {
		t.Fatalf("second Subscribe = %v, %v; want the same one renewed", again, err)
	}
	firstExpiry := again[0].ExpirationDateTime

	before := f.clock.Now()
	f.clock.Add(3 * time.Hour) // records get published
	f.sim.SetDeliveryQuirks(graphsim.DeliveryQuirks{Duplicates: true, Shuffle: true, Lifecycle: true})
	sent := time.Now()
	st := f.sim.Deliver(context.Background())
	if st.Notifications == 0 || st.Failed != 0 {
		t.Fatalf("Deliver = %+v, want notifications delivered", st)
	}
	drain := func(c *jobs.Config) { c.Datasets = []string{jobs.DatasetNotifications} }
	f.MustRun(t, drain)
	t.Logf("notification -> committed row: %s for %d notifications (%d posts)", time.Since(sent).Round(time.Millisecond), st.Notifications, st.Posts)

	published := f.sim.Truth(before.Add(-jobs.Retention), f.clock.Now())
	old := f.sim.Truth(before.Add(-jobs.Retention), before)
	isOld := map[string]bool{}
	for _, id := range old.IDs {
		isOld[id] = true
	}
	var fresh []string
	for _, id := range published.IDs {
		if !isOld[id] {
			fresh = append(fresh, id)
		}
	}
	rows := callRecords(t, f.dest)
	stored := map[string]int64{}
	for _, r := range rows {
		if _, dup := stored[r.CallRecordID]; dup {
			t.Errorf("record %s stored twice", r.CallRecordID)
		}
		stored[r.CallRecordID] = r.Version
	}
	for _, id := range fresh {
		if _, ok := stored[id]; !ok {
			t.Errorf("notified record %s not in the lake", id)
		}
	}
	if len(fresh) == 0 {
		t.Fatal("no record was published in the 3 hours: the test proves nothing")
	}
	if left := inboxIDs(t, f.dest); len(left) != 0 {
		t.Errorf("inbox not drained: %v", left)
	}

	// An update: bump a stored record, deliver, drain: newest version, once.
	id := fresh[0]
	f.sim.Bump(id)
	f.clock.Add(time.Minute)
	f.sim.Deliver(context.Background())
	f.MustRun(t, drain)
	want, _ := f.sim.Version(id)
	n := 0
	for _, r := range callRecords(t, f.dest) {
		if r.CallRecordID == id {
			n++
			if r.Version != want {
				t.Errorf("record %s at version %d, want %d", id, r.Version, want)
			}
		}
	}
	if n != 1 {
		t.Errorf("record %s stored %d times", id, n)
	}

	// A forged notification (wrong clientState) is refused and records nothing.
	resp, err := http.Post(receiverURL+"/notifications", "application/json", strings.NewReader(notificationBody("forged", tenant, "ffffffff-0000-0000-0000-000000000000")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(inboxIDs(t, f.dest)) != 0 {
		t.Errorf("forged notification: status %d, inbox %v", resp.StatusCode, inboxIDs(t, f.dest))
	}

	// The reauthorizationRequired event was answered with a renewal, done
	// before the server returned.
	stopServing()
	if subs := f.sim.Subscriptions(); len(subs) != 1 || !subs[0].Expiration.After(firstExpiry.Add(3*time.Hour)) {
		t.Errorf("subscriptions after a reauthorizationRequired event = %+v, want the one renewed past %s", subs, firstExpiry.Add(3*time.Hour))
	}
}

// waitListening waits until a server answers at url.
func waitListening(t *testing.T, url string) {
	t.Helper()
	for range 200 {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing listening at %s", url)
}

// TestNotifications_CrashBeforeCommit: a drain that fails before its commit
// keeps every inbox entry, and the next drain loses nothing.
func TestNotifications_CrashBeforeCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	truth := f.sim.Truth(f.clock.Now().Add(-jobs.Retention), f.clock.Now())
	h := notify.NewReceiver(notify.Config{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, f.dest), Logger: testLogger()})
	ids := truth.IDs[:5]
	if rec := post(t, h, "/n", notificationBody(clientState, tenant, ids...)); rec.Code != 202 {
		t.Fatal(rec.Code)
	}
	fs := &faultyStore{Store: mustLocal(t, f.dest), failAt: 6} // lease, probe and a few data files pass, then writes fail
	if _, err := f.run(t, func(c *jobs.Config) { c.Datasets, c.Store = []string{jobs.DatasetNotifications}, fs }); !errors.Is(err, errInjected) {
		t.Fatalf("faulty drain = %v, want the injected error", err)
	}
	if got := inboxIDs(t, f.dest); len(got) != len(ids) {
		t.Fatalf("inbox after a failed drain = %v, want all %d entries kept", got, len(ids))
	}
	expireLease(t, f.dest)
	f.MustRun(t, func(c *jobs.Config) { c.Datasets = []string{jobs.DatasetNotifications} })
	if got := len(callRecords(t, f.dest)); got != len(ids) {
		t.Errorf("lake holds %d records after the second drain, want %d", got, len(ids))
	}
	if got := inboxIDs(t, f.dest); len(got) != 0 {
		t.Errorf("inbox = %v, want drained", got)
	}
}
