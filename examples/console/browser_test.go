package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/msi"
)

// chromiumPath is Debian's chromium.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a headless Chromium with a fresh profile for t and
// returns the context of its first tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		lab.Require(t, chromiumPath)
	}
	profile := t.TempDir()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 900),
	)
	ctx, cancel := chromedp.NewContext(actx)
	// The first run starts the browser, which lives as long as that run's
	// context: the tab's own, without the bound later actions have.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		// Chromium's helpers may write into the profile for a moment after
		// the browser stops: empty it before TempDir removes it.
		for range 50 {
			if err := os.RemoveAll(profile); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return ctx
}

// browse runs actions in the tab, with a bound.
func browse(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, chromedp.Do(tctx, actions...), what)
}

// submit clicks a button that posts a form and waits for the next page.
func submit(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	resp, err := chromedp.RunResponse(tctx, chromedp.Click(chromedp.CSS(sel)))
	require.NoError(t, err, "clicking %s", sel)
	require.Less(t, resp.Status, int64(400), "clicking %s: HTTP %d", sel, resp.Status)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.TextContent(chromedp.CSS(sel)))
	require.NoError(t, err, sel)
	return strings.TrimSpace(s)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

// waitJS waits until the JavaScript predicate holds in the page.
func waitJS(t *testing.T, ctx context.Context, what, predicate string, timeout time.Duration) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(timeout),
		chromedp.WithPollingInterval(100*time.Millisecond)))
	require.NoError(t, err, what)
}

// TestBrowserFlow drives the console in headless Chromium against an
// emulated fleet with faults: log in with the token, choose the package,
// create a collection from a CSV file with a bad line, schedule every
// computer through the wizard, watch the table reach With Collector and
// Failed (with cause and solution) live, without reloading, while another
// tab cancels one computer; open a failed computer's detail, retry the
// failed ones, probe one computer. With UPDATE_SCREENSHOT=1 it saves the
// finished table as docs/console.png.
func TestBrowserFlow(t *testing.T) {
	ctx := newBrowser(t)
	fleet := startFleet(t, "", demo.Healthy, demo.MSIFailure, demo.WrongPassword, demo.Slow, demo.Slow,
		demo.RebootNeeded, demo.Healthy)
	_, srv := startConsole(t, fleet)
	name := func(i int) string { return fleet.Hosts[i].Name }
	healthy, msiFailure, wrongPW, slowWatched, slowCancelled := name(0), name(1), name(2), name(3), name(4)

	// Log in with the URL printed at start.
	browse(t, ctx, "login", chromedp.Navigate(srv.URL+"/login?token="+testToken), chromedp.WaitVisible(chromedp.CSS("h1")))
	assert.Equal(t, "Discover and install", text(t, ctx, "h1"))

	// Settings: upload the package; it is inspected.
	info, err := msi.Inspect(testMSI)
	require.NoError(t, err)
	abs, err := filepath.Abs(testMSI)
	require.NoError(t, err)
	browse(t, ctx, "settings", chromedp.Navigate(srv.URL+"/settings"),
		chromedp.SetUploadFiles(chromedp.CSS("#msi-file"), []string{abs}))
	submit(t, ctx, "#msi-upload")
	assert.Equal(t, info.ProductCode, text(t, ctx, "#product-code"))
	assert.Equal(t, info.ProductName, text(t, ctx, "#product-name"))
	assert.Equal(t, info.ProductVersion, text(t, ctx, "#product-version"))
	assert.Contains(t, text(t, ctx, "#flash"), "a new Deployer installs it")

	// Collections: a CSV with a bad line; its number is shown, the good rows kept.
	csv := fleet.CSV() + "BAD-PC,300.1.2.3\n"
	badLine := strings.Count(csv, "\n")
	csvPath := filepath.Join(t.TempDir(), "fleet.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte(csv), 0o600))
	browse(t, ctx, "collections", chromedp.Navigate(srv.URL+"/collections"),
		chromedp.SetUploadFiles(chromedp.CSS("#csv-file"), []string{csvPath}))
	submit(t, ctx, "#csv-upload")
	assert.Equal(t, strconv.Itoa(badLine), text(t, ctx, ".problems td.line"))
	assert.Contains(t, text(t, ctx, "#collection-1 p"), fmt.Sprintf("%d computers, 1 bad lines left out", len(fleet.Hosts)))

	// The table: select all, the wizard, schedule.
	browse(t, ctx, "table", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#computers")),
		chromedp.Click(chromedp.CSS("#select-all")))
	submit(t, ctx, "#schedule")
	browse(t, ctx, "wizard", chromedp.WaitVisible(chromedp.CSS("#wizard")),
		chromedp.SendKeys(chromedp.CSS("#user"), fleet.User), chromedp.SendKeys(chromedp.CSS("#password"), fleet.Password))
	submit(t, ctx, "#confirm")
	assert.Contains(t, text(t, ctx, "#flash"), fmt.Sprintf("%d computers scheduled", len(fleet.Hosts)))
	// The page as served: the slow computers are not done yet. A mark
	// shows that the page is never reloaded from here on.
	initial := eval[string](t, ctx, `document.querySelector('tr[data-key="`+slowWatched+`"] .state').textContent`)
	assert.Contains(t, []string{"Scheduled for installation", "Installing Collector"}, initial)
	eval[bool](t, ctx, `window.consoleMark = true`)

	// Meanwhile, in another tab: cancel one computer in flight.
	tab, cancelTab := chromedp.NewContext(ctx)
	require.NoError(t, chromedp.Do(tab))
	browse(t, tab, "detail to cancel", chromedp.Navigate(srv.URL+"/host?key="+slowCancelled))
	submit(t, tab, "#cancel")
	assert.Contains(t, text(t, tab, "#flash"), "Cancelling")
	// The installation is stopped and the computer cleaned up first.
	for deadline := time.Now().Add(30 * time.Second); text(t, tab, "#state") != "Discovered" && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		browse(t, tab, "detail of the cancelled computer", chromedp.Navigate(srv.URL+"/host?key="+slowCancelled))
	}
	assert.Equal(t, "Discovered", text(t, tab, "#state"))
	assert.Contains(t, strings.ToLower(text(t, tab, "#errorinfo")), "cancel")
	require.NoError(t, chromedp.Cancel(tab))
	cancelTab()

	// Live: every computer reaches its final state in the table.
	final := `[...document.querySelectorAll('#computers tbody tr')].every(tr => ['with_collector','failed','discovered'].includes(tr.dataset.state))` +
		` && document.querySelector('tr[data-key="` + slowWatched + `"]').dataset.state === 'with_collector'`
	waitJS(t, ctx, "the table's final states", final, time.Minute)
	assert.True(t, eval[bool](t, ctx, `window.consoleMark === true`), "the page was reloaded")
	row := func(key, sel string) string {
		return strings.TrimSpace(eval[string](t, ctx, `document.querySelector('tr[data-key="`+key+`"] `+sel+`').textContent`))
	}
	assert.Equal(t, "With Collector", row(healthy, ".state"))
	assert.Equal(t, "With Collector", row(slowWatched, ".state"))
	assert.Equal(t, "Discovered", row(slowCancelled, ".state"))
	for _, k := range []string{msiFailure, wrongPW} {
		assert.Equal(t, "Failed", row(k, ".state"), k)
		assert.NotEmpty(t, row(k, ".err"), k)
		assert.NotEmpty(t, row(k, ".cause"), k)
		assert.NotEmpty(t, row(k, ".solution"), k)
	}
	assert.Equal(t, "2", text(t, ctx, "#count-failed"))
	assert.Equal(t, strconv.Itoa(len(fleet.Hosts)-3), text(t, ctx, "#count-with_collector"))
	if os.Getenv("UPDATE_SCREENSHOT") == "1" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile("../../docs/console.png", png, 0o644))
	}

	// A failed computer's detail: error type, message, cause, solution, the
	// MSI log's excerpt, the steps with their times.
	submit(t, ctx, `tr[data-key="`+msiFailure+`"] a`)
	assert.Equal(t, "Failed", text(t, ctx, "#state"))
	for _, sel := range []string{"#error-type", "#error-message", "#error-cause", "#error-solution", "#msi-log"} {
		assert.NotEmpty(t, text(t, ctx, sel), sel)
	}
	assert.Contains(t, text(t, ctx, "#error-message"), "1603")
	assert.Greater(t, eval[int](t, ctx, `document.querySelectorAll('#steps tbody tr').length`), 2)

	// Retry failed: both failed computers are tried again, and fail again.
	browse(t, ctx, "table", chromedp.Navigate(srv.URL+"/"))
	submit(t, ctx, "#retry-failed")
	assert.Equal(t, "2 failed computers rescheduled.", text(t, ctx, "#flash"))
	waitJS(t, ctx, "the retried computers fail again", `document.getElementById('count-failed').textContent === '2' && `+
		`document.querySelector('tr[data-key="`+msiFailure+`"] .attempts').textContent === '1' && `+
		`document.querySelector('tr[data-key="`+msiFailure+`"]').dataset.state === 'failed'`, time.Minute)

	// Probe one computer with the account it was scheduled with.
	browse(t, ctx, "detail", chromedp.Navigate(srv.URL+"/host?key="+healthy))
	submit(t, ctx, "#probe")
	assert.Contains(t, text(t, ctx, "#probe-result h3"), "Ready for installation")
	steps := eval[[]string](t, ctx, `[...document.querySelectorAll('#probe-steps tbody tr')].map(tr => tr.textContent)`)
	require.NotEmpty(t, steps)
	for _, s := range steps {
		assert.Contains(t, s, "ok", s)
		assert.Regexp(t, `[0-9.]+(µs|ms|s)`, s)
	}
	// And one whose password is wrong: the probe says why.
	browse(t, ctx, "detail", chromedp.Navigate(srv.URL+"/host?key="+wrongPW))
	submit(t, ctx, "#probe")
	assert.Contains(t, text(t, ctx, "#probe-result h3"), "Not ready")
	assert.NotEmpty(t, text(t, ctx, "#probe-result dd:nth-of-type(3)"))
}
