package rls

import (
	"strings"

	commonpb "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
)

// Entry is one key and value of a request's descriptor.
type Entry struct{ Key, Value string }

// Match is the outcome of looking a descriptor up.
type Match struct {
	// Limit is the limit that applies, or nil when the descriptor has none
	// (no match, a match without a rate_limit, or more entries than the
	// configuration is deep).
	Limit *Limit
	// StatsKey is the name hits are reported under: Limit.FullKey, or with
	// detailed_metric and value_to_metric the request's own values.
	StatsKey string
}

// Lookup returns the limit configured for entries in domain, following
// envoyproxy/ratelimit: at each level an exact key and value wins, then the
// first wildcard value that matches, then the key alone; the limit is the
// one of the descriptor reached by the last entry.
func (c *Config) Lookup(domain string, entries []Entry) Match {
	var m Match
	it := sliceEntries(entries)
	lim, _, sk := c.lookup(domain, &it, nil, true)
	m.Limit, m.StatsKey = lim, sk
	return m
}

// entryList is what lookup reads a descriptor's entries through, so the
// gRPC path reads the protobuf entries without copying them.
type entryList interface {
	len() int
	at(i int) (key, value string)
}

type sliceEntries []Entry

func (s *sliceEntries) len() int                  { return len(*s) }
func (s *sliceEntries) at(i int) (string, string) { return (*s)[i].Key, (*s)[i].Value }

type protoEntries []*commonpb.RateLimitDescriptor_Entry

func (p *protoEntries) len() int { return len(*p) }
func (p *protoEntries) at(i int) (string, string) {
	e := (*p)[i]
	return e.GetKey(), e.GetValue()
}

// lookup finds the limit for es in domain. It appends the store key of the
// hits (domain, then each entry's key and value, or the wildcard pattern
// where a share_threshold descriptor matched) to key and returns it. When
// stats is set it also returns the stats key; building it allocates only
// for detailed_metric and value_to_metric descriptors.
func (c *Config) lookup(domain string, es entryList, key []byte, stats bool) (*Limit, []byte, string) {
	lv := c.domains[domain]
	if lv == nil {
		return nil, key, ""
	}
	key = append(key, domain...)
	var found *Limit
	valueMetric := false
	n := es.len()
	for i := 0; i < n; i++ {
		k, v := es.at(i)
		var next *node
		if kn := lv.keys[k]; kn != nil {
			next = kn.match(v)
		}
		if next == nil {
			break
		}
		key = append(key, 0)
		key = append(key, k...)
		key = append(key, 1)
		if next.pattern != nil && next.shareThreshold {
			key = append(key, next.value...)
		} else {
			key = append(key, v...)
		}
		if next.valueToMetric && !next.shareThreshold && next.value != v {
			valueMetric = true
		}
		if next.limit != nil && i == n-1 {
			found = next.limit
		}
		if next.children == nil {
			break
		}
		lv = next.children
	}
	switch {
	case found == nil:
		return nil, key, ""
	case !stats:
		return found, key, ""
	case found.DetailedMetric:
		return found, key, detailedKey(domain, es)
	case valueMetric:
		return found, key, c.valueKey(domain, es)
	}
	return found, key, found.FullKey
}

// valueKey is the stats key of a path through value_to_metric
// descriptors: the configured path, with the request's value in place of
// the configured one (or of none) where a descriptor asks for it.
func (c *Config) valueKey(domain string, es entryList) string {
	var b strings.Builder
	b.WriteString(domain)
	lv := c.domains[domain]
	for i := range es.len() {
		k, v := es.at(i)
		var next *node
		if kn := lv.keys[k]; kn != nil {
			next = kn.match(v)
		}
		if next == nil {
			break
		}
		b.WriteByte('.')
		b.WriteString(k)
		shown := next.value
		if next.valueToMetric && !next.shareThreshold {
			shown = v
		}
		if shown != "" {
			b.WriteByte('_')
			b.WriteString(shown)
		}
		if next.children == nil {
			break
		}
		lv = next.children
	}
	return b.String()
}

// detailedKey is the stats key of a detailed_metric limit: every entry of
// the request with its own value.
func detailedKey(domain string, es entryList) string {
	var b strings.Builder
	b.WriteString(domain)
	for i := range es.len() {
		k, v := es.at(i)
		b.WriteByte('.')
		b.WriteString(k)
		if v != "" {
			b.WriteByte('_')
			b.WriteString(v)
		}
	}
	return b.String()
}

// match returns the descriptor for value: exact, then the first matching
// wildcard, then the key alone.
func (kn *keyNodes) match(value string) *node {
	if n := kn.byValue[value]; n != nil {
		return n
	}
	for _, w := range kn.wildcards {
		if glob(w.pattern, value) {
			return w
		}
	}
	return kn.keyOnly
}

// glob reports whether s matches the pattern that parts came from by
// splitting at '*': each '*' stands for any run of characters, possibly
// empty.
func glob(parts []string, s string) bool {
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := len(parts) - 1
	for _, p := range parts[1:last] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[last])
}
