package loadtest_test

import (
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

func TestMemory(t *testing.T) {
	loadtest.RunStoreTests(t, func(*testing.T) load.Store { return loadtest.Memory() })
}
