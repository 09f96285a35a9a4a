package main

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

	"github.com/chromedp/chromedp"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
)

// chromium returns Debian's chromium, installing it with
// tests/browser/install.sh if it is missing; the test skips only when it
// cannot be installed.
func chromium(t *testing.T) string {
	t.Helper()
	const path = "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		out, _ := exec.CommandContext(ctx, "bash", "../../tests/browser/install.sh").CombinedOutput()
		if _, err := os.Stat(path); err != nil {
			t.Skipf("skipping the browser test: chromium is not at %s and could not be installed (tests/browser/install.sh said: %s)", path, strings.TrimSpace(string(out)))
		}
	}
	return path
}

// The dashboard in a real headless Chromium while orders flow: a key
// card's budget gauge moves, a key the venue throttles shows throttled,
// and the page is saved as tests/artifacts/dashboard.png.
func TestDashboardInBrowser(t *testing.T) {
	path := chromium(t)
	ka := testApp(t, parseConfig(t, monitorConfig), withHTTP)
	c := newClient(t, ka)
	stopAlpha := flow(t, c.nc, "alpha", 30)
	defer stopAlpha()
	// beta-1's venue takes 5 orders an hour: at 3 a second beta-1 is
	// soon throttled and beta-2 takes over meanwhile.
	stopBeta := flow(t, c.nc, "beta", 3)
	defer stopBeta()
	for i := range 3 {
		c.submit("alpha", fmt.Sprintf(`{"client_order_id":"bad%d","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0"}`, i))
	}

	// KEYROUTER_SCREENSHOT_AFTER (a duration) lets the load run that much
	// longer before the screenshot: the sparklines then show a history
	// (the README's picture was taken so).
	soak, _ := time.ParseDuration(os.Getenv("KEYROUTER_SCREENSHOT_AFTER"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second+soak)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	defer cancelAlloc()
	var logMu sync.Mutex
	var browserErrs []string
	bctx, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithErrorf(func(f string, a ...any) {
		logMu.Lock()
		browserErrs = append(browserErrs, fmt.Sprintf(f, a...))
		logMu.Unlock()
	}))
	defer cancelBrowser()

	gauge := `.card[data-key="alpha-1"] .gauge[data-limit="orders_10s"]`
	if err := chromedp.Do(bctx, chromedp.Navigate(ka.HTTPURL()), chromedp.WaitVisible(gauge)); err != nil {
		t.Fatalf("loading the dashboard: %v (browser errors: %v)", err, browserErrs)
	}

	// The gauge moves: its fill takes at least two different non-zero
	// widths as the key's budget fills within its window.
	widths := map[string]bool{}
	bustest.WaitFor(t, "alpha-1's orders_10s gauge to move", func() bool {
		w, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('`+gauge+` .gauge-fill').style.width`))
		if err != nil {
			t.Fatalf("reading the gauge: %v", err)
		}
		if w != "" && w != "0%" && w != "0.0%" {
			widths[w] = true
		}
		time.Sleep(200 * time.Millisecond)
		return len(widths) >= 2
	})

	// The throttled key shows it: the card's state and its badge.
	tctx, tcancel := context.WithTimeout(bctx, 25*time.Second)
	defer tcancel()
	throttled := `.card[data-key="beta-1"][data-state="throttled"]`
	if err := chromedp.Do(tctx, chromedp.WaitVisible(throttled)); err != nil {
		state, _ := chromedp.Run(bctx, chromedp.AttributeValue(`.card[data-key="beta-1"]`, "data-state"))
		t.Fatalf("beta-1 never shown throttled (last state %q): %v", state.Value, err)
	}
	badge, err := chromedp.Run(bctx, chromedp.Text(`.card[data-key="beta-1"] .badge`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(strings.TrimSpace(badge), string(messages.KeyThrottled)) {
		t.Errorf("beta-1's badge says %q, want throttled", badge)
	}
	rejections, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#rejections tbody tr:not(.empty)').length`))
	if err != nil || rejections == 0 {
		t.Errorf("latest rejections: %d rows (%v), want the invalid intents listed", rejections, err)
	}

	if soak > 0 {
		time.Sleep(soak)
		sctx, scancel := context.WithTimeout(bctx, 15*time.Second)
		_ = chromedp.Do(sctx, chromedp.WaitVisible(throttled))
		scancel()
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join("..", "..", "tests", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))
}
