package graphsim

import (
	"sync"
	"time"
)

// window is a sliding-window log of admitted requests (times since the
// throttler started, ascending).
type window struct{ hits []time.Duration }

func (w *window) prune(now, size time.Duration) {
	i := 0
	for i < len(w.hits) && w.hits[i] <= now-size {
		i++
	}
	if i > 0 {
		w.hits = w.hits[i:]
	}
}

// wait is how long until one more request fits, 0 if it fits now.
func (w *window) wait(now, size time.Duration, limit int) time.Duration {
	w.prune(now, size)
	if len(w.hits) < limit {
		return 0
	}
	return w.hits[len(w.hits)-limit] + size - now
}

// throttler enforces the documented call-records limits (reference §4.1).
//
// Its clock is the larger of real time and simulated time elapsed since the
// simulator was made. A fixed simulated clock (tests, demo) therefore
// throttles in real time, and a test that advances a fake clock frees the
// windows without sleeping.
type throttler struct {
	mu        sync.Mutex
	lim       Limits
	now       func() time.Time
	realStart time.Time
	simStart  time.Time
	last      time.Duration
	app, list window
	rec       map[string]*window
	// PSTN usage functions (reference §4.2): their own limits, not counted
	// against the call-records windows.
	usageApp  window
	usageColl map[string]*window
}

func newThrottler(lim Limits, now func() time.Time) *throttler {
	return &throttler{lim: lim, now: now, realStart: time.Now(), simStart: now(), rec: map[string]*window{}, usageColl: map[string]*window{}}
}

func (t *throttler) clock() time.Duration {
	c := max(time.Since(t.realStart), t.now().Sub(t.simStart))
	if c < t.last {
		c = t.last
	}
	t.last = c
	return c
}

// admit records a request of the given kind (and call record id, for
// per-record kinds) if every applicable window has room; otherwise it
// returns how long until it would.
func (t *throttler) admit(kind, recID string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock()
	if kind == kindPstn || kind == kindDirectRouting {
		return t.admitUsage(now, kind)
	}
	size := t.lim.Window
	wait := t.app.wait(now, size, t.lim.PerAppPerTenant)
	var rw *window
	switch kind {
	case kindList:
		wait = max(wait, t.list.wait(now, size, t.lim.List))
	case kindGet, kindSessions, kindParticipants:
		rw = t.rec[recID]
		if rw == nil {
			if len(t.rec) > 4096 {
				t.sweep(now, size)
			}
			rw = &window{}
			t.rec[recID] = rw
		}
		wait = max(wait, rw.wait(now, size, t.lim.PerRecord))
	}
	if wait > 0 {
		return wait, false
	}
	t.app.hits = append(t.app.hits, now)
	switch {
	case kind == kindList:
		t.list.hits = append(t.list.hits, now)
	case rw != nil:
		rw.hits = append(rw.hits, now)
	}
	return 0, true
}

// sweep forgets per-record windows that have emptied.
func (t *throttler) sweep(now, size time.Duration) {
	for id, w := range t.rec {
		if w.prune(now, size); len(w.hits) == 0 {
			delete(t.rec, id)
		}
	}
}

// admitUsage admits a PSTN usage-function request (kind is the collection)
// against the per-app-per-tenant and per-collection windows.
func (t *throttler) admitUsage(now time.Duration, kind string) (time.Duration, bool) {
	size := t.lim.UsageWindow
	cw := t.usageColl[kind]
	if cw == nil {
		cw = &window{}
		t.usageColl[kind] = cw
	}
	if wait := max(t.usageApp.wait(now, size, t.lim.UsagePerAppPerTenant), cw.wait(now, size, t.lim.UsagePerCollection)); wait > 0 {
		return wait, false
	}
	t.usageApp.hits = append(t.usageApp.hits, now)
	cw.hits = append(cw.hits, now)
	return 0, true
}
