package transform

import "github.com/callrecords-etl/callrecords-etl/schemas"

// Stream quality as Microsoft's Call Quality Dashboard classifies it
// ("Stream Classification in Call Quality Dashboard", MicrosoftDocs
// OfficeDocs-SkypeForBusiness, Teams/stream-classification-in-call-quality-dashboard.md):
// the rules live in the tables below, named by QualityRulesVersion, so a
// change of rules is a new version and a replay, not a schema change.

// QualityRulesVersion names the rules a stream's quality columns were
// computed with.
const QualityRulesVersion = "cqd-2020-1"

// Stream qualities.
const (
	QualityGood         = "good"
	QualityPoor         = "poor"
	QualityUnclassified = "unclassified"
)

// qualityMetric is one metric of a classifier: its name in poor_due_to,
// how to read it from a stream, and when it makes the stream poor.
type qualityMetric struct {
	name string
	get  func(*schemas.StreamMetrics) *float64
	poor func(float64) bool
}

func above(limit float64) func(float64) bool { return func(v float64) bool { return v > limit } }
func below(limit float64) func(float64) bool { return func(v float64) bool { return v < limit } }

// audioRules: poor if any metric is over its limit; unclassified if none is
// reported.
var audioRules = []qualityMetric{
	{"average_audio_degradation", func(m *schemas.StreamMetrics) *float64 { return m.AverageAudioDegradation }, above(1.0)},
	{"average_round_trip_time_ms", func(m *schemas.StreamMetrics) *float64 { return m.AverageRoundTripTimeMS }, above(500)},
	{"average_packet_loss_rate", func(m *schemas.StreamMetrics) *float64 { return m.AveragePacketLossRate }, above(0.1)},
	{"average_jitter_ms", func(m *schemas.StreamMetrics) *float64 { return m.AverageJitterMS }, above(30)},
	{"average_ratio_of_concealed_samples", func(m *schemas.StreamMetrics) *float64 { return m.AverageRatioOfConcealedSamples }, above(0.07)},
}

// videoRules and vbssRules: the first reported metric decides; unclassified
// if none is.
var (
	frameLoss = qualityMetric{"average_video_frame_loss_percentage", func(m *schemas.StreamMetrics) *float64 { return m.AverageVideoFrameLossPercentage }, above(50)}
	postFEC   = qualityMetric{"post_forward_error_correction_packet_loss_rate", func(m *schemas.StreamMetrics) *float64 { return m.PostForwardErrorCorrectionPacketLossRate }, above(0.15)}
	frameRate = func(limit float64) qualityMetric {
		return qualityMetric{"average_video_frame_rate", func(m *schemas.StreamMetrics) *float64 { return m.AverageVideoFrameRate }, below(limit)}
	}
	videoRules = []qualityMetric{frameLoss, frameRate(7), postFEC}
	vbssRules  = []qualityMetric{frameLoss, frameRate(2), postFEC}
)

// ClassifyStream returns the quality of a stream of a media line labelled
// label, and the metrics that made it poor. Audio is main-audio, video
// main-video, video-based screen sharing applicationsharing-video; other
// labels (RDP application sharing, whose metrics Graph does not report;
// data) are unclassified.
func ClassifyStream(label string, m *schemas.StreamMetrics) (quality string, poorDueTo []string) {
	switch label {
	case "main-audio":
		reported := false
		for _, r := range audioRules {
			if v := r.get(m); v != nil {
				reported = true
				if r.poor(*v) {
					poorDueTo = append(poorDueTo, r.name)
				}
			}
		}
		switch {
		case len(poorDueTo) > 0:
			return QualityPoor, poorDueTo
		case reported:
			return QualityGood, nil
		}
	case "main-video":
		return firstReported(videoRules, m)
	case "applicationsharing-video":
		return firstReported(vbssRules, m)
	}
	return QualityUnclassified, nil
}

func firstReported(rules []qualityMetric, m *schemas.StreamMetrics) (string, []string) {
	for _, r := range rules {
		if v := r.get(m); v != nil {
			if r.poor(*v) {
				return QualityPoor, []string{r.name}
			}
			return QualityGood, nil
		}
	}
	return QualityUnclassified, nil
}
