package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// Change notifications land in an inbox under _etl/: one object per call
// record id, written before the notification is acknowledged, deleted by a
// run only once the record is committed. Duplicates collapse on the key;
// order does not matter because the run fetches the record's current version.

func inboxPrefix(tenant string) string { return etlPrefix + "inbox/" + tenant + "/" }

func inboxKey(tenant, id string) string { return inboxPrefix(tenant) + id + ".json" }

// InboxEntry is the object recorded for a notified call record id.
type InboxEntry struct {
	ID             string    `json:"id"`
	ChangeType     string    `json:"change_type"`
	SubscriptionID string    `json:"subscription_id"`
	ReceivedAt     time.Time `json:"received_at"`
	Attempts       int       `json:"attempts,omitempty"`
}

// InboxItem is an inbox entry as read by a run, with the ETag that lets the
// run delete it only if no newer notification replaced it meanwhile.
type InboxItem struct {
	InboxEntry
	etag string
}

// Notify records a notified id (the caller checked that it is a valid key
// segment). A second notification of the same id replaces the first.
func (l *Lake) Notify(ctx context.Context, e InboxEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode inbox entry %s: %w", e.ID, err)
	}
	if err := l.store.Put(ctx, inboxKey(l.tenant, e.ID), bytes.NewReader(data)); err != nil {
		return fmt.Errorf("record notification %s: %w", e.ID, err)
	}
	return nil
}

// Inbox reads the tenant's inbox.
func (l *Lake) Inbox(ctx context.Context) ([]InboxItem, error) {
	var keys []string
	err := l.store.List(ctx, inboxPrefix(l.tenant), func(o load.Object) error {
		if strings.HasSuffix(o.Key, ".json") {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list inbox: %w", err)
	}
	var items []InboxItem
	for _, key := range keys {
		var e InboxEntry
		etag, found, err := readJSON(ctx, l.store, key, &e)
		if err != nil {
			return nil, err
		}
		if found {
			items = append(items, InboxItem{e, etag})
		}
	}
	return items, nil
}

// errFound stops a listing at its first entry.
var errFound = errors.New("found")

// InboxEmpty reports whether the tenant's inbox holds no notification.
func (l *Lake) InboxEmpty(ctx context.Context) (bool, error) {
	err := l.store.List(ctx, inboxPrefix(l.tenant), func(o load.Object) error {
		if strings.HasSuffix(o.Key, ".json") {
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("list inbox: %w", err)
	}
	return true, nil
}

// Done deletes an inbox entry whose record is committed, unless a newer
// notification replaced it meanwhile (then it stays for the next run).
func (l *Lake) Done(ctx context.Context, it InboxItem) error {
	err := l.store.DeleteIfMatch(ctx, inboxKey(l.tenant, it.ID), it.etag)
	if err != nil && !errors.Is(err, load.ErrPrecondition) {
		return fmt.Errorf("delete inbox entry %s: %w", it.ID, err)
	}
	return nil
}

// Retry counts one more attempt on an inbox entry whose record Graph did
// not return, unless a newer notification replaced the entry meanwhile.
func (l *Lake) Retry(ctx context.Context, it InboxItem) error {
	it.Attempts++
	_, err := writeJSON(ctx, l.store, inboxKey(l.tenant, it.ID), it.etag, it.InboxEntry)
	if err != nil && !errors.Is(err, load.ErrPrecondition) {
		return fmt.Errorf("update inbox entry %s: %w", it.ID, err)
	}
	return nil
}
