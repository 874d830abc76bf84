package proxy

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/abuseguard/abuseguard/internal/testenv"
	"github.com/abuseguard/abuseguard/pkg/challenge"
)

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
	tab := testenv.Chromium(t)
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
	if err := testenv.WaitForText(ctx, "upstream says hi"); err != nil {
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

// TestBrowserWithoutJavaScriptIsExplained: with JavaScript off the page
// says what is needed, and the upstream is not reached.
func TestBrowserWithoutJavaScriptIsExplained(t *testing.T) {
	ctx := testenv.Chromium(t)
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
	ctx := testenv.Chromium(b)
	for _, d := range []int{8, 12, 14, 16, 18, 20, 22} {
		srv, _ := browserGuard(b, d)
		b.Run("difficulty="+strconv.Itoa(d), func(b *testing.B) {
			for b.Loop() {
				if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(srv.URL+"/guarded/page")); err != nil {
					b.Fatal(err)
				}
				if err := testenv.WaitForText(ctx, "upstream says hi"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
