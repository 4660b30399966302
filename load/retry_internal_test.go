package load

import (
	"errors"
	"testing"
	"time"
)

// TestS3Retryer: the attempts and the longest wait are the config's, the
// SDK's (up to 20 s) when it sets none.
func TestS3Retryer(t *testing.T) {
	err := errors.New("503")
	short := s3Retryer(S3Config{MaxAttempts: 3, MaxBackoff: 5 * time.Millisecond})
	if n := short.MaxAttempts(); n != 3 {
		t.Errorf("MaxAttempts = %d, want 3", n)
	}
	for attempt := 1; attempt <= 8; attempt++ {
		if d, _ := short.RetryDelay(attempt, err); d > 5*time.Millisecond {
			t.Errorf("retry %d waits %s, want at most MaxBackoff 5ms", attempt, d)
		}
	}
	def := s3Retryer(S3Config{})
	if n := def.MaxAttempts(); n != DefaultMaxAttempts {
		t.Errorf("MaxAttempts = %d, want DefaultMaxAttempts %d", n, DefaultMaxAttempts)
	}
	var longest time.Duration
	for attempt := 20; attempt < 30; attempt++ { // each drawn up to 20 s: all ten under 1 s once in 10^13
		d, _ := def.RetryDelay(attempt, err)
		longest = max(longest, d)
	}
	if longest < time.Second || longest > 20*time.Second {
		t.Errorf("late retries wait up to %s by default, want the SDK's waits of up to 20s", longest)
	}
	if err := (S3Config{Bucket: "b", MaxBackoff: -time.Second}).Validate(); err == nil {
		t.Error("a negative MaxBackoff is valid, want an error")
	}
}

// TestAzureRetry: the first wait is the config's, 200 ms when it sets none,
// and the longest 50 times it.
func TestAzureRetry(t *testing.T) {
	if o := azureRetry(AzureConfig{MaxRetries: 1, RetryDelay: 5 * time.Millisecond}); o.MaxRetries != 1 || o.RetryDelay != 5*time.Millisecond || o.MaxRetryDelay != 250*time.Millisecond {
		t.Errorf("retry options %+v, want 1 retry after 5ms, at most 250ms", o)
	}
	if o := azureRetry(AzureConfig{}); o.MaxRetries != DefaultMaxAttempts-1 || o.RetryDelay != 200*time.Millisecond || o.MaxRetryDelay != 10*time.Second {
		t.Errorf("default retry options %+v, want %d retries after 200ms, at most 10s", o, DefaultMaxAttempts-1)
	}
}
