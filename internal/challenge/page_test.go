package challenge

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/pkg/challenge"
)

func TestPageIsSelfContained(t *testing.T) {
	c := challenge.Challenge{Algorithm: challenge.Algorithm, Token: strings.Repeat("Ab-_", 21), Difficulty: 16,
		Expires: time.Date(2026, 12, 7, 6, 5, 0, 0, time.UTC)}
	p := Page(c, "req-<1>")
	for _, want := range []string{"<noscript>", `role="status"`, "<progress", `"token":"` + c.Token + `"`, `"difficulty":16`,
		"abuseguard_solution=", "new Worker", "crypto.subtle", "req-\u0026lt;1\u0026gt;"} {
		if !bytes.Contains(p, []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Nothing is loaded from elsewhere: no src or href attributes, no
	// url(), no import.
	if m := regexp.MustCompile(`\b(src|href)\s*=|\burl\(|@import|importScripts|https?://`).Find(p); m != nil {
		t.Errorf("page refers to an external resource: %q", m)
	}
}
