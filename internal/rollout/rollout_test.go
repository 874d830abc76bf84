package rollout

import (
	"fmt"
	"testing"
)

func TestCanaryShare(t *testing.T) {
	for _, pct := range []float64{1, 10, 30, 50, 90} {
		c := NewCanary(pct)
		for _, pattern := range []string{"key-%d", "rule\x00user%d", "10.0.%d.1"} {
			n := 0
			for i := range 20000 {
				if c.Includes(NewHash().String(fmt.Sprintf(pattern, i)).Sum()) {
					n++
				}
			}
			want := pct / 100 * 20000
			if float64(n) < want*0.9-20 || float64(n) > want*1.1+20 {
				t.Errorf("%v%% over %q included %d of 20000", pct, pattern, n)
			}
		}
	}
}

func TestCanaryEdges(t *testing.T) {
	h := NewHash().String("anyone").Sum()
	if NewCanary(0).Includes(h) || NewCanary(-5).Includes(h) {
		t.Error("0% includes an entity")
	}
	if !NewCanary(100).Includes(^uint64(0)) {
		t.Error("100% excludes the largest hash")
	}
	// Raising the share only adds entities.
	for i := range 1000 {
		h := NewHash().String(fmt.Sprint("k", i)).Sum()
		if NewCanary(20).Includes(h) && !NewCanary(40).Includes(h) {
			t.Fatal("an entity in the 20% canary is out of the 40% one")
		}
	}
	if NewHash().String("ab").Sep().String("c") == NewHash().String("a").Sep().String("bc") {
		t.Error("Sep does not separate")
	}
	if NewHash().Bytes([]byte("xyz")) != NewHash().String("xyz") {
		t.Error("Bytes and String disagree")
	}
}
