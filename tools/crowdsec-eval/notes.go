// The notes the report prints beside the numbers.

package main

// diagnoses say why a test is missed. Written by reading the test's log and
// the detectors; printed only while the test misses, so a fixed miss drops
// its stale note.
var diagnoses = map[string]string{
	"apiscp-bf": "Seven `POST` requests to one login path in three seconds, each answered 200. The credentials detector counts failed logins on routes of kind login " +
		"(none are declared by default) and, on any path, responses answered 401; ApisCP answers a failed login with 200, so nothing in the log says " +
		"the attempts failed, and a handful of successful POSTs to one path is what every login form receives. CrowdSec's scenario names the product's " +
		"path and status. Declaring the path as a login route with the status ApisCP uses for failures would catch it; a general check cannot.",
	"http-magento-bf": "The log holds events of CrowdSec's Magento extension (`ADMIN_LOGIN_FAILED`), not HTTP requests: nothing to replay. " +
		"In front of Magento abuseguard would see the admin login POSTs, and would count them with that path declared as a login route " +
		"(10 failures in 10 minutes), or, if Magento answered them 401, with the auth-failure check on any path (5).",
	"litespeed-admin-bf": "The log holds LiteSpeed WebAdmin console events (`Failed Login Attempt`), not HTTP requests: nothing to replay. " +
		"As for Magento, catching it needs the console's login path declared as a login route, or 401 answers.",
	"http-wordpress_user-enum": "Six requests for `/?author=N` in one second (WordPress author enumeration). The enumeration detector watches signup and reset routes only " +
		"(none configured); the scraping detector's pagination check knows page, offset, cursor, p and start (50 distinct values) and its sequential-walk check " +
		"needs 25 ids in a row on a route; the volumetric burst check needs 30 new query strings on one path within a second or two; probing counts the 404s as one path. " +
		"No general check fits six requests without keying on WordPress's parameter.",
}

// weakNotes say why a test is matched only through a weak signal; printed
// only while it is.
var weakNotes = map[string]string{
	"http-cve-probing": "Three requests with curl for paths of known CVEs, answered 404: the probing threshold is 10 distinct misses, and the sensitive list holds " +
		"only paths no deployment serves, not product or CVE paths (CrowdSec's approach is a list of them).",
	"http-technology-probing": "One or two requests per source, with curl, for paths of specific products (a camera CGI, an AEM package manager): as for http-cve-probing.",
	"sap-probing":             "Two requests with curl for SAP interface paths: as for http-cve-probing.",
	"nginx-http-w00twoot":     "Two requests (the DFind `w00tw00t` path, with curl, and a Skin/Login.aspx probe): as for http-cve-probing.",
}

// labelConflicts are negative tests whose logs hold scanner traffic: the
// hub labels them negative because they load no scenario (parser tests),
// not because the traffic is benign. Detection is not weakened for them.
var labelConflicts = map[string]string{
	"envoy-logs": "one client sends `HEAD /.env` with curl (answered 404), a secrets probe. CrowdSec's own http-sensitive-files scenario alerts only at " +
		"the fifth sensitive-file request within seconds, so at CrowdSec's thresholds this single probe would stay quiet even with the scenario loaded; " +
		"abuseguard signals a single one by design (45 points: throttled), since a request for `/.env` has no innocent reading.",
	"traefik_clf": "three clients send the Nikto scanner's User-Agent. One of them (172.17.0.1) sends it twice in one second, which CrowdSec's own " +
		"http-bad-user-agent scenario (an alert at the second bad-User-Agent request within a minute) would flag had the test loaded it; the other two " +
		"send it once each, which that scenario would not. abuseguard signals any scanner User-Agent (45 points: throttled).",
	"traefik_json": "one client sends the Nikto User-Agent twice within two milliseconds: CrowdSec's http-bad-user-agent would flag it had the test loaded it; " +
		"abuseguard throttles it.",
}

// negativeNotes add what else a flagged negative test raised.
var negativeNotes = map[string]string{
	"envoy-logs":  "The other flags are curl User-Agents (weak, no decision).",
	"traefik_clf": "A fourth client uses curl (weak, no decision).",
}

// logTypeNotes add what the table cannot say about a log type.
var logTypeNotes = map[string]string{
	"apache2": "The combined parser reads common-format lines (no referer, no User-Agent) too; apache (vhost_combined) is tried second, for lines " +
		"that begin with a virtual host.",
	"aws-alb": "ALB lines (client:port, ELB status, absolute-URL request, User-Agent) rewritten into combined.",
	"bunkerweb": "Bunkerweb writes `host client - request-id - [time] ...`; the combined and apache parsers would take the request id for an authenticated " +
		"user, so the adapter reads the client and drops the id.",
	"caddy": "Caddy JSON through json with the format's defaults (ts, request.client_ip, request.uri, request.headers.User-Agent). " +
		"caddy-coraza holds Coraza WAF warnings only, no access lines: not replayable.",
	"containerd": "The CRI header (`<time> stdout F `) is stripped by the tool; Envoy JSON then goes through json (path from x-envoy-origin-path, " +
		"User-Agent from user-agent, host from :authority, duration in ms) and Envoy's default text format through envoy.",
	"haproxy": "HAProxy's HTTP log (behind a syslog header) rewritten into combined; it records no User-Agent unless captured, and its time has no zone (read as UTC). " +
		"Connection events (SSL handshake failures) are not requests.",
	"iis":               "A Windows event (Microsoft-Windows-IIS-Logging, event 6200) whose Data fields are the W3C fields, rewritten into combined; IIS logs UTC.",
	"litespeed":         "Access lines are combined; LiteSpeed admin-console events (`Failed Login Attempt`, `failed to authenticate`) are not HTTP requests.",
	"magento-extension": "Events of CrowdSec's Magento extension (`ADMIN_LOGIN_FAILED`, `CUSTOMER_LOGIN_SUCCESS`): not HTTP requests, not replayable.",
	"nginx": "Combined, with syslog headers and trailing fields ($http_x_forwarded_for) read natively. nginx error-log lines that stand for a response " +
		"(basic-auth failures: 401; missing files: 404) are rewritten into combined; other error-log lines say nothing of the response. Error-log times " +
		"have no zone (read as UTC) and no User-Agent.",
	"nginx-proxy-manager": "The scored test uses plain combined lines. NPM's own proxy-host layout appears only in a parser-only test; no adapter was written for it.",
	"npmplus":             "Appears only in a parser-only test; not replayed.",
	"openappsec":          "open-appsec WAF verdicts (JSON security events), not traffic; the only test is skipped.",
	"traefik": "Traefik's CLF lines (with its trailing fields) are combined; a line whose status is `-` (no response) goes through the adapter, " +
		"which writes status 000. Traefik JSON goes through json with Time named StartUTC (the `time` field has whole seconds) and ClientHost " +
		"(the leftmost of a list). A bouncer-plugin DEBUG line is not a request.",
	"upsun-httplog": "Upsun's JSON wraps an nginx line in `message`; the adapter reads it. The only scored test using it is CrowdSec's self-test, skipped.",
	"zoraxy":        "Zoraxy's lines (`[client: IP] [useragent: UA] METHOD PATH STATUS`) rewritten into combined; no byte count, and the time has no zone (read as UTC).",
}

// detectorChanges lists the changes to detector defaults made with this
// evaluation, with their justification.
const detectorChanges = "Each with unit tests on requests and log lines written for them (none from the hub data). " +
	"The default policy still makes no decision on ordinary browsing (engine TestOrdinaryBrowsingIsNotFlagged), and the detectors' request paths still " +
	"allocate nothing (benchmarks in docs/detectors.md).\n\n" +
	"First round (internal/detect/probing.go):\n\n" +
	"1. **Injection probes in query strings** (a new check, `injection_patterns` and `injection_weight`). A query that, percent-decoded twice, " +
	"lower-cased and with whitespace and SQL comments folded, holds a mark of an SQL-injection or XSS probe (`union select`, `information_schema`, " +
	"`sleep(`, `waitfor delay`, `or 1=1`, `@@version`, `<script`, `javascript:`, `onerror=`, `<svg`, `alert(`, `document.cookie`, ...) signals once per " +
	"distinct query per window, at 30 points (Medium): one is noted, two distinct ones reach the challenge band, three a block. Why general: no ordinary " +
	"API parameter holds these, every scanner sends them, and the probing detector looked at paths only. " +
	"False-positive trap: a search or snippet API whose users type SQL or HTML (one query stays below the throttle band; an empty list turns the check off). " +
	"Cost: about 0.3 µs per request with a 70-byte query, no allocation " +
	"(`go test -run '^$' -bench ProbingRequest -benchmem ./internal/detect`).\n" +
	"2. **Web-shell paths** added to the default sensitive paths: `*shell.php`, `*/c99.php`, `*/r57.php`, `*/wso.php`. Why general: scanners probe " +
	"every host for left-behind web shells by these names, and no API serves them.\n\n" +
	"Second round:\n\n" +
	"3. **Authentication failures on any path** (credentials detector: `auth_threshold` 5, `auth_weight` 15). Responses answered 401 outside login and " +
	"verify routes, counted per client over the detector's 10-minute window, signal at 5, 10, 15 ... (15 points each: throttled by the 15th failure, " +
	"blocked by the 30th), while at least half of the client's responses since its first 401 are 401s. Why general: 401 means \"authentication failed\" " +
	"whatever the path (HTTP basic auth, an API checking its own tokens), so brute force is seen without declaring routes. False-positive traps: " +
	"an office whose browsers each meet one basic-auth challenge and then browse (kept quiet by the failure share), a single-page app whose expired " +
	"token fails a few parallel calls (below 5), and a monitor probing a protected URL without credentials (signalled: every request of it fails anyway). " +
	"Cost on responses outside login routes: about 5 ns while no client has failed lately, about 55 ns for a client that never failed, no allocation. Matches caddy-basic-auth-bf and nginx-http-generic-bf.\n" +
	"4. **Cache-busting bursts** (volumetric detector: `burst_threshold` 30, `burst_window` 1s, `burst_weight` 25). Per client, the distinct query strings " +
	"it sends to the latest path it queried, counted only when new (not sent there in the last one to two minutes), over one to two seconds; " +
	"30 signal, again at 60, 90 ... Whole-second log timestamps still fall within the window. Why general: a flood that varies the query to defeat " +
	"caches is dozens of never-repeated queries on one path a second, on any product; a person typing into a search box sends a few a second, a " +
	"reader paging one every second or so, a dashboard re-polling a fixed set of panels nothing new. False-positive trap: a dashboard whose many " +
	"panels query one endpoint with a moving time range, or a batch lookup by query parameter, sends 30+ new queries at once: one 25-point signal " +
	"per burst. Cost: about 0.2 µs per request with a query (none without). Matches http-dos-bypass-cache.\n" +
	"5. **Rotating User-Agent** (automation detector: `ua_threshold` 10, `ua_ratio` 0.8, `ua_weight` 20). A client that sends at least 10 distinct " +
	"User-Agents in its 5-minute window, distinct on at least 80% of its requests, signals once per window. Why general: rotating the User-Agent on " +
	"every request is how DoS tools and scrapers dodge per-agent rules, on any product. False-positive trap: many devices behind one carrier NAT " +
	"each making a single request (pinned in a test); people make several requests each, so an office stays far under the ratio. Cost: nothing for a " +
	"client that keeps its User-Agent (one comparison); a table update when it changes. Matches http-dos-switching-ua.\n" +
	"6. **An empty User-Agent is no signal on its own** (automation detector). It now weighs its 10 points only with other evidence about the client: " +
	"no Accept-Encoding either (browsers and common HTTP libraries send it; logs do not record it, so replay assumes it), or a machine cadence. " +
	"Why: media players, home-automation and internal services poll without one (jellyfin-whitelist, jellyseerr-whitelist and overseerr-whitelist " +
	"were flagged by it alone and now pass).\n" +
	"7. **Requests an API never serves** (probing detector: `protocol_weight` 30). A `CONNECT` or an absolute-form target (`GET http://other-host/`; " +
	"a client taking the host for a forward proxy: the request view's AbsoluteTarget hint, set by serve's parser and by replay), or a " +
	"request line with no path (a bare word, or the bytes of another protocol such as a TLS handshake sent to a plain-HTTP port), signals once per " +
	"kind per window. serve's HTTP server refuses malformed request lines itself, so that half works on replayed logs, which record them. " +
	"False-positive trap: a client talking TLS to the plain port, or with its proxy setting pointed at the API; every such request fails anyway. " +
	"Matches apache2-malformed, nginx-http-malformed, nginx-proxy-manager-malformed and both sources of nginx-http-open-proxy (before: only the empty User-Agent signal).\n" +
	"8. **Replay** (internal/replay): a logged request line that is not HTTP keeps its first word as the method, with no path (it used to become " +
	"an empty request, like `-`, a connection that sent nothing, which stays empty); and the user a log names on a 407 is, like that on a 401 (so since the previous round), the name a " +
	"client tried, not an identity, so those requests are the client IP's (tested end to end: a basic-auth guesser is signalled and decided on ip:...).\n" +
	"9. **This tool**: detection tests with no HTTP request in their log (http-magento-bf, litespeed-admin-bf) are not replayable and counted " +
	"outside the target, as negatives without one already were; the result is also given counting them as misses."
