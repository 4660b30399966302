package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// Change notifications land in the lake's inbox (lake.Lake.Notify) before
// they are acknowledged; a run drains it.

// MaxInboxAttempts is how many runs try an id that Graph answers 404 for (not yet
// published) before giving up on it with an error line; the batch window still
// catches the record when it appears.
const MaxInboxAttempts = 10

// inboxEmpty reports whether the tenant's inbox holds no notification.
func inboxEmpty(ctx context.Context, cfg Config) (bool, error) {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return false, err
	}
	return lake.New(store, cfg.TenantID, "", cfg.Now).InboxEmpty(ctx)
}

// drainInbox fetches every call record the inbox names (all pages, like any
// other), writes it version-aware into its partition, and deletes each entry only
// after its record is committed — and only if no newer notification replaced the
// entry meanwhile. Ids Graph does not know yet are tried again by later runs, up
// to MaxInboxAttempts.
func (r *runner) drainInbox(ctx context.Context) error {
	const ds = schemas.DatasetCallRecords
	log := r.cfg.Logger.With("dataset", ds, "inbox", true)
	items, err := r.lake.Inbox(ctx)
	if err != nil || len(items) == 0 {
		return err
	}
	if r.cfg.DryRun {
		log.Info("dry run: would fetch notified call records", "ids", len(items))
		return nil
	}
	byID := make(map[string]lake.InboxItem, len(items))
	ids := make([]string, 0, len(items))
	for _, it := range items {
		byID[it.ID] = it
		ids = append(ids, it.ID)
	}
	log.Info("draining notified call records", "ids", len(ids))

	dir, err := os.MkdirTemp(r.tmp, "inbox-")
	if err != nil {
		return fmt.Errorf("create inbox spool: %w", err)
	}
	defer os.RemoveAll(dir)
	// The records wait in the spool under the policy, unless their rows
	// must be made from them in clear (a policy that drops user ids).
	ps := r.privacy.pseudonymiser
	pseudonymise := ps != nil && ps.SameRowsFromJSON()
	chunks := map[string]*importChunk{}
	defer func() {
		for _, c := range chunks {
			c.remove()
		}
	}()
	var done, missing []lake.InboxItem
	stats := r.sum.dataset(ds)
	// quarantine keeps a record fetched but not spooled. (The chunks count
	// the records they load as listed; these and the missing ones are
	// counted here.)
	quarantine := func(id string, raw []byte, cause error) error {
		r.sum.update(func() { stats.Listed++ })
		return r.quarantine(ctx, ds, id, raw, cause, log)
	}
	err = r.graph.GetCallRecords(ctx, ids, r.cfg.Concurrency, extract.Fetched{
		Record: func(id string, raw json.RawMessage) error {
			done = append(done, byID[id])
			head, herr := peekRecord(raw)
			if herr != nil {
				return quarantine(id, raw, herr)
			}
			if pseudonymise {
				out, err := ps.JSON(raw)
				if err != nil {
					return quarantine(id, raw, err)
				}
				raw = out
			}
			return spoolRecord(chunks, dir, head.Date(), head, raw, pseudonymise)
		},
		NotFound: func(id string) { missing = append(missing, byID[id]) },
		// Quarantined, the entry goes: the scheduled window lists the record
		// again while it is in the lookback.
		Bad: func(e *extract.RecordError) error {
			done = append(done, byID[e.ID])
			return quarantine(e.ID, e.Raw, e.Err)
		},
	})
	if err != nil {
		return fmt.Errorf("fetch notified call records: %w", err)
	}
	r.ledger.noteInbox(items, missing)
	r.sum.update(func() { stats.Listed += len(missing); stats.NotFound += len(missing) })
	for _, date := range sortedKeys(chunks) {
		if err := r.importChunk(ctx, chunks[date], log); err != nil {
			return err
		}
	}
	// Committed: the entries can go.
	for _, it := range done {
		if err := r.lake.Done(ctx, it); err != nil {
			return err
		}
	}
	var givenUp []lake.InboxItem
	for _, it := range missing {
		if it.Attempts+1 >= MaxInboxAttempts {
			givenUp = append(givenUp, it)
		}
	}
	if err := r.noteGivenUp(ctx, givenUp); err != nil {
		return err
	}
	for _, it := range missing {
		if it.Attempts+1 >= MaxInboxAttempts {
			log.Error("giving up on a notified call record Graph does not know; the scheduled window will still catch it if it appears",
				"id", it.ID, "attempts", it.Attempts+1, "received_at", it.ReceivedAt)
			if err := r.lake.Done(ctx, it); err != nil {
				return err
			}
			continue
		}
		log.Warn("notified call record not found yet; retrying next run", "id", it.ID, "attempts", it.Attempts+1)
		if err := r.lake.Retry(ctx, it); err != nil {
			return err
		}
	}
	return nil
}
