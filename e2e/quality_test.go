package e2e_test

import (
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"testing"
)

// The expected stream qualities are computed here from the simulator's JSON,
// from Microsoft's published rules ("Stream Classification in Call Quality
// Dashboard"), without the job's code.

var isoDuration = regexp.MustCompile(`^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$`)

// metric reads a stream metric: a number, or an ISO 8601 duration in
// milliseconds; ok is false when it is absent, null or not a value.
func metric(s map[string]any, name string) (float64, bool) {
	switch v := s[name].(type) {
	case float64:
		return v, true
	case string:
		m := isoDuration.FindStringSubmatch(v)
		if m == nil {
			return 0, false
		}
		h, _ := strconv.ParseFloat("0"+m[1], 64)
		min, _ := strconv.ParseFloat("0"+m[2], 64)
		sec, _ := strconv.ParseFloat("0"+m[3], 64)
		return ((h*60+min)*60 + sec) * 1000, true
	}
	return 0, false
}

// expectedQuality classifies one stream of a media line labelled label.
func expectedQuality(label string, s map[string]any) (quality string, due []string) {
	type rule struct {
		json, column string
		poor         func(float64) bool
	}
	gt := func(l float64) func(float64) bool { return func(v float64) bool { return v > l } }
	lt := func(l float64) func(float64) bool { return func(v float64) bool { return v < l } }
	switch label {
	case "main-audio":
		seen := false
		for _, r := range []rule{
			{"averageAudioDegradation", "average_audio_degradation", gt(1.0)},
			{"averageRoundTripTime", "average_round_trip_time_ms", gt(500)},
			{"averagePacketLossRate", "average_packet_loss_rate", gt(0.1)},
			{"averageJitter", "average_jitter_ms", gt(30)},
			{"averageRatioOfConcealedSamples", "average_ratio_of_concealed_samples", gt(0.07)},
		} {
			if v, ok := metric(s, r.json); ok {
				seen = true
				if r.poor(v) {
					due = append(due, r.column)
				}
			}
		}
		switch {
		case len(due) > 0:
			return "poor", due
		case seen:
			return "good", nil
		}
	case "main-video", "applicationsharing-video":
		rate := 7.0
		if label == "applicationsharing-video" {
			rate = 2
		}
		for _, r := range []rule{
			{"averageVideoFrameLossPercentage", "average_video_frame_loss_percentage", gt(50)},
			{"averageVideoFrameRate", "average_video_frame_rate", lt(rate)},
			{"postForwardErrorCorrectionPacketLossRate", "post_forward_error_correction_packet_loss_rate", gt(0.15)},
		} {
			if v, ok := metric(s, r.json); ok {
				if r.poor(v) {
					return "poor", []string{r.column}
				}
				return "good", nil
			}
		}
	}
	return "unclassified", nil
}

// checkQuality compares the lake's stream classification, per media label
// and quality and per poor cause, with the rules applied to the payloads.
func checkQuality(t *testing.T, db *sql.DB, dest string, want expected) {
	t.Helper()
	wantQ, wantDue := map[string]int{}, map[string]int{}
	for _, rec := range want.byID {
		sessions, _ := rec["sessions"].([]any)
		for _, s := range sessions {
			segs, _ := s.(map[string]any)["segments"].([]any)
			for _, g := range segs {
				media, _ := g.(map[string]any)["media"].([]any)
				for _, m := range media {
					label, _ := m.(map[string]any)["label"].(string)
					streams, _ := m.(map[string]any)["streams"].([]any)
					for _, st := range streams {
						q, due := expectedQuality(label, st.(map[string]any))
						wantQ[label+" "+q]++
						for _, d := range due {
							wantDue[d]++
						}
					}
				}
			}
		}
	}
	if wantQ["main-audio poor"] == 0 || wantQ["main-audio good"] == 0 || wantQ["main-video poor"]+wantQ["main-video good"] == 0 {
		t.Fatalf("simulator data too thin for the quality check: %v", wantQ)
	}
	got := map[string]int{}
	rows, err := db.Query("SELECT coalesce(media_label, ''), quality, count(*) FROM " + table(dest, "media_streams") + " GROUP BY ALL")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var label, q string
		var n int
		rows.Scan(&label, &q, &n)
		got[label+" "+q] = n
	}
	rows.Close()
	if fmt.Sprint(got) != fmt.Sprint(wantQ) {
		t.Errorf("streams per label and quality:\n got %v\nwant %v", got, wantQ)
	}
	gotDue := map[string]int{}
	rows, err = db.Query("SELECT cause, count(*) FROM " + table(dest, "media_streams") + ", unnest(poor_due_to) AS t(cause) GROUP BY ALL")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var cause string
		var n int
		rows.Scan(&cause, &n)
		gotDue[cause] = n
	}
	rows.Close()
	if fmt.Sprint(gotDue) != fmt.Sprint(wantDue) {
		t.Errorf("poor streams per cause:\n got %v\nwant %v", gotDue, wantDue)
	}
	if v := scan[int](t, db, "SELECT count(*) FROM "+table(dest, "media_streams")+" WHERE quality_rules_version IS NULL"); v != 0 {
		t.Errorf("%d streams without quality_rules_version", v)
	}

	// The per-call rollups of call_records add up to the same.
	rollups := map[string]int{
		"sum(segment_count)":                       want.segments,
		"sum(stream_count)":                        want.streams,
		"sum(audio_poor_streams)":                  wantQ["main-audio poor"],
		"sum(audio_unclassified_streams)":          wantQ["main-audio unclassified"],
		"sum(audio_streams)":                       wantQ["main-audio good"] + wantQ["main-audio poor"] + wantQ["main-audio unclassified"],
		"sum(video_poor_streams)":                  wantQ["main-video poor"],
		"sum(video_streams)":                       wantQ["main-video good"] + wantQ["main-video poor"] + wantQ["main-video unclassified"],
		"sum(screen_sharing_poor_streams)":         wantQ["applicationsharing-video poor"],
		"sum(screen_sharing_unclassified_streams)": wantQ["applicationsharing-video unclassified"] + wantQ["applicationsharing unclassified"],
	}
	for expr, n := range rollups {
		if got := scan[int](t, db, "SELECT CAST("+expr+" AS BIGINT) FROM "+table(dest, "call_records")); got != n {
			t.Errorf("call_records %s = %d, want %d", expr, got, n)
		}
	}
	if bad := scan[int](t, db, "SELECT count(*) FROM "+table(dest, "call_records")+" c JOIN (SELECT call_record_id, max(average_jitter_ms) AS j FROM "+table(dest, "media_streams")+" GROUP BY 1) s USING (call_record_id) WHERE c.worst_average_jitter_ms IS DISTINCT FROM s.j"); bad != 0 {
		t.Errorf("%d call records whose worst_average_jitter_ms is not their streams' highest", bad)
	}
}
