package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// Azurite's well-known development account and the container StartAzurite creates.
const (
	AzureAccount   = "devstoreaccount1"
	AzureKey       = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	AzureContainer = "lake"
)

// AzuriteVersion is the pinned Azurite the Makefile installs (the last one
// that runs on Node.js 20).
const AzuriteVersion = "3.35.0"

// AzuritePath returns the azurite-blob launcher to use: $AZURITE_BIN if set,
// else bin/azurite/node_modules/.bin/azurite-blob in the nearest directory
// above the working directory that holds a go.mod and that file. It returns
// "" if there is none.
func AzuritePath() string {
	if p := os.Getenv("AZURITE_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "bin", "azurite", "node_modules", ".bin", "azurite-blob")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Azurite is a running Azurite blob service.
type Azurite struct {
	// Endpoint is the blob service URL of the development account,
	// http://127.0.0.1:PORT/devstoreaccount1.
	Endpoint string
}

// ConnectionString returns a connection string for the account at endpoint
// (the server's, or a proxy's in front of it).
func (a Azurite) ConnectionString(endpoint string) string {
	return "DefaultEndpointsProtocol=http;AccountName=" + AzureAccount + ";AccountKey=" + AzureKey + ";BlobEndpoint=" + endpoint + ";"
}

// Config returns an AzureConfig that reaches the server with the account key.
func (a Azurite) Config() load.AzureConfig {
	return load.AzureConfig{ConnectionString: a.ConnectionString(a.Endpoint)}
}

// Dest returns the abfss:// destination of prefix in the container.
func (a Azurite) Dest(prefix string) string {
	return "abfss://" + AzureContainer + "@" + AzureAccount + ".dfs.core.windows.net/" + prefix
}

// StartAzurite starts Azurite's blob service in memory on a free loopback
// port, creates the container AzureContainer, and stops it when t ends.
// Unlike StartS3 it sets no environment variable, so tests using it may be
// parallel.
//
// Without Azurite (see AzuritePath) the test is skipped with a loud message,
// or fails when CI=true or CALLRECORDS_TEST_DISALLOW_SKIP=1.
func StartAzurite(t testing.TB) Azurite {
	t.Helper()
	bin := AzuritePath()
	if bin == "" {
		msg := "!!! Azurite not found: Azure tests NOT RUN. Install it with " +
			"`npm install --prefix bin/azurite azurite@" + AzuriteVersion + "` " +
			"in the repository root (make test does), or set AZURITE_BIN"
		if mustNotSkip() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var lastErr error
	for range 3 { // the free port may be taken between probe and bind
		addr, err := freePort()
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		if lastErr = startAzurite(t, bin, addr); lastErr == nil {
			a := Azurite{Endpoint: "http://" + addr + "/" + AzureAccount}
			c, err := container.NewClientFromConnectionString(a.ConnectionString(a.Endpoint), AzureContainer, nil)
			if err == nil {
				_, err = c.Create(context.Background(), nil)
			}
			if err != nil {
				t.Fatalf("create container %s on Azurite: %v", AzureContainer, err)
			}
			return a
		}
	}
	t.Fatalf("start azurite: %v", lastErr)
	return Azurite{}
}

func startAzurite(t testing.TB, bin, addr string) error {
	host, port, _ := strings.Cut(addr, ":")
	var out syncBuffer
	cmd := exec.Command(bin, "--blobHost", host, "--blobPort", port, "--inMemoryPersistence",
		"--extentMemoryLimit", "512", "--disableTelemetry", "--skipApiVersionCheck", "--silent")
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get("http://" + addr + "/" + AzureAccount + "?comp=list")
		if err == nil {
			resp.Body.Close()
			t.Cleanup(stop)
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("azurite exited (%v): %s", waitErr, out.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			stop()
			return errors.New("azurite did not answer on " + addr + " within " + startTimeout.String() + ": " + out.String())
		}
	}
}
