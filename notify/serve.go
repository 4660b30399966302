package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ServeOptions says where Serve listens.
type ServeOptions struct {
	Addr string // e.g. ":8080"
	// TLSCert and TLSKey serve https; without them, plain http (behind an
	// ingress that terminates TLS).
	TLSCert, TLSKey string
}

// Serve serves the receiver until ctx is done, then shuts down gracefully:
// notifications being recorded are finished, then reauthorizations under
// way. Graph's deadlines are short (an answer within 3 s, 10 s for the
// handshake), so a slow client is cut off rather than waited for.
func Serve(ctx context.Context, h *Receiver, opts ServeOptions) error {
	srv := &http.Server{Addr: opts.Addr, Handler: h,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	stopped, returned := make(chan struct{}), make(chan struct{})
	defer close(returned)
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-returned:
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	h.cfg.Logger.Info("receiving change notifications", "listen", opts.Addr, "tenant", h.cfg.TenantID)
	var err error
	if opts.TLSCert != "" {
		err = srv.ListenAndServeTLS(opts.TLSCert, opts.TLSKey)
	} else {
		err = srv.ListenAndServe()
	}
	// ListenAndServe returns as soon as Shutdown begins: wait for it.
	if errors.Is(err, http.ErrServerClosed) {
		<-stopped
		err = nil
	}
	h.Wait()
	if err != nil {
		return fmt.Errorf("serve notifications on %s: %w", opts.Addr, err)
	}
	return nil
}
