package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/verdict"
)

// TestZeroConfigCatalogueScraper reproduces issue 10's first failure under
// the embedded defaults (no routes section): a fast single-address scraper
// walking a catalogue the guard has never been told about went through
// untouched. Inferred templates make the walk visible; a shopper browsing
// the same catalogue is not touched.
func TestZeroConfigCatalogueScraper(t *testing.T) {
	w := newWorld(t, "")
	stoppedAt := 0
	for i := 1; i <= 725 && stoppedAt == 0; i++ {
		w.now = w.now.Add(80 * time.Millisecond) // ~725 a minute
		if a, _, _ := w.do("203.0.113.70", "GET", fmt.Sprintf("/v2/catalog/items/%d", 1000+i), 200, "User-Agent: Mozilla/5.0"); a != verdict.Allow {
			stoppedAt = i
		}
		if i%20 == 0 {
			if a, _, _ := w.do("198.51.100.30", "GET", fmt.Sprintf("/v2/catalog/items/%d", 1000+i*7%500), 200, "User-Agent: Mozilla/5.0"); a != verdict.Allow {
				t.Fatalf("shopper refused at request %d", i)
			}
		}
	}
	if stoppedAt == 0 {
		t.Fatal("a 725-request catalogue walk under the defaults went through untouched")
	}
	t.Logf("scraper first refused at request %d", stoppedAt)
	// Declared routes win: with a route for the items, its parameter is the id.
	w2 := newWorld(t, `routes: [{name: item, match: "GET /v2/catalog/items/{sku}"}]`)
	stopped := false
	for i := 1; i <= 725 && !stopped; i++ {
		a, _, _ := w2.do("203.0.113.71", "GET", fmt.Sprintf("/v2/catalog/items/%d", 1000+i), 200)
		stopped = a != verdict.Allow
	}
	if !stopped {
		t.Fatal("with a declared route the walk went through")
	}
}
