// Package notify receives Microsoft Graph change notifications on call
// records: it answers Graph's validation handshake, checks every
// notification's clientState and tenant, and records each notified id in the
// lake's inbox (package lake) before acknowledging it. A run drains the inbox.
package notify

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
)

// validID is what a call record id may look like (a GUID, in practice); anything
// else in a notification is refused rather than used to build a key.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Config configures the change-notification endpoint.
type Config struct {
	TenantID    string
	ClientState string // the secret given to Graph when subscribing; never logged
	Store       load.Store
	Logger      *slog.Logger
	// MaxBody bounds a request body (default 1 MiB; Graph batches are small).
	MaxBody int64
	// Reauthorize answers a reauthorizationRequired lifecycle event (e.g. by
	// renewing the subscription). It runs after the event is acknowledged.
	Reauthorize func(ctx context.Context, subscriptionID string) error
	Now         func() time.Time
}

// NewReceiver returns the HTTP handler Graph posts change notifications and
// lifecycle events to. It answers the validation handshake (echoing the decoded
// validationToken as text/plain), checks clientState and tenant on every
// notification, records each notified id durably and only then answers 202.
func NewReceiver(cfg Config) *Receiver {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Receiver{cfg: cfg, lake: lake.New(cfg.Store, cfg.TenantID, "", cfg.Now)}
}

// Receiver is the change-notification endpoint (an http.Handler). Besides
// the POSTs of Graph on any path, it answers GET /healthz (200 when the store
// answers, for a readiness probe) and GET /metrics (Prometheus text format).
type Receiver struct {
	cfg  Config
	lake *lake.Lake
	bg   sync.WaitGroup

	// Counters for /metrics.
	received, recorded, refused, storeErrors atomic.Int64
}

type notification struct {
	SubscriptionID string `json:"subscriptionId"`
	ClientState    string `json:"clientState"`
	ChangeType     string `json:"changeType"`
	Resource       string `json:"resource"`
	TenantID       string `json:"tenantId"`
	LifecycleEvent string `json:"lifecycleEvent"`
	ResourceData   struct {
		ID string `json:"id"`
	} `json:"resourceData"`
}

func (h *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.cfg.Logger
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		switch r.URL.Path {
		case "/healthz":
			h.healthz(w, r)
			return
		case "/metrics":
			h.metrics(w)
			return
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if tok, ok := r.URL.Query()["validationToken"]; ok {
		// Graph's handshake: answer the decoded token, as text, within 10 s.
		if len(tok) != 1 || len(tok[0]) > 4096 {
			http.Error(w, "bad validationToken", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// The token is echoed verbatim: no browser may take it for HTML.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, tok[0])
		log.Info("subscription validation answered", "path", r.URL.Path)
		return
	}
	var body struct {
		Value []notification `json:"value"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		var netErr net.Error
		h.refused.Add(1)
		switch {
		case errors.As(err, &tooBig):
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
			http.Error(w, "body not received in time", http.StatusRequestTimeout)
			log.Warn("notification body not received in time; Graph delivers again", "err", err)
		default:
			http.Error(w, "malformed notification body", http.StatusBadRequest)
			log.Warn("malformed notification refused", "err", err)
		}
		return
	}
	if len(body.Value) == 0 {
		h.refused.Add(1)
		http.Error(w, "no notifications", http.StatusBadRequest)
		return
	}
	h.received.Add(int64(len(body.Value)))
	var rejected int
	var entries []lake.InboxEntry
	for _, n := range body.Value {
		// Tenant ids are GUIDs: case does not matter.
		if subtle.ConstantTimeCompare([]byte(n.ClientState), []byte(h.cfg.ClientState)) != 1 || !strings.EqualFold(n.TenantID, h.cfg.TenantID) {
			rejected++
			continue
		}
		if n.LifecycleEvent != "" {
			h.lifecycle(n)
			continue
		}
		id := n.ResourceData.ID
		if id == "" {
			id = path.Base(n.Resource)
		}
		if !validID.MatchString(id) || !strings.Contains(strings.ToLower(n.Resource), "callrecords") {
			rejected++
			continue
		}
		entries = append(entries, lake.InboxEntry{ID: id, ChangeType: n.ChangeType, SubscriptionID: n.SubscriptionID, ReceivedAt: h.cfg.Now().UTC()})
	}
	for _, e := range entries {
		if err := h.lake.Notify(r.Context(), e); err != nil {
			h.storeErrors.Add(1)
			// Not acknowledged: Graph delivers it again.
			log.Error("notification not recorded", "id", e.ID, "err", err)
			http.Error(w, "not recorded, retry", http.StatusServiceUnavailable)
			return
		}
		h.recorded.Add(1)
	}
	if len(entries) > 0 {
		log.Info("notifications recorded", "ids", len(entries))
	}
	if rejected > 0 {
		h.refused.Add(int64(rejected))
		log.Warn("notifications rejected: wrong clientState, tenant or resource", "rejected", rejected)
		http.Error(w, "rejected", http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// lifecycle handles a lifecycle event after the request is acknowledged.
func (h *Receiver) lifecycle(n notification) {
	log := h.cfg.Logger.With("subscription", n.SubscriptionID, "event", n.LifecycleEvent)
	switch n.LifecycleEvent {
	case "reauthorizationRequired":
		if h.cfg.Reauthorize == nil {
			log.Warn("reauthorization required; run `subscribe` to renew")
			return
		}
		h.bg.Add(1)
		go func() {
			defer h.bg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := h.cfg.Reauthorize(ctx, n.SubscriptionID); err != nil {
				log.Error("reauthorization failed", "err", err)
				return
			}
			log.Info("subscription reauthorized")
		}()
	case "missed":
		log.Warn("Graph missed notifications; the scheduled run's window catches the records")
	default:
		log.Warn("lifecycle event")
	}
}

// errFound stops the listing of healthz at its first object.
var errFound = errors.New("found")

// healthz answers 200 when the store answers — the inbox can be listed: the
// bucket or container exists and the receiver's identity may read it (a
// local directory that does not exist yet is created by the first write) —
// else 503: a receiver that cannot record notifications should get none
// (Graph delivers them again).
func (h *Receiver) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	err := h.cfg.Store.List(ctx, "_etl/inbox/"+h.cfg.TenantID+"/", func(load.Object) error { return errFound })
	if errors.Is(err, errFound) {
		err = nil
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		h.storeErrors.Add(1)
		h.cfg.Logger.Warn("health check: the store does not answer", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// metrics writes the counters in Prometheus' text format.
func (h *Receiver) metrics(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	for _, m := range []struct {
		name, help string
		v          *atomic.Int64
	}{
		{"callrecords_etl_notifications_received_total", "Change notifications received in well-formed requests.", &h.received},
		{"callrecords_etl_notifications_recorded_total", "Notified call record ids recorded in the inbox.", &h.recorded},
		{"callrecords_etl_notifications_refused_total", "Notifications refused (wrong clientState, tenant or resource) and malformed requests.", &h.refused},
		{"callrecords_etl_notifications_store_errors_total", "Failed inbox writes and failed store health checks.", &h.storeErrors},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", m.name, m.help, m.name, m.name, m.v.Load())
	}
}

// Wait blocks until background lifecycle work (reauthorizations) is done.
func (h *Receiver) Wait() { h.bg.Wait() }
