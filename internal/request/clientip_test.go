package request

import (
	"errors"
	"net/http"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := Proxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name    string
		peer    string
		headers map[string][]string
		trusted Proxies
		want    string
		err     error
	}{
		{name: "no proxy", peer: "203.0.113.5:4000", want: "203.0.113.5"},
		{name: "untrusted peer's xff ignored", peer: "203.0.113.5:4000", trusted: trusted,
			headers: map[string][]string{"X-Forwarded-For": {"1.1.1.1"}}, want: "203.0.113.5"},
		{name: "untrusted peer's malformed xff ignored", peer: "203.0.113.5:4000", trusted: trusted,
			headers: map[string][]string{"X-Forwarded-For": {"not an ip"}}, want: "203.0.113.5"},
		{name: "no trusted proxies configured ignores xff", peer: "10.0.0.1:4000",
			headers: map[string][]string{"X-Forwarded-For": {"1.1.1.1"}}, want: "10.0.0.1"},
		{name: "trusted peer xff", peer: "10.0.0.1:4000", trusted: trusted,
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.7"}}, want: "198.51.100.7"},
		{name: "spoofed left entries are skipped", peer: "10.0.0.1:4000", trusted: trusted,
			headers: map[string][]string{"X-Forwarded-For": {"6.6.6.6, 198.51.100.7, 10.0.0.2"}}, want: "198.51.100.7"},
		{name: "garbage left of the client is never parsed", peer: "10.0.0.1:4000", trusted: trusted,
			headers: map[string][]string{"X-Forwarded-For": {"garbage, 198.51.100.7"}}, want: "198.51.100.7"},
		{name: "several xff lines read right to left", peer: "10.0.0.1:4000", trusted: trusted,
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.1", "10.0.0.9"}}, want: "198.51.100.1"},
		{name: "all hops trusted gives leftmost", peer: "10.0.0.1:4000", trusted: trusted,
			headers: map[string][]string{"X-Forwarded-For": {"10.0.0.3, 10.0.0.2"}}, want: "10.0.0.3"},
		{name: "xff with port", peer: "10.0.0.1:4000", trusted: trusted,
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.7:5555"}}, want: "198.51.100.7"},
		{name: "malformed reached entry", peer: "10.0.0.1:4000", trusted: trusted,
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.7, bogus"}}, err: ErrBadForwarding},
		{name: "forwarded wins over xff", peer: "[::1]:4000", trusted: trusted,
			headers: map[string][]string{
				"Forwarded":       {`for=192.0.2.60;proto=http;by=203.0.113.43`},
				"X-Forwarded-For": {"6.6.6.6"}},
			want: "192.0.2.60"},
		{name: "forwarded ipv6 quoted with port", peer: "10.0.0.1:1", trusted: trusted,
			headers: map[string][]string{"Forwarded": {`for="[2001:db8:cafe::17]:4711", for=10.0.0.5`}}, want: "2001:db8:cafe::17"},
		{name: "forwarded case-insensitive key", peer: "10.0.0.1:1", trusted: trusted,
			headers: map[string][]string{"Forwarded": {`proto=https;For=198.51.100.9`}}, want: "198.51.100.9"},
		{name: "forwarded unknown node", peer: "10.0.0.1:1", trusted: trusted,
			headers: map[string][]string{"Forwarded": {`for=unknown`}}, err: ErrBadForwarding},
		{name: "forwarded without for", peer: "10.0.0.1:1", trusted: trusted,
			headers: map[string][]string{"Forwarded": {`proto=https`}}, err: ErrBadForwarding},
		{name: "ipv4-mapped peer unmapped", peer: "[::ffff:203.0.113.9]:80", want: "203.0.113.9"},
		{name: "zone refused", peer: "10.0.0.1:1", trusted: trusted,
			headers: map[string][]string{"X-Forwarded-For": {"fe80::1%eth0"}}, err: ErrBadForwarding},
		{name: "bad peer", peer: "", err: ErrBadForwarding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ClientIP(tt.peer, HTTPHeader(tt.headers), tt.trusted)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("ClientIP = %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	if got := Prefix(netip.MustParseAddr("203.0.113.77"), 24, 64).String(); got != "203.0.113.0/24" {
		t.Errorf("v4 prefix = %s", got)
	}
	if got := Prefix(netip.MustParseAddr("2001:db8:1:2:3::9"), 24, 64).String(); got != "2001:db8:1:2::/64" {
		t.Errorf("v6 prefix = %s", got)
	}
}

func TestClientIPAllocs(t *testing.T) {
	h := http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.7, 10.0.0.2"}}
	trusted := Proxies{netip.MustParsePrefix("10.0.0.0/8")}
	if n := testing.AllocsPerRun(100, func() { _, _ = ClientIP("10.0.0.1:4000", HTTPHeader(h), trusted) }); n != 0 {
		t.Errorf("ClientIP allocates %v times", n)
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:1", "198.51.100.7, 10.0.0.2", `for="[2001:db8::1]:80";proto=http`)
	f.Add("[::1]:1", ",,, ,", `for=;for="`)
	f.Add("10.0.0.1:1", "[::1", `For="[::1]`)
	trusted := Proxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, peer, xff, fwd string) {
		if len(xff)+len(fwd) > 4096 {
			t.Skip()
		}
		for _, h := range []http.Header{{"X-Forwarded-For": {xff}}, {"Forwarded": {fwd}}} {
			a, err := ClientIP(peer, HTTPHeader(h), trusted)
			if err == nil && !a.IsValid() {
				t.Fatalf("no error and no address for peer %q headers %v", peer, h)
			}
		}
	})
}
