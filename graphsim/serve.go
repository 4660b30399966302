package graphsim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Serve serves the simulated tenant on ln until ctx is done.
func (s *Simulator) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	returned := make(chan struct{})
	defer close(returned)
	go func() {
		select {
		case <-ctx.Done():
		case <-returned:
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve simulated Graph: %w", err)
	}
	return nil
}

// WriteRecords writes every whole call record that started in [from, to),
// day by day, one compact JSON object per line: what `import` reads.
func (s *Simulator) WriteRecords(ctx context.Context, w io.Writer, from, to time.Time) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var line bytes.Buffer
	for day := from; day.Before(to); day = day.Add(24 * time.Hour) {
		end := day.Add(24 * time.Hour)
		if end.After(to) {
			end = to
		}
		for _, id := range s.Truth(day, end).IDs {
			raw, ok := s.Record(id)
			if !ok {
				continue
			}
			line.Reset()
			if err := json.Compact(&line, raw); err != nil {
				return fmt.Errorf("write record %s: %w", id, err)
			}
			line.WriteByte('\n')
			if _, err := bw.Write(line.Bytes()); err != nil {
				return fmt.Errorf("write records: %w", err)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return bw.Flush()
}
