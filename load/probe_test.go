package load_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

// ignoresConditions is a store whose conditional writes always succeed, like
// a gateway that drops If-None-Match and If-Match.
type ignoresConditions struct{ load.Store }

func (s ignoresConditions) PutIfAbsent(ctx context.Context, key string, r io.Reader) (string, error) {
	return "etag", s.Store.Put(ctx, key, r)
}

func (s ignoresConditions) PutIfMatch(ctx context.Context, key string, r io.Reader, _ string) (string, error) {
	return "etag", s.Store.Put(ctx, key, r)
}

func TestProbeConditionalDetectsIgnoredConditions(t *testing.T) {
	mem := loadtest.Memory()
	err := load.ProbeConditional(context.Background(), ignoresConditions{mem})
	if !errors.Is(err, load.ErrConditionalUnsupported) {
		t.Errorf("ProbeConditional(store ignoring conditions) = %v, want ErrConditionalUnsupported", err)
	}
	var left []string
	mem.List(context.Background(), "", func(o load.Object) error {
		left = append(left, o.Key)
		return nil
	})
	if len(left) != 0 {
		t.Errorf("ProbeConditional left %q behind", left)
	}
}
