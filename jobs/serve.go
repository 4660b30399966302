package jobs

import (
	"context"

	"github.com/callrecords-etl/callrecords-etl/notify"
)

// ServeOptions configures ServeNotifications.
type ServeOptions struct {
	Listen          string // address, e.g. ":8080"
	ClientState     string // the secret given to Subscribe; never logged
	TLSCert, TLSKey string // https with this certificate, else plain http
}

// ServeNotifications receives Graph's change notifications on cfg's tenant
// into the lake's inbox (package notify) until ctx is done. A
// reauthorizationRequired lifecycle event renews the subscription with cfg's
// Graph credential; without one, the event is logged and left to the
// scheduled Subscribe.
func ServeNotifications(ctx context.Context, cfg Config, opts ServeOptions) error {
	switch {
	case cfg.TenantID == "":
		return configError("is required", "TenantID")
	case cfg.Dest == "":
		return configError("is required", "Dest")
	case opts.ClientState == "":
		return configError("is required", "ClientState")
	}
	if err := checkTenantID(cfg.TenantID); err != nil {
		return err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	log := cfg.logger()
	rc := notify.Config{TenantID: cfg.TenantID, ClientState: opts.ClientState, Store: store, Logger: log, Now: cfg.Now}
	if reauth, err := Reauthorizer(cfg); err != nil {
		log.Warn("no Graph credential: reauthorizationRequired events are only logged, and the scheduled subscribe renews the subscription", "err", err)
	} else {
		rc.Reauthorize = reauth
	}
	return notify.Serve(ctx, notify.NewReceiver(rc), notify.ServeOptions{Addr: opts.Listen, TLSCert: opts.TLSCert, TLSKey: opts.TLSKey})
}
