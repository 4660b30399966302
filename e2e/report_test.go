package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
)

// chromiumPath is the headless browser the report test opens the page in:
// $CHROMIUM_BIN, or Debian's chromium (make test installs it with apt-get).
// Missing: a loud skip, or a failure under CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	name := os.Getenv("CHROMIUM_BIN")
	if name == "" {
		name = "chromium"
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		msg := "!!! chromium not found: the report is NOT opened in a browser. make test installs it (apt-get install chromium), or set CHROMIUM_BIN"
		if os.Getenv("CI") == "true" || os.Getenv("CALLRECORDS_TEST_DISALLOW_SKIP") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// TestReport_InHeadlessChromium writes the report of a simulator lake and
// opens it in headless Chromium as a reader would: the page loads with no
// script, no exception and no console or browser error, fetches nothing
// but itself, and shows every section with its charts drawn at a visible
// size, one bar per day in the poor-stream chart.
func TestReport_InHeadlessChromium(t *testing.T) {
	t.Parallel()
	bin := chromiumPath(t)
	sim, url := newSim(t)
	dest := t.TempDir()
	runJob(t, url, dest, load.S3Config{})
	cfg := jobs.DefaultConfig()
	cfg.TenantID, cfg.Dest, cfg.Now = tenant, dest, func() time.Time { return now }
	rep, err := jobs.ReadReport(context.Background(), cfg)
	if err != nil {
		t.Fatalf("ReadReport: %v", err)
	}
	page := filepath.Join(t.TempDir(), "report.html")
	if err := rep.WriteFile(page, now); err != nil {
		t.Fatal(err)
	}
	currencies := len(sim.PstnTruth(now.Add(-jobs.DefaultConfig().UsageHistory), now).ChargeByCurrency)
	if currencies < 2 || len(rep.Quality()) < 2 {
		t.Fatalf("simulator data too thin: %d currencies, %d days of streams", currencies, len(rep.Quality()))
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.WindowSize(1200, 900))
	ctx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute) // a hung browser fails the test instead of blocking it
	defer cancel()

	// Open the tab first, so that the listener sees every event of the page.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	var mu sync.Mutex
	var problems, requests []string
	err = chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, fmt.Sprintf("console.%s", ev.Type))
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				problems = append(problems, fmt.Sprintf("%s %s: %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text))
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitReady("main")); err != nil {
		t.Fatalf("open the report in %s: %v", bin, err)
	}
	eval := func(expr string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return n
	}
	sections, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("section h2")].map(h => h.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	scripts := eval(`document.scripts.length`)
	charts := eval(`document.querySelectorAll("svg.chart").length`)
	// A chart is drawn when the browser lays it out at a readable size and
	// at least one of its bars has a width and a height.
	drawn := eval(`[...document.querySelectorAll("svg.chart")].filter(s => {
		const r = s.getBoundingClientRect();
		return r.width > 200 && r.height > 80 && [...s.querySelectorAll("rect.bar")].some(b => b.getBBox().width > 0 && b.getBBox().height > 0);
	}).length`)
	rateBars := eval(`document.querySelectorAll("#quality svg.chart")[0].querySelectorAll("rect.bar").length`)
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("the browser reported:\n%s", strings.Join(problems, "\n"))
	}
	for _, u := range requests {
		if u != "file://"+page {
			t.Errorf("the page fetched %s; it must stand alone", u)
		}
	}
	if scripts != 0 {
		t.Errorf("the page has %d scripts, want none", scripts)
	}
	if want := []string{"PSTN cost per month and currency", "Minutes by call type", "Poor streams per day, and why", "Call-queue wait", "Completeness per day"}; fmt.Sprint(sections) != fmt.Sprint(want) {
		t.Errorf("sections %q, want %q", sections, want)
	}
	// One cost chart per currency, minutes, poor rate per day, poor causes.
	if want := currencies + 5; charts != want || drawn != want {
		t.Errorf("%d charts, %d of them drawn, want %d drawn", charts, drawn, want)
	}
	if rateBars != len(rep.Quality()) {
		t.Errorf("poor-stream chart has %d bars, want one per day (%d)", rateBars, len(rep.Quality()))
	}
}
