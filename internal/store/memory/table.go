package memory

import "github.com/abuseguard/abuseguard/internal/limit"

// table is an open-addressing hash table with linear probing, keyed by a
// 64-bit hash. A slot holds the hash and the state side by side, so a lookup
// and an in-place update touch one cache line. Hash 0 marks an empty slot;
// keys hash to 0 are stored as 1.
type table struct {
	slots []slot
	n     int
}

type slot struct {
	h  uint64
	st limit.State
}

// find returns the index of h's slot, and whether it holds h; when it does
// not, the index is the empty slot where h would go. The table is never full.
func (t *table) find(h uint64) (int, bool) {
	mask := len(t.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		switch t.slots[i].h {
		case h:
			return i, true
		case 0:
			return i, false
		}
	}
}

// grow doubles the table, keeping every entry.
func (t *table) grow() {
	old := t.slots
	t.slots = make([]slot, max(8, 2*len(old)))
	for _, s := range old {
		if s.h != 0 {
			i, _ := t.find(s.h)
			t.slots[i] = s
		}
	}
}

// remove empties slot i, shifting later entries of its probe run back so
// that every remaining entry stays reachable.
func (t *table) remove(i int) {
	mask := len(t.slots) - 1
	for j := i; ; {
		j = (j + 1) & mask
		if t.slots[j].h == 0 {
			break
		}
		home := int(t.slots[j].h) & mask
		// Entry j may move to i unless its home lies cyclically in (i, j].
		if i <= j && i < home && home <= j || i > j && (i < home || home <= j) {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = slot{}
	t.n--
}
