package loadtest_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

// TestServersDieWithTheTest: a test binary that dies without its cleanups
// (go test -timeout panics, a SIGKILL) leaves no versitygw or Azurite
// running. A helper process (this test binary again) starts both and is
// killed; its servers are gone soon after.
func TestServersDieWithTheTest(t *testing.T) {
	if os.Getenv("LOADTEST_START_AND_WAIT") == "1" {
		loadtest.StartS3(t)
		loadtest.StartAzurite(t)
		os.Stdout.WriteString("started\n")
		time.Sleep(time.Minute) // until the parent kills it
		return
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestServersDieWithTheTest$", "-test.v")
	helper.Env = append(os.Environ(), "LOADTEST_START_AND_WAIT=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Process.Kill()
	lines := bufio.NewScanner(out)
	var log []string
	for lines.Scan() && lines.Text() != "started" {
		log = append(log, lines.Text())
		if strings.HasPrefix(lines.Text(), "--- SKIP") { // a server missing, outside CI
			t.Skipf("helper: %s", strings.Join(log, "\n"))
		}
	}
	if lines.Text() != "started" {
		t.Fatalf("the helper did not start the servers: %s", strings.Join(log, "\n"))
	}
	servers := childrenOf(t, helper.Process.Pid)
	if len(servers) != 2 {
		t.Fatalf("the helper runs %d processes (%v), want versitygw and Azurite", len(servers), servers)
	}
	t.Cleanup(func() { // when this test fails
		for _, pid := range servers {
			if running(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	helper.Process.Kill()
	helper.Wait()
	for _, pid := range servers {
		deadline := time.Now().Add(10 * time.Second)
		for running(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if running(pid) {
			t.Errorf("server %d still running 10 s after its test binary was killed", pid)
		}
	}
}

// childrenOf lists the processes pid started, from /proc.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var pids []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(s)
			pids = append(pids, n)
		}
	}
	return pids
}

// running reports whether pid is alive: not gone, and not a zombie waiting
// for a parent to reap it.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(after, "Z") && !strings.HasPrefix(after, "X")
}
