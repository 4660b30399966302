package extract

import (
	"testing"
	"time"
)

// fakeClock is a manually advanced clock.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time          { return f.t }
func (f *fakeClock) advance(d time.Duration) { f.t = f.t.Add(d) }

func TestTokenBucket_Reserve(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := newTokenBucket(10, 3, clock.now) // one per 100 ms, burst 3

	// The burst goes out at once; the next ones are spaced by the interval.
	var got []time.Duration
	for range 6 {
		got = append(got, b.reserve())
	}
	want := []time.Duration{0, 0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("reserve() #%d = %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}

	// After a long idle spell the bucket refills to the burst, not beyond.
	clock.advance(10 * time.Second)
	for i := range 3 {
		if got := b.reserve(); got != 0 {
			t.Fatalf("after idle: reserve() #%d = %v, want 0", i, got)
		}
	}
	if got := b.reserve(); got != 100*time.Millisecond {
		t.Fatalf("after idle burst: reserve() = %v, want 100ms", got)
	}
}

func TestTokenBucket_RateOverWindow(t *testing.T) {
	// Simulate callers that send as soon as they are allowed and check the
	// count in every 1 s window against burst + rate·window.
	tests := []struct {
		name  string
		rps   float64
		burst int
	}{
		{"75rps", 75, 8},
		{"2.5rps", 2.5, 1},
		{"1000rps", 1000, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
			b := newTokenBucket(tt.rps, tt.burst, clock.now)
			start := clock.t
			var sends []time.Time
			for range int(tt.rps*5) + tt.burst {
				sends = append(sends, clock.t.Add(b.reserve()))
			}
			window := time.Second
			limit := tt.burst + int(tt.rps*window.Seconds())
			for i := range sends {
				n := 0
				for j := i; j < len(sends) && sends[j].Sub(sends[i]) < window; j++ {
					n++
				}
				if n > limit {
					t.Fatalf("%d requests in the 1s window from %v, want <= %d", n, sends[i].Sub(start), limit)
				}
			}
			// And it does not under-use the rate: the last send is at about n/rps.
			last := sends[len(sends)-1].Sub(start)
			want := time.Duration(float64(len(sends)-tt.burst) / tt.rps * float64(time.Second))
			if d := last - want; d < -time.Millisecond || d > time.Millisecond {
				t.Fatalf("last send at %v, want about %v", last, want)
			}
		})
	}
}
