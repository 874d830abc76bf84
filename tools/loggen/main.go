// Command loggen writes a synthetic NCSA combined access log: browsing
// humans with their assets, plus a prober, a scraper walking ids, a
// password brute-forcer and a scanner, interleaved in time. It is
// deterministic for a seed, for benchmarks and for trying `replay`.
//
//	go run ./tools/loggen -lines 1000000 > access.log
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

func main() {
	lines := flag.Int("lines", 100000, "lines to write")
	seed := flag.Uint64("seed", 1, "random seed")
	humans := flag.Int("humans", 2000, "distinct browsing clients")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	rng := rand.New(rand.NewPCG(*seed, 7))
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	browser := "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	write := func(ip, method, target string, status, bytes int, ua, referer string) {
		fmt.Fprintf(w, "%s - - [%s] \"%s %s HTTP/1.1\" %d %d \"%s\" \"%s\"\n",
			ip, at.Format("02/Jan/2006:15:04:05 -0700"), method, target, status, bytes, referer, ua)
	}
	for n := 0; n < *lines; {
		at = at.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
		switch k := rng.IntN(100); {
		case k < 80: // a human loads a product page and its assets
			ip := fmt.Sprintf("198.51.%d.%d", rng.IntN(*humans)/250, rng.IntN(*humans)%250+1)
			write(ip, "GET", fmt.Sprintf("/products/%d", rng.IntN(500)), 200, 5120, browser, "https://shop.example/")
			write(ip, "GET", "/static/app.js", 200, 40960, browser, "https://shop.example/products")
			n += 2
		case k < 84: // a prober guessing paths
			write("203.0.113.66", "GET", fmt.Sprintf("/%s-%d", []string{"admin", "backup", "old", "test", "api/v0"}[rng.IntN(5)], rng.IntN(100000)), 404, 153, "Mozilla/5.0", "-")
			n++
		case k < 90: // a scraper walking the catalog in order
			write("203.0.113.77", "GET", fmt.Sprintf("/products/%d", n/10%100000), 200, 5120, "python-requests/2.31", "-")
			n++
		case k < 94: // a password brute-forcer
			write("203.0.113.88", "POST", "/login", 401, 64, "Mozilla/5.0 (Windows NT 10.0)", "-")
			n++
		case k < 95: // a scanner
			write("203.0.113.99", "GET", []string{"/.env", "/.git/config", "/wp-login.php", "/phpmyadmin/"}[rng.IntN(4)], 404, 153, "sqlmap/1.7", "-")
			n++
		default: // an API client with a key (not in the log) and a steady job
			write("192.0.2.10", "GET", fmt.Sprintf("/api/orders?page=%d", rng.IntN(5)), 200, 2048, "partner-sync/2.1", "-")
			n++
		}
	}
}
