package graphsim_test

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
)

var isoMillis = regexp.MustCompile(`^P(?:0DT)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$`)

// poorAudio applies Microsoft's audio stream rules (Call Quality Dashboard)
// to a stream's JSON.
func poorAudio(s map[string]any) bool {
	num := func(k string) float64 { v, _ := s[k].(float64); return v }
	ms := func(k string) float64 {
		str, _ := s[k].(string)
		m := isoMillis.FindStringSubmatch(str)
		if m == nil {
			return 0
		}
		h, _ := strconv.ParseFloat("0"+m[1], 64)
		mi, _ := strconv.ParseFloat("0"+m[2], 64)
		sec, _ := strconv.ParseFloat("0"+m[3], 64)
		return ((h*60+mi)*60 + sec) * 1000
	}
	return num("averageAudioDegradation") > 1 || ms("averageRoundTripTime") > 500 || num("averagePacketLossRate") > 0.1 ||
		ms("averageJitter") > 30 || num("averageRatioOfConcealedSamples") > 0.07
}

// audioPoorShare is the share of poor audio streams of the day's records,
// and the records' JSON.
func audioPoorShare(t *testing.T, sim *graphsim.Simulator, day time.Time) (float64, [][]byte) {
	var poor, all int
	var raws [][]byte
	for _, id := range sim.Truth(day, day.Add(24*time.Hour)).IDs {
		raw := mustRecord(t, sim, id)
		raws = append(raws, raw)
		for _, s := range arr(MustDecode(t, raw)["sessions"]) {
			for _, g := range arr(obj(s)["segments"]) {
				for _, m := range arr(obj(g)["media"]) {
					if obj(m)["label"] != "main-audio" {
						continue
					}
					for _, st := range arr(obj(m)["streams"]) {
						all++
						if poorAudio(obj(st)) {
							poor++
						}
					}
				}
			}
		}
	}
	if all < 100 {
		t.Fatalf("%d audio streams on %s, too few to measure", all, day)
	}
	return float64(poor) / float64(all), raws
}

// TestBadNetworkDays: on the chosen day many more audio streams are poor;
// other days are byte for byte what they are without the knob.
func TestBadNetworkDays(t *testing.T) {
	bad, good := testNow.Add(-3*24*time.Hour).Truncate(24*time.Hour), testNow.Add(-4*24*time.Hour).Truncate(24*time.Hour)
	cfg := graphsim.Config{Seed: 11, Now: func() time.Time { return testNow }}
	plain := graphsim.New(cfg)
	cfg.BadNetworkDays = []time.Time{bad.Add(13 * time.Hour)}
	knob := graphsim.New(cfg)

	usual, _ := audioPoorShare(t, plain, bad)
	worse, _ := audioPoorShare(t, knob, bad)
	t.Logf("poor audio streams: %.1f%% on a usual day, %.1f%% on a bad network day", 100*usual, 100*worse)
	if usual > 0.09 || worse < 3*usual || worse < 0.15 {
		t.Errorf("poor audio share %.3f usually, %.3f on a bad day; want single digits, then several times more", usual, worse)
	}
	_, a := audioPoorShare(t, plain, good)
	_, b := audioPoorShare(t, knob, good)
	if len(a) != len(b) {
		t.Fatalf("%d records, %d with the knob", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("record %d of %s differs with a bad network on another day", i, good)
		}
	}
}
