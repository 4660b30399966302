package e2e_test

import (
	"os"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

func TestMain(m *testing.M) {
	loadtest.SetS3Environment() // the tests on versitygw run in parallel
	os.Exit(m.Run())
}
