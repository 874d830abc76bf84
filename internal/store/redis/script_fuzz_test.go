package redis

import (
	"fmt"
	"testing"
)

// FuzzParseSync feeds arbitrary key values (as a foreign writer, or a
// corrupted key, could leave them) to the parsers of the script's
// replies: they never panic, and what they accept prints in the script's
// format and parses back to the same state.
func FuzzParseSync(f *testing.F) {
	for _, s := range []string{"", "1800000000000000000 0", "1800000000000000000 3 2", "12 -1", " ", "x y", "1 2 3 4", "+1 07"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if len(v) > 256 {
			return
		}
		if st, ok := parseState(v); ok {
			again, ok2 := parseState(fmt.Sprintf("%d %d", st.Expires, st.N))
			if v != "" && (!ok2 || again != st) {
				t.Fatalf("parseState(%q) = %+v, which does not print back (%+v, %v)", v, st, again, ok2)
			}
		}
		if st, share, ok := parseSync(v); ok {
			again, share2, ok2 := parseSync(fmt.Sprintf("%d %d %d", st.Expires, st.N, share))
			if !ok2 || again != st || share2 != share {
				t.Fatalf("parseSync(%q) = %+v %d, which does not print back", v, st, share)
			}
		}
	})
}
