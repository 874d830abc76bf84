package testenv

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium starts headless Chromium (the Debian package, installed by
// .ci/run) with a fresh profile and returns a context driving one tab; the
// page's console and uncaught exceptions go to the test log. The browser
// is closed when the test ends. Like LookPath, it skips the test locally
// when chromium is missing and fails it in CI.
func Chromium(t testing.TB) context.Context {
	t.Helper()
	path := LookPath(t, "chromium")
	profile, err := os.MkdirTemp("", "abuseguard-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // closes the browser and waits for it
		cancelTab()
		cancelAlloc()
		_ = os.RemoveAll(profile) // best effort: a crash reporter may still hold a file
	})
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *cdpruntime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			t.Logf("console.%s: %s", ev.Type, strings.Join(args, " "))
		case *cdpruntime.EventExceptionThrown:
			t.Logf("page exception: %s", ev.ExceptionDetails.Error())
		}
	})
	if err := chromedp.Run(ctx); err != nil { // start the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// WaitForText waits until the tab's page shows text, across the page's
// own navigations (a challenge's interstitial reloads itself), or ctx
// ends.
func WaitForText(ctx context.Context, text string) error {
	for {
		var found bool
		err := chromedp.Run(ctx, chromedp.Evaluate(`!!document.body && document.body.innerText.includes(`+strconv.Quote(text)+`)`, &found))
		if err == nil && found {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("page never showed %q: %w", text, ctx.Err())
		}
		select { // a navigation in progress: ask again shortly
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}
