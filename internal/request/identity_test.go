package request

import (
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
)

func TestIdentifyKeys(t *testing.T) {
	id := NewIdentifier(IdentifierOptions{
		KeyHeader: "x-api-key", KeyQuery: "api_key", Secret: []byte("s"),
		Keys: map[[32]byte]KeyInfo{sha256Of("known"): {ID: "acme", Plan: "gold", Tenant: "acme-inc"}},
	})
	var a, b, c, known Identity
	id.Identify(HTTPHeader{"X-Api-Key": {"secret-1"}}, "", &a)
	id.Identify(HTTPHeader{}, "x=1&api_key=secret-1", &b)
	id.Identify(HTTPHeader{"X-Api-Key": {"secret-2"}}, "", &c)
	id.Identify(HTTPHeader{"X-Api-Key": {"known"}}, "", &known)
	if !strings.HasPrefix(a.KeyID, "k_") || len(a.KeyID) != 18 || strings.Contains(a.KeyID, "secret") {
		t.Fatalf("key id %q", a.KeyID)
	}
	if a.KeyID != b.KeyID || a.KeyID == c.KeyID {
		t.Fatalf("header and query ids differ or two keys share one: %q %q %q", a.KeyID, b.KeyID, c.KeyID)
	}
	if known.KeyID != "acme" || known.Plan != "gold" || known.Tenant != "acme-inc" {
		t.Fatalf("known key: %+v", known)
	}
	h := http.Header{"X-Api-Key": {"secret-1"}}
	if n := testing.AllocsPerRun(100, func() { var i Identity; id.Identify(HTTPHeader(h), "", &i) }); n > 1 {
		t.Fatalf("Identify allocates %v times, want at most the id string", n)
	}
}

func sha256Of(s string) [32]byte { return sha256.Sum256([]byte(s)) }
