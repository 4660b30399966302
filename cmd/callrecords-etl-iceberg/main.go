// Command callrecords-etl-iceberg serves the lake's Iceberg catalog to a
// callrecords-etl run with --table-format iceberg, which starts it (see
// package icebergproc): over its stdin and stdout, never by hand. It is a
// binary of its own so that the job's binary does not carry iceberg-go and
// its SDKs, which cost every process that links them about 57 MiB
// resident at start.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
)

func main() {
	// One processor, unless told otherwise: the catalog's work is short
	// commits between waits on the run and the store, and with one P the
	// runtime does not spin looking for work between them (about a tenth
	// of this process's CPU in an import, measured; wall time the same).
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	// The run that started it stops it by closing stdin; a signal to the
	// process group (Ctrl-C, a pod's SIGTERM) reaches the run too.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := jobs.ServeIceberg(ctx, os.Stdin, os.Stdout, iceberg.OpenCatalog); err != nil {
		fmt.Fprintln(os.Stderr, "callrecords-etl-iceberg:", err)
		os.Exit(1)
	}
}
