package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
)

// SubscribeOptions describes the change-notification subscription `subscribe`
// keeps alive.
type SubscribeOptions struct {
	NotificationURL string
	LifecycleURL    string
	ClientState     string   // secret echoed in every notification; never logged
	ParticipantIDs  []string // optional: only records with these participants
	ChangeType      string   // default "created,updated"
	// Lifetime of a created or renewed subscription; Graph allows at most
	// 4,230 minutes for call records. Default: that minus 30 minutes.
	Lifetime time.Duration
	Delete   bool // delete the matching subscriptions instead
}

// SubscriptionResource is the Graph resource subscribed to.
func (o SubscribeOptions) resource() string {
	if len(o.ParticipantIDs) == 0 {
		return "/communications/callRecords"
	}
	quoted := make([]string, len(o.ParticipantIDs))
	for i, id := range o.ParticipantIDs {
		quoted[i] = "'" + strings.ReplaceAll(id, "'", "''") + "'"
	}
	return "/communications/callRecords?$filter=participants/any(p:p/id in (" + strings.Join(quoted, ",") + "))"
}

// graphClient returns the Graph client cfg describes. It asks Graph for
// evolvable enum members by name (Prefer: include-unknown-enum-members):
// without it, Graph sends unknownFutureValue for members such as
// productFamily azureCommunicationServices, and that value is lost for good
// once the record leaves Graph's 30 days.
func graphClient(cfg Config) (*extract.Client, error) {
	cfg, err := cfg.withGraph()
	if err != nil {
		return nil, err
	}
	c, err := extract.New(extract.Config{BaseURL: cfg.GraphURL, Credential: cfg.Credential, MaxRPS: cfg.MaxRPS, Logger: cfg.Logger, Now: cfg.Now,
		IncludeUnknownEnumMembers: true})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return c, nil
}

// Subscribe makes sure exactly one subscription for opts.NotificationURL and the
// resource exists and lives as long as allowed: it renews the existing one (or
// creates it), so a CronJob can run it every few hours. It returns the
// subscriptions for that URL afterwards.
func Subscribe(ctx context.Context, cfg Config, opts SubscribeOptions) ([]extract.Subscription, error) {
	if opts.NotificationURL == "" {
		return nil, configError("is required", "NotificationURL")
	}
	if !opts.Delete && opts.ClientState == "" {
		return nil, configError("is required", "ClientState")
	}
	if len(opts.ClientState) > 128 {
		return nil, configError("is longer than Graph's 128 characters", "ClientState")
	}
	if !opts.Delete {
		// Refused by Graph, and a scheduler would retry that error for ever.
		if err := extract.CheckNotificationURL(opts.NotificationURL); err != nil {
			return nil, configError(": "+err.Error(), "NotificationURL")
		}
		if err := extract.CheckNotificationURL(opts.LifecycleURL); opts.LifecycleURL != "" && err != nil {
			return nil, configError(": "+err.Error(), "LifecycleURL")
		}
	}
	if opts.ChangeType == "" {
		opts.ChangeType = "created,updated"
	}
	if opts.Lifetime <= 0 || opts.Lifetime > extract.MaxSubscriptionLifetime {
		opts.Lifetime = extract.MaxSubscriptionLifetime - 30*time.Minute
	}
	graph, err := graphClient(cfg)
	if err != nil {
		return nil, err
	}
	all, err := graph.ListSubscriptions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	resource := opts.resource()
	var mine []extract.Subscription
	for _, s := range all {
		if s.NotificationURL == opts.NotificationURL && strings.EqualFold(strings.TrimPrefix(s.Resource, "/"), strings.TrimPrefix(resource, "/")) {
			mine = append(mine, s)
		}
	}
	expires := cfg.clock()().UTC().Add(opts.Lifetime)
	var out []extract.Subscription
	switch {
	case opts.Delete:
		for _, s := range mine {
			if err := graph.DeleteSubscription(ctx, s.ID); err != nil {
				return nil, fmt.Errorf("delete subscription %s: %w", s.ID, err)
			}
			cfg.Logger.Info("subscription deleted", "id", s.ID)
		}
		return nil, nil
	case len(mine) == 0:
		s, err := graph.CreateSubscription(ctx, extract.Subscription{
			Resource: resource, ChangeType: opts.ChangeType, NotificationURL: opts.NotificationURL,
			LifecycleNotificationURL: opts.LifecycleURL, ExpirationDateTime: expires, ClientState: opts.ClientState,
		})
		if err != nil {
			return nil, fmt.Errorf("create subscription: %w", err)
		}
		cfg.Logger.Info("subscription created", "id", s.ID, "expires", s.ExpirationDateTime)
		out = append(out, s)
	default:
		// Keep the first, renew it; extra ones (from an earlier failure) go.
		s, err := graph.RenewSubscription(ctx, mine[0].ID, expires)
		if err != nil {
			return nil, fmt.Errorf("renew subscription %s: %w", mine[0].ID, err)
		}
		cfg.Logger.Info("subscription renewed", "id", s.ID, "expires", s.ExpirationDateTime)
		out = append(out, s)
		for _, extra := range mine[1:] {
			if err := graph.DeleteSubscription(ctx, extra.ID); err != nil {
				return nil, fmt.Errorf("delete duplicate subscription %s: %w", extra.ID, err)
			}
		}
	}
	return out, nil
}

// Reauthorizer returns what the receiver calls on a reauthorizationRequired
// lifecycle event: renew the subscription to its full lifetime.
func Reauthorizer(cfg Config) (func(ctx context.Context, subscriptionID string) error, error) {
	graph, err := graphClient(cfg)
	if err != nil {
		return nil, err
	}
	now := cfg.clock()
	return func(ctx context.Context, id string) error {
		if err := graph.ReauthorizeSubscription(ctx, id); err != nil {
			return fmt.Errorf("reauthorize subscription %s: %w", id, err)
		}
		_, err := graph.RenewSubscription(ctx, id, now().UTC().Add(extract.MaxSubscriptionLifetime-30*time.Minute))
		return err
	}, nil
}
