package extract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

// MaxSubscriptionLifetime is the longest Graph keeps a callRecord
// subscription: 4,230 minutes (just under three days) from now.
const MaxSubscriptionLifetime = 4230 * time.Minute

// maxClientState is Graph's limit on clientState, in characters.
const maxClientState = 128

// ErrOutcomeUnknown is matched (errors.Is) by the error of a request that must
// not be repeated blindly (CreateSubscription) when it failed after it may
// have reached Graph: a timeout, a connection lost before the response, a
// 5xx, or cancellation. Graph may or may not have acted on it; list the
// subscriptions before creating again.
var ErrOutcomeUnknown = errors.New("outcome unknown: graph may have acted on the request")

// Subscription is a Graph change-notification subscription
// (/v1.0/subscriptions). Its String and LogValue hide ClientState.
type Subscription struct {
	// ID is assigned by Graph on creation.
	ID string `json:"id,omitempty"`
	// Resource is the watched resource, e.g. "/communications/callRecords".
	Resource string `json:"resource"`
	// ChangeType is "created", "updated" or a comma-separated list.
	ChangeType string `json:"changeType"`
	// NotificationURL receives the notifications; Graph validates it on
	// creation with a POST ?validationToken=… that must be echoed.
	NotificationURL string `json:"notificationUrl"`
	// LifecycleNotificationURL receives reauthorizationRequired and similar
	// events; it is validated like NotificationURL and cannot be added later.
	LifecycleNotificationURL string `json:"lifecycleNotificationUrl,omitempty"`
	// ExpirationDateTime is when Graph drops the subscription: at most
	// MaxSubscriptionLifetime ahead.
	ExpirationDateTime time.Time `json:"expirationDateTime"`
	// ClientState is a secret of at most 128 characters that Graph echoes in
	// every notification. It is never logged nor put in an error.
	ClientState string `json:"clientState,omitempty"`
}

// String prints the subscription with ClientState redacted.
func (s Subscription) String() string {
	return fmt.Sprintf("{ID:%s Resource:%s ChangeType:%s NotificationURL:%s LifecycleNotificationURL:%s ExpirationDateTime:%s ClientState:%s}",
		s.ID, s.Resource, s.ChangeType, s.NotificationURL, s.LifecycleNotificationURL,
		s.ExpirationDateTime.Format(time.RFC3339Nano), redact(s.ClientState))
}

// LogValue logs the subscription without ClientState.
func (s Subscription) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", s.ID),
		slog.String("resource", s.Resource),
		slog.String("changeType", s.ChangeType),
		slog.String("notificationUrl", s.NotificationURL),
		slog.Time("expirationDateTime", s.ExpirationDateTime),
	)
}

func (c *Client) subscriptionsURL() string { return c.versionPath() + "/subscriptions" }

func (c *Client) subscriptionURL(id string) string {
	return c.subscriptionsURL() + "/" + url.PathEscape(id)
}

// ListSubscriptions returns every subscription of the application (GET
// /v1.0/subscriptions, all @odata.nextLink pages), whatever their resource.
func (c *Client) ListSubscriptions(ctx context.Context) ([]Subscription, error) {
	var subs []Subscription
	err := c.pages(ctx, nil, endpointSubs, c.subscriptionsURL(), func(pageURL string, values []json.RawMessage) error {
		for i, v := range values {
			var s Subscription
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("decode subscription %d of page %s: %w", i, pageURL, err)
			}
			if s.ID == "" {
				return fmt.Errorf("decode subscription %d of page %s: no id", i, pageURL)
			}
			subs = append(subs, s)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return subs, nil
}

// CreateSubscription creates s (POST /v1.0/subscriptions; s.ID is ignored)
// and returns the subscription Graph made, with its ID. Graph validates the
// notification URLs before answering, so those endpoints must already be
// serving; a failed validation comes back as a *GraphError (400).
//
// Resource, ChangeType, NotificationURL and ExpirationDateTime are required,
// ClientState is at most 128 characters, and ExpirationDateTime may be at
// most MaxSubscriptionLifetime after the local clock (Graph judges the rest
// by its own clock, and rejects a past expiration).
//
// The POST is not idempotent: each success is a new subscription, counted
// against a quota of 100 per organization. It is retried only after a 429,
// a 401 or a refused connection; after a timeout, a lost connection or a 5xx
// the error matches ErrOutcomeUnknown, and the caller should
// ListSubscriptions (matching Resource and NotificationURL) before trying again.
func (c *Client) CreateSubscription(ctx context.Context, s Subscription) (Subscription, error) {
	s.ID = ""
	s.ExpirationDateTime = s.ExpirationDateTime.UTC()
	if err := checkSubscription(s, c.now()); err != nil {
		return Subscription{}, fmt.Errorf("create subscription for %s: %w", s.Resource, err)
	}
	body, err := json.Marshal(s)
	if err != nil {
		return Subscription{}, fmt.Errorf("create subscription for %s: encode: %w", s.Resource, err)
	}
	resp, err := c.do(ctx, request{endpoint: endpointSubs, method: "POST", url: c.subscriptionsURL(), body: body})
	if err != nil {
		return Subscription{}, fmt.Errorf("create subscription for %s: %w", s.Resource, err)
	}
	var got Subscription
	if err := json.Unmarshal(resp, &got); err != nil {
		return Subscription{}, fmt.Errorf("create subscription for %s: decode response: %w: %w", s.Resource, err, ErrOutcomeUnknown)
	}
	if got.ID == "" {
		return Subscription{}, fmt.Errorf("create subscription for %s: response has no id: %w", s.Resource, ErrOutcomeUnknown)
	}
	return got, nil
}

// CheckNotificationURL refuses a notification (or lifecycle) URL Graph
// would refuse: Graph sends notifications to https URLs only. Plain http is
// let through to a loopback host, where only a Graph simulator can listen
// (the rule of the client's own base URL).
func CheckNotificationURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an https URL", raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%q: Graph sends notifications to https URLs only", raw)
	}
	return nil
}

// checkSubscription validates what can be checked before asking Graph.
func checkSubscription(s Subscription, now time.Time) error {
	switch {
	case s.Resource == "":
		return errors.New("resource is required")
	case s.ChangeType == "":
		return errors.New("change type is required")
	case s.NotificationURL == "":
		return errors.New("notification url is required")
	case len([]rune(s.ClientState)) > maxClientState:
		return fmt.Errorf("client state is %d characters, more than %d", len([]rune(s.ClientState)), maxClientState)
	}
	if err := CheckNotificationURL(s.NotificationURL); err != nil {
		return fmt.Errorf("notification url: %w", err)
	}
	if s.LifecycleNotificationURL != "" {
		if err := CheckNotificationURL(s.LifecycleNotificationURL); err != nil {
			return fmt.Errorf("lifecycle notification url: %w", err)
		}
	}
	return checkExpiration(s.ExpirationDateTime, now)
}

// checkExpiration refuses a zero expiration and one more than
// MaxSubscriptionLifetime after now.
func checkExpiration(expires, now time.Time) error {
	if expires.IsZero() {
		return errors.New("expiration date time is required")
	}
	if d := expires.Sub(now); d > MaxSubscriptionLifetime {
		return fmt.Errorf("expiration %s is %s ahead, more than the maximum %s",
			expires.UTC().Format(time.RFC3339), d.Round(time.Second), MaxSubscriptionLifetime)
	}
	return nil
}

// RenewSubscription moves the expiration of subscription id to expires
// (PATCH /v1.0/subscriptions/{id}) and returns the subscription as Graph
// reports it. expires may be at most MaxSubscriptionLifetime after the local
// clock. The PATCH is idempotent and retried like a GET. A missing
// subscription matches ErrNotFound.
func (c *Client) RenewSubscription(ctx context.Context, id string, expires time.Time) (Subscription, error) {
	if id == "" {
		return Subscription{}, errors.New("renew subscription: empty id")
	}
	if err := checkExpiration(expires, c.now()); err != nil {
		return Subscription{}, fmt.Errorf("renew subscription %s: %w", id, err)
	}
	body, err := json.Marshal(struct {
		ExpirationDateTime time.Time `json:"expirationDateTime"`
	}{expires.UTC()})
	if err != nil {
		return Subscription{}, fmt.Errorf("renew subscription %s: encode: %w", id, err)
	}
	resp, err := c.do(ctx, request{endpoint: endpointSubs, method: "PATCH", url: c.subscriptionURL(id), body: body, idempotent: true})
	if err != nil {
		return Subscription{}, fmt.Errorf("renew subscription %s: %w", id, err)
	}
	if len(resp) == 0 { // 204: Graph did not echo the subscription
		return Subscription{ID: id, ExpirationDateTime: expires.UTC()}, nil
	}
	var got Subscription
	if err := json.Unmarshal(resp, &got); err != nil {
		return Subscription{}, fmt.Errorf("renew subscription %s: decode response: %w", id, err)
	}
	if got.ID == "" {
		got.ID = id
	}
	return got, nil
}

// DeleteSubscription deletes subscription id (DELETE
// /v1.0/subscriptions/{id}). A subscription that does not exist (404, e.g.
// expired or already deleted) is not an error. It is retried like a GET.
func (c *Client) DeleteSubscription(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("delete subscription: empty id")
	}
	_, err := c.do(ctx, request{endpoint: endpointSubs, method: "DELETE", url: c.subscriptionURL(id), idempotent: true})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete subscription %s: %w", id, err)
	}
	return nil
}

// ReauthorizeSubscription answers a reauthorizationRequired lifecycle
// notification (POST /v1.0/subscriptions/{id}/reauthorize). Reauthorizing
// twice is harmless, so it is retried like a GET. A missing subscription
// matches ErrNotFound.
func (c *Client) ReauthorizeSubscription(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("reauthorize subscription: empty id")
	}
	_, err := c.do(ctx, request{endpoint: endpointSubs, method: "POST", url: c.subscriptionURL(id) + "/reauthorize", idempotent: true})
	if err != nil {
		return fmt.Errorf("reauthorize subscription %s: %w", id, err)
	}
	return nil
}
