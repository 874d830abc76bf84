package detect

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// sharedCounts is an in-memory Cluster for unit tests: every node that
// holds it sees every other's counts at once (internal/store/redis's
// tests cover the real one).
type sharedCounts struct {
	counts   map[string]float64
	distinct map[string]map[string]bool
}

func newSharedCounts() *sharedCounts {
	return &sharedCounts{counts: map[string]float64{}, distinct: map[string]map[string]bool{}}
}

func (c *sharedCounts) Count(set string, n int64, _ int64, _ time.Duration) float64 {
	c.counts[set] += float64(n)
	return c.counts[set]
}

func (c *sharedCounts) Distinct(set, member string, _ int64, _ time.Duration) float64 {
	if c.distinct[set] == nil {
		c.distinct[set] = map[string]bool{}
	}
	c.distinct[set][member] = true
	return float64(len(c.distinct[set]))
}

var _ Cluster = (*sharedCounts)(nil)

// TestDistributedStuffingAcrossNodes: one IP failing logins on distinct
// accounts, a third on each of three nodes, is signalled at the fifth
// account, as the credentials detector does on one node that sees it all;
// each node's own credentials detector has seen two at most.
func TestDistributedStuffingAcrossNodes(t *testing.T) {
	cluster := newSharedCounts()
	h := NewFixedHasher()
	nodes := []*Distributed{NewDistributed(DistributedConfig{}, h, cluster), NewDistributed(DistributedConfig{}, h, cluster),
		NewDistributed(DistributedConfig{}, h, cluster)}
	local := []*Credentials{NewCredentials(CredentialsConfig{}, h), NewCredentials(CredentialsConfig{}, h), NewCredentials(CredentialsConfig{}, h)}
	single := NewCredentials(CredentialsConfig{}, h)
	ip := netip.MustParseAddr("203.0.113.66")
	flaggedAt, singleAt := 0, 0
	for i := 1; i <= 6; i++ {
		v := &request.View{Time: credentialsT0.Add(time.Duration(i) * time.Second), ClientIP: ip, Route: credentialsLogin,
			Subject: fmt.Sprintf("victim%d", i), Method: "POST"}
		o := verdict.Outcome{Status: 401}
		var sink, localSink, singleSink signals
		nodes[i%3].Response(v, o, &sink)
		local[i%3].Response(v, o, &localSink)
		single.Response(v, o, &singleSink)
		for _, s := range sink.got {
			if s.Entity.Value == ip.String() && flaggedAt == 0 {
				flaggedAt = i
			}
		}
		for _, s := range singleSink.got {
			if s.Entity.Value == ip.String() && singleAt == 0 {
				singleAt = i
			}
		}
		for _, s := range localSink.got {
			if s.Entity.Value == ip.String() {
				t.Fatalf("a node's own credentials detector signalled at attempt %d with a third of the attempts", i)
			}
		}
	}
	if singleAt == 0 || flaggedAt == 0 || flaggedAt > singleAt {
		t.Fatalf("cluster flagged at attempt %d, one node seeing everything at %d", flaggedAt, singleAt)
	}
}

// TestDistributedLeakedKey: one API key used from twenty /24 networks,
// spread over two nodes, is signalled from the twentieth, and once per node (each
// node's risk score takes the signal once).
func TestDistributedLeakedKey(t *testing.T) {
	cluster := newSharedCounts()
	h := NewFixedHasher()
	nodes := []*Distributed{NewDistributed(DistributedConfig{}, h, cluster), NewDistributed(DistributedConfig{}, h, cluster)}
	emitted := map[int]int{}
	for i := range 24 {
		v := &request.View{Time: credentialsT0.Add(time.Duration(i) * time.Second),
			ClientIP: netip.AddrFrom4([4]byte{198, 51, byte(i), 7}), Method: "GET"}
		v.Identity.KeyID = "k_leaked"
		var sink signals
		nodes[i%2].Response(v, verdict.Outcome{Status: 200}, &sink)
		for _, s := range sink.got {
			if s.Entity.Scope != verdict.ScopeKey || s.Entity.Value != "k_leaked" {
				t.Fatalf("signal on %v", s.Entity)
			}
			if i < 19 {
				t.Fatalf("signalled at network %d, want from the 20th", i+1)
			}
			emitted[i%2]++
		}
	}
	if emitted[0] != 1 || emitted[1] != 1 {
		t.Fatalf("signals per node %v, want one each", emitted)
	}
}

// TestDistributedSingleNode: without a Cluster the detector does nothing.
func TestDistributedSingleNode(t *testing.T) {
	d := NewDistributed(DistributedConfig{}, NewFixedHasher(), nil)
	var sink signals
	for i := range 20 {
		v := &request.View{Time: credentialsT0, ClientIP: netip.MustParseAddr("203.0.113.1"), Route: credentialsLogin,
			Subject: fmt.Sprint(i)}
		d.Response(v, verdict.Outcome{Status: 401}, &sink)
	}
	if len(sink.got) != 0 {
		t.Fatalf("signals without a cluster: %+v", sink.got)
	}
}
