package request

import (
	"strings"

	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// protocolHeader reports whether the header name k belongs to the
// challenge protocol (Abuseguard-Solution, Abuseguard-Pass): such headers
// do not count in a fingerprint, so that a client that solves a challenge
// is still the client that was challenged.
func protocolHeader(k string) bool {
	return len(k) > len("Abuseguard-") && strings.EqualFold(k[:len("Abuseguard-")], "Abuseguard-")
}

// challengeFields fills v's Solution, Pass and their hints from h: the
// Abuseguard-Solution and Abuseguard-Pass headers first, else the
// browser's cookies. Values are not checked here; the engine checks them.
func challengeFields(h Header, v *View) {
	if a := h.Get("Accept"); strings.Contains(a, "text/html") {
		v.Hints |= AcceptsHTML
	}
	v.Solution = h.Get(challenge.SolutionHeader)
	v.Pass = h.Get(challenge.PassHeader)
	if v.Solution != "" && v.Pass != "" {
		return
	}
	for _, line := range h.Values("Cookie") {
		if !strings.Contains(line, "abuseguard_") {
			continue
		}
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				continue
			}
			switch name {
			case challenge.PassCookie:
				if v.Pass == "" {
					v.Pass = value
				}
			case challenge.SolutionCookie:
				if tok, nonce, ok := strings.Cut(value, "."); ok && v.Solution == "" {
					v.Solution = "token=" + tok + ", nonce=" + nonce
					v.Hints |= SolutionCookie
				}
			}
		}
	}
}
