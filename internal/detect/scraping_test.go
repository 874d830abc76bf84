package detect

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// scrapingT0 is aligned to a 10-minute boundary, so counts inside one
// tumbling window are exact.
var scrapingT0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

var (
	scrapingProduct = &request.Route{Name: "product", Template: "GET /products/{id}", Index: 0}
	scrapingAsset   = &request.Route{Name: "assets", Template: "GET /assets/{file...}", Index: 1, Kind: "static"}
	scrapingSearch  = &request.Route{Name: "search", Template: "GET /search", Index: 2}
	scrapingOrder   = &request.Route{Name: "order", Template: "GET /api/orders/{id}", Index: 3}
)

// scrapingView builds a GET for path at scrapingT0+at from ip, matched to
// route with param, or unrouted when route is nil.
func scrapingView(at time.Duration, ip, path, query string, route *request.Route, param string) *request.View {
	return &request.View{
		ID: "r" + strconv.Itoa(int(at/time.Millisecond)), Time: scrapingT0.Add(at),
		ClientIP: netip.MustParseAddr(ip), Method: "GET", Path: path, Query: query,
		Route: route, Param: param,
	}
}

func scrapingProductView(at time.Duration, ip string, id int) *request.View {
	p := strconv.Itoa(id)
	return scrapingView(at, ip, "/products/"+p, "", scrapingProduct, p)
}

// scrapingArm serves one asset to someone, so the static-share check runs.
func scrapingArm(d *Scraping) {
	v := scrapingView(0, "192.0.2.250", "/assets/app.css", "", scrapingAsset, "app.css")
	d.Request(v, &signals{})
	d.Response(v, verdict.Outcome{Status: 200}, &signals{})
}

// scrapingOf returns the signals whose summary contains what.
func scrapingOf(got []Signal, what string) []Signal {
	var out []Signal
	for _, s := range got {
		if strings.Contains(s.Evidence.Summary, what) {
			out = append(out, s)
		}
	}
	return out
}

func TestScrapingAttacks(t *testing.T) {
	const ip = "203.0.113.7"
	ipEntity := verdict.Entity{Scope: verdict.ScopeIP, Value: ip}
	tests := []struct {
		name      string
		what      string // summary fragment of the expected signal
		weight    float64
		severity  Severity
		threshold float64
		// the signal must come between the lo-th and hi-th request
		lo, hi int
	}{
		{name: "distinct product ids", what: "distinct resource ids", weight: 35, severity: Medium, threshold: 300, lo: 225, hi: 375},
		{name: "sequential id walk", what: "sequential ids", weight: 40, severity: High, threshold: 25, lo: 25, hi: 25},
		{name: "jittered sequential walk", what: "sequential ids", weight: 40, severity: High, threshold: 25, lo: 30, hi: 45},
		{name: "pagination sweep", what: "pagination values", weight: 30, severity: Medium, threshold: 50, lo: 40, hi: 62},
		{name: "pages without assets", what: "static assets", weight: 15, severity: Low, threshold: 100, lo: 100, hi: 100},
	}
	jitter := [...]int{0, 2, 1, 3, 5, 4}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewScraping(ScrapingConfig{}, NewHasher())
			s := &signals{}
			first := 0
			for i := 1; i <= 400 && first == 0; i++ {
				at := time.Duration(i) * time.Second
				var v *request.View
				switch tc.name {
				case "distinct product ids":
					v = scrapingProductView(at, ip, i*7919%100003)
				case "sequential id walk":
					v = scrapingProductView(at, ip, 1000+i)
				case "jittered sequential walk": // ten workers: ids arrive a little out of order
					v = scrapingProductView(at, ip, 1000+6*(i/6)+jitter[i%6])
				case "pagination sweep":
					v = scrapingView(at, ip, "/search", "q=shoes&page="+strconv.Itoa(i), scrapingSearch, "")
				case "pages without assets":
					if i == 1 {
						scrapingArm(d)
					}
					v = scrapingView(at/10, ip, "/category/"+strconv.Itoa(i%7), "", nil, "")
				}
				d.Request(v, s)
				d.Response(v, verdict.Outcome{Status: 200}, s)
				if len(scrapingOf(s.got, tc.what)) > 0 {
					first = i
				}
			}
			if first < tc.lo || first > tc.hi {
				t.Fatalf("first %q signal at request %d, want %d..%d (signals %+v)", tc.what, first, tc.lo, tc.hi, s.got)
			}
			if len(s.got) != 1 {
				t.Fatalf("got %d signals, want 1: %+v", len(s.got), s.got)
			}
			sig := s.got[0]
			if sig.Detector != "scraping" || sig.Entity != ipEntity || sig.Weight != tc.weight || sig.Severity != tc.severity {
				t.Errorf("signal = %+v, want scraping %v weight %v %v", sig, ipEntity, tc.weight, tc.severity)
			}
			ev := sig.Evidence
			if ev.Threshold != tc.threshold || ev.Count < tc.threshold || ev.Window != 10*time.Minute || ev.RequestID == "" {
				t.Errorf("evidence = %+v, want count >= threshold %v over 10m0s with a request id", ev, tc.threshold)
			}
		})
	}
}

func TestScrapingSequentialEscalates(t *testing.T) {
	d := NewScraping(ScrapingConfig{}, NewHasher())
	s := &signals{}
	for i := 1; i <= 75; i++ {
		d.Request(scrapingProductView(time.Duration(i)*time.Second, "203.0.113.8", 500-i), s)
	}
	var counts []float64
	for _, sig := range s.got {
		counts = append(counts, sig.Evidence.Count)
	}
	if len(counts) != 3 || counts[0] != 25 || counts[1] != 50 || counts[2] != 75 {
		t.Fatalf("a descending walk of 75 ids signalled at %v, want [25 50 75]", counts)
	}
}

func TestScrapingStaticShareInert(t *testing.T) {
	tests := []struct {
		name string
		arm  bool
		view func(i int) *request.View
	}{
		{"no asset ever served", false, func(i int) *request.View {
			return scrapingView(time.Duration(i)*100*time.Millisecond, "203.0.113.9", "/category/1", "", nil, "")
		}},
		{"API paths", true, func(i int) *request.View {
			return scrapingView(time.Duration(i)*100*time.Millisecond, "203.0.113.9", "/api/items", "", nil, "")
		}},
		{"API key client", true, func(i int) *request.View {
			v := scrapingView(time.Duration(i)*100*time.Millisecond, "203.0.113.9", "/items", "", nil, "")
			v.Identity.KeyID = "k_partner"
			return v
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewScraping(ScrapingConfig{}, NewHasher())
			if tc.arm {
				scrapingArm(d)
			}
			s := &signals{}
			for i := 1; i <= 300; i++ {
				v := tc.view(i)
				d.Request(v, s)
				d.Response(v, verdict.Outcome{Status: 200}, s)
			}
			if len(s.got) != 0 {
				t.Fatalf("got %d signals, want none: %+v", len(s.got), s.got)
			}
		})
	}
}

func TestScrapingBenign(t *testing.T) {
	tests := []struct {
		name string
		run  func(d *Scraping, s Sink)
	}{
		{"fast human browsing 60 products with assets", func(d *Scraping, s Sink) {
			scrapingArm(d)
			at := time.Duration(0)
			for i := range 60 {
				id := 4000 + i*37%500
				if i >= 20 && i < 32 { // clicks "next" through a dozen products
					id = 9000 + i
				}
				at += 10 * time.Second
				v := scrapingProductView(at, "198.51.100.20", id)
				d.Request(v, s)
				d.Response(v, verdict.Outcome{Status: 200}, s)
				for _, f := range [...]string{"app.css", "app.js", "logo.svg", "p.jpg"} {
					at += 50 * time.Millisecond
					a := scrapingView(at, "198.51.100.20", "/assets/"+f, "", scrapingAsset, f)
					d.Request(a, s)
					d.Response(a, verdict.Outcome{Status: 200}, s)
				}
			}
		}},
		{"partner batch job fetching its own 200 orders", func(d *Scraping, s Sink) {
			scrapingArm(d)
			for i := range 200 {
				id := strconv.Itoa(700000 + i*13)
				v := scrapingView(time.Duration(i)*2*time.Second, "192.0.2.44", "/api/orders/"+id, "", scrapingOrder, id)
				v.Identity.KeyID = "k_partner"
				d.Request(v, s)
				d.Response(v, verdict.Outcome{Status: 200}, s)
			}
			for page := 1; page <= 4; page++ { // and lists them, 50 a page
				v := scrapingView(time.Duration(400+page)*time.Second, "192.0.2.44", "/api/orders", "limit=50&page="+strconv.Itoa(page), nil, "")
				v.Identity.KeyID = "k_partner"
				d.Request(v, s)
			}
		}},
		{"user paging through 5 pages of a dozen searches", func(d *Scraping, s Sink) {
			at := time.Duration(0)
			for q := range 12 {
				for page := 1; page <= 5; page++ {
					at += 5 * time.Second
					v := scrapingView(at, "198.51.100.21", "/search", "q=term"+strconv.Itoa(q)+"&page="+strconv.Itoa(page), scrapingSearch, "")
					d.Request(v, s)
				}
			}
		}},
		{"an SPA loading 50 assets", func(d *Scraping, s Sink) {
			for i := range 50 {
				f := "chunk" + strconv.Itoa(i) + ".js"
				v := scrapingView(time.Duration(i)*10*time.Millisecond, "198.51.100.22", "/static/"+f, "", nil, "")
				d.Request(v, s)
				d.Response(v, verdict.Outcome{Status: 200}, s)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewScraping(ScrapingConfig{}, NewHasher())
			s := &signals{}
			tc.run(d, s)
			if len(s.got) != 0 {
				t.Fatalf("got %d signals, want none: %+v", len(s.got), s.got)
			}
		})
	}
}

func TestScrapingBounded(t *testing.T) {
	d := NewScraping(ScrapingConfig{Common: Common{MaxEntities: 640}}, NewHasher())
	s := &signals{}
	for i := range 20000 {
		v := scrapingProductView(time.Duration(i)*time.Millisecond, "10.0.0.1", i)
		v.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		d.Request(v, s)
	}
	st := d.Stats()
	if st.Entries > st.MaxEntries || st.MaxEntries != 640 || st.Evictions == 0 {
		t.Fatalf("stats = %+v, want at most 640 entries and some evictions", st)
	}
	d.Sweep(scrapingT0.Add(time.Hour).UnixNano())
	if st := d.Stats(); st.Entries != 0 {
		t.Fatalf("after an idle hour, %d entries remain", st.Entries)
	}
}

// scrapingUpdateAllocs is what one Table.Update costs on its own: the
// quiet path may allocate that much per update and nothing more. (Table
// hands f the address of a local copy, which escapes; when table.go keeps
// that copy in the shard this is 0 and the tests below demand 0.)
func scrapingUpdateAllocs() float64 {
	tb := NewTable[scrapingState](64, time.Minute)
	return testing.AllocsPerRun(100, func() { tb.Update(1, 1, func(*scrapingState) {}) })
}

func TestScrapingQuietPathAllocs(t *testing.T) {
	d := NewScraping(ScrapingConfig{}, NewHasher())
	scrapingArm(d)
	s := &signals{}
	v := scrapingView(time.Second, "198.51.100.30", "/products/42", "q=x&page=2", scrapingProduct, "42")
	a := scrapingView(time.Second, "198.51.100.30", "/assets/app.css", "", scrapingAsset, "app.css")
	n := testing.AllocsPerRun(200, func() {
		d.Request(v, s)
		d.Response(v, verdict.Outcome{Status: 200}, s)
		d.Request(a, s)
		d.Response(a, verdict.Outcome{Status: 200}, s)
	})
	if want := 2 * scrapingUpdateAllocs(); n != want || len(s.got) != 0 {
		t.Fatalf("quiet path: %v allocs, %d signals; want %v (two table updates), 0", n, len(s.got), want)
	}
}
