package proxy

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/abuseguard/abuseguard/internal/testenv"
	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// browser starts headless Chromium (the Debian package, installed by
// .ci/run) with a fresh profile and returns a context driving one tab.
func browser(t testing.TB) context.Context {
	t.Helper()
	path := testenv.LookPath(t, "chromium")
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
	// The page's console and uncaught exceptions go to the test log.
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

// browserGuard is the proxy on a loopback port, challenging /guarded at
// the given difficulty, in front of an upstream that records requests.
func browserGuard(t testing.TB, difficulty int) (*httptest.Server, *upstream) {
	t.Helper()
	up := newUpstream(t)
	yaml := strings.Replace(challengeConfig, "difficulty: [8, 10]", "difficulty: ["+strconv.Itoa(difficulty)+"]", 1)
	h := newHarness(t, yaml, up.URL, nil)
	h.p.opts.Now = time.Now // the browser runs on the wall clock
	srv := httptest.NewServer(h.p)
	t.Cleanup(srv.Close)
	return srv, up
}

// TestBrowserSolvesChallenge: a real browser loads a challenged page
// through the guard, solves it in the interstitial's worker, and reaches
// the upstream with the HttpOnly pass cookie.
func TestBrowserSolvesChallenge(t *testing.T) {
	tab := browser(t)
	srv, up := browserGuard(t, 16) // the default ladder's first step
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()

	// The documents the tab receives: the interstitial first, then the
	// upstream's page. (Waiting for the interstitial's elements instead
	// races with its reload, which may come before the wait starts.)
	docs := make(chan *network.Response, 8)
	chromedp.ListenTarget(ctx, func(ev any) {
		if ev, ok := ev.(*network.EventResponseReceived); ok && ev.Type == network.ResourceTypeDocument {
			select {
			case docs <- ev.Response:
			default:
			}
		}
	})
	start := time.Now()
	var body, status string
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/guarded/page?q=1")); err != nil {
		t.Fatalf("interstitial: %v", err)
	}
	select {
	case r := <-docs:
		if r.Status != 429 || !strings.HasPrefix(r.MimeType, "text/html") {
			t.Fatalf("first document: %d %s, want the 429 interstitial page", r.Status, r.MimeType)
		}
	case <-ctx.Done():
		t.Fatal("no document received")
	}
	// The page solves, leaves its solution and reloads: the upstream's
	// text replaces it.
	if err := waitForText(ctx, "upstream says hi"); err != nil {
		late, cancel := context.WithTimeout(tab, 5*time.Second)
		defer cancel()
		_ = chromedp.Run(late, chromedp.Text(`#status`, &status, chromedp.ByID))
		t.Fatalf("never reached the upstream (status %q): %v", status, err)
	}
	took := time.Since(start)
	if err := chromedp.Run(ctx, chromedp.Text("body", &body, chromedp.ByQuery), chromedp.Location(&status)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(status, "/guarded/page?q=1") {
		t.Errorf("ended at %q, want the original URL", status)
	}
	t.Logf("challenge at difficulty 16 solved and page reached in %v", took)

	last := up.last(t)
	if !strings.Contains(last.Get("Cookie"), challenge.PassCookie+"=") && !strings.Contains(last.Get("Cookie"), challenge.SolutionCookie+"=") {
		t.Errorf("the upstream request carried neither pass nor solution cookie: %q", last.Get("Cookie"))
	}
	var cookies []*network.Cookie
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{srv.URL}).Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	var pass *network.Cookie
	for _, c := range cookies {
		switch c.Name {
		case challenge.PassCookie:
			pass = c
		case challenge.SolutionCookie:
			t.Errorf("the solution cookie outlived its use: %+v", c)
		}
	}
	if pass == nil || !pass.HTTPOnly || pass.SameSite != network.CookieSameSiteLax || pass.Secure {
		t.Fatalf("pass cookie %+v: want HttpOnly, SameSite=Lax, not Secure on plain HTTP", pass)
	}
	// The next page load goes straight through on the pass.
	calls := up.calls()
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/guarded/other"), chromedp.Text("body", &body, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "upstream says hi") || up.calls() <= calls { // (a favicon request may reach it too)
		t.Fatalf("with the pass: %q", body)
	}
	if !strings.Contains(up.last(t).Get("Cookie"), challenge.PassCookie+"=") && !strings.Contains(up.seenCookie(), challenge.PassCookie+"=") {
		t.Errorf("second page without the pass cookie: %q", up.last(t).Get("Cookie"))
	}
}

// waitForText waits until the tab's page shows text, across the page's
// own navigations (the interstitial reloads itself), or ctx ends.
func waitForText(ctx context.Context, text string) error {
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

// TestBrowserWithoutJavaScriptIsExplained: with JavaScript off the page
// says what is needed, and the upstream is not reached.
func TestBrowserWithoutJavaScriptIsExplained(t *testing.T) {
	ctx := browser(t)
	srv, up := browserGuard(t, 16)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var text string
	if err := chromedp.Run(ctx,
		emulation.SetScriptExecutionDisabled(true),
		chromedp.Navigate(srv.URL+"/guarded/page"),
		chromedp.Text("body", &text, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "JavaScript is turned off") || up.reached("/guarded/page") {
		t.Fatalf("without JavaScript: %q, upstream reached: %v", text, up.reached("/guarded/page"))
	}
}

// BenchmarkBrowserSolve is the time from navigating to a challenged page
// to the upstream's answer in headless Chromium, by difficulty: the cost a
// browser user pays (page load, solve in the worker, reload).
func BenchmarkBrowserSolve(b *testing.B) {
	ctx := browser(b)
	for _, d := range []int{8, 12, 14, 16, 18, 20, 22} {
		srv, _ := browserGuard(b, d)
		b.Run("difficulty="+strconv.Itoa(d), func(b *testing.B) {
			for b.Loop() {
				if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(srv.URL+"/guarded/page")); err != nil {
					b.Fatal(err)
				}
				if err := waitForText(ctx, "upstream says hi"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
