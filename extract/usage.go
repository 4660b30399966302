package extract

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// MaxUsageWindow is the longest span Graph accepts between fromDateTime and
// toDateTime of getPstnCalls (a longer one is reported to fail with 406);
// the same limit is assumed for getDirectRoutingCalls. Longer windows are
// split into consecutive requests of at most this span.
const MaxUsageWindow = 90 * 24 * time.Hour

// UsageRow is one row of a PSTN or Direct Routing report, as received.
type UsageRow struct {
	// ID is the row's "id" (a GUID), or "" when it is missing or not a string.
	ID string
	// StartDateTime is the row's "startDateTime", or the zero time when it is
	// missing, unparsable or Graph's 0001-01-01 null sentinel.
	StartDateTime time.Time
	// Raw is the row's JSON exactly as received (a copy the caller may keep).
	Raw json.RawMessage
}

// usageReport describes one of the report functions under /communications/callRecords.
type usageReport struct {
	name        string // function name, e.g. getPstnCalls
	endpoint    string // Stats key
	toInclusive bool   // whether Graph includes rows starting exactly at toDateTime
}

var (
	pstnReport = usageReport{name: "getPstnCalls", endpoint: endpointPstn, toInclusive: true}
	drReport   = usageReport{name: "getDirectRoutingCalls", endpoint: endpointDR, toInclusive: false}
)

// ListPstnCalls calls fn, in page order, for every pstnCallLogRow of
// getPstnCalls whose startDateTime is in [from, to). Graph's toDateTime is
// inclusive for this function, so rows starting exactly at to are dropped
// client-side (the next window [to, …) delivers them). Windows longer than
// MaxUsageWindow are split into consecutive half-open chunks, every
// @odata.nextLink ($skip) page is followed verbatim and must stay on the
// Graph host, and requests are retried like every other endpoint (429 with
// Retry-After, 5xx with backoff) and counted under Stats.Requests["pstn"].
//
// A row whose id or startDateTime is missing or unparsable is still passed
// to fn (ID "" or a zero StartDateTime) so the caller can quarantine it;
// such a row cannot be placed in a chunk, so Graph returning it from two
// chunks means fn sees it twice. An error from fn stops the listing and is
// returned wrapped; from must be before to.
func (c *Client) ListPstnCalls(ctx context.Context, from, to time.Time, fn func(UsageRow) error) error {
	return c.listUsage(ctx, pstnReport, from, to, fn)
}

// ListDirectRoutingCalls is ListPstnCalls for getDirectRoutingCalls
// (directRoutingLogRow), whose toDateTime is exclusive. Requests are counted
// under Stats.Requests["directrouting"].
func (c *Client) ListDirectRoutingCalls(ctx context.Context, from, to time.Time, fn func(UsageRow) error) error {
	return c.listUsage(ctx, drReport, from, to, fn)
}

// usageURL is the first page of rep over [from, to], in the short,
// un-namespaced form the Graph docs use. The literals are unquoted RFC 3339
// UTC timestamps with Z and at most 7 fractional digits (see graphTime). Their
// ':' is left as is: it is a legal path character (RFC 3986 pchar), it is
// the form of the docs' and curl's examples, net/http sends the path byte
// for byte, and there is no '+' offset that would need escaping.
func (c *Client) usageURL(rep usageReport, from, to time.Time) string {
	return c.versionPath() + "/communications/callRecords/" + rep.name +
		"(fromDateTime=" + graphTime(from) + ",toDateTime=" + graphTime(to) + ")"
}

// usageChunks splits [from, to) into consecutive half-open chunks of at
// most MaxUsageWindow. Chunk boundaries keep from's sub-100 ns offset, so
// the formatted literals of a chunk are never more than MaxUsageWindow apart.
func usageChunks(from, to time.Time) [][2]time.Time {
	var out [][2]time.Time
	for a := from; a.Before(to); {
		b := a.Add(MaxUsageWindow)
		if b.After(to) {
			b = to
		}
		out = append(out, [2]time.Time{a, b})
		a = b
	}
	return out
}

func (c *Client) listUsage(ctx context.Context, rep usageReport, from, to time.Time, fn func(UsageRow) error) error {
	if !from.Before(to) {
		return fmt.Errorf("list %s: window [%s, %s) is empty", rep.name, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	for _, ch := range usageChunks(from, to) {
		if err := c.listUsageChunk(ctx, rep, ch[0], ch[1], fn); err != nil {
			return fmt.Errorf("list %s [%s, %s): %w", rep.name, graphTime(ch[0]), graphTime(ch[1]), err)
		}
	}
	return nil
}

// listUsageChunk reads one request's worth (at most MaxUsageWindow) of rep
// and passes on the rows that start in [from, to) or whose start is unknown.
func (c *Client) listUsageChunk(ctx context.Context, rep usageReport, from, to time.Time, fn func(UsageRow) error) error {
	var edge, outside int
	err := c.pages(ctx, nil, rep.endpoint, c.usageURL(rep, from, to), func(_ string, values []json.RawMessage) error {
		for _, v := range values {
			row := decodeUsageRow(v)
			if t := row.StartDateTime; !t.IsZero() && (t.Before(from) || !t.Before(to)) {
				// Rows at exactly to are expected from an inclusive
				// toDateTime; anything else outside the window is Graph
				// straying from its own bounds. Either way the adjacent
				// window owns the row.
				if t.Equal(to) {
					edge++
				} else {
					outside++
				}
				continue
			}
			if err := fn(row); err != nil {
				return fmt.Errorf("row %q: %w", row.ID, err)
			}
		}
		return nil
	})
	if edge > 0 || outside > 0 {
		c.log.DebugContext(ctx, "usage rows outside the window dropped", "function", rep.name,
			"from", graphTime(from), "to", graphTime(to), "at_to", edge, "outside", outside)
	}
	return err
}

// usageRowKeys is the part of a report row the client reads.
type usageRowKeys struct {
	ID            json.RawMessage `json:"id"`
	StartDateTime json.RawMessage `json:"startDateTime"`
}

// decodeUsageRow reads a row's id and start leniently: anything missing,
// mistyped or unparsable is left empty, and Raw always holds the row.
func decodeUsageRow(raw json.RawMessage) UsageRow {
	row := UsageRow{Raw: raw}
	var k usageRowKeys
	if err := json.Unmarshal(raw, &k); err != nil {
		return row // not an object: no id, no start
	}
	var id string
	if json.Unmarshal(k.ID, &id) == nil {
		row.ID = id
	}
	var s string
	if json.Unmarshal(k.StartDateTime, &s) == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.Year() > 1 {
			row.StartDateTime = t.UTC()
		}
	}
	return row
}
