package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// Credentials and bucket of the server started by StartS3.
const (
	S3AccessKey = "loadtest-access"
	S3SecretKey = "loadtest-secret-key-0123456789"
	S3Bucket    = "lake"
	S3Region    = "us-east-1"
)

// startTimeout bounds how long StartS3 waits for the server to answer.
const startTimeout = 30 * time.Second

// VersitygwPath returns the versitygw binary to use: $VERSITYGW_BIN if set,
// else bin/versitygw (see findTool). It returns "" if there is none.
func VersitygwPath() string { return findTool("VERSITYGW_BIN", "bin", "versitygw") }

// findTool returns the test server binary $env names if it is set and
// exists, else the file at rel (slash-separated parts) in the nearest
// directory above the working directory that holds a go.mod and that file
// (nested modules such as e2e/ find the repository root's), or "".
func findTool(env string, rel ...string) string {
	if p := os.Getenv(env); p != "" {
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
			p := filepath.Join(append([]string{dir}, rel...)...)
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

// mustNotSkip reports whether tests must fail instead of skipping when a
// real server is missing.
func mustNotSkip() bool {
	return os.Getenv("CI") == "true" || os.Getenv("CALLRECORDS_TEST_DISALLOW_SKIP") == "1"
}

// s3Environment is what the AWS SDK must find in the environment to reach a
// server StartS3 starts: its keys and region, and nothing of the developer's
// own AWS configuration. Every server has the same keys.
var s3Environment = [][2]string{
	{"AWS_ACCESS_KEY_ID", S3AccessKey},
	{"AWS_SECRET_ACCESS_KEY", S3SecretKey},
	{"AWS_SESSION_TOKEN", ""},
	{"AWS_REGION", S3Region},
	{"AWS_PROFILE", ""},
	{"AWS_CONFIG_FILE", os.DevNull},
	{"AWS_SHARED_CREDENTIALS_FILE", os.DevNull},
	{"AWS_ENDPOINT_URL", ""},
	{"AWS_ENDPOINT_URL_S3", ""},
	{"AWS_EC2_METADATA_DISABLED", "true"},
	// The server speaks plain http. A CA bundle named in the environment (CI
	// machines name the system's) is read and parsed again at every config
	// load, iceberg-go's at every table load: a third of the Iceberg S3
	// tests' time under -race.
	{"AWS_CA_BUNDLE", ""},
}

// SetS3Environment sets the AWS variables StartS3 needs for the whole test
// binary (from TestMain, before any test runs), so that tests calling
// StartS3 may run in parallel: it sets none of them itself then. A test
// that changes one of them with t.Setenv runs alone, and puts it back.
func SetS3Environment() {
	for _, kv := range s3Environment {
		os.Setenv(kv[0], kv[1])
	}
}

// StartS3 starts a versitygw server with a POSIX backend on a free loopback
// port, rooted in a fresh t.TempDir(), and stops it when t ends. It creates
// the bucket S3Bucket and sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_REGION and the rest of the AWS variables the SDK reads with t.Setenv
// (so t and its parents cannot be parallel) unless SetS3Environment set
// them already. It returns a config for the bucket (path-style, no prefix)
// and the server's root directory: objects are the files
// root/<bucket>/<key>.
//
// Without a binary (see VersitygwPath) the test is skipped with a loud
// message, or fails when CI=true or CALLRECORDS_TEST_DISALLOW_SKIP=1.
func StartS3(t *testing.T) (cfg load.S3Config, root string) {
	t.Helper()
	bin := VersitygwPath()
	if bin == "" {
		msg := "!!! versitygw not found: S3 tests NOT RUN. Install it with " +
			"`GOBIN=$PWD/bin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0` " +
			"in the repository root, or set VERSITYGW_BIN"
		if mustNotSkip() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	root = t.TempDir()
	if err := os.Mkdir(filepath.Join(root, S3Bucket), 0o755); err != nil {
		t.Fatalf("create bucket directory: %v", err)
	}
	for _, kv := range s3Environment {
		if v, ok := os.LookupEnv(kv[0]); !ok || v != kv[1] {
			t.Setenv(kv[0], kv[1])
		}
	}

	var lastErr error
	for range 3 { // the free port may be taken between probe and bind
		addr, err := freePort()
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		if lastErr = startVersitygw(t, bin, addr, root); lastErr == nil {
			return load.S3Config{
				Bucket:         S3Bucket,
				Endpoint:       "http://" + addr,
				Region:         S3Region,
				ForcePathStyle: true,
			}, root
		}
	}
	t.Fatalf("start versitygw: %v", lastErr)
	return load.S3Config{}, ""
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startVersitygw starts the server and waits until it answers HTTP. On
// success the process is stopped at t's cleanup.
func startVersitygw(t *testing.T, bin, addr, root string) error {
	var out syncBuffer
	cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+S3AccessKey, "ROOT_SECRET_KEY="+S3SecretKey)
	dieWithTest(cmd)
	cmd.Stdout = &out
	cmd.Stderr = &out
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
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			t.Cleanup(stop)
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("versitygw exited (%v): %s", waitErr, out.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			stop()
			return errors.New("versitygw did not answer on " + addr + " within " +
				strconv.Itoa(int(startTimeout/time.Second)) + "s: " + out.String())
		}
	}
}
