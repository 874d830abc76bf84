package cli

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/abuseguard/abuseguard/internal/testenv"
)

// TestDashboardInChromium drives the built-in dashboard in headless
// Chromium: sign in with the admin token, see the decision a probe causes
// appear, lift it as a false positive, and promote a shadow limit to
// enforce; then checks each effect on the guard itself. Screenshots go to
// a temporary directory (logged).
func TestDashboardInChromium(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			io.WriteString(w, "home\n")
			return
		}
		http.NotFound(w, r)
	}))
	defer upstream.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "abuseguard.yaml")
	conf := `decisions: {path: ""}
access_log: off
events: off
limits:
  - {name: tight, key: [ip], rate: 1/h, burst: 1, mode: shadow}
`
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ABUSEGUARD_ADMIN_TOKEN", "browser-test-token")
	g := startGuard(t, cfg, upstream.URL)
	defer g.stop()

	ctx, cancelTimeout := context.WithTimeout(testenv.Chromium(t), 90*time.Second)
	defer cancelTimeout()
	// The window the screenshots show.
	if err := chromedp.Run(ctx, emulation.SetDeviceMetricsOverride(1280, 900, 1, false)); err != nil {
		t.Fatal(err)
	}

	shots := filepath.Join(os.TempDir(), fmt.Sprintf("abuseguard-ui-%d", time.Now().UnixNano()))
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
				return err
			}
			if err := checkScreenshot(buf); err != nil {
				return fmt.Errorf("screenshot %s: %w", name, err)
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	do := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			var html string
			_ = chromedp.Run(ctx, chromedp.OuterHTML("body", &html, chromedp.ByQuery))
			t.Fatalf("%s: %v\npage:\n%.3000s", step, err, html)
		}
	}

	// A wrong token stays on the login page; the right one signs in.
	do("wrong token", chromedp.Navigate(g.admin+"/ui/"), chromedp.WaitVisible("token", chromedp.ByID),
		chromedp.SendKeys("token", "not-it", chromedp.ByID), chromedp.Click("signin", chromedp.ByID),
		chromedp.WaitVisible("failed", chromedp.ByID))
	do("sign in", chromedp.SendKeys("token", "browser-test-token", chromedp.ByID), chromedp.Click("signin", chromedp.ByID),
		chromedp.WaitVisible("executive", chromedp.ByID), chromedp.WaitVisible("#chart-traffic .uplot", chromedp.ByQuery), shot("1-executive"))

	// A prober gets blocked; its decision shows up on the on-call view.
	prober := clientFrom("127.0.0.2")
	blocked := false
	for i := 1; i <= 40 && !blocked; i++ {
		status, _ := get(t, prober, fmt.Sprintf("%s/wp-%d.php.old", g.proxy, i))
		blocked = status == 403
	}
	if !blocked {
		t.Fatal("the prober was not blocked within 40 requests")
	}
	row := `#decisions tr[data-entity="ip:127.0.0.2"]`
	do("decision appears", chromedp.Click(`nav button[data-view="oncall"]`, chromedp.ByQuery),
		chromedp.WaitVisible(row, chromedp.ByQuery), shot("2-oncall-decision"))
	do("incident appears", chromedp.Click(`nav button[data-view="incidents"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#incidents-table tr[data-id^="inc_"]`, chromedp.ByQuery), shot("2b-incidents"),
		chromedp.Click(`nav button[data-view="oncall"]`, chromedp.ByQuery), chromedp.WaitVisible(row, chromedp.ByQuery))
	var id string
	var ok bool
	if err := chromedp.Run(ctx, chromedp.AttributeValue(row, "data-id", &id, &ok, chromedp.ByQuery)); err != nil || id == "" {
		t.Fatalf("decision id: %v", err)
	}

	// Lift it as a false positive.
	do("lift", chromedp.Click(row+" button.lift", chromedp.ByQuery), chromedp.WaitNotPresent(row, chromedp.ByQuery), shot("3-lifted"))
	if code, _, _ := run("decisions", "false-positive", id, "--admin", g.admin, "--token", "browser-test-token"); code != 1 {
		t.Errorf("decision %s is still active after the dashboard lifted it", id)
	}
	_, metrics := get(t, http.DefaultClient, g.admin+"/metrics")
	if !strings.Contains(metrics, `abuseguard_feedback_total{reason="probing",verdict="false_positive"} 1`) {
		t.Errorf("the lift was not counted as a false positive:\n%s", grepLines(metrics, "feedback"))
	}

	// Promote the shadow limit to enforce.
	tight := `#rules-table tr[data-name="tight"]`
	do("rules", chromedp.Click(`nav button[data-view="rules"]`, chromedp.ByQuery),
		chromedp.WaitVisible(tight+`[data-mode="shadow"]`, chromedp.ByQuery), shot("4-rules"))
	do("promote", chromedp.Click(tight+" button.promote-enforce", chromedp.ByQuery),
		chromedp.WaitVisible(tight+`[data-mode="enforce"]`, chromedp.ByQuery), shot("5-promoted"))
	fresh := clientFrom("127.0.0.7")
	if s1, _ := get(t, fresh, g.proxy+"/"); s1 != 200 {
		t.Fatalf("first request of a fresh client: %d", s1)
	}
	if s2, _ := get(t, fresh, g.proxy+"/"); s2 != 429 {
		t.Errorf("after the dashboard promoted tight to enforce, a second request got %d, want 429", s2)
	}

	// Without a session the API is closed; a forged change without the
	// CSRF token is refused even with one.
	resp, err := http.Get(g.admin + "/ui/api/v1/decisions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("/ui/api without a session: %d, want 401", resp.StatusCode)
	}
}

// checkScreenshot checks that buf is a PNG of the browser window (1280
// wide) showing something: the top bar's dark pixels and the page's light
// ones both present.
func checkScreenshot(buf []byte) error {
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		return err
	}
	b := img.Bounds()
	if b.Dx() != 1280 || b.Dy() < 600 {
		return fmt.Errorf("%dx%d, want 1280 wide and at least 600 high", b.Dx(), b.Dy())
	}
	var dark, light int
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			switch l := (r + g + bl) / 3 >> 8; {
			case l < 64:
				dark++
			case l > 192:
				light++
			}
		}
	}
	if dark == 0 || light == 0 {
		return fmt.Errorf("a blank page (%d dark, %d light samples)", dark, light)
	}
	return nil
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
