package transform

import (
	"slices"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

func TestClassifyStream(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name, label string
		m           schemas.StreamMetrics
		quality     string
		due         []string
	}{
		{"audio, nothing reported", "main-audio", schemas.StreamMetrics{}, QualityUnclassified, nil},
		{"audio, all under", "main-audio", schemas.StreamMetrics{AverageAudioDegradation: f(1.0), AverageRoundTripTimeMS: f(500), AveragePacketLossRate: f(0.1), AverageJitterMS: f(30), AverageRatioOfConcealedSamples: f(0.07)}, QualityGood, nil},
		{"audio, one reported", "main-audio", schemas.StreamMetrics{AverageJitterMS: f(12)}, QualityGood, nil},
		{"audio, degradation", "main-audio", schemas.StreamMetrics{AverageAudioDegradation: f(1.01)}, QualityPoor, []string{"average_audio_degradation"}},
		{"audio, two over", "main-audio", schemas.StreamMetrics{AverageRoundTripTimeMS: f(501), AverageJitterMS: f(12), AverageRatioOfConcealedSamples: f(0.08)}, QualityPoor, []string{"average_round_trip_time_ms", "average_ratio_of_concealed_samples"}},
		{"audio, loss", "main-audio", schemas.StreamMetrics{AveragePacketLossRate: f(0.11)}, QualityPoor, []string{"average_packet_loss_rate"}},
		{"audio, jitter", "main-audio", schemas.StreamMetrics{AverageJitterMS: f(30.5)}, QualityPoor, []string{"average_jitter_ms"}},
		{"video, frame loss decides", "main-video", schemas.StreamMetrics{AverageVideoFrameLossPercentage: f(10), AverageVideoFrameRate: f(1)}, QualityGood, nil},
		{"video, frame loss poor", "main-video", schemas.StreamMetrics{AverageVideoFrameLossPercentage: f(51)}, QualityPoor, []string{"average_video_frame_loss_percentage"}},
		{"video, then frame rate", "main-video", schemas.StreamMetrics{AverageVideoFrameRate: f(6.9)}, QualityPoor, []string{"average_video_frame_rate"}},
		{"video, frame rate good", "main-video", schemas.StreamMetrics{AverageVideoFrameRate: f(7), PostForwardErrorCorrectionPacketLossRate: f(0.9)}, QualityGood, nil},
		{"video, then post-FEC loss", "main-video", schemas.StreamMetrics{PostForwardErrorCorrectionPacketLossRate: f(0.16)}, QualityPoor, []string{"post_forward_error_correction_packet_loss_rate"}},
		{"video, nothing", "main-video", schemas.StreamMetrics{AverageJitterMS: f(100)}, QualityUnclassified, nil},
		{"VBSS, frame rate 2", "applicationsharing-video", schemas.StreamMetrics{AverageVideoFrameRate: f(2)}, QualityGood, nil},
		{"VBSS, frame rate under 2", "applicationsharing-video", schemas.StreamMetrics{AverageVideoFrameRate: f(1.9)}, QualityPoor, []string{"average_video_frame_rate"}},
		{"RDP sharing: metrics Graph does not send", "applicationsharing", schemas.StreamMetrics{AverageJitterMS: f(100)}, QualityUnclassified, nil},
		{"data", "data", schemas.StreamMetrics{AveragePacketLossRate: f(0.5)}, QualityUnclassified, nil},
	} {
		q, due := ClassifyStream(tc.label, &tc.m)
		if q != tc.quality || !slices.Equal(due, tc.due) {
			t.Errorf("%s: %s %v, want %s %v", tc.name, q, due, tc.quality, tc.due)
		}
	}
}
