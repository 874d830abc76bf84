package detect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func honeypotView(path string, rt *request.Route, keyID, subject string) *request.View {
	return &request.View{
		ID:       "req-honey",
		Time:     time.Unix(0, at(time.Second)),
		ClientIP: netip.MustParseAddr("203.0.113.66"),
		Method:   "GET",
		Path:     path,
		Route:    rt,
		Identity: request.Identity{KeyID: keyID},
		Subject:  subject,
	}
}

// honeypotPseudonym stands in for request.Identifier.Pseudonym.
func honeypotPseudonym(prefix, s string) string { return prefix + "hmac(" + s + ")" }

func honeypotConfig() HoneypotConfig {
	return HoneypotConfig{
		APIKeyIDs: []string{"canary-key"},
		Usernames: []string{"admin-backup@example.com"},
		Pseudonym: honeypotPseudonym,
	}
}

func TestHoneypotTouches(t *testing.T) {
	decoy := &request.Route{Name: "old-admin", Template: "GET /admin/export", Kind: "decoy"}
	login := &request.Route{Name: "login", Template: "POST /login", Kind: "login", Field: "username"}
	ip := verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.66"}
	for _, tc := range []struct {
		name string
		v    *request.View
		want []verdict.Entity
	}{
		{"decoy route, anonymous", honeypotView("/admin/export", decoy, "", ""), []verdict.Entity{ip}},
		{"decoy route with a key", honeypotView("/admin/export", decoy, "k_live1", ""), []verdict.Entity{ip, {Scope: verdict.ScopeKey, Value: "k_live1"}}},
		{"honeytoken key on an ordinary route", honeypotView("/v1/items", nil, "canary-key", ""), []verdict.Entity{ip, {Scope: verdict.ScopeKey, Value: "canary-key"}}},
		{"login for a honeytoken account", honeypotView("/login", login, "", honeypotPseudonym("s_", "admin-backup@example.com")), []verdict.Entity{ip}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewHoneypot(honeypotConfig(), NewHasher())
			sink := &signals{}
			d.Request(tc.v, sink)
			d.Response(tc.v, verdict.Outcome{Status: 200}, sink)
			if len(sink.got) != len(tc.want) {
				t.Fatalf("%d signals, want %d: %+v", len(sink.got), len(tc.want), sink.got)
			}
			for i, sig := range sink.got {
				if sig.Detector != "honeypot" || sig.Entity != tc.want[i] || sig.Weight != 100 || sig.Severity != High {
					t.Errorf("signal %d: %+v, want entity %v weight 100 high", i, sig, tc.want[i])
				}
				if ev := sig.Evidence; ev.Count != 1 || ev.Threshold != 1 || ev.RequestID != "req-honey" || ev.Summary == "" {
					t.Errorf("signal %d evidence %+v", i, ev)
				}
			}
		})
	}
}

func TestHoneypotBenignTwins(t *testing.T) {
	items := &request.Route{Name: "items", Template: "GET /v1/items/{id}"}
	login := &request.Route{Name: "login", Template: "POST /login", Kind: "login", Field: "username"}
	for _, tc := range []struct {
		name string
		cfg  HoneypotConfig
		v    *request.View
	}{
		{"ordinary route and key", honeypotConfig(), honeypotView("/v1/items/7", items, "k_live1", "")},
		{"ordinary login", honeypotConfig(), honeypotView("/login", login, "", honeypotPseudonym("s_", "alice@example.com"))},
		{"no route table", honeypotConfig(), honeypotView("/admin/export", nil, "", "")},
		{"nothing configured", HoneypotConfig{}, honeypotView("/v1/items/7", items, "k_live1", "s_x")},
		{"an empty key id is no honeytoken", HoneypotConfig{APIKeyIDs: []string{""}}, honeypotView("/v1/items/7", items, "", "")},
		{"usernames without a pseudonym match nothing", HoneypotConfig{Usernames: []string{"bait"}}, honeypotView("/login", login, "", "bait")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewHoneypot(tc.cfg, NewHasher())
			sink := &signals{}
			for range 100 {
				d.Request(tc.v, sink)
				d.Response(tc.v, verdict.Outcome{Status: 200}, sink)
			}
			if len(sink.got) != 0 {
				t.Fatalf("benign traffic signalled: %+v", sink.got)
			}
		})
	}
}

func TestHoneypotKeepsNoRawUsernames(t *testing.T) {
	d := NewHoneypot(honeypotConfig(), NewHasher())
	if d.cfg.Usernames != nil {
		t.Fatalf("raw usernames kept: %v", d.cfg.Usernames)
	}
	if s := d.Stats(); s != (TableStats{}) {
		t.Fatalf("stateless detector has stats %+v", s)
	}
}

func TestHoneypotQuietPathAllocs(t *testing.T) {
	items := &request.Route{Name: "items", Template: "GET /v1/items/{id}"}
	d := NewHoneypot(honeypotConfig(), NewHasher())
	sink := &signals{}
	v := honeypotView("/v1/items/7", items, "k_live1", "s_someone")
	if n := testing.AllocsPerRun(100, func() {
		d.Request(v, sink)
		d.Response(v, verdict.Outcome{Status: 200}, sink)
	}); n != 0 {
		t.Fatalf("%v allocs", n)
	}
	if len(sink.got) != 0 {
		t.Fatalf("quiet path signalled: %+v", sink.got)
	}
}
