package request

import (
	"errors"
	"net/netip"
	"strings"
)

// ErrBadForwarding reports a forwarding header from a trusted proxy that does
// not parse. Headers from untrusted peers are never read, so never cause it.
var ErrBadForwarding = errors.New("malformed forwarding header")

// Proxies is the set of peers whose forwarding headers are believed.
type Proxies []netip.Prefix

// Trusts reports whether a is one of the trusted proxies.
func (p Proxies) Trusts(a netip.Addr) bool {
	for _, pfx := range p {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the client address of a request that arrived from peer
// (an http.Request.RemoteAddr). When the peer is a trusted proxy it walks the
// Forwarded header (or, when absent, X-Forwarded-For) from the right and
// returns the first address that is not a trusted proxy, or the leftmost one
// when all are trusted. Entries left of that address are never parsed, so a
// client cannot forge them. It returns ErrBadForwarding when an entry it must
// read is malformed, and an error when peer itself does not parse.
func ClientIP(peer string, h Header, trusted Proxies) (netip.Addr, error) {
	addr, err := parseHost(peer)
	if err != nil {
		return netip.Addr{}, err
	}
	return clientIP(addr, h, trusted)
}

// clientIP is ClientIP for a parsed peer address.
func clientIP(addr netip.Addr, h Header, trusted Proxies) (netip.Addr, error) {
	if len(trusted) == 0 || !trusted.Trusts(addr) {
		return addr, nil
	}
	if vs := h.Values("Forwarded"); len(vs) > 0 {
		return walkHops(addr, vs, trusted, forwardedFor)
	}
	if vs := h.Values("X-Forwarded-For"); len(vs) > 0 {
		return walkHops(addr, vs, trusted, parseHost)
	}
	return addr, nil
}

// walkHops reads comma-separated hops from the right of the joined header
// values and returns the client address; addr is the peer, already trusted.
func walkHops(addr netip.Addr, values []string, trusted Proxies, parse func(string) (netip.Addr, error)) (netip.Addr, error) {
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		for rest != "" {
			var hop string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				hop, rest = rest[j+1:], rest[:j]
			} else {
				hop, rest = rest, ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue
			}
			a, err := parse(hop)
			if err != nil {
				return netip.Addr{}, err
			}
			addr = a
			if !trusted.Trusts(a) {
				return a, nil
			}
		}
	}
	return addr, nil
}

// forwardedFor parses one RFC 7239 forwarded-element and returns its for= node.
func forwardedFor(elem string) (netip.Addr, error) {
	for elem != "" {
		var pair string
		if j := strings.IndexByte(elem, ';'); j >= 0 {
			pair, elem = elem[:j], elem[j+1:]
		} else {
			pair, elem = elem, ""
		}
		pair = strings.TrimSpace(pair)
		if len(pair) < 4 || !strings.EqualFold(pair[:4], "for=") {
			continue
		}
		node := pair[4:]
		if len(node) >= 2 && node[0] == '"' && node[len(node)-1] == '"' {
			node = node[1 : len(node)-1]
		}
		return parseHost(node)
	}
	return netip.Addr{}, ErrBadForwarding
}

// parseHost parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port" without allocating.
func parseHost(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, ErrBadForwarding
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 || (end+1 < len(s) && s[end+1] != ':') {
			return netip.Addr{}, ErrBadForwarding
		}
		s = s[1:end]
	} else if strings.Count(s, ":") == 1 {
		s = s[:strings.IndexByte(s, ':')]
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, ErrBadForwarding
	}
	return a.Unmap(), nil
}

// Prefix returns the network of a: the first v4bits of an IPv4 address or the
// first v6bits of an IPv6 one. Clients in one prefix often share an owner.
func Prefix(a netip.Addr, v4bits, v6bits int) netip.Prefix {
	bits := v6bits
	if a.Is4() {
		bits = v4bits
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.PrefixFrom(a, a.BitLen())
	}
	return p
}
