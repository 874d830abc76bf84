package request

import "strings"

// Agent is what a User-Agent header claims about the browser that sent
// it: its engine family, the family's major version, the platform and
// whether it is a phone. ParseAgent reads it; anything that is not one of
// the major browsers is AgentOther, and its other fields are zero.
type Agent struct {
	Family   AgentFamily
	Major    int // the family's major version (Chrome/124 -> 124), 0 when none parses
	Platform AgentPlatform
	Mobile   bool // the User-Agent says "Mobile" (phones, not tablets)
}

// AgentFamily is a browser engine family, as User-Agents and client hints
// name them.
type AgentFamily uint8

// Agent families. Chromium covers every browser built on it (Chrome,
// Edge, Opera, Brave, Samsung Internet): they share its headers.
const (
	AgentOther AgentFamily = iota
	AgentChromium
	AgentFirefox
	AgentSafari
)

func (f AgentFamily) String() string {
	switch f {
	case AgentChromium:
		return "Chromium"
	case AgentFirefox:
		return "Firefox"
	case AgentSafari:
		return "Safari"
	}
	return "other"
}

// AgentPlatform is an operating system as a User-Agent names it.
type AgentPlatform uint8

// Agent platforms.
const (
	PlatformOther AgentPlatform = iota
	PlatformWindows
	PlatformMac
	PlatformLinux // desktop Linux, Android and ChromeOS: they pass for each other
	PlatformIOS
)

// maxAgentLen is how much of a User-Agent ParseAgent reads; real ones are
// under 300 bytes.
const maxAgentLen = 512

// ParseAgent reads the browser a User-Agent claims. It never fails: a
// User-Agent that claims no major browser (a tool, an app, a crawler or
// headless browser that says so with "compatible;" or "Headless", one
// longer than 512 bytes) is AgentOther. It
// allocates nothing.
func ParseAgent(ua string) Agent {
	if len(ua) > maxAgentLen || !strings.HasPrefix(ua, "Mozilla/5.0 ") || strings.Contains(ua, "Headless") ||
		strings.Contains(ua, "compatible;") {
		return Agent{}
	}
	var a Agent
	switch {
	case strings.Contains(ua, "Windows NT"):
		a.Platform = PlatformWindows
	case strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPad") || strings.Contains(ua, "iPod"):
		a.Platform = PlatformIOS
	case strings.Contains(ua, "Macintosh"):
		a.Platform = PlatformMac
	case strings.Contains(ua, "Android") || strings.Contains(ua, "Linux") || strings.Contains(ua, "CrOS"):
		a.Platform = PlatformLinux
	}
	a.Mobile = strings.Contains(ua, "Mobile")
	switch {
	case a.Platform == PlatformIOS:
		// Every iOS browser is WebKit underneath, whatever it calls itself.
		if strings.Contains(ua, "AppleWebKit/") {
			a.Family, a.Major = AgentSafari, versionAfter(ua, "Version/")
		}
	case strings.Contains(ua, "Firefox/") && strings.Contains(ua, "Gecko/"):
		a.Family, a.Major = AgentFirefox, versionAfter(ua, "Firefox/")
	case strings.Contains(ua, "Chrome/") || strings.Contains(ua, "Chromium/"):
		a.Family, a.Major = AgentChromium, versionAfter(ua, "Chrome/")
		if a.Major == 0 {
			a.Major = versionAfter(ua, "Chromium/")
		}
	case strings.Contains(ua, "Safari/") && strings.Contains(ua, "Version/"):
		a.Family, a.Major = AgentSafari, versionAfter(ua, "Version/")
	}
	if a.Family == AgentOther {
		return Agent{}
	}
	return a
}

// versionAfter returns the number that follows the first prefix in s, 0
// when there is none (or it has more than five digits).
func versionAfter(s, prefix string) int {
	i := strings.Index(s, prefix)
	if i < 0 {
		return 0
	}
	n, digits := 0, 0
	for _, c := range []byte(s[i+len(prefix):]) {
		if c < '0' || c > '9' || digits == 5 {
			break
		}
		n, digits = n*10+int(c-'0'), digits+1
	}
	return n
}

// clientHintsContradict reports whether a request's User-Agent client
// hints (Sec-CH-UA, Sec-CH-UA-Mobile, Sec-CH-UA-Platform, sent only by
// Chromium browsers and only over HTTPS) disagree with what its
// User-Agent claims: hints from a browser that never sends them (Firefox,
// Safari, anything on iOS), a Chromium brand version other than the
// User-Agent's, a mobile flag the other way round, or a platform that is
// not the User-Agent's. Platforms that pass for each other (Android,
// ChromeOS and desktop Linux, which Android's "desktop site" mode claims)
// are never a contradiction.
func clientHintsContradict(h Header, a Agent) bool {
	if a.Family != AgentChromium {
		return a.Family != AgentOther
	}
	if v := brandVersion(h.Get("Sec-Ch-Ua"), "Chromium"); v > 0 && a.Major > 0 && v != a.Major {
		return true
	}
	switch h.Get("Sec-Ch-Ua-Mobile") {
	case "?1":
		if !a.Mobile && a.Platform != PlatformLinux {
			return true
		}
	case "?0":
		if a.Mobile {
			return true
		}
	}
	var p AgentPlatform
	switch strings.Trim(h.Get("Sec-Ch-Ua-Platform"), `"`) {
	case "":
		return false
	case "Windows":
		p = PlatformWindows
	case "macOS":
		p = PlatformMac
	case "Linux", "Android", "Chrome OS", "Chromium OS":
		p = PlatformLinux
	default:
		return false
	}
	return a.Platform != PlatformOther && p != a.Platform
}

// brandVersion returns the major version a Sec-CH-UA brand list
// (`"Chromium";v="124", "Not-A.Brand";v="99"`) gives brand, 0 when it
// lists none.
func brandVersion(list, brand string) int {
	if len(list) > maxAgentLen {
		return 0
	}
	for list != "" {
		var item string
		item, list, _ = strings.Cut(list, ",")
		name, params, _ := strings.Cut(strings.TrimSpace(item), ";")
		if strings.Trim(name, `"`) != brand {
			continue
		}
		if _, v, ok := strings.Cut(params, `v="`); ok {
			return versionAfter(v, "")
		}
	}
	return 0
}
